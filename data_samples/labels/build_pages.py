"""Build pages.jsonl.gz, the pages of the labelled evaluation set (docs/rubric.md).

English and Chinese pages are drawn, with a fixed seed, from the text our ingest extracts from
the bundled samples (WARC HTML through resiliparse, WET, dolma, cc_net, C4 and OSCAR JSONL):

    datapipe ingest --input data_samples/samples --output INGEST_DIR --extractor resiliparse \\
        --source cc --executor local
    python data_samples/labels/build_pages.py --ingest INGEST_DIR --extra zh_pages.jsonl ...
    python data_samples/labels/build_pages.py --merge-labels LABELLED.jsonl ...

`--extra` adds Chinese pages gathered from other public sources (README.md beside it says which),
already as text (the samples hold only a few dozen Chinese web pages). The language of a
page is what lid.176 says of its text; the labels say what a reader says (docs/rubric.md).
Each page's `id` is stable: the sample file's short name and the record's offset in it.
`--merge-labels` writes labels.jsonl from the readers' label files,
checked against the pages and with each page's split: `test` for a third of the ids, chosen
by a hash of the id (never by looking at the pages), `tune` for the others.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import re
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.shards import list_shards, read_table
from stages.filter.langid import identify_many

SEED = 19
PER_LANGUAGE = 420  # pages of each language, at most
MAX_CHARS = 20_000  # a longer page is cut at the last paragraph break before this


def _short(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower().split(".")[0]).strip("-")


def _cut(text: str) -> str:
    if len(text) <= MAX_CHARS:
        return text
    head = text[:MAX_CHARS]
    return head[: head.rfind("\n")] if "\n" in head else head


def ingested_pages(ingest_dir: Path) -> dict[str, list[dict]]:
    """The ingested documents in English and Chinese, by language."""
    table = read_table(list_shards(ingest_dir))
    rows = table.select(["text", "url", "input_file", "input_offset"]).to_pylist()
    langs = identify_many([row["text"] for row in rows])
    by_lang: dict[str, list[dict]] = defaultdict(list)
    for row, (lang, _) in zip(rows, langs, strict=True):
        if lang not in ("en", "zh"):
            continue
        name = Path(row["input_file"]).name
        by_lang[lang].append(
            {
                "id": f"{_short(name)}-{row['input_offset']}",
                "text": _cut(row["text"]),
                "url": row["url"],
                "origin": f"data_samples/samples: {name} (text extracted by datapipe ingest)",
            }
        )
    return by_lang


def extra_pages(path: Path) -> dict[str, list[dict]]:
    by_lang: dict[str, list[dict]] = defaultdict(list)
    lines = path.read_text(encoding="utf-8").splitlines()
    pages = [json.loads(line) for line in lines if line.strip()]
    langs = identify_many([page["text"] for page in pages])
    for page, (lang, _) in zip(pages, langs, strict=True):
        if lang == "zh":
            origin = f"{page['source']} ({page['licence']})"
            text, url = _cut(page["text"]), page.get("url")
            by_lang[lang].append({"id": page["id"], "text": text, "url": url, "origin": origin})
    return by_lang


def split_of(page_id: str) -> str:
    digest = hashlib.blake2b(page_id.encode("utf-8"), digest_size=8).digest()
    return "test" if int.from_bytes(digest, "big") % 3 == 0 else "tune"


def merge_labels(label_files: list[Path], pages_path: Path, output: Path) -> None:
    with gzip.open(pages_path, "rt", encoding="utf-8") as lines:
        page_ids = [json.loads(line)["id"] for line in lines]
    labelled = {}
    for path in label_files:
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row["id"] in labelled:
                raise SystemExit(f"{row['id']} is labelled twice")
            labelled[row["id"]] = row
    missing = [page for page in page_ids if page not in labelled]
    unknown = sorted(set(labelled) - set(page_ids))
    if missing or unknown:
        raise SystemExit(f"pages without a label: {missing[:5]}; labels of no page: {unknown[:5]}")
    keys = ("id", "lang", "category", "keep", "edu", "split", "note")
    with output.open("w", encoding="utf-8") as out:
        for page in page_ids:
            row = {**labelled[page], "split": split_of(page)}
            out.write(json.dumps({k: row.get(k, "") for k in keys}, ensure_ascii=False) + "\n")
    print(f"{len(page_ids)} labels -> {output}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ingest", type=Path)
    parser.add_argument("--extra", type=Path, nargs="*", default=[])
    parser.add_argument("--merge-labels", type=Path, nargs="*", default=[])
    here = Path(__file__).parent
    parser.add_argument("--output", type=Path, default=here / "pages.jsonl.gz")
    args = parser.parse_args()
    if args.merge_labels:
        merge_labels(args.merge_labels, args.output, here / "labels.jsonl")
        return
    if args.ingest is None:
        parser.error("--ingest is required to build the pages")
    pools = ingested_pages(args.ingest)
    for path in args.extra:
        for lang, pages in extra_pages(path).items():
            pools[lang] += pages
    rng = random.Random(SEED)  # noqa: S311 (a sample, not a secret)
    chosen = []
    for lang in ("en", "zh"):
        pool = sorted(pools[lang], key=lambda page: page["id"])
        chosen += rng.sample(pool, min(PER_LANGUAGE, len(pool)))
    chosen.sort(key=lambda page: page["id"])
    lines = "".join(json.dumps(page, ensure_ascii=False, sort_keys=True) + "\n" for page in chosen)
    with args.output.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
        out.write(lines.encode("utf-8"))  # mtime 0: the same pages, the same bytes
    print(f"{len(chosen)} pages -> {args.output}")


if __name__ == "__main__":
    main()
