"""One task: one input file or shard through one stage, outputs written by the task itself.

`run_task` is a plain function of a picklable `TaskSpec`, so the local executor calls it
directly and the Ray executor ships it to a worker; only a small stats dict travels back.
Its last act is the task marker: a task without one is redone on resume, from scratch.
`run_step_task` is the same for one task of a global stage's step (`StepTaskSpec`).
"""

from __future__ import annotations

import resource
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from core import storage
from core.exchange import STEPS_DIR, Exchange
from core.schema import rejected_schema
from core.shards import (
    RollingShardWriter,
    atomic_write_json,
    read_shard,
    read_shard_schema,
)
from core.stagedir import REJECTED_DIR, TASKS_DIR, is_bookkeeping
from stages import load_plugins, stage_class
from stages.base import (
    BatchOutput,
    GlobalStage,
    SourceStage,
    Stage,
    Step,
    TrainingStage,
    TransformStage,
)


@dataclass(frozen=True)
class StageRef:
    """What a worker needs to build the stage: its registered name, its config as validated
    JSON-able values, and the plugin modules that register user stages and rules."""

    name: str
    config: dict[str, Any]
    plugins: tuple[str, ...] = ()

    def build(self) -> Stage:
        load_plugins(self.plugins)
        cls = stage_class(self.name)
        return cls(cls.config_class.model_validate(self.config))


@dataclass(frozen=True)
class TaskSpec:
    stage: StageRef
    index: int
    input_path: str
    output_dir: str
    shard_target_bytes: int
    output_name: str  # a transform's output shard (`output_names`); unused by source stages

    @property
    def marker(self) -> str:
        return storage.join(self.output_dir, TASKS_DIR, f"{self.index:05d}.json")

    @property
    def label(self) -> str:
        return self.input_path


@dataclass(frozen=True)
class StepTaskSpec:
    """Task `index` of a global stage's `step`; its marker lives in the step's directory."""

    stage: StageRef
    step: Step
    index: int
    input_path: str | None  # the task's input shard, for a step over shards
    output_dir: str

    @property
    def marker(self) -> str:
        return storage.join(
            step_tasks_dir(self.output_dir, self.step.name), f"{self.index:05d}.json"
        )

    @property
    def label(self) -> str:
        return f"step {self.step.name} task {self.index}"


def step_tasks_dir(output_dir: str | Path, step: str) -> str:
    return storage.join(output_dir, STEPS_DIR, step, TASKS_DIR)


@dataclass(frozen=True)
class TrainingTaskSpec:
    """The one task of a training stage: every input file, the model into `output_dir`."""

    stage: StageRef
    inputs: tuple[str, ...]
    output_dir: str

    @property
    def marker(self) -> str:
        return storage.join(self.output_dir, TASKS_DIR, "00000.json")

    @property
    def label(self) -> str:
        return f"{self.stage.name} training"


class ReconciliationError(RuntimeError):
    """A stage lost or invented rows: a bug in the stage, never a property of the input."""


def output_names(files: list[str]) -> list[str]:
    """A transform's output shard name per input file: the input's own name, unless two
    inputs share it (stage directories of two runs): then each is prefixed by its task."""
    names = [storage.name(f) for f in files]
    if len(set(names)) == len(names):
        return names
    return [f"part-{index:05d}-{name}" for index, name in enumerate(names)]


@dataclass(frozen=True)
class OutputNaming:
    """Source stages roll `part-<task>-<n>.arrow`; transforms write `TaskSpec.output_name`."""

    prefix: str  # every file of this task, kept or rejected, starts with it
    rolls: bool

    def name_for(self, n: int) -> str:
        return f"{self.prefix}{n:04d}.arrow" if self.rolls else self.prefix

    @classmethod
    def for_task(cls, stage: Stage, spec: TaskSpec) -> OutputNaming:
        if isinstance(stage, SourceStage):
            return cls(f"part-{spec.index:05d}-", rolls=True)
        return cls(spec.output_name, rolls=False)

    def clear(self, directory: str) -> None:
        """Remove what an interrupted earlier attempt of this task left behind."""
        for path in storage.list_files(directory):
            if storage.name(path).startswith(self.prefix):
                storage.delete(path)


def _batches(stage: Stage, spec: TaskSpec) -> Iterator[tuple[int | None, BatchOutput]]:
    """(input row count or None for source stages, output) per batch."""
    if isinstance(stage, SourceStage):
        for output in stage.read_file(spec.input_path):
            yield None, output
    elif isinstance(stage, TransformStage):
        for batch in read_shard(spec.input_path):
            yield batch.num_rows, stage.process_batch(batch)
    elif isinstance(stage, GlobalStage):
        exchange, first_row = Exchange(spec.output_dir), 0
        for batch in read_shard(spec.input_path):
            yield batch.num_rows, stage.apply_batch(exchange, spec.index, first_row, batch)
            first_row += batch.num_rows
    else:
        raise TypeError(f"stage {stage.name} has no per-shard transform")


def _text_bytes(batch: pa.RecordBatch) -> int:
    if batch.num_rows == 0:
        return 0
    return int(pc.sum(pc.binary_length(batch.column("text"))).as_py() or 0)


@dataclass
class _Counts:
    """What a task's batches add up to."""

    docs_in: int = 0
    kept: int = 0
    kept_text: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    counters: Counter[str] = field(default_factory=Counter)

    def add(self, spec: TaskSpec, rows_in: int | None, output: BatchOutput) -> None:
        n_kept, n_rejected = output.kept.num_rows, output.rejected.num_rows
        rows_in = n_kept + n_rejected if rows_in is None else rows_in
        if n_kept + n_rejected != rows_in:
            raise ReconciliationError(
                f"{spec.stage.name} on {spec.input_path}: {rows_in} rows in, "
                f"{n_kept} kept + {n_rejected} rejected"
            )
        self.docs_in += rows_in
        self.kept += n_kept
        self.kept_text += _text_bytes(output.kept)
        if n_rejected:
            self.reasons.update(output.rejected.column("reason").to_pylist())
        self.counters.update(output.counters)


def run_task(spec: TaskSpec) -> dict[str, Any]:
    started = time.perf_counter()
    stage = spec.stage.build()
    stage.setup()
    ready = time.perf_counter()
    out_dir = spec.output_dir
    input_schema = None if isinstance(stage, SourceStage) else read_shard_schema(spec.input_path)
    kept_schema = stage.output_schema(input_schema)
    naming = OutputNaming.for_task(stage, spec)
    target = spec.shard_target_bytes if naming.rolls else 2**62
    rejected_dir = storage.join(out_dir, REJECTED_DIR)
    for directory in (out_dir, rejected_dir):
        naming.clear(directory)
    kept = RollingShardWriter(out_dir, kept_schema, naming.name_for, target)
    dropped = RollingShardWriter(
        rejected_dir, rejected_schema(kept_schema), naming.name_for, target
    )
    counts = _Counts()
    try:
        for rows_in, output in _batches(stage, spec):
            counts.add(spec, rows_in, output)
            if stage.writes_kept_rows:
                kept.write(output.kept)
            dropped.write(output.rejected)
        # every shard written, relative to the stage directory, with its size: what a later
        # run checks before it trusts the stage (`StageDir.damage`)
        files = {
            **kept.close(),
            **{f"{REJECTED_DIR}/{name}": size for name, size in dropped.close().items()},
        }
    except BaseException:  # a full disk, a bad batch: no temporary shard stays behind
        kept.abort()
        dropped.abort()
        raise
    result = {
        "index": spec.index,
        "input": spec.input_path,
        "input_bytes": storage.size(spec.input_path),
        "docs_in": counts.docs_in,
        "docs_kept": counts.kept,
        "docs_rejected": sum(counts.reasons.values()),
        "rejected_by_reason": dict(sorted(counts.reasons.items())),
        "counters": dict(sorted(counts.counters.items())),
        "kept_text_bytes": counts.kept_text,
        "files": files,
        "output_bytes": kept.bytes_written,
        "seconds": round(time.perf_counter() - ready, 3),
        # once per worker process in practice (`Stage.setup`): not the documents' cost
        "setup_seconds": round(ready - started, 3),
        "peak_rss_mb": peak_rss_mb(),
    }
    _write_marker(spec.marker, result)
    return result


def run_step_task(spec: StepTaskSpec) -> dict[str, Any]:
    started = time.perf_counter()
    stage = spec.stage.build()
    if not isinstance(stage, GlobalStage):
        raise TypeError(f"stage {spec.stage.name} has no steps")
    result = stage.run_step(Exchange(spec.output_dir), spec.step, spec.index, spec.input_path)
    result = {
        **result,
        "seconds": round(time.perf_counter() - started, 3),
        "step": spec.step.identity(),
        "peak_rss_mb": peak_rss_mb(),
    }
    _write_marker(spec.marker, result)
    return result


def run_training_task(spec: TrainingTaskSpec) -> dict[str, Any]:
    """The model is written into `output_dir`; on object storage it is trained in the
    task's scratch directory and each file published once the training has succeeded."""
    started = time.perf_counter()
    stage = spec.stage.build()
    if not isinstance(stage, TrainingStage):
        raise TypeError(f"stage {spec.stage.name} trains no model")
    if storage.is_remote(spec.output_dir):
        with storage.scratch_directory("train-") as local:
            summary = stage.train(spec.inputs, local)
            for file in sorted(p for p in local.rglob("*") if p.is_file()):
                relative = file.relative_to(local).parts
                storage.publish(file, storage.join(spec.output_dir, *relative))
    else:
        summary = stage.train(spec.inputs, Path(spec.output_dir))
    result = {
        "summary": summary,
        "models": _model_files(spec.output_dir),
        "input_bytes": sum(storage.size(path) for path in spec.inputs),
        "seconds": round(time.perf_counter() - started, 3),
        "peak_rss_mb": peak_rss_mb(),
    }
    _write_marker(spec.marker, result)
    return result


def _model_files(output_dir: str) -> dict[str, int]:
    """What a training task wrote (relative name -> bytes): its marker records them, so that
    a model damaged or removed since is trained again on resume (StageDir.damage)."""
    files = storage.file_stats(output_dir, recursive=True)
    names = {
        storage.relative(location, output_dir): found.size for location, found in files.items()
    }
    return {name: size for name, size in sorted(names.items()) if not is_bookkeeping(name)}


def peak_rss_mb() -> float:
    """The peak resident memory of this process (Linux's VmHWM), in MiB. On Ray the executor
    resets the mark before each task, so it is the task's own peak (with what the worker
    held before it); in-process (`--executor local`) it is the run's peak so far."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _write_marker(marker: str, result: dict[str, Any]) -> None:
    storage.make_dirs(storage.parent(marker))
    atomic_write_json(marker, result)
