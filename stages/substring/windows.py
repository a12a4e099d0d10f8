"""The windows step of the substring stage: every unit of a shard's documents (a window of
`min_length` tokens, or a line with content) as a record (hash, byte offset, byte length),
written to partition `hash mod P` (`store.py` says where), so every copy of a unit meets in one
partition."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from core import storage
from core.exchange import Exchange
from stages.substring import kernels
from stages.substring.spans import WINDOW_BASE
from stages.substring.store import (
    CHUNK_BYTES,
    RECORD,
    mapped_documents,
    release_freed_memory,
    shard_tag,
)
from stages.text import P_TOKEN

# Writes the units of some documents into (hashes, offsets from `origin`, lengths) from index
# 0, in corpus order, and returns how many: (text, document starts, ends, origin, *arrays).
UnitFinder = Callable[..., int]


def span_units(width: int) -> UnitFinder:
    def find(text: np.ndarray, starts: np.ndarray, ends: np.ndarray, *out: np.ndarray) -> int:
        bases = np.uint64(P_TOKEN), np.uint64(WINDOW_BASE)
        return kernels.span_units(text, starts, ends, kernels.unit_classes(), width, *bases, *out)

    return find


def line_units(text: np.ndarray, starts: np.ndarray, ends: np.ndarray, *out: np.ndarray) -> int:
    bases = np.uint64(P_TOKEN), np.uint64(WINDOW_BASE)
    return kernels.line_units(text, starts, ends, kernels.unit_classes(), *bases, *out)


def write_units(
    exchange: Exchange, shard: int, path: str, partitions: int, mode: str, width: int
) -> dict[str, int]:
    """The units of the shard's documents, chunk by chunk, into partitioned record files."""
    find = span_units(width) if mode == "spans" else line_units
    shard_tag(shard)  # raises now for a shard index beyond the locations' bits
    bounds, origins, documents, units = [], [], [], 0
    with mapped_documents(str(storage.local_copy(path))) as (text, batches):
        if len(text) >= 1 << kernels.OFFSET_BITS:
            raise ValueError(f"{path}: substring reads shards of up to 1 TiB")
        arrays = _ChunkArrays()
        for starts, ends in _chunks(batches, CHUNK_BYTES):
            origin = int(starts[0])
            if ends[-1] - origin >= 1 << 32:  # a document of 4 GB
                raise ValueError(f"{path}: substring reads documents of up to 4 GB")
            hashes, offsets, lengths, records = arrays.room(starts, ends)
            n = find(text, starts, ends, origin, hashes, offsets, lengths)
            found = hashes[:n], offsets[:n], lengths[:n]
            bounds.append(kernels.partition_records(*found, partitions, records[:n]))
            exchange.save("windows", f"{shard:05d}-{len(origins):05d}", records[:n])
            origins.append(origin)
            documents.append(starts)
            units += n
    del arrays
    exchange.save("windows", f"{shard:05d}.bounds", np.array(bounds).reshape(-1, partitions + 1))
    exchange.save("windows", f"{shard:05d}.origins", np.array(origins, dtype=np.int64))
    docs = np.concatenate(documents) if documents else np.zeros(0, np.int64)
    exchange.save("windows", f"{shard:05d}.docs", docs)
    exchange.save_json("windows", f"{shard:05d}", {"path": storage.absolute(path)})
    release_freed_memory()
    return {"documents": len(docs), "windows": units}


class _ChunkArrays:
    """What a windows task fills per chunk (hashes, offsets, lengths, records), allocated once
    and grown for a larger chunk: reallocating them per chunk would fragment the heap."""

    def __init__(self) -> None:
        self.arrays: tuple[np.ndarray, ...] = ()

    def room(self, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, ...]:
        """Room for the most units the documents can hold: a token takes a byte and, but for a
        CJK neighbour (3+ bytes), a separator (pages never written cost no memory)."""
        most = int(np.sum((ends - starts + 1) // 2))
        if not self.arrays or len(self.arrays[0]) < most:
            self.arrays = ()  # freed before the larger ones are allocated
            kinds = (np.uint64, np.uint32, np.uint32, RECORD)
            self.arrays = tuple(np.empty(most, kind) for kind in kinds)
        return self.arrays


def _chunks(batches: Iterator[np.ndarray], size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(starts, ends) of the documents, in chunks of about `size` bytes of text (whole
    documents; a record batch may be cut, so a chunk never holds much more than `size`)."""
    starts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    held = 0
    for offsets in batches:
        first, rows = 0, len(offsets) - 1
        while first < rows:
            # up to the first document that brings the chunk to `size` (or the batch's end)
            last = int(np.searchsorted(offsets, offsets[first] + size - held, "left"))
            last = min(max(last, first + 1), rows)
            starts.append(offsets[first:last])
            ends.append(offsets[first + 1 : last + 1])
            held += int(offsets[last] - offsets[first])
            first = last
            if held >= size:
                yield np.concatenate(starts), np.concatenate(ends)
                starts, ends, held = [], [], 0
    if starts:
        yield np.concatenate(starts), np.concatenate(ends)
