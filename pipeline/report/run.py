"""What a work directory holds: its stage directories (config, stats, state, which stage each
read), the export's manifest, the tokenizer report and the stages' typed summaries. Every
reader tolerates missing and broken files: it returns None or a note, never raises."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, cast

from core import storage
from core.manifest import MANIFEST_FILE, Manifest
from core.shards import shard_locations
from core.stagedir import (
    CONFIG_FILE,
    FAILED_FILE,
    STATS_FILE,
    SUCCESS_FILE,
    chain_order,
    stage_directories,
)
from pipeline.config import PIPELINE_ORDER
from pipeline.report.display import number
from stages import stage_class
from stages.base import TrainingStage
from stages.minhash.summary import MinhashSummary
from stages.substring.summary import SubstringCounters, SubstringSummary
from stages.topics.summary import TOPIC_TABLE, TopicsSummary, TopicTable
from tokenizer.report import TokenizerReport
from tokenizer.stage import MODEL_PREFIX, TokenizerTrainingStage

SOURCE_STAGES = ("ingest",)  # their inputs are raw files, not another stage's shards
EVALUATION_FILE = "evaluation.json"  # written by `datapipe evaluate`
MAX_TOKENIZER_REPORT = 64 * 2**20  # a larger JSON file in the work dir is not a tokenizer report


@dataclass
class StageInfo:
    name: str  # directory name
    path: str  # its location (a path, or a URI on object storage)
    kind: str  # the stage recorded in _config.json / stats.json (else the directory name)
    config: dict[str, Any] | None
    stats: dict[str, Any] | None
    state: str  # done | failed | incomplete | unreadable
    problems: list[str] = field(default_factory=list)
    reads: set[str] = field(default_factory=set)  # stage directories its inputs came from
    leftover: bool = False  # no later stage reads it: from an earlier run
    trains: bool = False  # a training stage: writes a model, passes the documents it read on

    @property
    def started(self) -> float:
        config = storage.stat(storage.join(self.path, CONFIG_FILE))
        return config.mtime_ns / 1e9 if config else math.inf

    def steps(self) -> dict[str, Any]:
        """The global stage's plan summary (`steps` in stats.json), {} when absent."""
        steps = (self.stats or {}).get("steps")
        return steps if isinstance(steps, dict) else {}

    def counters(self) -> dict[str, Any]:
        counters = (self.stats or {}).get("counters")
        return counters if isinstance(counters, dict) else {}


def read_json(path: str) -> tuple[Any, str | None]:
    """(content, None), or (None, why) for a missing or unreadable file."""
    name = storage.name(path)
    try:
        text = storage.read_bytes(path).decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None, f"{name} not found"
    except OSError as err:
        return None, f"{name} is unreadable ({type(err).__name__}: {err})"
    try:
        return json.loads(text), None
    except ValueError as err:
        return None, f"{name} is unreadable ({type(err).__name__}: {err})"


def _order_key(info: StageInfo, chains: dict[str, int]) -> tuple[bool, int, int, float, str]:
    """Each source's chain (`<source>/<stage>`, in the order of `chains`), then the stages
    that join them; in each, pipeline order, a stage PIPELINE_ORDER does not know after, by
    start time."""
    source = info.name.rpartition("/")[0]
    known = PIPELINE_ORDER.index(info.kind) if info.kind in PIPELINE_ORDER else len(PIPELINE_ORDER)
    return not source, chains.get(source, 0), known, info.started, info.name


def _read_stage(path: str, name: str) -> StageInfo:
    problems = []
    config, why = read_json(storage.join(path, CONFIG_FILE))
    if why and storage.exists(storage.join(path, CONFIG_FILE)):
        problems.append(why)
    stats, why = read_json(storage.join(path, STATS_FILE))
    finished = storage.exists(storage.join(path, SUCCESS_FILE))
    if not isinstance(stats, dict):
        stats = None
        if finished:
            problems.append(why or "stats.json is not an object")
    config = config if isinstance(config, dict) else None
    kind = str((config or {}).get("stage") or (stats or {}).get("stage") or name)
    if finished:
        state = "done" if stats is not None else "unreadable"
    else:
        state = "failed" if storage.exists(storage.join(path, FAILED_FILE)) else "incomplete"
    info = StageInfo(name, path, kind, config, stats, state, problems)
    info.trains = _is_training(kind)
    return info


def _is_training(kind: str) -> bool:
    try:
        return issubclass(stage_class(kind), TrainingStage)
    except (KeyError, ImportError, AttributeError):  # a stage this installation does not know
        return False


def discover_stages(work: str) -> list[StageInfo]:
    """Stage directories of `work` (they hold `_config.json` or `stats.json`), in pipeline
    order, with their state and the stage directories they read."""
    listed = stage_directories(work)
    chains = chain_order(name for name, _ in listed)
    found = [_read_stage(path, name) for name, path in listed]
    found.sort(key=lambda info: _order_key(info, chains))
    for info in found:
        inputs = (info.config or {}).get("inputs") or []
        if info.kind not in SOURCE_STAGES:
            info.reads = {name for item in inputs if (name := _stage_read(item, found))}
        info.problems += _changed_inputs(inputs)
    read = set().union(*(info.reads for info in found)) if found else set()
    for i, info in enumerate(found):
        later = found[i + 1 :]
        # Later stages use a training stage's model, not documents from its directory.
        unread = info.name not in read and not info.trains
        info.leftover = bool(later) and unread and bool(info.stats)
    return found


def _stage_read(identity: Any, stages: list[StageInfo]) -> str | None:
    """The stage directory an input file identity names: a file of a finished stage
    (`["stage", fingerprint, name, size]`) or, in older work dirs, a path in one."""
    if not isinstance(identity, list) or not identity:
        return None
    if identity[0] == "stage" and len(identity) == 4:
        by_fingerprint = {(s.config or {}).get("fingerprint"): s.name for s in stages}
        return by_fingerprint.get(identity[1])
    parent = storage.name(storage.parent(str(identity[0])))
    return parent if parent in {s.name for s in stages} else None


def _changed_inputs(inputs: list[Any]) -> list[str]:
    """Recorded input files (path, size, mtime) that changed or vanished since the stage ran.
    (Files of other stage directories, recorded by that stage's fingerprint, are checked by
    the runner before it trusts them.)"""
    changed = missing = 0
    for item in inputs:
        if not (isinstance(item, list) and len(item) == 3):
            continue
        try:
            stat = storage.stat(str(item[0]))
        except (OSError, storage.StorageError):
            stat = None
        if stat is None:
            missing += 1
            continue
        if [stat.size, stat.mtime_ns] != item[1:]:
            changed += 1
    notes = []
    if changed:
        notes.append(f"{changed:,} of its input files changed since it ran (rerun to update it)")
    if missing and missing == len(inputs):
        notes.append("its recorded input files are not there (a moved work directory?)")
    elif missing:
        notes.append(f"{missing:,} of its input files no longer exist")
    return notes


@dataclass
class Run:
    work: str  # the work directory's location
    stages: list[StageInfo]
    manifest: Manifest | None
    manifest_note: str | None  # why there is no manifest
    doc_stage: StageInfo | None  # whose shards hold the final kept documents

    def stage(self, kind: str) -> StageInfo | None:
        matches = [s for s in self.stages if s.kind == kind and not s.leftover]
        return matches[-1] if matches else None

    @property
    def chain(self) -> list[StageInfo]:
        """Finished document stages of this run, in order."""
        return [s for s in self.stages if s.stats is not None and not (s.leftover or s.trains)]

    def origin_docs(self, s: StageInfo, seen: frozenset[str] = frozenset()) -> float | None:
        """Documents that entered the run upstream of `s`: its own input when it read raw
        input (an ingest, or a stage run on a directory of no stage here), else the sum over
        the stages it read (every source's chain, for a stage that joins them). `seen`: the
        stages below on this path (a directory named like a stage can seem to read itself)."""
        by_name = {info.name: info for info in self.stages}
        seen = seen | {s.name}
        read = [by_name[n] for n in sorted(s.reads) if n in by_name and n not in seen]
        if not read:
            return number((s.stats or {}).get("docs_in"))
        found = [self.origin_docs(info, seen) for info in read]
        return None if None in found else sum(v for v in found if v is not None)

    @property
    def trainers(self) -> list[StageInfo]:
        """Training stages of this run, in order."""
        return [s for s in self.stages if s.trains]


def load_run(work: str) -> Run:
    stages = discover_stages(work)
    export = next((s for s in reversed(stages) if s.kind == "export"), None)
    manifest, note = (None, "no export stage")
    if export is not None:
        manifest, note = read_json(storage.join(export.path, MANIFEST_FILE))
        if manifest is not None and not isinstance(manifest, dict):
            manifest, note = None, "manifest.json is not an object"
    with_shards = [s for s in stages if not s.leftover and shard_locations(s.path)]
    doc_stage = with_shards[-1] if with_shards else None
    if export is not None and export.reads:
        read = [s for s in with_shards if s.name in export.reads]
        doc_stage = read[-1] if read else doc_stage
    return Run(work, stages, manifest, note, doc_stage)


# The stages' own files, typed by the stage that writes them. The casts do not validate: a file
# from another version may lack keys, so the sections read them with .get() and check types.


def minhash_summary(stage: StageInfo) -> MinhashSummary:
    return cast(MinhashSummary, stage.steps())


def substring_summary(stage: StageInfo) -> SubstringSummary:
    return cast(SubstringSummary, stage.steps())


def substring_counters(stage: StageInfo) -> SubstringCounters:
    return cast(SubstringCounters, stage.counters())


def topics_summary(stage: StageInfo) -> TopicsSummary:
    return cast(TopicsSummary, stage.steps())


def read_topic_table(stage: StageInfo) -> tuple[TopicTable | None, str]:
    """The topics stage's table, or None and why not."""
    table, why = read_json(storage.join(stage.path, *TOPIC_TABLE.parts))
    if not isinstance(table, dict) or not isinstance(table.get("topics"), list):
        return None, f"{TOPIC_TABLE}: {why or 'no topics list'}"
    return cast(TopicTable, table), ""


def find_tokenizer_report(run: Run) -> tuple[str, TokenizerReport] | None:
    """The tokenizer report (tokenizer.json next to tokenizer.model): the export's
    tokenizer's first (named relative to the manifest), else a train-tokenizer stage's of
    this work dir."""
    candidates: list[str] = []
    model = ((run.manifest or {}).get("tokenizer") or {}).get("path")
    export = run.stage("export")
    if isinstance(model, str) and model.endswith(".model") and export is not None:
        candidates.append(storage.beside(export.path, model[: -len(".model")] + ".json"))
    trained = [s for s in run.trainers if s.kind == TokenizerTrainingStage.name]
    candidates += [storage.join(s.path, f"{MODEL_PREFIX}.json") for s in trained]
    for path in candidates:
        found = storage.stat(path)
        if found is None or found.size > MAX_TOKENIZER_REPORT:
            continue
        report, _ = read_json(path)
        if isinstance(report, dict) and "composition" in report and "vocab_size" in report:
            return path, cast(TokenizerReport, report)
    return None


def display_path(path: str, work: str) -> str:
    """`path` relative to the work directory when it is inside it."""
    prefix = work.rstrip("/") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else path
