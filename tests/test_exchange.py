"""core/exchange.py: what a global stage's tasks hand each other, read back as written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.exchange import Exchange, ExchangeError


def test_read_ranges_gathers_what_slicing_would(tmp_path: Path) -> None:
    exchange = Exchange(tmp_path)
    values = np.arange(1000, dtype=np.uint32) * 7
    exchange.save("step", "values", values)
    starts = np.array([990, 0, 500, 500])
    stops = np.array([1000, 3, 500, 510])
    at = np.r_[0, np.cumsum(stops - starts)[:-1]]
    out = np.zeros(int((stops - starts).sum()), dtype=np.uint32)
    exchange.read_ranges("step", "values", starts, stops, out, at)
    expected = np.concatenate([values[a:b] for a, b in zip(starts, stops, strict=True)])
    assert out.tolist() == expected.tolist()


def test_read_ranges_refuses_ranges_past_the_end_and_another_dtype(tmp_path: Path) -> None:
    exchange = Exchange(tmp_path)
    exchange.save("step", "values", np.arange(10, dtype=np.uint32))
    out = np.zeros(5, dtype=np.uint32)
    with pytest.raises(ExchangeError, match="outside"):
        exchange.read_ranges("step", "values", np.array([8]), np.array([12]), out, np.array([0]))
    with pytest.raises(ExchangeError, match="expected"):
        exchange.read_ranges(
            "step", "values", np.array([0]), np.array([2]), np.zeros(5, np.int64), np.array([0])
        )
