"""The apply step of the substring stage: one record batch's documents cut where the repeats
step found units to remove, in compiled loops over the batch's UTF-8 buffer (no Python per
document): byte ranges, token counts before and after, the new text column, and the batch
split into kept and rejected rows.

Arrays are built from their buffers, never with `pa.array`: its first call imports pandas
(0.3 s and 30 MB in every worker process) for nothing here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from core.exchange import Exchange
from core.schema import rejected_schema, with_columns
from stages.base import BatchOutput
from stages.substring import kernels
from stages.substring.store import removal_bits, utf8

REMOVED_COLUMN = pa.field("substring_removed", pa.list_(pa.list_(pa.int64(), 2)))
REASON = "substring_too_short"


@dataclass(frozen=True)
class ShardRemovals:
    """Where units to remove start in one shard: a bitmap over its file's bytes (an eighth of
    the shard) and the file offset of every document's text."""

    bits: np.ndarray
    docs: np.ndarray

    @classmethod
    def load(cls, exchange: Exchange, shard: int) -> ShardRemovals:
        docs = np.array(exchange.load("windows", f"{shard:05d}.docs"))
        return cls(removal_bits(exchange, shard), docs)

    def starts(self, first_row: int, offsets: np.ndarray) -> np.ndarray:
        """The removed units' starts in a batch's text buffer (`offsets`: its documents'), in
        order. The batch's text lies in the file from its first document on."""
        shift = int(self.docs[first_row] - offsets[0]) if len(offsets) > 1 else 0
        return kernels.marked(self.bits, shift + offsets[0], shift + offsets[-1]) - shift


@dataclass(frozen=True)
class CutOptions:
    mode: str  # spans or lines
    width: int  # tokens in a window
    min_remaining: int  # tokens a cut document must keep


def cut_batch(
    batch: pa.RecordBatch,
    schema: pa.Schema,
    removals: ShardRemovals,
    first_row: int,
    options: CutOptions,
) -> BatchOutput:
    """Cut the removed units out of the batch's documents (its rows from `first_row` on): kept
    rows with their new text and `substring_removed` in `schema`; a document left with fewer
    than `min_remaining` tokens is rejected with its text (and its ranges, to audit)."""
    column = batch.column("text")
    text, offsets = utf8(column)
    starts = removals.starts(first_row, offsets)
    classes = kernels.unit_classes()
    if options.mode == "spans":
        ranges, bounds = kernels.span_cuts(text, offsets, starts, classes, options.width)
    else:
        ranges, bounds = kernels.line_cuts(text, offsets, starts)
    new, new_offsets, counts, rejected = kernels.cut_texts(
        text, offsets, ranges, bounds, classes, options.min_remaining
    )
    values = {
        "text": _from_utf8(column.type, new, new_offsets),
        REMOVED_COLUMN.name: _ranges(ranges, bounds),
    }
    edited = with_columns(batch, schema, values)
    details = [f"{left} tokens left of {before}" for before, left in counts[rejected].tolist()]
    counters = _counters(offsets, new_offsets, counts, rejected)
    return _split(edited, rejected, details, counters)


def _split(
    batch: pa.RecordBatch, rejected: np.ndarray, details: list[str], counters: Counter[str]
) -> BatchOutput:
    """`stages.base.split_by_rejections` for one reason, with arrays built from buffers."""
    dropped = batch.filter(_booleans(rejected))
    reasons = [_string_array([REASON] * len(details)), _string_array(details)]
    schema = rejected_schema(batch.schema)
    rejected_rows = pa.RecordBatch.from_arrays([*dropped.columns, *reasons], schema=schema)
    return BatchOutput(batch.filter(_booleans(~rejected)), rejected_rows, counters)


def _booleans(values: np.ndarray) -> pa.Array:
    bits = np.packbits(values, bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])


def _string_array(strings: list[str]) -> pa.Array:
    encoded = [s.encode() for s in strings]
    offsets = np.r_[0, np.cumsum([len(e) for e in encoded])].astype(np.int64)
    return _from_utf8(pa.string(), np.frombuffer(b"".join(encoded), np.uint8), offsets)


def _from_utf8(kind: pa.DataType, data: np.ndarray, offsets: np.ndarray) -> pa.Array:
    width = np.int64 if pa.types.is_large_string(kind) else np.int32
    buffers = [None, pa.py_buffer(offsets.astype(width)), pa.py_buffer(data)]
    return pa.Array.from_buffers(kind, len(offsets) - 1, buffers)


def _ranges(ranges: np.ndarray, bounds: np.ndarray) -> pa.Array:
    values = pa.Array.from_buffers(
        pa.int64(), ranges.size, [None, pa.py_buffer(ranges.reshape(-1))]
    )
    pairs = pa.FixedSizeListArray.from_arrays(values, 2)
    offsets = pa.py_buffer(bounds.astype(np.int32))
    return pa.ListArray.from_buffers(
        REMOVED_COLUMN.type, len(bounds) - 1, [None, offsets], children=[pairs]
    )


def _counters(
    offsets: np.ndarray, new_offsets: np.ndarray, counts: np.ndarray, rejected: np.ndarray
) -> Counter[str]:
    """documents_cut, tokens_removed, bytes_removed of the kept documents that lost text
    (none of the keys when no document was cut)."""
    cut = (counts[:, 0] >= 0) & ~rejected
    if not cut.any():
        return Counter()
    removed_bytes = np.diff(offsets) - np.diff(new_offsets)
    return Counter(
        documents_cut=int(cut.sum()),
        tokens_removed=int((counts[cut, 0] - counts[cut, 1]).sum()),
        bytes_removed=int(removed_bytes[cut].sum()),
    )
