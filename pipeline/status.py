"""`datapipe status WORK_DIR`: which stages and tasks are done, which failed, and why.

Reads only what the runner leaves in each stage directory (docs/architecture.md): the
recorded inputs and task count (`_config.json`), task markers, a global stage's step markers,
`_FAILED.json` and `stats.json` (a training stage's names the models it wrote). Safe to run
while a pipeline is running: it never writes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from typing import Any

from core import storage
from core.exchange import COMPLETE_FILE, STEPS_DIR
from core.stagedir import (
    SUCCESS_FILE,
    TASKS_DIR,
    StageDir,
    chain_order,
    read_markers,
    read_run,
    stage_directories,
)
from pipeline.config import PIPELINE_ORDER


def _pipeline_order(name: str, chains: dict[str, int]) -> tuple[bool, int, int, str]:
    """Each source's chain (`<source>/<stage>`, in the order of `chains`), then the stages
    that join them; in each, pipeline order."""
    source, _, stage = name.rpartition("/")
    known = PIPELINE_ORDER.index(stage) if stage in PIPELINE_ORDER else len(PIPELINE_ORDER)
    return not source, chains.get(source, 0), known, stage


def _steps(stage_dir: str) -> list[dict[str, Any]]:
    """A global stage's steps in the order they started (by their oldest file): finished
    tasks of how many."""
    steps = []
    for step in storage.subdirectories(storage.join(stage_dir, STEPS_DIR)):
        markers = read_markers(storage.join(step, TASKS_DIR))
        total = next((m["step"]["tasks"] for m in markers.values()), None)
        with contextlib.suppress(FileNotFoundError):
            total = int(storage.read_text(storage.join(step, COMPLETE_FILE)))
        started = min((f.mtime_ns for f in storage.file_stats(step, True).values()), default=0)
        steps.append((started, {"step": storage.name(step), "done": len(markers), "tasks": total}))
    return [step for _, step in sorted(steps, key=lambda s: s[0])]


def stage_status(stage_dir: str, name: str | None = None) -> dict[str, Any]:
    """One stage directory's state: done, failed or incomplete, with its task counts."""
    directory = StageDir(stage_dir)
    config = directory.recorded() or {}
    status: dict[str, Any] = {
        "stage": name or storage.name(stage_dir),
        # A work dir from before `tasks` was recorded: one task per input.
        "tasks": config.get("tasks", len(config.get("inputs", []))),
        "done": len(directory.finished_tasks()),
        "steps": _steps(stage_dir),
        "failed": directory.failures(),
    }
    if storage.exists(directory.file(SUCCESS_FILE)):
        stats = directory.stats()
        status["state"] = "done"
        status["wall_seconds"] = stats["wall_seconds"]
        if stats.get("kind") == "training":
            status["provides"] = stats["provides"]
        else:
            counts = ("docs_in", "docs_kept", "docs_rejected")
            status["documents"] = {k: stats[k] for k in counts}
    else:
        status["state"] = "failed" if status["failed"] else "incomplete"
    return status


def work_status(work_dir: str) -> list[dict[str, Any]]:
    """Every stage directory under `work_dir` (local or a bucket), in pipeline order."""
    listed = stage_directories(work_dir)
    chains = chain_order(name for name, _ in listed)
    found = sorted(listed, key=lambda found: _pipeline_order(found[0], chains))
    return [stage_status(path, name) for name, path in found]


def format_status(statuses: list[dict[str, Any]]) -> str:
    lines = []
    for s in statuses:
        line = f"{s['stage']:<16} {s['state']:<11} " + f"tasks {s['done']}/{s['tasks']}".ljust(14)
        if "provides" in s:
            models = ", ".join(f"{k}={v}" for k, v in s["provides"].items())
            line += f"  trained {models}  [{s['wall_seconds']}s]"
        elif s["state"] == "done":
            d = s["documents"]
            line += (
                f"  {d['docs_in']:,} in -> {d['docs_kept']:,} kept, "
                f"{d['docs_rejected']:,} rejected  [{s['wall_seconds']}s]"
            )
        lines.append(line)
        if s["state"] != "done":
            lines += [
                f"  step {step['step']}: {step['done']}/{step['tasks'] or '?'} tasks"
                for step in s["steps"]
            ]
        if s["state"] == "failed":
            failed = s["failed"]
            lines.append(
                f"  {len(failed['failures'])} of {failed['tasks']} tasks failed in "
                f"{failed['step']} (rerun to retry them):"
            )
            lines += [f"    {f['task']}: {f['error']}" for f in failed["failures"]]
    return "\n".join(lines) if lines else "no stage directories yet"


def add_status_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "status",
        help="which stages and shards are done, which failed, and why",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("work_dir", metavar="WORK_DIR", help="the pipeline's work_dir")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=_run)


def run_line(run: dict[str, Any] | None) -> str | None:
    """What the last pipeline run left in `_RUN.json`, when it did not finish."""
    if run is None or run.get("state") == "done":
        return None
    if run.get("state") == "failed":
        return f"the last run failed in stage {run.get('stage')}: {run.get('error')}"
    return f"a run is in stage {run.get('stage')} (pid {run.get('pid')}), or was killed there"


def _run(args: argparse.Namespace) -> int:
    if not storage.is_dir(args.work_dir):
        raise FileNotFoundError(f"{args.work_dir}: no such work directory")
    statuses = work_status(args.work_dir)
    run = read_run(args.work_dir)
    if args.json:
        print(json.dumps({"run": run, "stages": statuses}, indent=2))
    else:
        print("\n".join(filter(None, [run_line(run), format_status(statuses)])))
    finished = run is None or run.get("state") == "done"
    return 0 if finished and all(s["state"] == "done" for s in statuses) else 1
