"""Where the substring stage's units, texts and removals live between its steps.

Files under the stage's `_steps/` (`core.exchange` side arrays, written atomically):

* `windows/<shard>-<chunk>`: the unit records of one chunk of a shard's documents (about
  `CHUNK_BYTES` of text), sorted by partition, stably (corpus order within a partition), so a
  task's memory is set by the chunk, not by the shard;
* `windows/<shard>.bounds`: where each partition starts in each chunk file, (chunks, P + 1),
  and `<shard>.origins`: where each chunk's text starts in the shard file (the records hold
  offsets from there, 4 bytes instead of 8);
* `windows/<shard>.docs`: the byte offset of every document's text in the input shard file;
* `windows/<shard>.json`: the input shard's path;
* `repeats/<partition>`: the sorted locations of the units to remove.

The text itself is not copied: an input shard is an uncompressed Arrow IPC stream, so each
document's UTF-8 bytes lie in the file, and the repeats step reads them there (memory-mapped).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pyarrow as pa

from core import storage
from core.exchange import Exchange
from stages.substring.kernels import OFFSET_BITS, mark

RECORD = np.dtype([("hash", "<u8"), ("offset", "<u4"), ("length", "<u4")])  # 16 bytes
CHUNK_BYTES = 1 << 22  # text per chunk of a windows task: ~7 bytes of unit arrays per byte
OPEN_TEXTS = 8  # input shard files a repeats task keeps mapped
_LIBC = ctypes.CDLL(ctypes.util.find_library("c"))


def shard_tag(shard: int) -> np.uint64:
    """The high bits of a location: the shard (corpus order across shards)."""
    if shard >= 1 << (64 - OFFSET_BITS):
        raise ValueError(f"substring supports {1 << (64 - OFFSET_BITS)} input shards")
    return np.uint64(shard << OFFSET_BITS)


def file_offsets(locs: np.ndarray) -> np.ndarray:
    """The byte offsets in their shard's file of locations, int64."""
    return (locs & np.uint64((1 << OFFSET_BITS) - 1)).astype(np.int64)


def shard_range(locs: np.ndarray, shard: int) -> tuple[int, int]:
    """Where the sorted locations `locs` of `shard` begin and end."""
    tag = shard_tag(shard)
    last = tag | np.uint64((1 << OFFSET_BITS) - 1)
    return int(np.searchsorted(locs, tag, "left")), int(np.searchsorted(locs, last, "right"))


def utf8(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A string column's UTF-8 data buffer and its int64 offsets, without copying the text."""
    width = np.int64 if pa.types.is_large_string(column.type) else np.int32
    offsets = np.frombuffer(column.buffers()[1], width)[
        column.offset : column.offset + len(column) + 1
    ]
    data = column.buffers()[2]
    text = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    return text, offsets.astype(np.int64)


@contextmanager
def mapped_documents(path: str) -> Iterator[tuple[np.ndarray, Iterator[np.ndarray]]]:
    """The input shard file as bytes, and per record batch where its documents' texts lie in
    it: `offsets` (rows + 1), document i being `file[offsets[i]:offsets[i + 1]]` (Arrow keeps
    a string column's text contiguous; these are its offsets, shifted)."""
    with pa.memory_map(path) as source:
        whole = source.read_buffer()
        source.seek(0)
        reader = pa.ipc.open_stream(source)

        def batches() -> Iterator[np.ndarray]:
            for batch in reader:
                column = batch.column("text")
                offsets = utf8(column)[1]
                if offsets[-1] == offsets[0]:  # no text (its empty buffer may lie anywhere)
                    yield np.zeros_like(offsets)
                    continue
                start = column.buffers()[2].address - whole.address
                if not 0 <= start + offsets[0] <= start + offsets[-1] <= whole.size:
                    raise ValueError(f"{path}: the text is not stored in place (compressed IPC?)")
                yield start + offsets

        yield np.frombuffer(whole, np.uint8), batches()


class ShardTexts:
    """The input shards' files, memory-mapped on demand (the last OPEN_TEXTS kept open), to
    read units at the byte offsets their locations give."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self._open: OrderedDict[int, np.ndarray] = OrderedDict()

    def __getitem__(self, shard: int) -> np.ndarray:
        if shard not in self._open:
            path = self.exchange.load_json("windows", f"{shard:05d}")["path"]
            local = storage.local_copy(path)  # the shard itself, or this node's copy
            size = os.path.getsize(local)
            self._open[shard] = np.memmap(local, np.uint8, "r") if size else np.zeros(0, np.uint8)
            if len(self._open) > OPEN_TEXTS:
                self._open.popitem(last=False)
        self._open.move_to_end(shard)
        return self._open[shard]


def _mapped(exchange: Exchange, step: str, name: str) -> np.ndarray:
    """A saved array, memory-mapped apart from the task's exchange (which keeps its last maps
    open): unmapped when dropped, so a task that reads many files holds one file's pages."""
    return Exchange(exchange.stage_dir).load(step, name)


def read_partition(
    exchange: Exchange, partition: int, shards: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hashes, locations, lengths) of every unit in `partition`, in corpus order: one slice of
    each chunk file, copied into three arrays."""
    slices = []
    for shard in range(shards):
        bounds = exchange.load("windows", f"{shard:05d}.bounds")[:, partition : partition + 2]
        origins = exchange.load("windows", f"{shard:05d}.origins").tolist()
        slices += [
            (f"{shard:05d}-{chunk:05d}", shard_tag(shard) | np.uint64(origin), lo, hi)
            for chunk, (origin, (lo, hi)) in enumerate(zip(origins, bounds.tolist(), strict=True))
        ]
    total = sum(hi - lo for *_, lo, hi in slices)
    hashes = np.empty(total, np.uint64)
    locs = np.empty(total, np.uint64)
    lengths = np.empty(total, np.uint32)
    at = 0
    for name, start, lo, hi in slices:
        if hi > lo:
            records = _mapped(exchange, "windows", name)[lo:hi]
            end = at + hi - lo
            hashes[at:end], lengths[at:end] = records["hash"], records["length"]
            np.add(records["offset"], start, out=locs[at:end], dtype=np.uint64)
            at = end
    return hashes, locs, lengths


def removal_bits(exchange: Exchange, shard: int) -> np.ndarray:
    """A bitmap over the bytes of `shard`'s file: set where a unit to remove starts (from every
    partition, one file at a time)."""
    path = exchange.load_json("windows", f"{shard:05d}")["path"]
    bits = np.zeros((storage.size(path) + 7) // 8, np.uint8)
    for partition in range(exchange.producers("repeats")):
        locs = _mapped(exchange, "repeats", f"{partition:05d}")
        lo, hi = shard_range(locs, shard)
        mark(bits, locs[lo:hi])
    return bits


def release_freed_memory() -> None:
    """Give the heap memory a step freed back to the OS. glibc keeps freed chunks below its
    adaptive mmap threshold for reuse, so the next step or apply task in the same worker would
    otherwise add its peak on top of this one's; a no-op without glibc's `malloc_trim`."""
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)
