"""Whole-pipeline runs as separate processes, for the fault and cluster tests: run
configs/shared-samples.yaml, kill a run with everything it started, read where it stopped,
and compare the outputs of two runs byte for byte.

Run as a script it runs `datapipe` with a probe or a fault:

    python tests/pipeline_runs.py report-nodes REPORT.json run CONFIG --ray-address HOST:PORT
        writes {"nodes_used": {node id: finished tasks}, "nodes": {node id: [resource names]}}
    python tests/pipeline_runs.py die-before-rename export/shards/ run CONFIG --executor local
        dies (exit 137, no clean-up) where it would rename a finished file into that path
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
STAGES = ("ingest", "filter", "minhash", "substring", "topics", "train-tokenizer", "export")
TOKENIZER = "train-tokenizer/tokenizer"


def write_shared_config(real_data: Path, path: Path) -> Path:
    """configs/shared-samples.yaml with its input made absolute (runs start elsewhere)."""
    config = yaml.safe_load((REPO / "configs/shared-samples.yaml").read_text())
    config["inputs"] = [str(real_data / "samples")]
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_args(config: Path, work: Path, *options: str) -> list[str]:
    """`datapipe run CONFIG` arguments: a work directory of its own, no progress bars."""
    return ["run", str(config), "--work-dir", str(work), "--no-progress", *options]


def run_command(config: Path, work: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "pipeline", *run_args(config, work, *options)]


def driver_command(driver: str, argument: str, args: list[str]) -> list[str]:
    """`args` (a `datapipe` command line) run by one of this module's DRIVERS."""
    return [sys.executable, str(Path(__file__)), driver, argument, *args]


def run_to_completion(
    command: list[str], log: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> None:
    """Run `command` from the repository, its output appended to `log`; it must succeed."""
    with log.open("ab") as out:
        done = subprocess.run(
            command,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            timeout=timeout,
            check=False,
        )
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{log.read_text()[-4000:]}"


def output_files(work: Path) -> dict[str, bytes]:
    """Every output a run leaves: kept and rejected shards of every stage, the tokenizer, the
    export's token shards and manifest (which names the tokenizer relative to itself: the same
    bytes in any work directory)."""
    patterns = (
        "*/part-*.arrow",
        "*/rejected/part-*.arrow",
        "export/shards/**/*",
        "export/manifest.json",
        f"{TOKENIZER}.model",
        f"{TOKENIZER}.vocab",
    )
    files = sorted({p for pattern in patterns for p in work.glob(pattern) if p.is_file()})
    return {str(p.relative_to(work)): p.read_bytes() for p in files}


def differences(got: dict[str, bytes], want: dict[str, bytes]) -> list[str]:
    """What differs between two `output_files`, by name (empty when identical)."""
    return sorted(
        [f"missing {name}" for name in want.keys() - got.keys()]
        + [f"extra {name}" for name in got.keys() - want.keys()]
        + [f"differs {name}" for name in want.keys() & got.keys() if got[name] != want[name]]
    )


def position(work: Path) -> str:
    """Where a run stands: the first unfinished stage and, in it, the running step of a global
    stage (`minhash:buckets, 3 tasks done`), `between steps` or `apply` (the per-shard tasks);
    `<stage>:finalize` when a complete stage's `_steps/` is still there and the next stage has
    not started; or `finished`."""
    finalizing = None  # the last complete stage, if its `_steps/` is still there
    for stage in STAGES:
        directory = work / stage
        if (directory / "_SUCCESS").exists():
            finalizing = stage if (directory / "_steps").exists() else None
            continue
        if not (directory / "_config.json").exists():
            return f"{finalizing}:finalize" if finalizing else f"{stage}:start"
        work_dir = directory / "_steps"
        steps = list(work_dir.iterdir()) if work_dir.exists() else []
        running = [step for step in steps if not (step / "_COMPLETE").exists()]
        if running:  # the runner runs one step at a time
            done = len(list((running[0] / "_tasks").glob("*.json")))
            return f"{stage}:{running[0].name}, {done} tasks done"
        if steps and not (directory / "_tasks").exists():
            return f"{stage}:between steps"
        return f"{stage}:apply, {len(list((directory / '_tasks').glob('*.json')))} tasks done"
    return "finished"


# --- processes ----------------------------------------------------------------------------

Table = dict[int, tuple[int, int, str]]  # pid -> (parent pid, session id, command line)


def processes() -> Table:
    """pid -> (parent pid, session id, command line) of every live process, from /proc."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        if fields[0] in ("Z", "X"):  # dead, waiting to be reaped: nothing left to stop
            continue
        command = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
        found[int(entry)] = (int(fields[1]), int(fields[3]), command)
    return found


def _kill_until_gone(select: Callable[[Table], set[int]], timeout: float) -> None:
    """SIGKILL the processes `select` picks from the process table, again and again (they may
    start others) until none is left; a process once picked is killed even if it no longer
    would be (an orphan whose parent died)."""
    deadline = time.monotonic() + timeout
    picked: set[int] = set()
    while True:
        table = processes()
        picked = ((picked & table.keys()) | select(table)) - {os.getpid()}
        if not picked:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"processes {sorted(picked)} survived SIGKILL")
        for pid in picked:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def kill_session(session: int, timeout: float = 20.0) -> None:
    """SIGKILL every process of `session` (a run started with start_new_session=True: the
    driver, and an embedded Ray's raylet, GCS and workers, which start their own process
    groups but stay in the session) until none is left."""
    _kill_until_gone(
        lambda table: {p for p, (_, sid, _) in table.items() if sid == session}, timeout
    )


def stop_ray_nodes(temp_dir: str, timeout: float = 20.0) -> None:
    """Stop, like `ray stop --force`, the Ray nodes started with `ray start --temp-dir=temp_dir`
    and nothing else (`ray stop` stops every Ray on the machine): the processes naming that
    directory on their command line (GCS, raylets, monitors) and their descendants (agents,
    workers); never this process or its ancestors."""

    def ours(table: Table) -> set[int]:
        mine, pid = set(), os.getpid()
        while pid in table and pid not in mine:
            mine.add(pid)
            pid = table[pid][0]
        found = {pid for pid, (_, _, command) in table.items() if temp_dir in command} - mine
        while more := {p for p, (parent, _, _) in table.items() if parent in found} - found:
            found |= more
        return found

    _kill_until_gone(ours, timeout)


# --- drivers: `datapipe` with a probe or a fault ----------------------------------------


def _report_nodes(report: str, argv: list[str]) -> int:
    """Run the CLI; write where its Ray executor ran the tasks to `report`."""
    from pipeline import cli
    from pipeline.executor import RayExecutor

    executors: list[Any] = []

    class RecordingRayExecutor(RayExecutor):
        def close(self) -> None:
            nodes = self._ray.nodes()
            self.nodes = {n["NodeID"]: sorted(n["Resources"]) for n in nodes if n["Alive"]}
            super().close()

    def make_executor(kind: str, settings: Any) -> Any:
        assert kind == "ray", "this driver reports where Ray ran tasks"
        executors.append(RecordingRayExecutor(settings))
        return executors[-1]

    cli.make_executor = make_executor
    code = cli.main(argv)
    [executor] = executors
    Path(report).write_text(
        json.dumps({"nodes_used": dict(executor.nodes_used), "nodes": executor.nodes})
    )
    return code


def _die_before_rename(into: str, argv: list[str]) -> int:
    """Run the CLI in-process (`--executor local`) and die like a SIGKILL (no clean-up, exit
    137) instead of renaming the first finished file into a path containing `into`."""
    from pipeline import cli

    rename = os.replace

    def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if into in str(dst):
            os._exit(137)
        rename(src, dst, *args, **kwargs)

    os.replace = replace
    return cli.main(argv)


DRIVERS = {"report-nodes": _report_nodes, "die-before-rename": _die_before_rename}

if __name__ == "__main__":
    sys.exit(DRIVERS[sys.argv[1]](sys.argv[2], sys.argv[3:]))
