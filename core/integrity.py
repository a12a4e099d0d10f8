"""Models carry a checksum written when they were trained (`<model>.sha256` beside them), and
are refused when their bytes no longer match: a bit-flipped fastText model would otherwise
kill its worker by signal, or be used without complaint.

A model without a checksum file (one trained elsewhere) is first loaded in a child process
(`check_model`): a file that crashes the native parser kills that child, never a worker.
"""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TypeVar

from core import storage
from core.shards import atomic_write_bytes

CHECKSUM_SUFFIX = ".sha256"
Loaded = TypeVar("Loaded")


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


def local_model(model: str | Path) -> str:
    """A model as a local file, for native loaders: itself when local; on object storage a
    copy on this node, with its recorded checksum beside it (checked by the loader)."""
    if not storage.is_remote(model):
        return str(model)
    copy = storage.local_copy(model)
    recorded = f"{model}{CHECKSUM_SUFFIX}"
    if storage.exists(recorded) and not checksum_file(copy).exists():
        storage.download(recorded, checksum_file(copy))
    return str(copy)


def check_model(model: str | Path, probe: str) -> None:
    """Refuse a model that is not what was trained (a sealed one) or, without a checksum,
    one that the native parser cannot load: `probe` is Python code that loads `sys.argv[1]`,
    run in a child process once per model file and process."""
    if checksum_file(model).exists():
        check_sealed(model)
        return
    stat = Path(model).stat()
    _probe(str(model), stat.st_size, stat.st_mtime_ns, probe)


@cache
def _probe(model: str, size: int, mtime_ns: int, probe: str) -> None:
    done = subprocess.run(  # noqa: S603 our interpreter, our code, the path as an argument
        [sys.executable, "-c", probe, model], capture_output=True, text=True, check=False
    )
    if done.returncode < 0:
        why = f"the parser crashed (signal {-done.returncode})"
    elif done.returncode > 0:
        why = (done.stderr.strip().splitlines() or ["the parser failed"])[-1]
    else:
        return
    raise CorruptModel(f"cannot load model {model}: {why}; retrain it or check the file")


def _version(path: str) -> tuple[int, int, int] | None:
    """What changes when a local file is rewritten; None for a remote one (and a missing one,
    which its loader refuses)."""
    if storage.is_remote(path):
        return None
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (found.st_mtime_ns, found.st_size, found.st_ino)


def once_per_version(loader: Callable[[str], Loaded]) -> Callable[[str], Loaded]:
    """`loader(path)`, called once per process and version of the file: workers score many
    batches with one model, and a model retrained in place (a test, a rerun in the same
    process) is loaded again instead of served stale. A remote model is loaded once per path:
    a stat per batch would be a request per batch, and its node copy (storage.local_copy) is
    named by the remote size and mtime anyway."""
    loaded: dict[str, tuple[tuple[int, int, int] | None, Loaded]] = {}

    @functools.wraps(loader)
    def load(path: str) -> Loaded:
        version = _version(path)
        if path not in loaded or loaded[path][0] != version:
            loaded[path] = (version, loader(path))
        return loaded[path][1]

    return load
