"""The files the steps of a global stage exchange: partitioned numpy records and side arrays.

A global stage (docs/architecture.md) runs as steps of tasks; a task reads what earlier steps
wrote and writes its own files under the stage directory's `_steps/<step>/`:

* **partitioned records** (`write_partitioned` / `read_partition`): a task sorts its records
  by destination partition and writes one `.npy` file plus its partition offsets; the task of
  the next step that owns partition p copies slice p out of every producer's file, one file
  open at a time, and holds only its partition.
* **side arrays** (`save` / `load`, `read_ranges`): per-shard arrays that later steps read by
  random access, memory-mapped (at most `OPEN_MAPS` open at once), e.g. each document's
  score; or, for many small ranges of large arrays (each document's shingle set), read into
  one array; and small JSON documents (`save_json` / `load_json`), e.g. a shard's sample of
  documents.

Files are written under a name unique to the writer, flushed to disk and renamed (on object
storage: published, core/storage.py), so a crashed or duplicated attempt never leaves a
half-written file under the final name. On object storage a partition is read with one
ranged read per producer file, and a side array is copied to the node once, then memory-
mapped. A step's files become readable only when the runner has marked the step complete
(`_COMPLETE`, with its task count): `read_partition` then opens exactly `from-00000 ..
from-<n-1>` and checks every file against its offsets, so a missing or truncated file is an
error, never silent data loss.
"""

from __future__ import annotations

import io
import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from core import storage
from core.shards import atomic_write_json
from core.stagedir import STEPS_DIR

COMPLETE_FILE = "_COMPLETE"
OPEN_MAPS = 64  # memory maps kept open per task: bounds open files whatever the shard count
_OFFSETS = ".offsets.npy"


class ExchangeError(RuntimeError):
    """A step's files are missing or inconsistent: a bug or a damaged stage directory."""


def _save(location: str, array: np.ndarray) -> None:
    if storage.is_remote(location):
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        storage.write_bytes(location, buffer.getvalue())
        return
    with storage.atomic_file(Path(location)) as out:
        np.save(out, array, allow_pickle=False)


def _npy_header(file: Any) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of a `.npy` file, leaving `file` at the first byte of data."""
    version = np.lib.format.read_magic(file)
    read = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    shape, fortran, dtype = read(file)
    if fortran:
        raise ExchangeError("a step file in Fortran order: not written by datapipe")
    return shape, dtype


def _npy_rows(location: str, lo: int, hi: int, dtype: np.dtype) -> np.ndarray:
    """Rows [lo, hi) of a saved array, reading only them (memory-mapped when local, one
    ranged read on object storage)."""
    with storage.open_input(location) as file:
        shape, stored = _npy_header(file)
        if not 0 <= lo <= hi <= shape[0]:
            raise ExchangeError(f"{location}: rows {lo}..{hi} of {shape[0]}")
        row = stored.itemsize * int(np.prod(shape[1:], dtype=np.int64))
        raw = file.read_at((hi - lo) * row, file.tell() + lo * row)
        return np.frombuffer(raw, stored).reshape(-1, *shape[1:]).astype(dtype)  # a copy


def _npy_length(location: str) -> int:
    with storage.open_input(location) as file:
        return int(_npy_header(file)[0][0])


class Exchange:
    """A global stage's `_steps` directory (local or on object storage) as seen by one task."""

    def __init__(self, stage_dir: str | Path) -> None:
        self.stage_dir = storage.absolute(stage_dir)
        self.root = storage.join(self.stage_dir, STEPS_DIR)
        self._maps: OrderedDict[str, np.ndarray] = OrderedDict()
        self._copies: dict[str, Path] = {}

    def _file(self, step: str, name: str) -> str:
        return storage.join(self.root, step, name)

    def _writable(self, step: str, name: str) -> str:
        storage.make_dirs(storage.join(self.root, step))
        return self._file(step, name)

    def mark_complete(self, step: str, tasks: int) -> None:
        """Called by the runner once every task of `step` has finished."""
        storage.write_bytes(self._writable(step, COMPLETE_FILE), f"{tasks}\n".encode())

    def producers(self, step: str) -> int:
        try:
            return int(storage.read_text(self._file(step, COMPLETE_FILE)))
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
        _save(self._writable(step, f"from-{task:05d}{_OFFSETS}"), offsets.astype(np.int64))
        _save(self._writable(step, f"from-{task:05d}.npy"), np.ascontiguousarray(records[order]))

    def read_partition(self, step: str, partition: int, dtype: np.dtype) -> np.ndarray:
        """Every record any task of `step` wrote for `partition`, in producer order."""
        pieces = []
        for task in range(self.producers(step)):
            path = self._file(step, f"from-{task:05d}.npy")
            offsets = np.load(io.BytesIO(storage.read_bytes(path[: -len(".npy")] + _OFFSETS)))
            if (rows := _npy_length(path)) != offsets[-1] or not 0 <= partition < len(offsets) - 1:
                raise ExchangeError(f"{path}: {rows} records, offsets say {offsets[-1]}")
            lo, hi = int(offsets[partition]), int(offsets[partition + 1])
            pieces.append(_npy_rows(path, lo, hi, dtype))
        return np.concatenate(pieces) if pieces else np.empty(0, dtype=dtype)

    def save_json(self, step: str, name: str, obj: Any) -> None:
        atomic_write_json(self._writable(step, f"{name}.json"), obj)

    def load_json(self, step: str, name: str) -> Any:
        return json.loads(storage.read_text(self._file(step, f"{name}.json")))

    def save(self, step: str, name: str, array: np.ndarray) -> None:
        _save(self._writable(step, f"{name}.npy"), np.ascontiguousarray(array))

    def load(self, step: str, name: str) -> np.ndarray:
        """A saved array, memory-mapped: random access reads only the pages it touches (on
        object storage, of this node's copy)."""
        path = self._file(step, f"{name}.npy")
        if path in self._maps:
            self._maps.move_to_end(path)
            return self._maps[path]
        local = self._local_copy(path)
        try:
            array = np.load(local, mmap_mode="r")
        except ValueError:  # an empty array cannot be memory-mapped
            array = np.load(local)
        self._maps[path] = array
        if len(self._maps) > OPEN_MAPS:
            self._maps.popitem(last=False)
        return array

    def _local_copy(self, path: str) -> Path:
        """`storage.local_copy`, looked up once per task: on object storage each lookup is a
        request, and a step reads the same shards' arrays chunk after chunk. (A copy that
        the node's pruning removed meanwhile is looked up again.)"""
        known = self._copies.get(path)
        if known is None or not known.exists():
            known = self._copies[path] = storage.local_copy(path)
        return known

    def read_ranges(
        self,
        step: str,
        name: str,
        starts: np.ndarray,
        stops: np.ndarray,
        out: np.ndarray,
        at: np.ndarray,
    ) -> None:
        """`out[at[i]:at[i] + stops[i] - starts[i]] = array[starts[i]:stops[i]]` for every i,
        of a saved one-dimensional array, read and not mapped: pages touched through a map stay
        in the task's resident memory, and the kernel maps the pages around each one touched,
        so gathering small ranges of many shards' arrays through maps holds many times the
        bytes gathered (measured: docs/scaling.md)."""
        local = self._local_copy(self._file(step, f"{name}.npy"))
        with open(local, "rb") as file:
            shape, stored = _npy_header(file)
            if stored != out.dtype or len(shape) != 1:
                raise ExchangeError(f"{local}: {stored}{list(shape)}, expected {out.dtype}[n]")
            if len(starts) and (starts.min() < 0 or stops.max() > shape[0]):
                raise ExchangeError(f"{local}: a range outside its {shape[0]} rows")
            base, size, target = file.tell(), stored.itemsize, memoryview(out).cast("B")
            ranges = zip(starts.tolist(), stops.tolist(), at.tolist(), strict=True)
            for start, stop, where in ranges:
                length = (stop - start) * size
                piece = target[where * size : where * size + length]
                if os.preadv(file.fileno(), [piece], base + start * size) != length:
                    raise ExchangeError(f"{local}: shorter than its header says")
