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
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from core import storage
from core.integrity import CorruptModel, check_sealed
from core.manifest import MANIFEST_FILE, shard_file_damage
from core.shards import atomic_write_json, shard_damage, shard_locations

TASKS_DIR = "_tasks"
STEPS_DIR = "_steps"  # a global stage's step files (core/exchange.py)
REJECTED_DIR = "rejected"
CONFIG_FILE = "_config.json"
STATS_FILE = "stats.json"
SUCCESS_FILE = "_SUCCESS"
FAILED_FILE = "_FAILED.json"
RUN_FILE = "_RUN.json"


def is_bookkeeping(name: str) -> bool:
    """A stage directory's own files (markers, config, stats, steps), not its output."""
    first = name.replace(os.sep, "/").split("/")[0]
    return first.startswith("_") or first == STATS_FILE


def _model_damage(location: str, recorded_bytes: int) -> str | None:
    """Why a trained model file cannot be trusted (missing, resized, bytes that differ from
    its recorded checksum), or None."""
    name = storage.name(location)
    found = storage.stat(location)
    if found is None:
        return f"{name} is missing"
    if found.size != recorded_bytes:
        return f"{name} has {found.size:,} bytes, {recorded_bytes:,} when trained"
    if not storage.is_remote(location):
        try:
            check_sealed(location)
        except CorruptModel as err:
            return str(err).split(";")[0]
    return None


def _read_json(location: str) -> Any:
    return json.loads(storage.read_text(location))


def record_run(work_dir: str | Path, state: str, **details: Any) -> None:
    """The pipeline run's state in its work directory (running, done, failed)."""
    atomic_write_json(storage.join(work_dir, RUN_FILE), {"state": state, **details})


def read_run(work_dir: str | Path) -> dict[str, Any] | None:
    try:
        return _read_json(storage.join(work_dir, RUN_FILE))
    except (OSError, ValueError):
        return None


def fingerprint(description: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()


def file_identity(path: str) -> list[Any]:
    """What tells us an input changed without reading it. A file of a finished stage
    directory (a shard, a model): that stage's fingerprint, the file's name there and its
    size, the same wherever the work directory is copied or moved; any other file: its
    location, size and modification time."""
    found = storage.stat(path)
    if found is None:
        raise FileNotFoundError(f"{path} does not exist")
    if (stage := stage_of(path)) is not None:
        relative = storage.absolute(path)[len(stage.path) :].lstrip("/" + os.sep)
        return ["stage", stage.recorded_fingerprint(), relative.replace(os.sep, "/"), found.size]
    return [path, found.size, found.mtime_ns]


def _is_stage_directory(location: str) -> bool:
    return any(storage.exists(storage.join(location, f)) for f in (CONFIG_FILE, STATS_FILE))


def stage_directories(work_dir: str | Path) -> list[tuple[str, str]]:
    """The stage directories of a work directory as (name, location): `<stage>`, and in a
    directory that is not a stage's (a source's chain) `<source>/<stage>`. The chains come
    in the order they started (a run takes them in config order), each chain's stages and
    the stages outside any chain by name."""
    found, chains = [], []
    for location in storage.subdirectories(work_dir):
        if _is_stage_directory(location):
            found.append((storage.name(location), location))
            continue
        chain = [
            (f"{storage.name(location)}/{storage.name(inner)}", inner)
            for inner in storage.subdirectories(location)
            if _is_stage_directory(inner)
        ]
        if chain:
            chains.append((min(_started(inner) for _, inner in chain), chain))
    return [pair for _, chain in sorted(chains, key=lambda c: c[0]) for pair in chain] + found


def chain_order(names: Iterable[str]) -> dict[str, int]:
    """Each source's rank in `stage_directories`' names (`<source>/<stage>`)."""
    sources = dict.fromkeys(name.rpartition("/")[0] for name in names if "/" in name)
    return {source: rank for rank, source in enumerate(sources)}


def _started(stage_dir: str) -> int:
    """When the stage was first prepared (its `_config.json`), in ns; a chain stage without
    one sorts last."""
    found = storage.stat(storage.join(stage_dir, CONFIG_FILE))
    return found.mtime_ns if found else 2**63


def stage_of(file: str | Path) -> StageDir | None:
    """The finished stage directory holding `file` (directly or in `rejected/`), if any."""
    directory = storage.parent(storage.absolute(file))
    for candidate in (directory, storage.parent(directory)):
        if storage.exists(storage.join(candidate, SUCCESS_FILE)) and storage.exists(
            storage.join(candidate, CONFIG_FILE)
        ):
            return StageDir(candidate)
    return None


def read_markers(directory: str | Path) -> dict[int, dict[str, Any]]:
    """Finished tasks' markers (`NNNNN.json`) in `directory`, by task index."""
    found = {}
    for location in storage.list_files(directory):
        stem, _, suffix = storage.name(location).partition(".")
        if suffix == "json" and stem.isdigit():
            found[int(stem)] = location
    contents = storage.map_locations(_read_json, list(found.values()), _remote(directory))
    return dict(zip(found, contents, strict=True))


def _remote(location: str | Path) -> bool:
    return storage.is_remote(str(location))


class DamagedStage(ValueError):
    """A finished stage directory whose shards are not what its tasks wrote."""


def finished_stage_shards(directory: str | Path) -> list[str]:
    """The shards of a stage directory, which must be complete and intact: a stage still
    running (or failed) has no `_SUCCESS`, a shard deleted or cut short since: reading it
    would silently miss documents."""
    if not storage.exists(storage.join(directory, SUCCESS_FILE)):
        raise FileNotFoundError(
            f"{directory} is not a finished stage directory (no {SUCCESS_FILE}); "
            "run the previous stage first"
        )
    if damage := StageDir(directory).damage():
        raise DamagedStage(
            f"{directory} is damaged: {next(iter(damage.values()))}; rerun the stage that "
            "wrote it (a pipeline run redoes the damaged tasks)"
        )
    return shard_locations(storage.absolute(directory))


def input_files(paths: Sequence[str | Path]) -> list[str]:
    """Files given by the user, each finished stage directory replaced by its shards."""
    files: list[str] = []
    for item in paths:
        if storage.is_dir(item):
            files += finished_stage_shards(item)
        elif storage.exists(item):
            files.append(str(item))
        else:
            raise FileNotFoundError(f"input {str(item)!r} does not exist")
    return files


def _remove_tree(location: str) -> None:
    """Remove a directory's files. A local one reached through a symlink (a stage directory
    on a bigger disk) is emptied, the link kept; a file that cannot be removed is an error,
    never a stale shard left for the next run to count."""
    if storage.is_remote(location):
        storage.delete_tree(location)
        return
    path = Path(location)
    if path.is_symlink() and path.is_dir():
        entries = list(path.iterdir())
    elif path.exists() or path.is_symlink():
        entries = [path]
    else:
        return
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


class NotAStageDirectory(RuntimeError):
    pass


class StageDir:
    """A stage directory, local or on object storage (`path` is its absolute location)."""

    def __init__(self, path: str | Path) -> None:
        self.path = storage.absolute(path)

    def file(self, *parts: str) -> str:
        return storage.join(self.path, *parts)

    def recorded(self) -> dict[str, Any] | None:
        """The `_config.json` of the run that wrote the directory, if any."""
        try:
            return _read_json(self.file(CONFIG_FILE))
        except FileNotFoundError:
            return None

    def recorded_fingerprint(self) -> str | None:
        return (self.recorded() or {}).get("fingerprint")

    def is_complete(self, fp: str) -> bool:
        return storage.exists(self.file(SUCCESS_FILE)) and self.recorded_fingerprint() == fp

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
            storage.delete(self.file(SUCCESS_FILE))
            return True
        if recorded is None and storage.list_files(self.path, recursive=True):
            raise NotAStageDirectory(
                f"{self.path} is not empty and was not written by datapipe; "
                "choose an empty or new output directory"
            )
        self.clear()  # a datapipe stage dir with another config: redo it all
        storage.make_dirs(self.path)
        atomic_write_json(self.file(CONFIG_FILE), {**description, "fingerprint": fp})
        return False

    def clear(self) -> None:
        _remove_tree(self.path)

    def clear_steps(self) -> None:
        """A global stage's step files, once the stage is complete."""
        _remove_tree(self.file(STEPS_DIR))

    def finished_tasks(self) -> dict[int, dict[str, Any]]:
        return read_markers(self.file(TASKS_DIR))

    def damage(self) -> dict[int, str]:
        """Finished tasks whose shards are not as their markers recorded (task index -> the
        first problem), and -1 -> a shard that no task wrote. Without markers (a directory
        of another program) or with markers of an older version (no file sizes), every shard
        gets the end-of-stream check."""
        problems: dict[int, str] = {}
        tasks = self.finished_tasks()
        remote = _remote(self.path)
        models = [
            (index, self.file(*name.split("/")), size)
            for index, marker in tasks.items()
            for name, size in marker.get("models", {}).items()
        ]
        if models:  # a training stage: its models, no shards
            checked = storage.map_locations(lambda m: _model_damage(m[1], m[2]), models, remote)
            for (index, _, _), why in zip(models, checked, strict=True):
                if why:
                    problems.setdefault(index, why)
            return problems
        if storage.exists(self.file(MANIFEST_FILE)) and (why := shard_file_damage(self.path)):
            return dict.fromkeys(tasks, why)  # an export's token shards: the stage is redone
        shards = shard_locations(self.path) + shard_locations(self.file(REJECTED_DIR))
        if not tasks or any("files" not in marker for marker in tasks.values()):
            unchecked = storage.map_locations(lambda s: shard_damage(s, None), shards, remote)
            for why in unchecked:
                if why:
                    problems[-1] = why
            return problems
        written = [
            (index, self.file(*name.split("/")), size)
            for index, marker in tasks.items()
            for name, size in marker["files"].items()
        ]
        checked = storage.map_locations(lambda w: shard_damage(w[1], w[2]), written, remote)
        for (index, _, _), why in zip(written, checked, strict=True):
            if why:
                problems.setdefault(index, why)
        recorded = {location for _, location, _ in written}
        if strays := [shard for shard in shards if shard not in recorded]:
            stray = strays[0][len(self.path) :].lstrip("/" + os.sep).replace(os.sep, "/")
            problems[-1] = f"{stray} was written by no task"
        return problems

    def forget_tasks(self, indices: list[int]) -> None:
        """Drop the markers of these tasks, so a resumed run does them again."""
        for index in indices:
            storage.delete(self.file(TASKS_DIR, f"{index:05d}.json"))

    def stats(self) -> dict[str, Any]:
        return _read_json(self.file(STATS_FILE))

    def record_failures(self, step: str, tasks: int, failures: list[dict[str, str]]) -> None:
        record = {"step": step, "tasks": tasks, "failures": failures}
        atomic_write_json(self.file(FAILED_FILE), record)

    def failures(self) -> dict[str, Any] | None:
        try:
            return _read_json(self.file(FAILED_FILE))
        except FileNotFoundError:
            return None

    def finalize(self, stats: dict[str, Any]) -> None:
        atomic_write_json(self.file(STATS_FILE), stats)
        storage.delete(self.file(FAILED_FILE))
        storage.write_bytes(self.file(SUCCESS_FILE), (stats["fingerprint"] + "\n").encode())
