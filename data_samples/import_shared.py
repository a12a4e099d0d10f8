"""Copy the real samples this repository ships from a `shared/` directory, and derive the
Wikipedia JSONL the default pipeline ingests.

    .venv/bin/python data_samples/import_shared.py --shared ../shared

It copies `samples/` and `reference/` byte for byte (same layout as `shared/`, so tests and
benchmarks read either), then writes `wiki/`: WikiText-2's articles with its tokenization
undone and CMRC 2018's Chinese Wikipedia paragraphs with the script-conversion markup removed
and the cut-off last sentence dropped, one `{"id", "text"}` JSON object per line, so
that ingest reads them like any JSONL corpus. The output is the same for the same input;
data_samples/README.md lists every file's origin and licence.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from stages.score.corpus import cmrc_paragraphs, wikitext_articles

HERE = Path(__file__).resolve().parent
COPIED = ("samples", "reference")
WIKITEXT = ("wikitext2-valid.txt", "wikitext2-test.txt")
CMRC = "cmrc2018_zh_wikipedia.jsonl"


def write_jsonl(path: Path, rows: Iterable[dict[str, str]]) -> int:
    lines = [json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows]
    path.write_text("".join(lines), encoding="utf-8")
    return len(lines)


def english_wikipedia(reference: Path) -> list[dict[str, str]]:
    rows = []
    for name in WIKITEXT:
        for n, article in enumerate(wikitext_articles(reference / name)):
            rows.append({"id": f"{Path(name).stem}-{n:03d}", "text": article})
    return rows


def chinese_wikipedia(reference: Path) -> list[dict[str, str]]:
    return [
        {"id": f"cmrc2018-{n:04d}", "text": text}
        for n, text in enumerate(cmrc_paragraphs(reference / CMRC))
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", required=True, type=Path, help="the shared/ directory")
    args = parser.parse_args(argv)
    for name in COPIED:
        for source in sorted((args.shared / name).rglob("*")):
            if source.is_file():
                target = HERE / name / source.relative_to(args.shared / name)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)  # contents only: shared/ is read-only
    wiki = HERE / "wiki"
    wiki.mkdir(exist_ok=True)
    reference = HERE / "reference"
    written = {
        "enwiki_wikitext2.jsonl": write_jsonl(
            wiki / "enwiki_wikitext2.jsonl", english_wikipedia(reference)
        ),
        "zhwiki_cmrc2018.jsonl": write_jsonl(
            wiki / "zhwiki_cmrc2018.jsonl", chinese_wikipedia(reference)
        ),
    }
    for name, count in written.items():
        print(f"wiki/{name}: {count:,} documents")


if __name__ == "__main__":
    main()
