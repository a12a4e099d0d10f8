"""The substring stage: exact removal of every span of at least `min_length` tokens that
occurs more than once anywhere in the corpus (docs/dedup.md, "Substring dedup").

A span of length >= k repeats exactly when each of its k-token windows repeats, so the text to
remove is the union of the windows that occur at least twice (policy `remove_all`, the
behaviour of Lee et al.'s suffix-array tool) or of every occurrence of such a window but the
first in corpus order (policy `keep_first`). Steps:

1. `windows` (per shard): tokens and a 64-bit hash of every k-token window; records
   `(hash, node, token, byte offset, byte length)` go to partition `hash mod P`, so every
   copy of a window meets in one partition. Each shard's UTF-8 text is saved for random
   access.
2. `repeats` (per partition): windows are grouped by hash and each group with two or more is
   verified token for token (`span_key`), so a hash collision never removes unique text; the
   occurrences to remove, `(node, token)`, go to their shard.
3. apply (per shard): removed windows become byte ranges; documents that keep fewer than
   `min_remaining_tokens` tokens are rejected (`substring_too_short`), the others are kept
   with their text cut and the ranges recorded in `substring_removed`.
"""

from __future__ import annotations

import math
import os
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from pipeline.exchange import Exchange
from pipeline.shards import read_shard
from stages.base import BatchOutput, GlobalStage, StageConfig, Step, StepPlan, split_by_rejections
from stages.substring.spans import (
    TOKEN,
    cut,
    line_hash,
    line_ranges,
    normalized_line,
    removal_ranges,
    removed_tokens,
    span_key,
    tokenize,
    windows,
)

WINDOW_RECORD = np.dtype(
    [("hash", "<u8"), ("node", "<i8"), ("token", "<u4"), ("offset", "<u4"), ("length", "<u4")]
)
REMOVAL_RECORD = np.dtype([("node", "<i8"), ("token", "<u4")])
REMOVED_COLUMN = pa.field("substring_removed", pa.list_(pa.list_(pa.int64(), 2)))
REASON = "substring_too_short"
BYTES_PER_TOKEN = 3  # a CJK character is 3 UTF-8 bytes and one token; English words are longer


class SubstringConfig(StageConfig):
    mode: Literal["spans", "lines"] = Field(
        "spans",
        description="spans: repeated spans of min_length+ tokens; lines: repeated lines "
        "(whitespace-normalized), the cheap pass of Yi's paragraph dedup and cc_net",
    )
    min_length: int = Field(
        50, ge=1, description="tokens in a repeated span (words; characters in CJK text)"
    )
    policy: Literal["remove_all", "keep_first"] = Field(
        "remove_all",
        description="remove_all: every occurrence of a repeated span (Lee et al.); "
        "keep_first: all but the first in corpus order",
    )
    min_remaining_tokens: int = Field(
        50, ge=0, description="reject a document left with fewer tokens after removal"
    )
    partitions: int | None = Field(
        None,
        ge=1,
        description="partitions of the window records; None: enough that each holds about "
        "partition_mb (at least one per input shard)",
    )
    partition_mb: int = Field(
        256, ge=1, description="target window records per partition (sets a task's memory)"
    )


def _nodes(shard: int, rows: np.ndarray) -> np.ndarray:
    return (np.int64(shard) << np.int64(32)) | rows.astype(np.int64)


class SubstringStage(GlobalStage):
    name = "substring"
    summary = "remove every span of min_length+ tokens repeated anywhere in the corpus (exact)"
    config_class = SubstringConfig

    def __init__(self, config: SubstringConfig) -> None:
        super().__init__(config)
        self.config: SubstringConfig = config
        self._removals: dict[int, np.ndarray] = {}

    def output_schema(self, input_schema: pa.Schema | None) -> pa.Schema:
        assert input_schema is not None
        if REMOVED_COLUMN.name in input_schema.names:
            return input_schema
        return input_schema.append(REMOVED_COLUMN)

    def describe(self) -> str:
        cfg = self.config
        return (
            f"spans of >= {cfg.min_length} tokens repeated in the corpus, policy {cfg.policy}; "
            f"documents left with < {cfg.min_remaining_tokens} tokens are rejected"
        )

    def partitions(self, shards: Sequence[str]) -> int:
        """Configured, or from the input size: a window record (28 bytes) per token, and at
        most one token per BYTES_PER_TOKEN bytes of shard (CJK text's worst case)."""
        if self.config.partitions:
            return self.config.partitions
        records = sum(os.path.getsize(s) for s in shards) / BYTES_PER_TOKEN * WINDOW_RECORD.itemsize
        return max(len(shards), 1, math.ceil(records / (self.config.partition_mb * 2**20)))

    def plan(self, shards: Sequence[str]) -> StepPlan:
        partitions = self.partitions(shards)
        mapped = yield Step("windows", len(shards), {"partitions": partitions})
        reduced = yield Step("repeats", partitions, {"shards": len(shards)})
        totals: Counter[str] = Counter()
        for result in [*mapped, *reduced]:
            totals.update({k: v for k, v in result.items() if k != "seconds"})
        return {"partitions": partitions, **dict(sorted(totals.items()))}

    def run_step(
        self, work: Exchange, step: Step, index: int, shards: Sequence[str]
    ) -> dict[str, Any]:
        if step.name == "windows":
            return self._windows(work, index, shards[index], step.params["partitions"])
        if step.name == "repeats":
            return self._repeats(work, index, step.params["shards"])
        raise ValueError(f"substring has no step {step.name!r}")

    def _windows(self, work: Exchange, shard: int, path: str, partitions: int) -> dict:
        unit_records = self._span_records if self.config.mode == "spans" else self._line_records
        records, texts, sizes = [], [], []
        first_row = 0
        for batch in read_shard(path):
            docs = batch.column("text").to_pylist()
            encoded = [t.encode() for t in docs]
            records.append(
                unit_records(docs, encoded, _nodes(shard, first_row + np.arange(len(docs))))
            )
            texts += encoded
            sizes += map(len, encoded)
            first_row += batch.num_rows
        found = np.concatenate(records) if records else np.empty(0, WINDOW_RECORD)
        destination = (found["hash"] % np.uint64(partitions)).astype(np.int64)
        work.write_partitioned("windows", shard, found, destination, partitions)
        work.save("windows", f"{shard:05d}.text", np.frombuffer(b"".join(texts), np.uint8))
        work.save("windows", f"{shard:05d}.offsets", np.r_[0, np.cumsum(sizes, dtype=np.int64)])
        return {"documents": first_row, "windows": len(found)}

    def _span_records(self, docs: list[str], encoded: list[bytes], nodes: np.ndarray) -> np.ndarray:
        """One record per window of min_length tokens (token = its first token's index)."""
        width = self.config.min_length
        tokens = tokenize(docs)
        starts, hashes = windows(tokens, width)
        doc = tokens.doc[starts]
        part = np.empty(len(starts), dtype=WINDOW_RECORD)
        part["hash"], part["node"] = hashes, nodes[doc]
        part["token"], part["offset"] = starts - tokens.first[doc], tokens.start[starts]
        part["length"] = tokens.end[starts + width - 1] - tokens.start[starts]
        return part

    def _line_records(self, docs: list[str], encoded: list[bytes], nodes: np.ndarray) -> np.ndarray:
        """One record per line with content (token = the line's index among those)."""
        rows = []
        for node, text in zip(nodes.tolist(), encoded, strict=True):
            for index, (lo, hi) in enumerate(line_ranges(text)):
                rows.append((line_hash(text[lo:hi].decode()), node, index, lo, hi - lo))
        return np.array(rows, dtype=WINDOW_RECORD)

    def _repeats(self, work: Exchange, partition: int, shards: int) -> dict:
        found = work.read_partition("windows", partition, WINDOW_RECORD)
        found = found[np.lexsort((found["token"], found["node"], found["hash"]))]
        same_as_next = found["hash"][1:] == found["hash"][:-1]
        repeated = np.zeros(len(found), dtype=bool)
        repeated[:-1] |= same_as_next
        repeated[1:] |= same_as_next
        candidates = found[repeated]
        texts = _ShardTexts(work)
        unit_key = span_key if self.config.mode == "spans" else normalized_line
        remove, occurrences, collisions = [], 0, 0
        shard_of = (candidates["node"] >> 32).tolist()
        begins = texts.starts(candidates["node"], candidates["offset"])
        ends = (begins + candidates["length"]).tolist()
        begins = begins.tolist()
        starts = np.flatnonzero(np.r_[True, candidates["hash"][1:] != candidates["hash"][:-1]])
        for lo, hi in zip(
            starts.tolist(), np.r_[starts[1:], len(candidates)].tolist(), strict=True
        ):
            # Identical bytes are the same unit; byte variants (other whitespace) are compared
            # by their keys, computed once per variant.
            variants: dict[bytes, list[int]] = defaultdict(list)
            for i in range(lo, hi):  # sorted by node, token: corpus order
                variants[texts.text(shard_of[i])[begins[i] : ends[i]].tobytes()].append(i)
            copies: dict[Any, list[int]] = variants
            if len(variants) > 1:
                copies = defaultdict(list)
                for raw, members in variants.items():
                    copies[unit_key(raw.decode())] += members
            collisions += len(copies) > 1
            for members in copies.values():
                if len(members) > 1:
                    members.sort()  # corpus order across byte variants
                    occurrences += len(members)
                    remove += members[1:] if self.config.policy == "keep_first" else members
        out = np.empty(len(remove), dtype=REMOVAL_RECORD)
        out["node"] = candidates["node"][remove]
        out["token"] = candidates["token"][remove]
        work.write_partitioned("repeats", partition, out, out["node"] >> 32, shards)
        return {
            "repeated_window_occurrences": occurrences,
            "windows_removed": len(out),
            "hash_collisions": collisions,
        }

    def apply_batch(
        self, work: Exchange, shard: int, first_row: int, batch: pa.RecordBatch
    ) -> BatchOutput:
        if shard not in self._removals:
            found = work.read_partition("repeats", shard, REMOVAL_RECORD)
            self._removals[shard] = found[np.lexsort((found["token"], found["node"]))]
        removals = self._removals[shard]
        nodes = _nodes(shard, np.arange(first_row, first_row + batch.num_rows))
        lo = np.searchsorted(removals["node"], nodes, side="left")
        hi = np.searchsorted(removals["node"], nodes, side="right")
        texts = batch.column("text").to_pylist()
        tokens = tokenize(texts) if self.config.mode == "spans" and (hi > lo).any() else None
        new_texts: list[str] = []
        ranges_column: list[list[tuple[int, int]]] = []
        rejections: list[tuple[str, str | None] | None] = []
        counters: Counter[str] = Counter()
        for row, text in enumerate(texts):
            if hi[row] == lo[row]:
                new_texts.append(text)
                ranges_column.append([])
                rejections.append(None)
                continue
            units = removals["token"][lo[row] : hi[row]].astype(np.int64)
            encoded = text.encode()
            if tokens is not None:
                first, count = int(tokens.first[row]), int(tokens.count[row])
                removed = removed_tokens(count, units, self.config.min_length)
                ranges = removal_ranges(removed, tokens.start[first : first + count], len(encoded))
            else:
                ranges = _line_cuts(encoded, units)
            shortened = cut(encoded, ranges).decode()
            before, left = len(TOKEN.findall(text)), len(TOKEN.findall(shortened))
            ranges_column.append(ranges)
            if left < self.config.min_remaining_tokens:  # rejected whole: keep its text to audit
                new_texts.append(text)
                rejections.append((REASON, f"{left} tokens left of {before}"))
                continue
            new_texts.append(shortened)
            rejections.append(None)
            counters["documents_cut"] += 1
            counters["tokens_removed"] += before - left
            counters["bytes_removed"] += len(encoded) - len(shortened.encode())
        edited = _with_columns(batch, new_texts, ranges_column)
        return split_by_rejections(edited, rejections, counters)


def _line_cuts(text: bytes, removed: np.ndarray) -> list[tuple[int, int]]:
    """Byte ranges of the removed lines, each with its newline (the last line: the one before,
    if any), merged where they touch."""
    lines = line_ranges(text)
    ranges: list[tuple[int, int]] = []
    for index in removed.tolist():
        lo, hi = lines[index]
        if hi < len(text):
            hi += 1  # the line's newline
        elif lo > 0 and text[lo - 1 : lo] == b"\n":
            lo -= 1  # last line: the newline before it
        if ranges and ranges[-1][1] >= lo:
            ranges[-1] = (ranges[-1][0], max(ranges[-1][1], hi))
        else:
            ranges.append((lo, hi))
    return ranges


def _with_columns(
    batch: pa.RecordBatch, texts: list[str], ranges: list[list[tuple[int, int]]]
) -> pa.RecordBatch:
    columns = dict(zip(batch.schema.names, batch.columns, strict=True))
    columns["text"] = pa.array(texts, batch.schema.field("text").type)
    columns[REMOVED_COLUMN.name] = pa.array(ranges, REMOVED_COLUMN.type)
    schema = batch.schema
    if REMOVED_COLUMN.name not in schema.names:
        schema = schema.append(REMOVED_COLUMN)
    return pa.RecordBatch.from_arrays([columns[name] for name in schema.names], schema=schema)


class _ShardTexts:
    """Random access to the UTF-8 text the windows step saved for each shard (memory-mapped:
    a task reads only the pages of the windows it verifies)."""

    def __init__(self, work: Exchange) -> None:
        self.work = work
        self._texts: dict[int, memoryview] = {}

    def text(self, shard: int) -> memoryview:
        if shard not in self._texts:
            self._texts[shard] = memoryview(self.work.load("windows", f"{shard:05d}.text"))
        return self._texts[shard]

    def starts(self, nodes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Byte position of each window in its shard's text."""
        shards, rows = nodes >> 32, nodes & 0xFFFFFFFF
        out = offsets.astype(np.int64)
        for shard in np.unique(shards).tolist():
            mask = shards == shard
            out[mask] += self.work.load("windows", f"{shard:05d}.offsets")[rows[mask]]
        return out
