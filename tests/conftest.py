"""Shared fixtures. Real data comes from ../shared (or $DATAPIPE_SHARED); it is required."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GENERATED = REPO / "data_samples" / "generated"


def shared_dir() -> Path:
    path = Path(os.environ.get("DATAPIPE_SHARED", REPO.parent / "shared"))
    if not (path / "samples").is_dir():
        raise RuntimeError(
            f"shared data not found at {path}; set DATAPIPE_SHARED to the shared/ directory"
        )
    return path


@pytest.fixture(scope="session")
def shared() -> Path:
    return shared_dir()
