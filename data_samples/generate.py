"""Deterministic generator for datapipe's small test fixtures (stdlib, zstandard and PyYAML).

The code is the package ``generator/`` next to this script, and all its text (original and
synthetic, written for this project) is in ``generator/texts/*.yaml``; URLs use reserved
``example`` domains. Running the generator twice writes byte-identical files (fixed seeds, gzip
members with mtime 0 and no file name, record ids and dates derived from the seed, never from
the clock).

Fixtures and what they exercise:

``cc_pages.warc.gz``
    Common Crawl style WARC (one gzip member per record): warcinfo, request/response pairs and
    one metadata record for ~120 pages. English and Simplified Chinese articles on six topics
    (language ID, quality scoring, LDA topics, tokenizer training); near-duplicates and exact
    duplicates at other URLs (MinHash and exact dedup); two sites whose pages repeat a 60+ word
    footer / cookie notice (exact substring dedup); product listings, "buy now" spam, keyword
    stuffed SEO pages and Chinese gambling spam (heuristic filters, ads topic downsampling);
    navigation-heavy and low-quality pages (boilerplate removal, Gopher/C4 style rules). Ingest
    edge cases: GBK/GB2312 pages (one declaring its charset only in ``<meta charset>``), an
    ISO-8859-1 page, a chunked body, a gzip Content-Encoding body, a 301 with an empty body, a
    PNG, a PDF, and an HTML page with no visible text.
``cc_pages.warc.wet.gz``
    WET file: warcinfo then ``conversion`` records (en/zh, near-duplicates, one empty record).
``docs.jsonl``
    Plain ``{"text": ...}`` lines: en/zh mix, exact duplicates, near-duplicates and spam.
``docs_dolma.jsonl.gz``
    Dolma layout (id, text, source, added, created, metadata.url, metadata.warc_url).
``docs_ccnet.jsonl.zst``
    cc_net layout (raw_content, language, perplexity, bucket, ...) compressed with zstandard.
``bad/``
    One broken input per file: a truncated gzip WARC, malformed WARC headers between good
    records, a binary payload claiming text/html, a JSONL with invalid UTF-8 / invalid JSON /
    empty text / missing text, a ~3 MB document, a ``.gz`` that is not gzip, and WARC gzip
    bombs (a record declaring ~200 MiB, and a gzip Content-Encoding body inflating to ~200 MiB).
``_labels.jsonl``
    Ground truth for every document in the well-formed fixtures (kind, language, topic,
    duplicate-of), so stage tests can check what a filter or dedup step should find.
``MANIFEST.json``
    sha256, size and record/document counts of every file above.
"""

import argparse
from collections.abc import Sequence
from pathlib import Path

from generator.output import generate  # the sibling package: run this file as a script

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "generated"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write datapipe's deterministic fixtures.")
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"output directory (default: {DEFAULT_OUTPUT})",
    )
    args = parser.parse_args(argv)
    files = generate(args.output)
    total = sum(int(e["bytes"]) for e in files.values())
    print(f"wrote {len(files) + 1} files ({total:,} bytes) to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
