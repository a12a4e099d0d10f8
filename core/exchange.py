"""The files the steps of a global stage exchange: partitioned numpy records and side arrays.

A global stage (docs/architecture.md) runs as steps of tasks; a task reads what earlier steps
wrote and writes its own files under the stage directory's `_steps/<step>/`:

* **partitioned records** (`write_partitioned` / `read_partition`): a task sorts its records
  by destination partition and writes one `.npy` file plus its partition offsets; the task of
  the next step that owns partition p copies slice p out of every producer's file, one file
  open at a time, and holds only its partition.
* **side arrays** (`save` / `load`): per-shard arrays that later steps read by random access,
  memory-mapped (at most `OPEN_MAPS` open at once), e.g. each document's shingle set; and
  small JSON documents (`save_json` / `load_json`), e.g. a shard's sample of documents.

Files are written under a name unique to the writer, flushed to disk and renamed, so a crashed
or duplicated attempt never leaves a half-written file under the final name. A step's files
become readable only when the runner has marked the step complete (`_COMPLETE`, with its
task count): `read_partition` then opens exactly `from-00000 .. from-<n-1>` and checks every
file against its offsets, so a missing or truncated file is an error, never silent data loss.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from core.shards import atomic_file, atomic_write_json

STEPS_DIR = "_steps"
COMPLETE_FILE = "_COMPLETE"
OPEN_MAPS = 64  # memory maps kept open per task: bounds open files whatever the shard count
_OFFSETS = ".offsets.npy"


class ExchangeError(RuntimeError):
    """A step's files are missing or inconsistent: a bug or a damaged stage directory."""


def _save_atomic(path: Path, array: np.ndarray) -> None:
    with atomic_file(path) as out:
        np.save(out, array, allow_pickle=False)


class Exchange:
    """A global stage's `_steps` directory as seen by one task."""

    def __init__(self, stage_dir: str | Path) -> None:
        self.root = Path(stage_dir) / STEPS_DIR
        self._maps: OrderedDict[Path, np.ndarray] = OrderedDict()

    def _writable(self, step: str) -> Path:
        path = self.root / step
        path.mkdir(parents=True, exist_ok=True)
        return path

    def mark_complete(self, step: str, tasks: int) -> None:
        """Called by the runner once every task of `step` has finished."""
        (self._writable(step) / COMPLETE_FILE).write_text(f"{tasks}\n")

    def producers(self, step: str) -> int:
        try:
            return int((self.root / step / COMPLETE_FILE).read_text())
        except FileNotFoundError:
            raise ExchangeError(
                f"step {step!r} is not complete; its files cannot be read"
            ) from None

    def write_partitioned(
        self,
        step: str,
        task: int,
        records: np.ndarray,
        partition: np.ndarray,
        n_partitions: int,
    ) -> None:
        """Write `records` (any numpy dtype, one row per record) for partitions `partition`."""
        order = np.argsort(partition, kind="stable")
        offsets = np.searchsorted(partition[order], np.arange(n_partitions + 1))
        directory = self._writable(step)
        _save_atomic(directory / f"from-{task:05d}{_OFFSETS}", offsets.astype(np.int64))
        _save_atomic(directory / f"from-{task:05d}.npy", np.ascontiguousarray(records[order]))

    def read_partition(self, step: str, partition: int, dtype: np.dtype) -> np.ndarray:
        """Every record any task of `step` wrote for `partition`, in producer order."""
        pieces = []
        for task in range(self.producers(step)):
            path = self.root / step / f"from-{task:05d}.npy"
            offsets = np.load(path.with_name(path.stem + _OFFSETS), mmap_mode="r")
            data = np.load(path, mmap_mode="r") if offsets[-1] else np.load(path)
            if len(data) != offsets[-1] or not 0 <= partition < len(offsets) - 1:
                raise ExchangeError(f"{path}: {len(data)} records, offsets say {offsets[-1]}")
            lo, hi = int(offsets[partition]), int(offsets[partition + 1])
            pieces.append(np.array(data[lo:hi], dtype=dtype))  # a copy: the file closes now
            del data, offsets
        return np.concatenate(pieces) if pieces else np.empty(0, dtype=dtype)

    @property
    def stage_dir(self) -> Path:
        """The stage directory itself: where a step puts what outlives `_steps` (a model)."""
        return self.root.parent

    def save_json(self, step: str, name: str, obj: Any) -> None:
        atomic_write_json(self._writable(step) / f"{name}.json", obj)

    def load_json(self, step: str, name: str) -> Any:
        return json.loads((self.root / step / f"{name}.json").read_text())

    def save(self, step: str, name: str, array: np.ndarray) -> None:
        _save_atomic(self._writable(step) / f"{name}.npy", np.ascontiguousarray(array))

    def load(self, step: str, name: str) -> np.ndarray:
        """A saved array, memory-mapped: random access reads only the pages it touches."""
        path = self.root / step / f"{name}.npy"
        if path in self._maps:
            self._maps.move_to_end(path)
            return self._maps[path]
        try:
            array = np.load(path, mmap_mode="r")
        except ValueError:  # an empty array cannot be memory-mapped
            array = np.load(path)
        self._maps[path] = array
        if len(self._maps) > OPEN_MAPS:
            self._maps.popitem(last=False)
        return array
