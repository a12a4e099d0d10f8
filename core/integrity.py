"""Models carry a checksum written when they were trained (`<model>.sha256` beside them), and
are refused when their bytes no longer match: a bit-flipped fastText model would otherwise
kill its worker by signal, or be used without complaint.

A model without a checksum file (one trained elsewhere) is trusted as given.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from core.shards import atomic_write_bytes

CHECKSUM_SUFFIX = ".sha256"


class CorruptModel(ValueError):
    """A model whose bytes differ from the ones it was trained with."""


def checksum_file(model: str | Path) -> Path:
    model = Path(model)
    return model.with_name(model.name + CHECKSUM_SUFFIX)


def _digest(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def seal(model: str | Path) -> None:
    """Record the model's checksum (the training stage calls this once the model is written)."""
    atomic_write_bytes(checksum_file(model), f"{_digest(Path(model))}\n".encode())


def check_sealed(model: str | Path) -> None:
    """Raise CorruptModel when the model's bytes differ from its recorded checksum (or it is
    missing while its checksum is there)."""
    recorded = checksum_file(model)
    if not recorded.exists():
        return
    model = Path(model)
    if not model.exists() or _digest(model) != recorded.read_text().strip():
        raise CorruptModel(
            f"corrupt model {model}: its bytes differ from the ones it was trained with; "
            "retrain it (rerun the training stage)"
        )
