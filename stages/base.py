"""The stage contract: a plain transform over Arrow record batches with a small declared config.

A stage knows nothing of Ray, the CLI or files it does not read itself: the executor
(`pipeline.runner`) decides which shards a task processes, where outputs go, retries and resume.

Two kinds exist today:

* `SourceStage` turns one external input file (WARC, WET, JSONL, Parquet) into batches of
  documents. The executor runs one task per input file.
* `TransformStage` turns one record batch of documents into kept and rejected rows. The
  executor runs one task per input shard and streams the shard's batches through it.

Both are shard-parallel (`parallelism = "shard"`): a task needs only its own shard, so memory
per worker is bounded by shard size. Global stages (LSH clustering, substring dedup, LDA,
tokenizer training) will declare their map and reduce steps the same way; see
docs/architecture.md.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict

from pipeline.schema import rejected_schema


class StageConfig(BaseModel):
    """Base of every stage config: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class BatchOutput:
    """What a stage returns for one batch: every input row is in exactly one of the two."""

    kept: pa.RecordBatch
    rejected: pa.RecordBatch
    # Stage-specific counts worth reporting (e.g. WARC records skipped by type).
    counters: Counter[str] = field(default_factory=Counter)


def split_by_rejections(
    batch: pa.RecordBatch,
    rejections: Sequence[tuple[str, str | None] | None],
    counters: Counter[str] | None = None,
) -> BatchOutput:
    """Kept rows (no rejection) and rejected rows with their `reason` and `reason_detail`,
    from one `(reason, detail)` or None per row of `batch`."""
    keep = pa.array([r is None for r in rejections])
    chosen = [r for r in rejections if r is not None]
    dropped = batch.filter(pc.invert(keep))
    reasons = pa.array([reason for reason, _ in chosen], pa.string())
    details = pa.array([detail for _, detail in chosen], pa.string())
    rejected = pa.RecordBatch.from_arrays(
        [*dropped.columns, reasons, details], schema=rejected_schema(batch.schema)
    )
    return BatchOutput(kept=batch.filter(keep), rejected=rejected, counters=counters or Counter())


class Stage(ABC):
    name: ClassVar[str]
    summary: ClassVar[str]
    config_class: ClassVar[type[StageConfig]]
    parallelism: ClassVar[Literal["shard"]] = "shard"

    def __init__(self, config: StageConfig) -> None:
        self.config = config

    @abstractmethod
    def output_schema(self, input_schema: pa.Schema | None) -> pa.Schema:
        """Schema of kept rows given the input shards' schema (None for source stages)."""


class SourceStage(Stage):
    """Reads external files; one executor task per file."""

    @abstractmethod
    def list_inputs(self, paths: Sequence[str]) -> list[str]:
        """Expand user-given paths (files or directories) to the sorted files to read."""

    @abstractmethod
    def read_file(self, path: str) -> Iterator[BatchOutput]:
        """Yield every document of `path`, kept or rejected; never raise on bad input."""


class TransformStage(Stage):
    """Transforms document batches; one executor task per input shard."""

    @abstractmethod
    def process_batch(self, batch: pa.RecordBatch) -> BatchOutput:
        """Split `batch` into kept rows (possibly edited or with new columns) and rejected rows."""
