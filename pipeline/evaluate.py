"""`datapipe evaluate WORK_DIR --labels FILE`: a run's decisions against a reader's labels.

The labels (docs/rubric.md) say of each page: keep or drop, a category and an educational grade.
The run says of each document that entered a stage: kept, or rejected with a reason, and the
score columns the stages wrote. A labelled page is found in the run by the `id` its input JSONL
gave it (ingest keeps it in `meta`) or by its document id.

Reported, for all labelled pages found and per language:
- the cascade of the stages that judge quality (filter, score, topics): how much of what readers
  keep it keeps, how much of what they drop it drops, and how often its drops are right;
- the same for each stage and each rule family (a reason's prefix: `gopher_quality`, `c4`...);
  a family's recall is the share of the drop-labelled pages reaching its stage that it drops;
- with the filter in annotate mode (`annotate: true`), what each rule family would drop if it
  ran alone, ranked by precision;
- the ROC AUC of each score column for keep vs drop and for edu >= 2 (higher = better: the
  columns where lower is better are negated);
- by category: how many pages, how many kept, which stage removed the rest.
Dedup stages (minhash, substring) remove copies, not bad pages: their removals are counted apart
and such pages leave the later figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from core import storage
from core.labels import CATEGORIES, SPLITS, Label, LabelError, read_labels
from core.schema import DOCUMENT_SCHEMA
from core.shards import atomic_write_json, read_shard, shard_locations
from core.stagedir import REJECTED_DIR
from pipeline.report.run import EVALUATION_FILE, StageInfo, discover_stages

QUALITY_STAGES = ("filter", "score", "topics")
DEDUP_STAGES = ("minhash", "substring")
LOWER_IS_BETTER = frozenset({"perplexity", "safety_score", "safety_model_score"})
_NOT_SCORES = frozenset({"input_offset", "minhash_cluster", "topic"})
ANNOTATIONS = "filter_rejections"  # the filter's annotate mode: every rule's verdict


@dataclass
class Fate:
    """What the run did with one labelled page."""

    stage: str | None = None  # the stage that rejected it (None: kept by every stage)
    reason: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    reached: list[str] = field(default_factory=list)  # stages it entered, in order
    # Annotate mode: every rule that would reject it ("stage:rule family"), first or not.
    would_reject: set[str] = field(default_factory=set)


def _score_columns(schema: pa.Schema) -> list[str]:
    known = set(DOCUMENT_SCHEMA.names) | _NOT_SCORES
    return [
        f.name
        for f in schema
        if f.name not in known and (pa.types.is_floating(f.type) or pa.types.is_integer(f.type))
    ]


_Row = tuple[str, str | None, dict[str, float], str | None, list[str]]


def _rows(stage: StageInfo) -> list[_Row]:
    """(document id, native id, scores, rejection reason or None, reasons it would be
    rejected for in annotate mode) of every row of a stage."""
    rows = []
    for rejected, directory in (
        (False, stage.path),
        (True, storage.join(stage.path, REJECTED_DIR)),
    ):
        for shard in shard_locations(directory):
            for batch in read_shard(shard):
                scores = _score_columns(batch.schema)
                wanted = ["id", "meta", *scores, "reason", ANNOTATIONS]
                names = [n for n in wanted if n in batch.schema.names]
                columns = {n: batch.column(n).to_pylist() for n in names}
                metas = columns.get("meta") or [None] * batch.num_rows
                tags = columns.get(ANNOTATIONS) or [[]] * batch.num_rows
                for i, doc_id in enumerate(columns["id"]):
                    meta = metas[i]
                    native = json.loads(meta).get("id") if meta else None
                    values = {s: columns[s][i] for s in scores if columns[s][i] is not None}
                    reason = columns["reason"][i] if rejected else None
                    would = [tag["reason"] for tag in tags[i] or []]
                    native_id = None if native is None else str(native)
                    rows.append((doc_id, native_id, values, reason, would))
    return rows


def collect_fates(work_dir: str, labels: dict[str, Label]) -> tuple[dict[str, Fate], list[str]]:
    """Each labelled page's fate in the run, and the document stages in order."""
    stages = [
        s
        for s in discover_stages(storage.absolute(work_dir))
        if s.stats and not (s.trains or s.leftover)
    ]
    stages = [s for s in stages if s.kind not in ("ingest", "export", "train-tokenizer")]
    fates: dict[str, Fate] = {}
    for stage in stages:
        for doc_id, native, scores, reason, would in _rows(stage):
            key = native if native in labels else doc_id if doc_id in labels else None
            if key is None:
                continue
            fate = fates.setdefault(key, Fate())
            fate.reached.append(stage.kind)
            fate.scores.update(scores)
            if stage.kind == "filter":  # later stages carry its column along
                fate.would_reject.update(f"filter:{r.split(':')[0]}" for r in would)
            if reason is not None and fate.stage is None:
                fate.stage, fate.reason = stage.kind, reason
    return fates, [s.kind for s in stages]


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """Probability that a random positive scores above a random negative (ties count half)."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)
    average_rank = (upper - (counts - 1) / 2)[inverse]  # 1-based ranks, ties averaged
    u = average_rank[positive].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def _rates(keep: list[bool], kept: list[bool]) -> dict[str, Any]:
    """keep_kept: share of keep-labelled pages kept; drop_dropped: share of drop-labelled
    pages dropped (recall of drops); drop_precision: share of drops labelled drop."""
    pairs = list(zip(keep, kept, strict=True))
    labelled_keep = [k for label, k in pairs if label]
    labelled_drop = [not k for label, k in pairs if not label]
    dropped = [not label for label, k in pairs if not k]
    return {
        "pages": len(pairs),
        "labelled_keep": len(labelled_keep),
        "labelled_drop": len(labelled_drop),
        "dropped": len(dropped),
        "keep_kept": _share(labelled_keep),
        "drop_dropped": _share(labelled_drop),
        "drop_precision": _share(dropped),
    }


def _share(values: list[bool]) -> float | None:
    return sum(values) / len(values) if values else None


def evaluate(work_dir: str, labels: dict[str, Label]) -> dict[str, Any]:
    fates, stages = collect_fates(work_dir, labels)
    found = {key: labels[key] for key in fates}
    report: dict[str, Any] = {
        "labels": len(labels),
        "found": len(found),
        "stages": stages,
        "languages": {},
    }
    for lang in ("all", "en", "zh"):
        subset = {k: v for k, v in found.items() if lang == "all" or v.lang == lang}
        if subset:
            report["languages"][lang] = _evaluate_subset(subset, fates, stages)
    return report


def _evaluate_subset(
    labels: dict[str, Label], fates: dict[str, Fate], stages: list[str]
) -> dict[str, Any]:
    dedup = {k for k in labels if fates[k].stage in DEDUP_STAGES}
    judged = [k for k in labels if k not in dedup]

    def quality_kept(key: str) -> bool:
        return fates[key].stage not in QUALITY_STAGES

    result: dict[str, Any] = {
        "removed_as_duplicates": len(dedup),
        "cascade": _rates([labels[k].keep for k in judged], [quality_kept(k) for k in judged]),
        "stages": {},
        "rule_families": {},
        "rules_alone": _rules_alone(labels, fates),
        "auc": _aucs(labels, fates),
        "categories": _categories(labels, fates),
    }
    for stage in stages:
        reached = [k for k in labels if stage in fates[k].reached]
        kept = [fates[k].stage != stage for k in reached]
        result["stages"][stage] = _rates([labels[k].keep for k in reached], kept)
        families: dict[str, list[str]] = defaultdict(list)
        for k in reached:
            if fates[k].stage == stage and fates[k].reason:
                families[fates[k].reason.split(":")[0]].append(k)
        drops_reaching = sum(not labels[k].keep for k in reached)
        for family, keys in sorted(families.items()):
            right = sum(not labels[k].keep for k in keys)
            result["rule_families"][f"{stage}:{family}"] = {
                "dropped": len(keys),
                "precision": right / len(keys),
                "recall": right / drops_reaching if drops_reaching else None,
            }
    return result


def _rules_alone(labels: dict[str, Label], fates: dict[str, Fate]) -> dict[str, dict[str, Any]]:
    """From annotate mode's columns: what each rule family would drop if it ran alone."""
    tagged = [k for k in labels if fates[k].would_reject or "filter" in fates[k].reached]
    families = sorted({family for k in tagged for family in fates[k].would_reject})
    drops = sum(not labels[k].keep for k in tagged)
    alone = {}
    for family in families:
        keys = [k for k in tagged if family in fates[k].would_reject]
        right = sum(not labels[k].keep for k in keys)
        alone[family] = {
            "dropped": len(keys),
            "precision": right / len(keys),
            "recall": right / drops if drops else None,
        }
    return dict(sorted(alone.items(), key=lambda item: -item[1]["precision"]))


def _aucs(labels: dict[str, Label], fates: dict[str, Fate]) -> dict[str, dict[str, Any]]:
    columns = sorted({c for k in labels for c in fates[k].scores})
    aucs = {}
    for column in columns:
        keys = [k for k in labels if column in fates[k].scores]
        sign = -1.0 if column in LOWER_IS_BETTER else 1.0
        values = sign * np.array([fates[k].scores[column] for k in keys], dtype=np.float64)
        keep = np.array([labels[k].keep for k in keys])
        edu = np.array([labels[k].edu >= 2 for k in keys])
        aucs[column] = {
            "pages": len(keys),
            "keep_auc": roc_auc(values, keep),
            "edu2_auc": roc_auc(values, edu),
            "lower_is_better": sign < 0,
        }
    return aucs


def _categories(labels: dict[str, Label], fates: dict[str, Fate]) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for category in CATEGORIES:
        keys = [k for k in labels if labels[k].category == category]
        if not keys:
            continue
        removed_by = Counter(fates[k].stage for k in keys if fates[k].stage)
        rows[category] = {
            "pages": len(keys),
            "labelled_keep": sum(labels[k].keep for k in keys),
            "kept": sum(fates[k].stage is None for k in keys),
            "removed_by": dict(sorted(removed_by.items())),
        }
    return rows


def _pct(value: float | None) -> str:
    return "   -" if value is None else f"{100 * value:3.0f}%"


def format_evaluation(report: dict[str, Any]) -> str:
    lines = [f"{report['found']} of {report['labels']} labelled pages found in the run"]
    for lang, result in report["languages"].items():
        lines += ["", f"== {lang} ==", _rates_header()]
        lines.append(_rates_line("cascade (" + "+".join(QUALITY_STAGES) + ")", result["cascade"]))
        for stage, rates in result["stages"].items():
            lines.append(_rates_line(f"  {stage}", rates))
        if result["removed_as_duplicates"]:
            lines.append(f"  ({result['removed_as_duplicates']} removed as duplicates, left out)")
        lines += ["", f"{'rule family':<36} {'dropped':>7} {'precision':>9} {'recall':>6}"]
        for family, row in result["rule_families"].items():
            lines.append(
                f"{family:<36} {row['dropped']:>7} {_pct(row['precision']):>9} "
                f"{_pct(row['recall']):>6}"
            )
        if result["rules_alone"]:
            lines += [
                "",
                f"{'rule family alone (annotate)':<36} {'would drop':>10} "
                f"{'precision':>9} {'recall':>6}",
            ]
            for family, row in result["rules_alone"].items():
                lines.append(
                    f"{family:<36} {row['dropped']:>10} {_pct(row['precision']):>9} "
                    f"{_pct(row['recall']):>6}"
                )
        lines += ["", f"{'score column':<24} {'pages':>5} {'AUC keep':>8} {'AUC edu>=2':>10}"]
        for column, row in result["auc"].items():
            keep, edu = row["keep_auc"], row["edu2_auc"]
            shown = [f"{v:.3f}" if v is not None else "-" for v in (keep, edu)]
            lines.append(f"{column:<24} {row['pages']:>5} {shown[0]:>8} {shown[1]:>10}")
        lines += ["", f"{'category':<16} {'pages':>5} {'keep':>5} {'kept':>5}  removed by"]
        for category, row in result["categories"].items():
            removed = ", ".join(f"{s} {n}" for s, n in row["removed_by"].items())
            lines.append(
                f"{category:<16} {row['pages']:>5} {row['labelled_keep']:>5} {row['kept']:>5}"
                f"  {removed}"
            )
    return "\n".join(lines)


def _rates_header() -> str:
    return (
        f"{'':<32} {'pages':>5} {'keep':>5} {'drop':>5} {'keeps keep':>10} "
        f"{'drops drop':>10} {'drop precision':>14}"
    )


def _rates_line(name: str, r: dict[str, Any]) -> str:
    return (
        f"{name:<32} {r['pages']:>5} {r['labelled_keep']:>5} {r['labelled_drop']:>5} "
        f"{_pct(r['keep_kept']):>10} {_pct(r['drop_dropped']):>10} {_pct(r['drop_precision']):>14}"
    )


def add_evaluate_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "evaluate",
        help="measure a run's keep/drop decisions and scores against labelled pages",
        description="Precision and recall of the run's decisions (cascade, stage, rule family), "
        "ROC AUC of each score column and decisions by category, against a labels file "
        "(docs/rubric.md). Writes WORK_DIR/evaluation.json, which the HTML report shows.",
    )
    parser.add_argument("work_dir", metavar="WORK_DIR", help="the pipeline's work_dir")
    parser.add_argument(
        "--labels", type=Path, required=True, metavar="FILE", help="labels, JSON lines"
    )
    parser.add_argument(
        "--split", choices=SPLITS, help="only the labels of this split (default: all)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        labels = read_labels(args.labels, args.split)
    except (OSError, LabelError, json.JSONDecodeError, KeyError) as err:
        print(f"datapipe evaluate: cannot read labels: {err}", file=sys.stderr)
        return 2
    if not storage.is_dir(args.work_dir):
        print(f"datapipe evaluate: {args.work_dir} is not a work directory", file=sys.stderr)
        return 2
    report = evaluate(args.work_dir, labels)
    report["split"] = args.split or "all"
    if report["found"] == 0:
        print(
            f"datapipe evaluate: none of the {len(labels)} labelled pages is in "
            f"{args.work_dir}: run the pipeline on the labelled pages first",
            file=sys.stderr,
        )
        return 1
    atomic_write_json(storage.join(args.work_dir, EVALUATION_FILE), report)
    print(json.dumps(report, indent=2) if args.json else format_evaluation(report))
    return 0
