"""A stage's output directory and its manifest files.

part-*.arrow            kept documents
rejected/part-*.arrow   rejected documents with `reason`, `reason_detail`
_tasks/NNNNN.json       one marker per finished task (its stats and outputs)
_steps/<step>/           a global stage's step files and markers (removed once complete)
_config.json            stage name, config, inputs and their fingerprint
stats.json              counts that reconcile: docs_in == docs_kept + docs_rejected
_FAILED.json            the tasks that failed in the last attempt and why (until it succeeds)
_SUCCESS                written last: the stage is complete for this fingerprint

and in the work directory, `_RUN.json`: the last pipeline run's state (running, done, or
failed in which stage and why), for `status` and the report.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.shards import atomic_write_json, list_shards, shard_damage

TASKS_DIR = "_tasks"
REJECTED_DIR = "rejected"
CONFIG_FILE = "_config.json"
STATS_FILE = "stats.json"
SUCCESS_FILE = "_SUCCESS"
FAILED_FILE = "_FAILED.json"
RUN_FILE = "_RUN.json"


def record_run(work_dir: str | Path, state: str, **details: Any) -> None:
    """The pipeline run's state in its work directory (running, done, failed)."""
    atomic_write_json(Path(work_dir) / RUN_FILE, {"state": state, **details})


def read_run(work_dir: str | Path) -> dict[str, Any] | None:
    path = Path(work_dir) / RUN_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def fingerprint(description: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()


def file_identity(path: str) -> list[Any]:
    """What tells us an input changed without reading it. A file of a finished stage
    directory (a shard, a model): that stage's fingerprint, the file's name there and its
    size, the same wherever the work directory is copied or moved; any other file: its path,
    size and modification time."""
    file = Path(path)
    size = file.stat().st_size
    if (stage := stage_of(file)) is not None:
        return [
            "stage",
            stage.recorded_fingerprint(),
            file.relative_to(stage.path).as_posix(),
            size,
        ]
    return [path, size, file.stat().st_mtime_ns]


def stage_of(file: Path) -> StageDir | None:
    """The finished stage directory holding `file` (directly or in `rejected/`), if any."""
    for directory in (file.parent, file.parent.parent):
        if (directory / SUCCESS_FILE).exists() and (directory / CONFIG_FILE).exists():
            return StageDir(directory)
    return None


def read_markers(directory: Path) -> dict[int, dict[str, Any]]:
    """Finished tasks' markers (`NNNNN.json`) in `directory`, by task index."""
    return {int(p.stem): json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))}


class DamagedStage(ValueError):
    """A finished stage directory whose shards are not what its tasks wrote."""


def finished_stage_shards(directory: str | Path) -> list[Path]:
    """The shards of a stage directory, which must be complete and intact: a stage still
    running (or failed) has no `_SUCCESS`, a shard deleted or cut short since: reading it
    would silently miss documents."""
    if not (Path(directory) / SUCCESS_FILE).exists():
        raise FileNotFoundError(
            f"{directory} is not a finished stage directory (no {SUCCESS_FILE}); "
            "run the previous stage first"
        )
    if damage := StageDir(directory).damage():
        raise DamagedStage(
            f"{directory} is damaged: {next(iter(damage.values()))}; rerun the stage that "
            "wrote it (a pipeline run redoes the damaged tasks)"
        )
    return list_shards(directory)


def input_files(paths: Sequence[str | Path]) -> list[str]:
    """Files given by the user, each finished stage directory replaced by its shards."""
    files: list[str] = []
    for item in paths:
        path = Path(item)
        if not path.exists():
            raise FileNotFoundError(f"input {str(item)!r} does not exist")
        files += [str(p) for p in finished_stage_shards(path)] if path.is_dir() else [str(item)]
    return files


class NotAStageDirectory(RuntimeError):
    pass


class StageDir:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def recorded(self) -> dict[str, Any] | None:
        """The `_config.json` of the run that wrote the directory, if any."""
        config = self.path / CONFIG_FILE
        return json.loads(config.read_text()) if config.exists() else None

    def recorded_fingerprint(self) -> str | None:
        return (self.recorded() or {}).get("fingerprint")

    def is_complete(self, fp: str) -> bool:
        return (self.path / SUCCESS_FILE).exists() and self.recorded_fingerprint() == fp

    def prepare(self, stage: str, fp: str, description: dict[str, Any]) -> bool:
        """Make the directory ready for a run of `stage`; return True when earlier tasks can
        be reused. Another stage's directory is refused, never cleared."""
        recorded_stage = (self.recorded() or {}).get("stage")
        if recorded_stage not in (None, stage):
            raise NotAStageDirectory(
                f"{self.path} holds the output of stage {recorded_stage!r}; "
                f"choose another output directory for {stage!r}"
            )
        recorded = self.recorded_fingerprint()
        if recorded == fp:
            (self.path / SUCCESS_FILE).unlink(missing_ok=True)
            return True
        if recorded is None and self.path.exists() and any(self.path.iterdir()):
            raise NotAStageDirectory(
                f"{self.path} is not empty and was not written by datapipe; "
                "choose an empty or new output directory"
            )
        if self.path.exists():
            shutil.rmtree(self.path)  # a datapipe stage dir with another config: redo it all
        self.path.mkdir(parents=True)
        atomic_write_json(self.path / CONFIG_FILE, {**description, "fingerprint": fp})
        return False

    def finished_tasks(self) -> dict[int, dict[str, Any]]:
        return read_markers(self.path / TASKS_DIR)

    def damage(self) -> dict[int, str]:
        """Finished tasks whose shards are not as their markers recorded (task index -> the
        first problem), and -1 -> a shard that no task wrote. Without markers (a directory
        of another program) or with markers of an older version (no file sizes), every shard
        gets the end-of-stream check."""
        problems: dict[int, str] = {}
        tasks = self.finished_tasks()
        shards = list_shards(self.path) + list_shards(self.path / REJECTED_DIR)
        if not tasks or any("files" not in marker for marker in tasks.values()):
            for shard in shards:
                if why := shard_damage(shard, None):
                    problems[-1] = why
            return problems
        recorded: set[Path] = set()
        for index, marker in tasks.items():
            for name, size in marker["files"].items():
                recorded.add(self.path / name)
                if why := shard_damage(self.path / name, size):
                    problems.setdefault(index, why)
        if strays := [shard for shard in shards if shard not in recorded]:
            problems[-1] = f"{strays[0].relative_to(self.path)} was written by no task"
        return problems

    def forget_tasks(self, indices: list[int]) -> None:
        """Drop the markers of these tasks, so a resumed run does them again."""
        for index in indices:
            (self.path / TASKS_DIR / f"{index:05d}.json").unlink(missing_ok=True)

    def stats(self) -> dict[str, Any]:
        return json.loads((self.path / STATS_FILE).read_text())

    def record_failures(self, step: str, tasks: int, failures: list[dict[str, str]]) -> None:
        record = {"step": step, "tasks": tasks, "failures": failures}
        atomic_write_json(self.path / FAILED_FILE, record)

    def failures(self) -> dict[str, Any] | None:
        path = self.path / FAILED_FILE
        return json.loads(path.read_text()) if path.exists() else None

    def finalize(self, stats: dict[str, Any]) -> None:
        atomic_write_json(self.path / STATS_FILE, stats)
        (self.path / FAILED_FILE).unlink(missing_ok=True)
        (self.path / SUCCESS_FILE).write_text(stats["fingerprint"] + "\n")
