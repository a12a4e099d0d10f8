"""Per-file, per-reason table of the filter stage on the real samples in ../shared.

    python bench/filter_report.py [--update-docs]

Ingests ../shared/samples and the reference text, runs the filter stage with its default
config, and prints (or writes into docs/filters.md between the `filter_report` markers) how
many documents of each file were kept and why the others were rejected.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

# common.py sits next to this file (the script's directory is first on sys.path).
from common import REPO, shared_dir, update_docs_section

sys.path.insert(0, str(REPO))

from stages.filter.stage import FilterConfig, FilterStage
from stages.ingest.stage import IngestConfig, IngestStage
from stages.score.corpus import cmrc_paragraphs, wikitext_articles

DOC = REPO / "docs" / "filters.md"
SECTION = "filter_report"


def sources() -> dict[str, list[tuple[str, str | None]]]:
    shared = shared_dir()
    ingest = IngestStage(IngestConfig())
    docs: dict[str, list[tuple[str, str | None]]] = {}
    for path in ingest.list_inputs([str(shared / "samples")]):
        rows = []
        for out in ingest.read_file(path):
            rows += zip(
                out.kept.column("text").to_pylist(), out.kept.column("url").to_pylist(), strict=True
            )
        docs[Path(path).name] = rows
    ref = shared / "reference"
    wiki = wikitext_articles(ref / "wikitext2-valid.txt") + wikitext_articles(
        ref / "wikitext2-test.txt"
    )
    docs["reference: WikiText-2 articles (en)"] = [(t, None) for t in wiki]
    cmrc = cmrc_paragraphs(ref / "cmrc2018_zh_wikipedia.jsonl")
    docs["reference: CMRC 2018 paragraphs (zh)"] = [(t, None) for t in cmrc]
    return docs


def table() -> str:
    stage = FilterStage(FilterConfig())
    lines = [
        "| input | docs | kept | main rejection reasons |",
        "|---|---:|---:|---|",
    ]
    for name, docs in sources().items():
        reasons: Counter[str] = Counter()
        langs: defaultdict[str, int] = defaultdict(int)
        for text, url in docs:
            outcome = stage.judge(text, url)
            if outcome.rejection:
                reasons[outcome.rejection.reason] += 1
            langs[outcome.lang or "-"] += 1
        kept = len(docs) - sum(reasons.values())
        share = f"{kept} ({kept / len(docs):.0%})" if docs else "0"
        top = ", ".join(f"`{r}` {n}" for r, n in reasons.most_common(6))
        lines.append(f"| {name} | {len(docs)} | {share} | {top} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update-docs", action="store_true", help="rewrite docs/filters.md")
    args = parser.parse_args()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    body = (
        f"Measured {stamp} with `python bench/filter_report.py --update-docs` "
        f"(default config; ingest defaults first).\n\n{table()}"
    )
    print(f"<!-- {SECTION}:start -->\n{body}\n<!-- {SECTION}:end -->")
    if args.update_docs:
        update_docs_section(SECTION, body, DOC)


if __name__ == "__main__":
    main()
