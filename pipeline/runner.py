"""Runs stages: plans tasks, skips finished work, drives an executor, writes stats.

Resume: a stage directory whose recorded fingerprint (stage, config, inputs, code version)
matches is reused; tasks with a marker are skipped, the rest are redone from scratch. A
complete stage (`_SUCCESS`) with the same fingerprint is skipped entirely.

A global stage first runs the steps its plan yields (each a set of tasks with markers, so
they resume the same way), then one apply task per input shard like a transform stage. A
training stage runs one task that writes its model; in a pipeline, the documents it read go
on to the next stage, and its model fills the options it `provides` in later stages.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from core import __version__, storage
from core.exchange import Exchange
from core.locks import stage_locks
from core.manifest import MANIFEST_FILE, verify_export
from core.shards import SHARD_SUFFIX
from core.stagedir import (
    CONFIG_FILE,
    SUCCESS_FILE,
    DamagedStage,
    NotAStageDirectory,
    StageDir,
    file_identity,
    fingerprint,
    input_files,
    read_markers,
    read_run,
    record_run,
    stage_of,
)
from pipeline.code import code_digest
from pipeline.config import ConfigError, PipelineConfig, ResourceOverride, StageEntry
from pipeline.executor import (
    Executor,
    LocalExecutor,
    RayExecutor,
    RaySettings,
    Sizer,
    TaskRequest,
)
from pipeline.tasks import (
    StageRef,
    StepTaskSpec,
    TaskSpec,
    TrainingTaskSpec,
    output_names,
    run_step_task,
    run_task,
    run_training_task,
    step_tasks_dir,
)
from stages import stage_class
from stages.base import GlobalStage, SourceStage, Stage, StageConfig, Step, TrainingStage


class StageFailed(RuntimeError):
    """Some tasks failed after retries; finished tasks are kept for the next run."""


class LayoutError(ValueError):
    """An output directory that is, holds or lies inside an input."""


@dataclass(frozen=True)
class StageRun:
    name: str
    config: StageConfig
    inputs: list[str]
    output_dir: str
    shard_target_bytes: int = 128 * 2**20
    plugins: tuple[str, ...] = ()  # modules that register user stages and rules
    resources: ResourceOverride | None = None  # instead of what the stage declares
    label: str = ""  # the run's name in messages and progress bars (`web/filter`); else `name`


def task_sizer(stage: Stage, override: ResourceOverride | None, corpus_bytes: int = 0) -> Sizer:
    """A task's request: the stage's declared resources for what the task reads, or the
    config's override. A task over one shard reads that shard (its size); a task of a step
    over P partitions reads about 1/P of the stage's input (`corpus_bytes`)."""
    declared = stage.resources
    cpus = override.cpus if override and override.cpus else declared.cpus
    fixed = override.memory_mb if override and override.memory_mb else None

    def request(spec: Any) -> TaskRequest:
        if fixed is not None:
            return TaskRequest(cpus, int(fixed * 2**20))
        path = getattr(spec, "input_path", None)
        step = getattr(spec, "step", None)
        if path:
            found = storage.stat(path)
            size = found.size if found else 0
        elif step is not None and step.over != "shards":
            size = corpus_bytes // max(step.tasks, 1)
        else:
            size = 0
        return TaskRequest(cpus, declared.memory_bytes(size))

    return request


def make_executor(kind: str, settings: RaySettings) -> Executor:
    return LocalExecutor() if kind == "local" else RayExecutor(settings)


def _input_files(run: StageRun, stage: Stage) -> list[str]:
    """What the stage's tasks read: a source stage's own listing of the user's files, else
    shard files and the shards of finished stage directories."""
    if isinstance(stage, SourceStage):
        return stage.list_inputs(run.inputs)
    files = input_files(run.inputs)
    if isinstance(stage, TrainingStage):  # may train on text files as they are
        return files
    if raw := next((f for f in files if not storage.name(f).endswith(SHARD_SUFFIX)), None):
        raise NotAStageDirectory(
            f"{raw} is not a shard of a stage directory (*{SHARD_SUFFIX}): documents enter "
            f"the pipeline through ingest (datapipe ingest --input {raw} --output DIR)"
        )
    return files


SUMMED_TASK_FIELDS = (
    "docs_in",
    "docs_kept",
    "docs_rejected",
    "input_bytes",
    "output_bytes",
    "kept_text_bytes",
)


def _largest_peak(results: Any) -> float | None:
    """The largest peak resident memory any task recorded (markers of older runs have none)."""
    return max((r["peak_rss_mb"] for r in results if "peak_rss_mb" in r), default=None)


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
        # markers written before setup was timed apart have none
        "setup_seconds": round(sum(t.get("setup_seconds", 0.0) for t in tasks.values()), 3),
        "max_task_peak_rss_mb": _largest_peak(tasks.values()),
        "rejected_by_reason": dict(sorted(reasons.items())),
        "counters": dict(sorted(counters.items())),
        "per_input": [_per_input(task) for _, task in sorted(tasks.items())],
    }


def _per_input(task: dict[str, Any]) -> dict[str, Any]:
    """One input's counts, and what its task counted (if anything)."""
    found = {key: task[key] for key in ("input", "docs_in", "docs_kept", "docs_rejected")}
    return found | ({"counters": task["counters"]} if task["counters"] else {})


def _run_tasks(
    fn: Any,
    specs: list[Any],
    total: int,
    desc: str,
    executor: Executor,
    progress: bool,
    stage_dir: StageDir,
    sizer: Sizer | None = None,
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
        for spec, outcome in executor.map_unordered(fn, specs, sizer):
            if isinstance(outcome, BaseException):
                error = f"{type(outcome).__name__}: {outcome}"
                failures.append({"task": spec.label, "error": error})
            bar.update(1)
    if failures:
        listed = "\n".join(f"  {f['task']}: {f['error']}" for f in failures)
        try:
            stage_dir.record_failures(desc, total, failures)
        except OSError as err:  # a full disk: the errors still reach the user, here
            listed += f"\n  (not recorded for datapipe status: {err.strerror})"
        raise StageFailed(
            f"stage {desc}: {len(failures)} of {total} tasks failed "
            f"(finished tasks are kept; rerun to retry the rest):\n{listed}"
        )


@dataclass(frozen=True)
class _StepRunner:
    """What every step of one global stage run shares."""

    stage: StageRef
    files: list[str]
    output_dir: str
    executor: Executor
    progress: bool
    sizer: Sizer
    label: str

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
                step,
                i,
                self.files[i] if step.over == "shards" else None,
                self.output_dir,
            )
            for i in range(step.tasks)
            if i not in done
        ]
        desc = f"{self.label}:{step.name}"
        stage_dir = StageDir(self.output_dir)
        _run_tasks(
            run_step_task,
            specs,
            step.tasks,
            desc,
            self.executor,
            self.progress,
            stage_dir,
            self.sizer,
        )
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
                    "max_task_peak_rss_mb": _largest_peak(results),
                }
                step = plan.send([_stage_result(r) for r in results])
        except StopIteration as finished:
            return finished.value, timings


# What a step task's marker holds besides the stage's own result (pipeline/tasks.py).
RUNNER_KEYS = ("seconds", "step", "peak_rss_mb")


def _stage_result(marker: dict[str, Any]) -> dict[str, Any]:
    """A step task's result as the stage returned it, without the runner's bookkeeping."""
    return {key: value for key, value in marker.items() if key not in RUNNER_KEYS}


def _resolved(location: str) -> str:
    """A location with symbolic links resolved (local), to compare two locations."""
    return location if storage.is_remote(location) else str(Path(location).resolve())


def _within(inner: str, outer: str) -> bool:
    return inner == outer or inner.startswith(outer.rstrip("/" + os.sep) + "/")


def _read_stage_dirs(run: StageRun, output_dir: str) -> list[str]:
    """The stage directories the run reads (its inputs, or the ones holding its input
    shards). Refuses an output directory that is an input, holds one, or lies inside an
    input directory: a stage never writes into or deletes what it reads."""
    read = []
    output = _resolved(output_dir)
    for item in run.inputs:
        path = _resolved(storage.absolute(item))
        if _within(path, output):
            raise LayoutError(
                f"the output {run.output_dir} is, or holds, the input {item}: "
                "choose another output directory"
            )
        is_dir = storage.is_dir(path)
        if is_dir and _within(output, path):
            raise LayoutError(
                f"the output {run.output_dir} is inside the input directory {item}: "
                "choose an output directory outside it"
            )
        stage_dir = path if is_dir else storage.parent(path)
        if any(storage.exists(storage.join(stage_dir, f)) for f in (CONFIG_FILE, SUCCESS_FILE)):
            read.append(stage_dir)
    return sorted(set(read))


def run_stage(run: StageRun, executor: Executor, progress: bool = True) -> dict[str, Any]:
    """Run one stage (or skip it when complete) holding its directory's lock, and shared
    locks on the stage directories it reads."""
    output_dir = storage.absolute(run.output_dir)
    with stage_locks(output_dir, _read_stage_dirs(run, output_dir)):
        return _run_stage_locked(run, executor, progress)


def _run_stage_locked(run: StageRun, executor: Executor, progress: bool) -> dict[str, Any]:
    started = time.perf_counter()
    # Absolute paths: Ray workers on other nodes (or in another working directory) see them too.
    ref = StageRef(run.name, run.config.model_dump(mode="json"), run.plugins)
    stage = ref.build()
    files = [storage.absolute(f) for f in _input_files(run, stage)]
    output_dir = storage.absolute(run.output_dir)
    description = {
        "stage": run.name,
        "config": ref.config,
        "version": __version__,
        "code": code_digest(stage, run.plugins),
        "shard_target_bytes": None if isinstance(stage, TrainingStage) else run.shard_target_bytes,
        "inputs": storage.map_locations(file_identity, files, any(map(storage.is_remote, files))),
        "tasks": 1 if isinstance(stage, TrainingStage) else len(files),
        "dependencies": [file_identity(f) for f in stage.dependencies()],
    }
    # The fingerprint sees model paths by the identity of the file (a moved work dir keeps
    # it); _config.json keeps the paths as configured.
    fp = fingerprint({**description, "config": _portable(ref.config)})
    stage_dir = StageDir(output_dir)
    label = run.label or run.name
    if stage_dir.is_complete(fp) and not _damaged(label, stage_dir):
        # A run killed between `_SUCCESS` and the clean-up below leaves the steps' files.
        stage_dir.clear_steps()
        stats = stage_dir.stats()
        stats["skipped"] = True
        return stats
    resumed = stage_dir.prepare(run.name, fp, description)
    if resumed:  # tasks whose shards were lost since are done again
        stage_dir.forget_tasks([task for task in stage_dir.damage() if task >= 0])
    if (line := stage.describe()) is not None:
        print(f"{label}: {line}", file=sys.stderr)
    corpus_bytes = sum(storage.size(f) for f in files) if isinstance(stage, GlobalStage) else 0
    sizer = task_sizer(stage, run.resources, corpus_bytes)
    attempt = _Attempt(ref, files, stage_dir, executor, progress, resumed, sizer, label)
    if isinstance(stage, TrainingStage):
        outcome = attempt.train(stage)
    else:
        outcome = attempt.transform(stage, run.shard_target_bytes)
    stats = {
        "stage": run.name,
        "fingerprint": fp,
        **outcome,
        "wall_seconds": round(time.perf_counter() - started, 3),
    }
    if "docs_in" in stats:
        _check_reads_all_kept(run, stats["docs_in"])
    stage_dir.finalize(stats)
    # The steps' intermediate files are not needed once the stage is complete.
    stage_dir.clear_steps()
    return stats


def _portable(value: Any) -> Any:
    """A config as the fingerprint sees it: a path to a file of a finished stage directory
    (a model a training stage wrote) is replaced by that file's identity, so a work
    directory copied or moved elsewhere keeps its fingerprints."""
    if isinstance(value, dict):
        return {key: _portable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_portable(item) for item in value]
    if isinstance(value, str) and storage.is_file(value) and stage_of(value) is not None:
        return file_identity(value)
    return value


def _check_reads_all_kept(run: StageRun, docs_in: int) -> None:
    """A stage that reads stage directories reads every document they kept."""
    dirs = [StageDir(p) for p in run.inputs if storage.exists(storage.join(p, SUCCESS_FILE))]
    if len(dirs) != len(run.inputs) or any(d.recorded() is None for d in dirs):
        return  # shard files given one by one, or a directory of another program
    kept = [d.stats().get("docs_kept") for d in dirs]
    if None not in kept and docs_in != sum(kept):
        raise DamagedStage(
            f"{run.name} read {docs_in:,} documents but its inputs kept {sum(kept):,}: "
            f"their shards changed during the run; rerun"
        )


def _damaged(stage: str, stage_dir: StageDir) -> bool:
    """Whether a complete stage's shards changed since its tasks wrote them (said on stderr:
    the damaged tasks are done again). A shard no task wrote is refused."""
    damage = stage_dir.damage()
    if -1 in damage:
        raise DamagedStage(
            f"{stage_dir.path}: {damage[-1]}; remove it, or delete the directory to redo {stage}"
        )
    if damage:
        first = next(iter(damage.values()))
        print(
            f"{stage}: {len(damage)} finished tasks' output damaged ({first}); redoing them",
            file=sys.stderr,
        )
    return bool(damage)


@dataclass(frozen=True)
class _Attempt:
    """One run of a stage that is not complete: what its tasks share."""

    ref: StageRef
    files: list[str]
    stage_dir: StageDir
    executor: Executor
    progress: bool
    resumed: bool  # earlier tasks' markers can be reused
    sizer: Sizer
    label: str

    @property
    def output_dir(self) -> str:
        return self.stage_dir.path

    def finished(self) -> dict[int, dict[str, Any]]:
        return self.stage_dir.finished_tasks() if self.resumed else {}

    def transform(self, stage: Stage, shard_target_bytes: int) -> dict[str, Any]:
        """A stage's documents: a global stage's steps, then a task per input file or shard."""
        global_stats: dict[str, Any] = {}
        step_task_seconds = 0.0
        if isinstance(stage, GlobalStage):
            steps = _StepRunner(
                self.ref,
                self.files,
                self.output_dir,
                self.executor,
                self.progress,
                self.sizer,
                self.label,
            )
            summary, timings = steps.run_plan(stage)
            global_stats = {"steps": summary, "step_seconds": timings}
            step_task_seconds = sum(t["tasks"] for t in timings.values())
        done = self.finished()
        names = output_names(self.files)
        specs = [
            TaskSpec(self.ref, i, path, self.output_dir, shard_target_bytes, names[i])
            for i, path in enumerate(self.files)
            if i not in done
        ]
        self._run(run_task, specs, len(self.files))
        return {
            **_aggregate(self._markers(len(self.files)), step_task_seconds),
            **global_stats,
            "resumed_tasks": len(done),
        }

    def train(self, stage: TrainingStage) -> dict[str, Any]:
        """A training stage's one task; the stats say what it trained and what it provides."""
        done = self.finished()
        specs = [] if done else [TrainingTaskSpec(self.ref, tuple(self.files), self.output_dir)]
        self._run(run_training_task, specs, 1)
        [result] = self._markers(1).values()
        return {
            "kind": "training",
            "inputs": len(self.files),
            "input_bytes": result["input_bytes"],
            "task_seconds": result["seconds"],
            "peak_rss_mb": result.get("peak_rss_mb"),
            "model": result["summary"],
            "provides": stage.provides(self.stage_dir.path),
            "resumed_tasks": len(done),
        }

    def _markers(self, total: int) -> dict[int, dict[str, Any]]:
        """Every task's marker, as the driver reads them: a task that ran but whose marker
        is not there wrote to a disk the driver does not see (a local work dir on a cluster
        of several nodes), and its documents would be lost without a word."""
        markers = self.stage_dir.finished_tasks()
        missing = sorted(set(range(total)) - set(markers))
        if missing:
            raise RuntimeError(
                f"{self.label}: {len(missing)} of {total} tasks finished but their output is "
                f"not in {self.output_dir} (task {missing[0]} first): on a cluster of several "
                "nodes the work dir must be storage every node shares (s3://, gs://, a shared "
                "filesystem), not a local path"
            )
        return markers

    def _run(self, fn: Any, specs: list[Any], total: int) -> None:
        _run_tasks(
            fn,
            specs,
            total,
            self.label,
            self.executor,
            self.progress,
            self.stage_dir,
            self.sizer,
        )


def run_pipeline(
    config: PipelineConfig, executor: Executor, progress: bool = True
) -> list[dict[str, Any]]:
    """Run the configured stages in order, each reading the previous one's documents (with
    sources: each source's chain, then the joint stages over every source's last output). A
    training stage trains on the documents so far and passes them on; a later stage of its
    chain whose config leaves out an option the model `provides` (tokenizer,
    quality_model...) uses it. An export is verified against its manifest before the run
    counts as done. The run's state (and, when it fails, in which stage and why) is kept in
    the work dir's `_RUN.json`."""
    storage.make_dirs(config.work_dir)
    try:
        results = _run_stages(config, executor, progress)
    except BaseException as err:
        stage = (read_run(config.work_dir) or {}).get("stage")
        error = " ".join(f"{type(err).__name__}: {err}".split())[:2000]
        if isinstance(err, KeyboardInterrupt | SystemExit):  # Ctrl-C, or a signal's exit
            error = "interrupted (Ctrl-C or a signal); the same command resumes it"
        record_run(config.work_dir, "failed", stage=stage, error=error)
        raise
    record_run(config.work_dir, "done", stages=[name for name, _ in config.entries()])
    return results


def _check_chain_inputs(config: PipelineConfig) -> None:
    """Before anything runs: a source's chain that does not start with a source stage
    (ingest) reads finished stage directories; say so now, not after the chains before it."""
    for source, inputs, stages in config.chains():
        if not source or not stages or issubclass(stage_class(stages[0].name), SourceStage):
            continue
        for given in inputs:
            # a file (a shard), a directory this run writes (another chain's stage) or a
            # finished stage directory: the first stage reads it when its turn comes
            inside = storage.relative(given, config.work_dir)
            written_here = not inside.startswith(("..", "/")) and "://" not in inside
            if storage.is_file(given) or written_here:
                continue
            if not storage.exists(storage.join(given, SUCCESS_FILE)):
                raise ConfigError(
                    f"sources.{source}: its first stage, {stages[0].name}, reads finished "
                    f"stage directories, and {given} is not one (no {SUCCESS_FILE}); start "
                    "the chain with ingest to read raw files"
                )


def _run_stages(config: PipelineConfig, executor: Executor, progress: bool) -> list[dict[str, Any]]:
    _check_chain_inputs(config)
    results: list[dict[str, Any]] = []
    outputs: list[str] = []  # what each source's chain hands on: its last document stage
    for source, inputs, stages in config.chains():
        root = storage.join(config.work_dir, source) if source else config.work_dir
        found, handed_on = _run_chain(config, stages, inputs or outputs, root, executor, progress)
        results += found
        outputs += handed_on
    return results


def _run_chain(
    config: PipelineConfig,
    stages: list[StageEntry],
    inputs: list[str],
    root: str,
    executor: Executor,
    progress: bool,
) -> tuple[list[dict[str, Any]], list[str]]:
    """`stages` in order from `inputs`, each into `root/<stage>`: their stats, and what the
    chain hands on (the directory of its last document stage)."""
    results = []
    provided: dict[str, Any] = {}
    for entry in stages:
        output_dir = storage.join(root, entry.name)
        name = storage.relative(output_dir, config.work_dir)
        record_run(config.work_dir, "running", stage=name, pid=os.getpid())
        run = StageRun(
            entry.name,
            _with_provided(name, entry.config, provided),
            inputs,
            output_dir,
            shard_target_bytes=int(config.shard_target_mb * 2**20),
            plugins=tuple(config.plugins),
            resources=config.resources.get(name) or config.resources.get(entry.name),
            label=name,
        )
        stats = run_stage(run, executor, progress)
        print(summary_line(stats, output_dir, name), file=sys.stderr)
        if storage.exists(storage.join(output_dir, MANIFEST_FILE)):
            _verify(output_dir)
        results.append(stats)
        if stats.get("kind") == "training":
            provided.update(stats["provides"])
        else:
            inputs = [output_dir]
    return results, inputs


def _with_provided(name: str, config: StageConfig, provided: dict[str, Any]) -> StageConfig:
    """A stage's options the user left out of its config take what earlier training stages
    provided (a model path); an option the user set, even to null, is kept as set."""
    fills = {
        option: value
        for option, value in provided.items()
        if option in type(config).model_fields and option not in config.model_fields_set
    }
    for option, value in fills.items():
        print(f"{name}: {option} = {value} (trained above)", file=sys.stderr)
    return type(config).model_validate({**config.model_dump(), **fills}) if fills else config


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


def summary_line(stats: dict[str, Any], output_dir: str, label: str = "") -> str:
    """What a finished stage did, in one line; `label` names it (else its stage's name)."""
    shown = label or stats["stage"]
    state = "already complete, skipped" if stats.get("skipped") else f"{stats['wall_seconds']}s"
    summary = stats.get("steps") or stats.get("model") or {}
    warnings = "".join(f"\n  warning: {w}" for w in summary.get("warnings", []))
    if stats.get("kind") == "training":
        models = ", ".join(f"{name}={value}" for name, value in stats["provides"].items())
        return (
            f"{shown}: {summary['description']} ({stats['inputs']:,} input "
            f"files) [{state}] -> {models}{warnings}"
        )
    reasons = ", ".join(f"{r} {n:,}" for r, n in stats["rejected_by_reason"].items())
    return (
        f"{shown}: {stats['docs_in']:,} in -> {stats['docs_kept']:,} kept, "
        f"{stats['docs_rejected']:,} rejected{f' ({reasons})' if reasons else ''} "
        f"[{state}] -> {output_dir}{warnings}"
    )
