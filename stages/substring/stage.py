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

import itertools
import math
import os
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any, Literal, cast

import numpy as np
import pyarrow as pa
from pydantic import Field

from core.exchange import Exchange
from core.schema import with_columns, with_fields
from core.shards import read_shard
from stages.base import (
    BatchOutput,
    GlobalStage,
    StageConfig,
    Step,
    StepPlan,
    node_ids,
    node_shard_row,
    split_by_rejections,
)
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
from stages.substring.summary import SubstringSummary
from stages.text import char_batches

WINDOW_RECORD = np.dtype(
    [("hash", "<u8"), ("node", "<i8"), ("token", "<u4"), ("offset", "<u4"), ("length", "<u4")]
)
REMOVAL_RECORD = np.dtype([("node", "<i8"), ("token", "<u4")])
REMOVED_COLUMN = pa.field("substring_removed", pa.list_(pa.list_(pa.int64(), 2)))
REASON = "substring_too_short"
BYTES_PER_TOKEN = 2  # worst case: one-character tokens between spaces ("1 2 3")
BATCH_CHARS = 1 << 21  # characters tokenized at once (memory ~50 bytes per character)
REPEATS_CHUNK = 1 << 18  # candidate windows verified at once (~400 bytes of Python each)


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


class SubstringStage(GlobalStage):
    name = "substring"
    summary = "remove every span of min_length+ tokens repeated anywhere in the corpus (exact)"
    config_class = SubstringConfig

    def __init__(self, config: SubstringConfig) -> None:
        super().__init__(config)
        self.config: SubstringConfig = config
        self._removals: dict[int, np.ndarray] = {}

    def output_schema(self, input_schema: pa.Schema | None) -> pa.Schema:
        assert input_schema is not None  # noqa: S101 type narrowing: the stage always has input
        return with_fields(input_schema, [REMOVED_COLUMN])

    def describe(self) -> str:
        cfg = self.config
        return (
            f"spans of >= {cfg.min_length} tokens repeated in the corpus, policy {cfg.policy}; "
            f"documents left with < {cfg.min_remaining_tokens} tokens are rejected"
        )

    def partitions(self, shards: Sequence[str]) -> int:
        """Configured, or from the input size: a window record (28 bytes) per token, and at
        most one token per BYTES_PER_TOKEN bytes of shard (the worst case)."""
        if self.config.partitions:
            return self.config.partitions
        records = sum(os.path.getsize(s) for s in shards) / BYTES_PER_TOKEN * WINDOW_RECORD.itemsize
        return max(len(shards), 1, math.ceil(records / (self.config.partition_mb * 2**20)))

    def plan(self, shards: Sequence[str]) -> StepPlan:
        partitions = self.partitions(shards)
        mapped = yield Step("windows", len(shards), {"partitions": partitions}, over="shards")
        reduced = yield Step("repeats", partitions, {"shards": len(shards)})
        totals: Counter[str] = Counter()
        for result in [*mapped, *reduced]:
            totals.update({k: v for k, v in result.items() if k not in ("seconds", "step")})
        # The keys are the steps' results: documents, windows, repeated_window_occurrences...
        return cast(SubstringSummary, {"partitions": partitions, **dict(sorted(totals.items()))})

    def run_step(
        self, exchange: Exchange, step: Step, index: int, shard: str | None
    ) -> dict[str, Any]:
        if step.name == "windows":
            assert shard is not None  # noqa: S101 type narrowing: a step over shards gets one
            return self._windows(exchange, index, shard, step.params["partitions"])
        if step.name == "repeats":
            return self._repeats(exchange, index, step.params["shards"])
        raise ValueError(f"substring has no step {step.name!r}")

    def _windows(self, exchange: Exchange, shard: int, path: str, partitions: int) -> dict:
        unit_records = self._span_records if self.config.mode == "spans" else self._line_records
        records, texts, sizes = [], [], []
        first_row = 0
        for batch in read_shard(path):
            docs = batch.column("text").to_pylist()
            encoded = [t.encode() for t in docs]
            nodes = node_ids(shard, first_row + np.arange(len(docs)))
            for lo, hi in char_batches(docs, BATCH_CHARS):
                records.append(unit_records(docs[lo:hi], encoded[lo:hi], nodes[lo:hi]))
            texts += encoded
            sizes += map(len, encoded)
            first_row += batch.num_rows
        found = np.concatenate(records) if records else np.empty(0, WINDOW_RECORD)
        destination = (found["hash"] % np.uint64(partitions)).astype(np.int64)
        exchange.write_partitioned("windows", shard, found, destination, partitions)
        exchange.save("windows", f"{shard:05d}.text", np.frombuffer(b"".join(texts), np.uint8))
        exchange.save("windows", f"{shard:05d}.offsets", np.r_[0, np.cumsum(sizes, dtype=np.int64)])
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

    def _repeats(self, exchange: Exchange, partition: int, shards: int) -> dict:
        found = exchange.read_partition("windows", partition, WINDOW_RECORD)
        found = found[np.lexsort((found["token"], found["node"], found["hash"]))]
        same_as_next = found["hash"][1:] == found["hash"][:-1]
        repeated = np.zeros(len(found), dtype=bool)
        repeated[:-1] |= same_as_next
        repeated[1:] |= same_as_next
        candidates = found[repeated]
        del found
        groups = np.flatnonzero(np.r_[True, candidates["hash"][1:] != candidates["hash"][:-1]])
        bounds = np.r_[groups, len(candidates)] if len(candidates) else np.zeros(1, np.int64)
        totals: Counter[str] = Counter()
        remove: list[np.ndarray] = []
        # Chunks of whole hash groups bound the Python objects verification creates.
        chunk_starts = np.searchsorted(bounds, np.arange(0, len(candidates), REPEATS_CHUNK))
        cuts = np.unique(np.r_[chunk_starts, len(bounds) - 1]).tolist()
        for a, b in itertools.pairwise(cuts):
            chunk = candidates[bounds[a] : bounds[b]]
            chosen, counts = self._verify(exchange, chunk, (bounds[a : b + 1] - bounds[a]).tolist())
            remove.append(chunk[chosen])
            totals.update(counts)
        removed = np.concatenate(remove) if remove else candidates[:0]
        out = np.empty(len(removed), dtype=REMOVAL_RECORD)
        out["node"], out["token"] = removed["node"], removed["token"]
        exchange.write_partitioned("repeats", partition, out, out["node"] >> 32, shards)
        return {
            "repeated_window_occurrences": totals["occurrences"],
            "windows_removed": len(out),
            "hash_collisions": totals["collisions"],
        }

    def _verify(
        self, exchange: Exchange, chunk: np.ndarray, bounds: list[int]
    ) -> tuple[list[int], Counter[str]]:
        """Indices (in `chunk`) of the occurrences to remove, from hash groups `bounds`."""
        unit_key = span_key if self.config.mode == "spans" else normalized_line
        window_bytes = _window_bytes(exchange, chunk)
        remove: list[int] = []
        counts: Counter[str] = Counter()
        for lo, hi in itertools.pairwise(bounds):
            # Identical bytes are the same unit; byte variants (other whitespace) are compared
            # by their keys, computed once per variant.
            variants: dict[Any, list[int]] = defaultdict(list)
            for i in range(lo, hi):  # sorted by node, token: corpus order
                variants[window_bytes[i]].append(i)
            copies = variants
            if len(variants) > 1:
                copies = defaultdict(list)
                for raw, members in variants.items():
                    copies[unit_key(raw.decode())] += members
                counts["collisions"] += len(copies) > 1
            for members in copies.values():
                if len(members) > 1:
                    members.sort()  # corpus order across byte variants
                    counts["occurrences"] += len(members)
                    remove += members[1:] if self.config.policy == "keep_first" else members
        return remove, counts

    def apply_batch(
        self, exchange: Exchange, shard: int, first_row: int, batch: pa.RecordBatch
    ) -> BatchOutput:
        if shard not in self._removals:
            found = exchange.read_partition("repeats", shard, REMOVAL_RECORD)
            self._removals[shard] = found[np.lexsort((found["token"], found["node"]))]
        removals = self._removals[shard]
        nodes = node_ids(shard, np.arange(first_row, first_row + batch.num_rows))
        lo = np.searchsorted(removals["node"], nodes, side="left")
        hi = np.searchsorted(removals["node"], nodes, side="right")
        texts = batch.column("text").to_pylist()
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
            if self.config.mode == "spans":  # tokenized one document at a time: bounded memory
                tokens = tokenize([text])
                removed = removed_tokens(int(tokens.count[0]), units, self.config.min_length)
                ranges = removal_ranges(removed, tokens.start, len(encoded))
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
        values = {"text": new_texts, REMOVED_COLUMN.name: ranges_column}
        edited = with_columns(batch, self.output_schema(batch.schema), values)
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
            lo -= 2 if text[lo - 2 : lo] == b"\r\n" else 1  # last line: the line break before
        if ranges and ranges[-1][1] >= lo:
            ranges[-1] = (ranges[-1][0], max(ranges[-1][1], hi))
        else:
            ranges.append((lo, hi))
    return ranges


def _window_bytes(exchange: Exchange, windows: np.ndarray) -> list[bytes]:
    """The UTF-8 bytes of each window, read shard by shard (one shard's text open at a time)."""
    shards, rows = node_shard_row(windows["node"])
    out: list[bytes] = [b""] * len(windows)
    for shard in np.unique(shards).tolist():
        picked = np.flatnonzero(shards == shard)
        text = memoryview(exchange.load("windows", f"{shard:05d}.text"))
        begins = (
            exchange.load("windows", f"{shard:05d}.offsets")[rows[picked]]
            + windows["offset"][picked]
        )
        ends = begins + windows["length"][picked]
        for i, lo, hi in zip(picked.tolist(), begins.tolist(), ends.tolist(), strict=True):
            out[i] = text[lo:hi].tobytes()
        del text
    return out
