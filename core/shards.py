"""Shard files: Arrow IPC streaming format, written atomically.

The streaming format is what Hugging Face `datasets` caches use: a shard opens with
`pyarrow.ipc.open_stream`, memory-maps, and loads with `datasets.Dataset.from_file`.
A shard is written under a temporary name and renamed when complete (on object storage:
written in the task's scratch directory and published, core/storage.py), so a crash never
leaves a file that looks finished. Shards are read and listed wherever they are.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from core import storage

SHARD_SUFFIX = ".arrow"
TMP_SUFFIX = ".tmp"


def read_shard(path: str | Path) -> Iterator[pa.RecordBatch]:
    with storage.open_input(str(path)) as source:
        yield from pa.ipc.open_stream(source)


# What an Arrow IPC stream ends with: a continuation marker and a zero length.
END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"


def shard_damage(path: str | Path, recorded_bytes: int | None) -> str | None:
    """Why a finished shard cannot be trusted (missing, another size than recorded, no
    end-of-stream marker: cut short), or None. Cheap: no batch is read."""
    name = storage.name(path)
    try:
        size, tail = storage.read_tail(str(path), len(END_OF_STREAM))
    except FileNotFoundError:
        return f"{name} is missing"
    if recorded_bytes is not None and size != recorded_bytes:
        return f"{name} has {size:,} bytes, {recorded_bytes:,} when written"
    return None if tail == END_OF_STREAM else f"{name} is cut short (no end-of-stream marker)"


def read_shard_schema(path: str | Path) -> pa.Schema:
    with storage.open_input(str(path)) as source:
        return pa.ipc.open_stream(source).schema


def read_table(paths: list[Path] | list[str]) -> pa.Table:
    """Concatenate whole shards (for tests and small inspections, not for the hot path)."""
    return pa.concat_tables(
        pa.ipc.open_stream(storage.open_input(str(p))).read_all() for p in paths
    )


def is_shard_name(name: str) -> bool:
    return name.startswith("part-") and name.endswith(SHARD_SUFFIX)


def shard_locations(directory: str | Path) -> list[str]:
    """The shards of a directory, local or on object storage, in name order."""
    return [p for p in storage.list_files(str(directory)) if is_shard_name(storage.name(p))]


def list_shards(directory: str | Path) -> list[Path]:
    """The shards of a local directory."""
    return sorted(Path(directory).glob(f"part-*{SHARD_SUFFIX}"))


def temporary_path(path: Path) -> Path:
    """A name for `path` while it is written: unique per writer, so two attempts of one task
    (a Ray retry while the first still runs) never truncate each other's file."""
    return Path(storage.temporary_name(path))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    storage.write_bytes(str(path), data)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


class RollingShardWriter:
    """Writes record batches to `name_for(0)`, `name_for(1)`... in `directory` (a location),
    starting a new shard once the current one reaches `target_bytes`. Empty batches are never
    written; a writer that sees no rows writes no file. A shard bound for object storage is
    written in the local scratch directory and published when complete."""

    def __init__(
        self,
        directory: str | Path,
        schema: pa.Schema,
        name_for: Callable[[int], str],
        target_bytes: int,
    ) -> None:
        self.directory = str(directory)
        self.schema = schema
        self.name_for = name_for
        self.target_bytes = target_bytes
        self.written: dict[str, int] = {}  # shard name -> bytes
        self.bytes_written = 0
        self._sink: pa.OSFile | None = None
        self._tmp: Path | None = None
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        if self._writer is None:
            self._open()
        assert self._writer is not None and self._sink is not None  # noqa: S101 type narrowing: _open sets both
        self._writer.write_batch(batch)
        if self._sink.tell() >= self.target_bytes:
            self._close_current()

    def abort(self) -> None:
        """Drop the shard being written (the task failed): no temporary file stays behind."""
        if self._sink is not None and self._tmp is not None:
            self._sink.close()
            self._tmp.unlink(missing_ok=True)
        self._writer = self._sink = None

    def close(self) -> dict[str, int]:
        """The shards written, name -> bytes."""
        self._close_current()
        return self.written

    def _open(self) -> None:
        final = storage.join(self.directory, self.name_for(len(self.written)))
        if storage.is_remote(self.directory):
            staging = storage.scratch_root() / "outbox"
            staging.mkdir(parents=True, exist_ok=True)
            self._tmp = temporary_path(staging / storage.name(final))
        else:
            storage.make_dirs(self.directory)
            self._tmp = temporary_path(Path(final))
        self._sink = pa.OSFile(str(self._tmp), "wb")
        self._writer = pa.ipc.new_stream(self._sink, self.schema)

    def _close_current(self) -> None:
        if self._writer is None or self._sink is None or self._tmp is None:
            return
        self._writer.close()
        size = self._sink.tell()
        self.bytes_written += size
        self._sink.close()
        name = self.name_for(len(self.written))
        try:
            storage.publish(self._tmp, storage.join(self.directory, name))
        finally:
            self._tmp.unlink(missing_ok=True)
        self.written[name] = size
        self._writer = self._sink = None
