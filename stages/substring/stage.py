"""The substring stage: exact removal of every span of at least `min_length` tokens that
occurs more than once anywhere in the corpus (docs/dedup.md, "Substring dedup").

A span of length >= k repeats exactly when each of its k-token windows repeats, so the text to
remove is the union of the windows that occur at least twice (policy `remove_all`, the
behaviour of Lee et al.'s suffix-array tool) or of every occurrence of such a window but the
first in corpus order (policy `keep_first`). Steps:

1. `windows` (per shard, `windows.py`): a 64-bit hash, location and byte length of every
   k-token window (in lines mode: every line with content), to partition `hash mod P`, so
   every copy of a window meets in one partition.
2. `repeats` (per partition, `repeats.py`): windows grouped by hash, every copy compared byte
   for byte with its group's first in the input shard's text, groups whose copies differ
   decided exactly by `span_key` (a hash collision never removes unique text); the locations
   of the occurrences to remove go to their shard.
3. apply (per shard, `cuts.py`): removed windows become byte ranges; documents that keep fewer
   than `min_remaining_tokens` tokens are rejected (`substring_too_short`), the others are
   kept with their text cut and the ranges recorded in `substring_removed`.

The loops are compiled (`kernels.py`); `store.py` says where the steps' files live.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal, cast

import pyarrow as pa
from pydantic import Field

from core import storage
from core.exchange import Exchange
from core.schema import with_fields
from stages.base import BatchOutput, GlobalStage, StageConfig, Step, StepPlan
from stages.substring import windows
from stages.substring.cuts import REMOVED_COLUMN, CutOptions, ShardRemovals, cut_batch
from stages.substring.repeats import UNIT_BYTES, find_repeats
from stages.substring.spans import normalized_line, span_key
from stages.substring.summary import SubstringSummary

BYTES_PER_TOKEN = 2  # worst case: one-character tokens between spaces ("1 2 3")


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
        self._removals: dict[int, ShardRemovals] = {}

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
        """Configured, or from the input size: at most one token per BYTES_PER_TOKEN bytes of
        shard (the worst case), UNIT_BYTES each in the repeats task that holds it."""
        if self.config.partitions:
            return self.config.partitions
        units = sum(storage.size(s) for s in shards) / BYTES_PER_TOKEN
        target = self.config.partition_mb * 2**20
        return max(len(shards), 1, math.ceil(units * UNIT_BYTES / target))

    def plan(self, shards: Sequence[str]) -> StepPlan:
        partitions = self.partitions(shards)
        mapped = yield Step("windows", len(shards), {"partitions": partitions}, over="shards")
        reduced = yield Step("repeats", partitions, {"shards": len(shards)})
        totals: Counter[str] = Counter()
        for result in [*mapped, *reduced]:
            totals.update(result)
        # The keys are the steps' results: documents, windows, repeated_window_occurrences...
        return cast(SubstringSummary, {"partitions": partitions, **dict(sorted(totals.items()))})

    def run_step(
        self, exchange: Exchange, step: Step, index: int, shard: str | None
    ) -> dict[str, Any]:
        cfg = self.config
        if step.name == "windows":
            assert shard is not None  # noqa: S101 type narrowing: a step over shards gets one
            partitions = step.params["partitions"]
            return windows.write_units(exchange, index, shard, partitions, cfg.mode, cfg.min_length)
        if step.name == "repeats":
            key = span_key if cfg.mode == "spans" else normalized_line
            keep_first = cfg.policy == "keep_first"
            return find_repeats(exchange, index, step.params["shards"], keep_first, key)
        raise ValueError(f"substring has no step {step.name!r}")

    def apply_batch(
        self, exchange: Exchange, shard: int, first_row: int, batch: pa.RecordBatch
    ) -> BatchOutput:
        if shard not in self._removals:  # one shard's at a time
            self._removals = {shard: ShardRemovals.load(exchange, shard)}
        cfg = self.config
        options = CutOptions(cfg.mode, cfg.min_length, cfg.min_remaining_tokens)
        schema = self.output_schema(batch.schema)
        return cut_batch(batch, schema, self._removals[shard], first_row, options)
