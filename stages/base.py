"""The stage contract: a plain transform over Arrow record batches with a small declared config.

A stage knows nothing of Ray, the CLI or files it does not read itself: the executor
(`pipeline.runner`) decides which shards a task processes, where outputs go, retries and resume.

Stages that carry documents on (`DocumentStage`):

* `SourceStage` turns one external input file (WARC, WET, JSONL, Parquet) into batches of
  documents. The executor runs one task per input file.
* `TransformStage` turns one record batch of documents into kept and rejected rows. The
  executor runs one task per input shard and streams the shard's batches through it.

Both are shard-parallel: a task needs only its own shard, so memory per worker is bounded by
shard size.

* `GlobalStage` (MinHash clustering, substring dedup, LDA...) needs the whole corpus. It plans
  steps of tasks (per shard or per partition) that exchange files through a
  `core.exchange.Exchange`, then applies the result to each shard like a transform; see
  docs/architecture.md.
* `TrainingStage` (the quality classifier, the n-gram models, the tokenizer) trains a model
  that later stages use. One task writes the model into the stage directory; documents pass
  through untouched.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict

from core.schema import rejected_schema

if TYPE_CHECKING:
    from core.exchange import Exchange


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
    keep = pa.array([r is None for r in rejections], pa.bool_())  # typed: a batch may be empty
    chosen = [r for r in rejections if r is not None]
    dropped = batch.filter(pc.invert(keep))
    reasons = pa.array([reason for reason, _ in chosen], pa.string())
    details = pa.array([detail for _, detail in chosen], pa.string())
    rejected = pa.RecordBatch.from_arrays(
        [*dropped.columns, reasons, details], schema=rejected_schema(batch.schema)
    )
    return BatchOutput(kept=batch.filter(keep), rejected=rejected, counters=counters or Counter())


@dataclass(frozen=True)
class TaskResources:
    """What one task of a stage needs, declared so that a scheduler never runs more tasks on a
    node than its memory holds: CPUs, and memory as a fixed part (interpreter, libraries,
    models) plus a share per byte of the shard the task reads."""

    cpus: float = 1.0
    base_mb: float = 512.0
    bytes_per_input_byte: float = 3.0

    def memory_bytes(self, input_bytes: int) -> int:
        return int(self.base_mb * 2**20 + self.bytes_per_input_byte * input_bytes)


class Stage(ABC):
    name: ClassVar[str]
    summary: ClassVar[str]
    config_class: ClassVar[type[StageConfig]]
    # A transform's task holds its shard's arrays: docs/benchmarks.md measures every
    # per-document stage's peak at <= 500 MiB for a 71 MB shard and its growth at <= 2.6
    # bytes per added byte of text.
    resources: ClassVar[TaskResources] = TaskResources()

    def __init__(self, config: StageConfig) -> None:
        self.config = config

    def dependencies(self) -> list[str]:
        """Files the stage reads besides its inputs (models): a change to one redoes the
        stage instead of resuming it."""
        return []

    def describe(self) -> str | None:
        """A line the runner prints before the stage starts (derived parameters), or None."""
        return None

    def setup(self) -> None:
        """Ready what every task needs in a worker process (word lists, models, compiled
        kernels), before a task's documents: called before each task and timed apart from it
        (`setup_seconds` in the stats), so a stage makes it cheap once done in the process."""
        return None  # most stages need nothing beyond their imports


class DocumentStage(Stage):
    """A stage whose tasks split documents into kept and rejected rows."""

    # False for a stage whose kept documents leave in another form (export's token shards):
    # the runner then counts them and writes only the rejected rows.
    writes_kept_rows: ClassVar[bool] = True

    @abstractmethod
    def output_schema(self, input_schema: pa.Schema | None) -> pa.Schema:
        """Schema of kept rows given the input shards' schema (None for source stages)."""


class SourceStage(DocumentStage):
    """Reads external files; one executor task per file."""

    # Streams its file: one record (<= max_record_bytes) and one output batch at a time.
    resources: ClassVar[TaskResources] = TaskResources(base_mb=768, bytes_per_input_byte=0)

    @abstractmethod
    def list_inputs(self, paths: Sequence[str]) -> list[str]:
        """Expand user-given paths (files or directories) to the sorted files to read."""

    @abstractmethod
    def read_file(self, path: str) -> Iterator[BatchOutput]:
        """Yield every document of `path`, kept or rejected; never raise on bad input."""


class TransformStage(DocumentStage):
    """Transforms document batches; one executor task per input shard."""

    @abstractmethod
    def process_batch(self, batch: pa.RecordBatch) -> BatchOutput:
        """Split `batch` into kept rows (possibly edited or with new columns) and rejected rows."""


@dataclass(frozen=True)
class Step:
    """One step of a global stage: `tasks` tasks, each `run_step(exchange, step, index, ...)`.

    A step `over="shards"` has one task per input shard and each task is given its shard's
    path; a step over partitions is given none (it reads what earlier steps wrote).
    """

    name: str  # unique within the stage; also the directory of the step's files
    tasks: int
    params: dict[str, Any] = field(default_factory=dict)  # JSON-able, passed to every task
    over: Literal["shards", "partitions"] = "partitions"

    def identity(self) -> dict[str, Any]:
        """What a finished task's marker records, so a changed plan never reuses it."""
        return {"name": self.name, "tasks": self.tasks, "params": self.params, "over": self.over}


def node_ids(shard: int, rows: np.ndarray) -> np.ndarray:
    """Global stages name a document by its position: `(shard index << 32) | row`."""
    return (np.int64(shard) << np.int64(32)) | rows.astype(np.int64)


def node_shard_row(nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return nodes >> 32, nodes & 0xFFFFFFFF


# What `GlobalStage.plan` is: it yields steps, receives each step's task results (in task
# order), and returns a JSON-able summary that goes into stats.json.
StepPlan = Generator[Step, list[dict[str, Any]], dict[str, Any]]


class GlobalStage(DocumentStage):
    """A corpus-wide stage: planned steps of tasks, then `apply_batch` over every input shard.

    The executor runs each step's tasks in parallel and the next step only when all finished,
    so a step may read everything earlier steps wrote. The plan decides the next step from the
    results of the last (e.g. iterate until converged); it must be deterministic, because on
    resume the runner replays it and skips the tasks that already finished.
    """

    @abstractmethod
    def plan(self, shards: Sequence[str]) -> StepPlan:
        """The steps to run over the input shards (sorted paths; their index is their id)."""

    @abstractmethod
    def run_step(
        self, exchange: Exchange, step: Step, index: int, shard: str | None
    ) -> dict[str, Any]:
        """Run task `index` of `step` (`shard`: its input shard for a step over shards); return
        a small JSON-able result for `plan`."""

    @abstractmethod
    def apply_batch(
        self, exchange: Exchange, shard: int, first_row: int, batch: pa.RecordBatch
    ) -> BatchOutput:
        """Split one batch of input shard `shard` (rows from `first_row` on) by the steps'
        outcome into kept and rejected rows."""


class TrainingStage(Stage):
    """Trains a model from its inputs in one task and writes it into its stage directory.

    It transforms no documents: in a pipeline the next stage reads what this one read, and a
    later stage whose option named in `provides` is unset uses the trained model. Reference
    files a config names besides the inputs belong in `dependencies()`, so a changed one
    retrains like a changed input.
    """

    # Trains on a sample bounded by its config (not yet measured stage by stage).
    resources: ClassVar[TaskResources] = TaskResources(base_mb=2048, bytes_per_input_byte=0)

    @abstractmethod
    def train(self, inputs: Sequence[str], output_dir: Path) -> dict[str, Any]:
        """Train on `inputs`, write the model files into `output_dir` (each atomically), and
        return a JSON-able summary for stats.json whose `description` is a line for people."""

    @abstractmethod
    def provides(self, output_dir: str) -> dict[str, Any]:
        """Later stages' config options the model fills when they are unset, e.g.
        `{"tokenizer": ".../tokenizer.model"}`: locations in `output_dir` (the stage
        directory, local or on object storage: core/storage.py)."""
