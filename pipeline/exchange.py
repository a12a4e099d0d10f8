"""The files the steps of a global stage exchange: partitioned numpy records and side arrays.

A global stage (docs/architecture.md) runs as steps of tasks; a task reads what earlier steps
wrote and writes its own files under the stage directory's `_work/<step>/`:

* **partitioned records** (`write_partitioned` / `read_partition`): a task sorts its records
  by destination partition and writes one `.npy` file plus its partition offsets; the task of
  the next step that owns partition p reads slice p of every file, memory-mapped. So each task
  opens one file per producer in turn (never P files at once) and holds only its partition.
* **side arrays** (`save` / `load`): per-shard arrays that later steps read by random access
  (memory-mapped), e.g. each document's shingle set or id.

Every file is written under a temporary name and renamed, and a task's files are a function
of its inputs only, so an interrupted task that is run again rewrites the same bytes.
Records concatenate in producer order, so what a task reads never depends on timing.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

WORK_DIR = "_work"
_OFFSETS = ".offsets.npy"


def _save_atomic(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as out:
        np.save(out, array, allow_pickle=False)
    os.replace(tmp, path)


class Exchange:
    """A global stage's `_work` directory as seen by one task."""

    def __init__(self, stage_dir: str | Path) -> None:
        self.root = Path(stage_dir) / WORK_DIR

    def step_dir(self, step: str) -> Path:
        path = self.root / step
        path.mkdir(parents=True, exist_ok=True)
        return path

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
        directory = self.step_dir(step)
        # Offsets first: a data file is never visible without its offsets.
        _save_atomic(directory / f"from-{task:05d}{_OFFSETS}", offsets.astype(np.int64))
        _save_atomic(directory / f"from-{task:05d}.npy", np.ascontiguousarray(records[order]))

    def read_partition(self, step: str, partition: int, dtype: np.dtype) -> np.ndarray:
        """Every record any task of `step` wrote for `partition`, in producer order."""
        pieces = []
        for data in sorted(self.step_dir(step).glob("from-*[0-9].npy")):
            offsets = np.load(data.with_name(data.stem + _OFFSETS))
            lo, hi = int(offsets[partition]), int(offsets[partition + 1])
            if hi > lo:
                pieces.append(np.load(data, mmap_mode="r")[lo:hi])
        if not pieces:
            return np.empty(0, dtype=dtype)
        return np.concatenate(pieces)

    def save(self, step: str, name: str, array: np.ndarray) -> None:
        _save_atomic(self.step_dir(step) / f"{name}.npy", np.ascontiguousarray(array))

    def load(self, step: str, name: str) -> np.ndarray:
        """A saved array, memory-mapped: random access reads only the pages it touches."""
        path = self.step_dir(step) / f"{name}.npy"
        try:
            return np.load(path, mmap_mode="r")
        except ValueError:  # an empty array cannot be memory-mapped
            return np.load(path)
