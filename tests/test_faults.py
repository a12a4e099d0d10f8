"""The pipeline under faults, on the real samples (configs/shared-samples.yaml).

A run killed with SIGKILL (the driver and every process it started) at seeded random moments,
in every stage and inside the steps of the global ones, then rerun, ends with exactly the bytes
of an uninterrupted run; so does a run whose Ray workers are killed in the middle of tasks.

Every run of this module writes to the same work directory (emptied in between); the
uninterrupted run they are compared with is the session's in-process run of the same config
(tests/conftest.py), in a directory of its own: every output, the export manifest included
(it names the tokenizer relative to itself), must come out byte-identical.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.pipeline_runs import (
    REPO,
    STAGES,
    differences,
    driver_command,
    kill_session,
    output_files,
    position,
    processes,
    run_args,
    run_command,
    run_to_completion,
    write_shared_config,
)

SEED = 20241124
TRIALS = 3  # with the executor in-process; one more with Ray below
KILLS_PER_TRIAL = 5
MAX_DELAY = 0.05  # seconds from a moment to the kill
TIMEOUT = 300


@dataclass(frozen=True)
class Moment:
    """A point in a run: reached when `path` (in the work directory) appears."""

    name: str
    path: str

    @property
    def stage(self) -> str:
        return self.name.split(":")[0]


# A step starts when the one before it is complete (a step's directory appears only when one
# of its tasks writes), the first step when its stage has recorded its config.
MOMENTS = [
    Moment(name, path)
    for name, path in [
        ("ingest", "ingest/_tasks"),  # the first task's marker: the other tasks still run
        ("filter", "filter/_tasks"),
        ("minhash:signatures", "minhash/_config.json"),
        ("minhash:buckets", "minhash/_steps/signatures/_COMPLETE"),
        ("minhash:star-000", "minhash/_steps/buckets/_COMPLETE"),
        ("minhash:clusters", "minhash/_steps/clusters"),
        ("minhash:apply", "minhash/_steps/clusters/_COMPLETE"),
        ("minhash:done", "minhash/_SUCCESS"),  # `_steps/` being removed, substring starting
        ("substring:windows", "substring/_config.json"),
        ("substring:repeats", "substring/_steps/windows/_COMPLETE"),
        ("substring:apply", "substring/_steps/repeats/_COMPLETE"),
        ("topics:count", "topics/_config.json"),
        ("topics:sample", "topics/_steps/count/_COMPLETE"),
        ("topics:train", "topics/_steps/sample/_COMPLETE"),
        ("topics:apply", "topics/_steps/train/_COMPLETE"),
        ("train-tokenizer", "train-tokenizer/_config.json"),
        ("export:encode", "export/_config.json"),
        ("export:layout", "export/_steps/encode/_COMPLETE"),
        ("export:write", "export/_steps/layout/_COMPLETE"),
    ]
]
# Early in each stage (the first step of a global one): some trial kills the run in each stage.
STAGE_STARTS = (
    "ingest",
    "filter",
    "minhash:signatures",
    "substring:windows",
    "topics:count",
    "train-tokenizer",
    "export:encode",
)


def kill_plans(rng: random.Random) -> list[list[tuple[Moment, float]]]:
    """Per trial, the moments (in run order) to kill at, each with its delay."""
    names = [m.name for m in MOMENTS]
    plans: list[set[str]] = [set() for _ in range(TRIALS)]
    for name in STAGE_STARTS:
        plans[rng.randrange(TRIALS)].add(name)
    for plan in plans:
        plan.update(rng.sample(sorted(set(names) - plan), max(KILLS_PER_TRIAL - len(plan), 0)))
    return [
        [
            (MOMENTS[names.index(n)], round(rng.uniform(0, MAX_DELAY), 3))
            for n in sorted(p, key=names.index)
        ]
        for p in plans
    ]


PLANS = kill_plans(random.Random(SEED))


@dataclass
class Runs:
    config: Path
    work: Path  # every run writes here
    log: Path  # every run's output, for failure messages
    reference: dict[str, bytes] = field(repr=False)  # output_files of an uninterrupted run

    def command(self, executor: str) -> list[str]:
        return run_command(self.config, self.work, "--executor", executor)

    def fresh(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)
        self.log.write_text("")

    def leftover_work(self) -> list[str]:
        """Global stages' `_steps/` directories that outlived their stage's completion."""
        done = [p.parent for p in self.work.glob("*/_SUCCESS")]
        return [str(d.relative_to(self.work) / "_steps") for d in done if (d / "_steps").exists()]

    def assert_identical(self) -> None:
        diff = differences(output_files(self.work), self.reference)
        assert not diff, f"resumed output differs from an uninterrupted run: {diff[:20]}"


@pytest.fixture(scope="module")
def runs(
    real_data: Path, shared_samples_run: Path, tmp_path_factory: pytest.TempPathFactory
) -> Runs:
    base = tmp_path_factory.mktemp("faults")
    config = write_shared_config(real_data, base / "shared-samples.yaml")
    # The uninterrupted run: the in-process one of the same config, shared with other modules
    # (its work directory is another one: the outputs name no path of their work directory).
    runs = Runs(config, base / "work", base / "run.log", output_files(shared_samples_run))
    assert len([n for n in runs.reference if n.startswith("export/shards/")]) >= 2
    assert all(any(n.startswith(f"{s}/") for n in runs.reference) for s in STAGES)
    return runs


def run_and_kill(runs: Runs, executor: str, moment: Moment, delay: float) -> str:
    """Start a run; `delay` seconds after `moment`, SIGKILL its whole session (driver, and an
    embedded Ray's raylet, GCS and workers). Return where the run stood when it died, from its
    files (`finished`: all stages were complete), or "none: the run ended first"."""
    with runs.log.open("ab") as out:
        proc = subprocess.Popen(
            runs.command(executor),
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (runs.work / moment.path).exists() and proc.poll() is None:
            assert time.monotonic() < deadline, f"no {moment.name} within {TIMEOUT} s"
            time.sleep(0.002)
        time.sleep(delay)
    finally:
        kill_session(proc.pid)  # also what the driver left running if it ended first
        proc.wait()
    if proc.returncode >= 0:
        assert proc.returncode == 0, f"run failed before the kill:\n{runs.log.read_text()}"
        return "none: the run ended first"
    assert not [p for p, (_, sid, _) in processes().items() if sid == proc.pid]
    return position(runs.work)


@pytest.mark.parametrize("trial", range(TRIALS))
def test_runs_killed_at_random_moments_resume_to_identical_bytes(runs: Runs, trial: int) -> None:
    runs.fresh()
    hits = []
    for moment, delay in PLANS[trial]:
        where = run_and_kill(runs, "local", moment, delay)
        hits.append(f"{moment.name} +{delay}s -> killed in {where}")
        print(f"trial {trial}: {hits[-1]}")
        if moment.name in STAGE_STARTS:
            assert where.startswith(moment.stage), hits[-1]
    run_to_completion(runs.command("local"), runs.log)
    runs.assert_identical()
    leftovers = [str(p.relative_to(runs.work)) for p in runs.work.rglob("*") if p.suffix == ".tmp"]
    print(f"trial {trial}: left behind: {leftovers + runs.leftover_work() or 'nothing'}")


def test_run_killed_before_export_renames_a_token_shard_resumes(runs: Runs) -> None:
    """The moment a random kill rarely hits (the export's write step is a few ms here), made
    certain: the run dies, like a SIGKILL, between writing a token shard's temporary file
    and renaming it."""
    runs.fresh()
    args = run_args(runs.config, runs.work, "--executor", "local")
    with runs.log.open("ab") as out:
        died = subprocess.run(
            driver_command("die-before-rename", "/export/shards/", args),
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    assert died.returncode == 137, runs.log.read_text()[-4000:]
    assert position(runs.work).startswith("export:"), position(runs.work)
    assert list((runs.work / "export/shards").rglob("*.tmp")), "died before the first shard"
    run_to_completion(runs.command("local"), runs.log)
    runs.assert_identical()


@pytest.mark.ray
def test_killed_ray_run_resumes_to_identical_bytes(runs: Runs) -> None:
    """The kill takes the embedded Ray down with the driver; the rerun (in-process, to keep
    this short) finishes from what the Ray workers wrote."""
    rng = random.Random(SEED + 1)
    moment = next(m for m in MOMENTS if m.name == rng.choice(["minhash:buckets", "topics:sample"]))
    runs.fresh()
    where = run_and_kill(runs, "ray", moment, round(rng.uniform(0, MAX_DELAY), 3))
    print(f"ray run: {moment.name} -> killed in {where}")
    assert where.startswith(moment.stage)
    run_to_completion(runs.command("local"), runs.log)
    runs.assert_identical()


@dataclass(frozen=True)
class Target:
    """Kill a Ray worker running `function` (its process title is then `ray::<function>`)
    while the run is between `started` and `finished` (paths in the work directory)."""

    name: str
    function: str
    started: str
    finished: str


WORKER_TARGETS = [
    Target("filter", "run_task", "filter/_config.json", "filter/_SUCCESS"),
    Target(
        "minhash:signatures",
        "run_step_task",
        "minhash/_config.json",
        "minhash/_steps/signatures/_COMPLETE",
    ),
    # One task of several seconds: the LDA training.
    Target(
        "topics:train", "run_step_task", "topics/_steps/sample/_COMPLETE", "topics/_steps/train"
    ),
]


class WorkerKiller(threading.Thread):
    """Kills one Ray worker of the run's session per target, in order, in the middle of a task;
    `lines` says what it killed where, or which target the run passed first."""

    def __init__(self, session: int, work: Path, rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.session, self.work, self.rng = session, work, rng
        self.lines: list[str] = []

    def _workers(self, title: str) -> list[int]:
        return [
            pid
            for pid, (_, sid, command) in processes().items()
            if sid == self.session and command.split(" ")[0] == title
        ]

    def _alive(self) -> bool:
        return any(sid == self.session for _, sid, _ in processes().values())

    def run(self) -> None:
        for target in WORKER_TARGETS:
            title = f"ray::{target.function}"
            while self._alive():
                if (self.work / target.finished).exists():
                    self.lines.append(f"missed {target.name}: it finished first")
                    break
                if (self.work / target.started).exists() and (pids := self._workers(title)):
                    time.sleep(self.rng.uniform(0, 0.1))
                    # Still running such a task, and the step not finished: mid-task.
                    if pids[0] in self._workers(title):
                        os.kill(pids[0], signal.SIGKILL)
                        mid = not (self.work / target.finished).exists()
                        state = "mid-step" if mid else "as the step finished"
                        self.lines.append(
                            f"killed {title} (pid {pids[0]}) in {target.name}, {state}"
                        )
                        break
                time.sleep(0.01)


@pytest.mark.ray
def test_ray_workers_killed_mid_task_are_retried_to_identical_bytes(runs: Runs) -> None:
    runs.fresh()
    with runs.log.open("ab") as out:
        proc = subprocess.Popen(
            runs.command("ray"),
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    killer = WorkerKiller(proc.pid, runs.work, random.Random(SEED + 2))
    killer.start()
    try:
        proc.wait(timeout=TIMEOUT)
    finally:
        kill_session(proc.pid)
        proc.wait()
        killer.join(timeout=10)
    print("\n".join(killer.lines))
    assert proc.returncode == 0, runs.log.read_text()[-4000:]
    # A kill mid-step means the stage could only finish by Ray re-running the task: a task
    # whose retries ran out would have failed the run. On a loaded machine a kill can land as
    # its step finishes (minhash's signatures take well under a second): that one proves
    # nothing, but the others must have been mid-step.
    assert len(killer.lines) == len(WORKER_TARGETS), killer.lines
    assert all(line.startswith("killed") for line in killer.lines), killer.lines
    assert sum(line.endswith("mid-step") for line in killer.lines) >= 2, killer.lines
    runs.assert_identical()
