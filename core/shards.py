"""Shard files: Arrow IPC streaming format, written atomically.

The streaming format is what Hugging Face `datasets` caches use: a shard opens with
`pyarrow.ipc.open_stream`, memory-maps, and loads with `datasets.Dataset.from_file`.
A shard is written under a temporary name and renamed when complete, so a crash never
leaves a file that looks finished.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa

SHARD_SUFFIX = ".arrow"
TMP_SUFFIX = ".tmp"


def read_shard(path: str | Path) -> Iterator[pa.RecordBatch]:
    with pa.memory_map(str(path)) as source:
        yield from pa.ipc.open_stream(source)


# What an Arrow IPC stream ends with: a continuation marker and a zero length.
END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"


def shard_damage(path: Path, recorded_bytes: int | None) -> str | None:
    """Why a finished shard cannot be trusted (missing, another size than recorded, no
    end-of-stream marker: cut short), or None. Cheap: no batch is read."""
    try:
        size = path.stat().st_size
        with path.open("rb") as shard:
            shard.seek(max(size - len(END_OF_STREAM), 0))
            ends = shard.read() == END_OF_STREAM
    except FileNotFoundError:
        return f"{path.name} is missing"
    if recorded_bytes is not None and size != recorded_bytes:
        return f"{path.name} has {size:,} bytes, {recorded_bytes:,} when written"
    return None if ends else f"{path.name} is cut short (no end-of-stream marker)"


def read_shard_schema(path: str | Path) -> pa.Schema:
    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_stream(source).schema


def read_table(paths: list[Path] | list[str]) -> pa.Table:
    """Concatenate whole shards (for tests and small inspections, not for the hot path)."""
    return pa.concat_tables(pa.ipc.open_stream(pa.memory_map(str(p))).read_all() for p in paths)


def list_shards(directory: str | Path) -> list[Path]:
    return sorted(Path(directory).glob(f"part-*{SHARD_SUFFIX}"))


def temporary_path(path: Path) -> Path:
    """A name for `path` while it is written: unique per writer, so two attempts of one task
    (a Ray retry while the first still runs) never truncate each other's file."""
    return path.with_name(f"{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}{TMP_SUFFIX}")


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A file that appears under `path` complete (written under a temporary name, flushed to
    disk, renamed) or not at all: on an error (a full disk) the temporary file is removed."""
    tmp = temporary_path(path)
    try:
        with tmp.open("wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_file(path) as out:
        out.write(data)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


class RollingShardWriter:
    """Writes record batches to `name_for(0)`, `name_for(1)`... starting a new shard once the
    current one reaches `target_bytes`. Empty batches are never written; a writer that sees
    no rows writes no file."""

    def __init__(
        self,
        directory: Path,
        schema: pa.Schema,
        name_for: Callable[[int], str],
        target_bytes: int,
    ) -> None:
        self.directory = directory
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
        self.directory.mkdir(parents=True, exist_ok=True)
        self._tmp = temporary_path(self.directory / self.name_for(len(self.written)))
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
        os.replace(self._tmp, self.directory / name)
        self.written[name] = size
        self._writer = self._sink = None
