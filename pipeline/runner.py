"""Runs stages: plans tasks, skips finished work, drives an executor, writes stats.

Resume: a stage directory whose recorded fingerprint (stage, config, inputs, code version)
matches is reused; tasks with a marker are skipped, the rest are redone from scratch. A
complete stage (`_SUCCESS`) with the same fingerprint is skipped entirely.

A global stage first runs the steps its plan yields (each a set of tasks with markers, so
they resume the same way), then one apply task per input shard like a transform stage.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from core.exchange import STEPS_DIR, Exchange
from core.manifest import MANIFEST_FILE, verify_export
from core.shards import list_shards
from core.stagedir import (
    SUCCESS_FILE,
    StageDir,
    file_identity,
    fingerprint,
    read_markers,
)
from pipeline import __version__
from pipeline.config import PipelineConfig
from pipeline.executor import Executor, LocalExecutor, RayExecutor, RaySettings
from pipeline.tasks import (
    StepTaskSpec,
    TaskSpec,
    build_stage,
    run_step_task,
    run_task,
    step_tasks_dir,
)
from pipeline.train_tokenizer import PIPELINE_PREFIX, train_tokenizer
from pipeline.train_tokenizer import summary as tokenizer_summary
from stages.base import GlobalStage, SourceStage, Stage, StageConfig, Step
from tokenizer.train import TokenizerConfig


class StageFailed(RuntimeError):
    """Some tasks failed after retries; finished tasks are kept for the next run."""


@dataclass(frozen=True)
class StageRun:
    name: str
    config: StageConfig
    inputs: list[str]
    output_dir: str
    shard_target_bytes: int = 128 * 2**20


def make_executor(kind: str, settings: RaySettings) -> Executor:
    return LocalExecutor() if kind == "local" else RayExecutor(settings)


def _input_files(run: StageRun, stage: Stage) -> list[str]:
    if isinstance(stage, SourceStage):
        return stage.list_inputs(run.inputs)
    files: list[str] = []
    for directory in run.inputs:
        if not (Path(directory) / SUCCESS_FILE).exists():
            raise FileNotFoundError(
                f"{directory} is not a finished stage directory (no {SUCCESS_FILE}); "
                "run the previous stage first"
            )
        files += [str(p) for p in list_shards(directory)]
    return files


SUMMED_TASK_FIELDS = (
    "docs_in",
    "docs_kept",
    "docs_rejected",
    "input_bytes",
    "output_bytes",
    "kept_text_bytes",
)


def _aggregate(tasks: dict[int, dict[str, Any]], step_task_seconds: float) -> dict[str, Any]:
    totals = {key: sum(task[key] for task in tasks.values()) for key in SUMMED_TASK_FIELDS}
    reasons: Counter[str] = Counter()
    counters: Counter[str] = Counter()
    for task in tasks.values():
        reasons.update(task["rejected_by_reason"])
        counters.update(task["counters"])
    return {
        **totals,
        "task_seconds": round(sum(t["seconds"] for t in tasks.values()) + step_task_seconds, 3),
        "rejected_by_reason": dict(sorted(reasons.items())),
        "counters": dict(sorted(counters.items())),
        "per_input": [
            {key: task[key] for key in ("input", "docs_in", "docs_kept", "docs_rejected")}
            for _, task in sorted(tasks.items())
        ],
    }


def _run_tasks(
    fn: Any,
    specs: list[Any],
    total: int,
    desc: str,
    executor: Executor,
    progress: bool,
    stage_dir: StageDir,
) -> None:
    """Run `specs` (the unfinished ones of `total` tasks); raise StageFailed naming failures,
    which are also recorded in the stage directory for `datapipe status`."""
    failures: list[dict[str, str]] = []
    with tqdm(
        total=total,
        initial=total - len(specs),
        desc=desc,
        unit="task",
        disable=True if not progress else None,  # None: shown on a terminal, quiet in logs
        file=sys.stderr,
    ) as bar:
        for spec, outcome in executor.map_unordered(fn, specs):
            if isinstance(outcome, BaseException):
                error = f"{type(outcome).__name__}: {outcome}"
                failures.append({"task": spec.label, "error": error})
            bar.update(1)
    if failures:
        stage_dir.record_failures(desc, total, failures)
        listed = "\n".join(f"  {f['task']}: {f['error']}" for f in failures)
        raise StageFailed(
            f"stage {desc}: {len(failures)} of {total} tasks failed "
            f"(finished tasks are kept; rerun to retry the rest):\n{listed}"
        )


@dataclass(frozen=True)
class _StepRunner:
    """What every step of one global stage run shares."""

    stage: str
    config: dict[str, Any]
    files: list[str]
    output_dir: str
    executor: Executor
    progress: bool

    def run(self, step: Step) -> list[dict[str, Any]]:
        """Run the step's unfinished tasks; return every task's result in task order. A
        marker left by another plan (other tasks or params under the same name) is not
        reused."""
        markers = step_tasks_dir(self.output_dir, step.name)

        def finished() -> dict[int, dict[str, Any]]:
            found = read_markers(markers)
            return {i: r for i, r in found.items() if r.get("step") == step.identity()}

        done = finished()
        specs = [
            StepTaskSpec(
                self.stage,
                self.config,
                step,
                i,
                self.files[i] if step.over == "shards" else None,
                self.output_dir,
            )
            for i in range(step.tasks)
            if i not in done
        ]
        desc = f"{self.stage}:{step.name}"
        stage_dir = StageDir(self.output_dir)
        _run_tasks(run_step_task, specs, step.tasks, desc, self.executor, self.progress, stage_dir)
        Exchange(self.output_dir).mark_complete(step.name, step.tasks)
        done = finished()
        return [done[i] for i in range(step.tasks)]

    def run_plan(self, stage: GlobalStage) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
        """Drive the stage's plan; finished steps are replayed from their markers on resume.
        Returns the plan's summary and, per step, its wall and summed task seconds."""
        plan = stage.plan(self.files)
        timings: dict[str, dict[str, float]] = {}
        try:
            step = next(plan)
            while True:
                started = time.perf_counter()
                results = self.run(step)
                timings[step.name] = {
                    "wall": round(time.perf_counter() - started, 3),
                    "tasks": round(sum(r["seconds"] for r in results), 3),
                }
                step = plan.send(results)
        except StopIteration as finished:
            return finished.value, timings


def run_stage(run: StageRun, executor: Executor, progress: bool = True) -> dict[str, Any]:
    started = time.perf_counter()
    # Absolute paths: Ray workers on other nodes (or in another working directory) see them too.
    config = run.config.model_dump(mode="json")
    stage = build_stage(run.name, config)
    files = [os.path.abspath(f) for f in _input_files(run, stage)]
    output_dir = os.path.abspath(run.output_dir)
    description = {
        "stage": run.name,
        "config": config,
        "version": __version__,
        "shard_target_bytes": run.shard_target_bytes,
        "inputs": [file_identity(f) for f in files],
        "dependencies": [file_identity(f) for f in stage.dependencies()],
    }
    fp = fingerprint(description)
    stage_dir = StageDir(output_dir)
    if stage_dir.is_complete(fp):
        # A run killed between `_SUCCESS` and the clean-up below leaves the steps' files.
        shutil.rmtree(Path(output_dir) / STEPS_DIR, ignore_errors=True)
        stats = stage_dir.stats()
        stats["skipped"] = True
        return stats
    resumed = stage_dir.prepare(fp, description)
    if (line := stage.describe()) is not None:
        print(f"{run.name}: {line}", file=sys.stderr)
    global_stats: dict[str, Any] = {}
    step_task_seconds = 0.0
    if isinstance(stage, GlobalStage):
        steps = _StepRunner(run.name, config, files, output_dir, executor, progress)
        summary, timings = steps.run_plan(stage)
        global_stats = {"steps": summary, "step_seconds": timings}
        step_task_seconds = sum(t["tasks"] for t in timings.values())
    done = stage_dir.finished_tasks() if resumed else {}
    specs = [
        TaskSpec(run.name, config, i, path, output_dir, run.shard_target_bytes)
        for i, path in enumerate(files)
        if i not in done
    ]
    _run_tasks(run_task, specs, len(files), run.name, executor, progress, stage_dir)
    stats = {
        "stage": run.name,
        "fingerprint": fp,
        **_aggregate(stage_dir.finished_tasks(), step_task_seconds),
        **global_stats,
        "wall_seconds": round(time.perf_counter() - started, 3),
        "resumed_tasks": len(done),
    }
    stage_dir.finalize(stats)
    # The steps' intermediate files are not needed once the stage is complete.
    shutil.rmtree(Path(output_dir) / STEPS_DIR, ignore_errors=True)
    return stats


def run_pipeline(
    config: PipelineConfig, executor: Executor, progress: bool = True
) -> list[dict[str, Any]]:
    """Run the configured stages in order, each reading the previous one's documents. A
    training entry (train-tokenizer) trains on the documents so far and passes them on; a
    later stage whose `tokenizer` is unset uses what it trained. An export is verified
    against its manifest before the run counts as done."""
    inputs = config.inputs
    results = []
    tokenizer: str | None = None
    for entry in config.stages:
        output_dir = str(Path(config.work_dir) / entry.name)
        if isinstance(entry.config, TokenizerConfig):
            report = train_tokenizer(inputs, Path(output_dir) / PIPELINE_PREFIX, entry.config)
            print(f"{entry.name}: {tokenizer_summary(report)}", file=sys.stderr)
            tokenizer = report["model"]
            continue
        assert isinstance(entry.config, StageConfig)
        run = StageRun(
            entry.name,
            _with_trained_tokenizer(entry.config, tokenizer),
            inputs,
            output_dir,
            shard_target_bytes=int(config.shard_target_mb * 2**20),
        )
        stats = run_stage(run, executor, progress)
        print(summary_line(stats, output_dir), file=sys.stderr)
        if (Path(output_dir) / MANIFEST_FILE).exists():
            _verify(output_dir)
        results.append(stats)
        inputs = [output_dir]
    return results


def _with_trained_tokenizer(config: StageConfig, tokenizer: str | None) -> StageConfig:
    """A stage whose `tokenizer` option is unset gets the pipeline's trained one."""
    unset = "tokenizer" in type(config).model_fields and config.model_dump()["tokenizer"] is None
    return config.model_copy(update={"tokenizer": tokenizer}) if tokenizer and unset else config


def _verify(export_dir: str) -> None:
    problems, checked = verify_export(export_dir)
    if problems:
        raise StageFailed(
            f"{export_dir} does not match its manifest:\n" + "\n".join(f"  {p}" for p in problems)
        )
    print(
        f"verified {export_dir}: {checked['shards']} shards, {checked['documents']:,} documents, "
        f"{checked['tokens']:,} tokens match manifest.json",
        file=sys.stderr,
    )


def summary_line(stats: dict[str, Any], output_dir: str) -> str:
    reasons = ", ".join(f"{r} {n:,}" for r, n in stats["rejected_by_reason"].items())
    state = "already complete, skipped" if stats.get("skipped") else f"{stats['wall_seconds']}s"
    warnings = "".join(f"\n  warning: {w}" for w in stats.get("steps", {}).get("warnings", []))
    return (
        f"{stats['stage']}: {stats['docs_in']:,} in -> {stats['docs_kept']:,} kept, "
        f"{stats['docs_rejected']:,} rejected{f' ({reasons})' if reasons else ''} "
        f"[{state}] -> {output_dir}{warnings}"
    )
