"""Every stage's decisions in a work directory, recorded and compared: the safety net of
performance work (issue #17), which must not change what any stage keeps, rejects or scores.

    python bench/decisions.py record work --output before.json
    ... change the code, rerun the same pipeline ...
    python bench/decisions.py record work --output after.json
    python bench/decisions.py compare before.json after.json   # exit 1 naming each difference

For each document stage: the ids it kept, each rejected id with its reason, and per kept
document the score columns it added (floats compared to 1e-6) and the SHA-256 of its text
(edited text, e.g. by the filter's line rules or substring removal, must stay the same).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path
from typing import Any

from core.shards import list_shards, read_shard

SCORE_COLUMNS = (
    "lang",
    "lang_score",
    "quality_score",
    "perplexity",
    "perplexity_bucket",
    "coherence_score",
    "safety_score",
    "safety_model_score",
    "topic",
    "topic_probability",
)
TOLERANCE = 1e-6


def stage_decisions(stage_dir: Path) -> dict[str, Any]:
    kept: dict[str, dict[str, Any]] = {}
    for shard in list_shards(stage_dir):
        for batch in read_shard(shard):
            columns = [c for c in SCORE_COLUMNS if c in batch.schema.names]
            rows = batch.select(["id", "text", *columns]).to_pylist()
            for row in rows:
                text = row.pop("text")
                row["text_sha256"] = hashlib.sha256(text.encode()).hexdigest()
                kept[row.pop("id")] = row
    rejected: dict[str, str] = {}
    for shard in list_shards(stage_dir / "rejected"):
        for batch in read_shard(shard):
            ids, reasons = batch.column("id").to_pylist(), batch.column("reason").to_pylist()
            rejected.update(zip(ids, reasons, strict=True))
    return {"kept": kept, "rejected": rejected}


def record(work: Path) -> dict[str, Any]:
    """Decisions of every stage directory of `work` that wrote documents."""
    return {
        path.name: stage_decisions(path)
        for path in sorted(work.iterdir())
        if (path / "_SUCCESS").exists() and (list_shards(path) or list_shards(path / "rejected"))
    }


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE)
    return a == b


def compare(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """One line per difference: a stage, a document, what changed."""
    problems = [f"stage {s} only before" for s in before.keys() - after.keys()]
    problems += [f"stage {s} only after" for s in after.keys() - before.keys()]
    for stage in sorted(before.keys() & after.keys()):
        old, new = before[stage], after[stage]
        for which in ("kept", "rejected"):
            for doc in sorted(old[which].keys() ^ new[which].keys()):
                side = "before" if doc in old[which] else "after"
                problems.append(f"{stage}: {doc} {which} only {side}")
        for doc in sorted(old["rejected"].keys() & new["rejected"].keys()):
            if old["rejected"][doc] != new["rejected"][doc]:
                problems.append(
                    f"{stage}: {doc} rejected for {old['rejected'][doc]} before, "
                    f"{new['rejected'][doc]} after"
                )
        for doc in sorted(old["kept"].keys() & new["kept"].keys()):
            changed = [
                field
                for field, value in old["kept"][doc].items()
                if not _same(value, new["kept"][doc].get(field))
            ]
            problems += [f"{stage}: {doc} {field} differs" for field in changed]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="write the decisions of a work directory")
    rec.add_argument("work", type=Path)
    rec.add_argument("--output", type=Path, required=True)
    cmp = sub.add_parser("compare", help="exit 1 naming every difference")
    cmp.add_argument("before", type=Path)
    cmp.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    if args.command == "record":
        decisions = record(args.work)
        args.output.write_text(json.dumps(decisions, sort_keys=True))
        counts = ", ".join(
            f"{s} {len(d['kept']):,}/{len(d['rejected']):,}" for s, d in decisions.items()
        )
        print(f"{args.output}: kept/rejected per stage: {counts}")
        return 0
    problems = compare(json.loads(args.before.read_text()), json.loads(args.after.read_text()))
    for line in problems[:200]:
        print(line, file=sys.stderr)
    print(f"{len(problems)} differences" if problems else "identical decisions")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
