#!/usr/bin/env python
"""Throughput of two filter steps alone: text normalization and PII anonymization.

On the shared English and Chinese reference text (`reference/wikitext2-valid.txt`, one
document per top-level article, and `reference/cmrc2018_zh_wikipedia.jsonl`, one document per
line), measures on one core, interleaved and repeated:

  normalization: `stages.filter.normalize.normalize_text` on English, Chinese, the English
      with non-ASCII removed (its fast path) and the Chinese turned into mojibake (UTF-8 read
      as Latin-1: the worst case, every line goes to ftfy); next to ftfy's `fix_text` with
      the same configuration on everything
  PII: `stages.filter.pii.PiiAnonymizer().anonymize` (all four kinds) on English and Chinese,
      with the number of replacements

and reports medians in MB/s per core.

    python bench/bench_filter_steps.py [--repeats 5] [--update-docs]
"""

from __future__ import annotations

import argparse
import functools
import re
import statistics
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import ftfy

# common.py sits next to this file (the script's directory is first on sys.path).
from common import (
    MB,
    Timing,
    argument_parser,
    pin_to_one_cpu,
    read_jsonl,
    report_header,
    run_context,
    run_interleaved,
    shared_dir,
    update_docs_section,
)

from stages.filter.normalize import _FTFY_CONFIG, normalize_text
from stages.filter.pii import PiiAnonymizer

_ARTICLE_START = re.compile(r"\n(?= = [^=].* = \n)")  # wikitext: a top-level `= Title =`


@dataclass(frozen=True)
class Texts:
    name: str
    docs: list[str]

    @property
    def size(self) -> int:
        """UTF-8 bytes."""
        return sum(len(doc.encode()) for doc in self.docs)

    def describe(self) -> str:
        return f"{len(self.docs):,} docs, {self.size / MB:.2f} MB"


def load_texts() -> dict[str, Texts]:
    """English, Chinese, English without non-ASCII, Chinese as mojibake."""
    ref = shared_dir() / "reference"
    wikitext = (ref / "wikitext2-valid.txt").read_text(encoding="utf-8")
    english = _ARTICLE_START.split(wikitext)
    chinese = [row["text"] for row in read_jsonl(ref / "cmrc2018_zh_wikipedia.jsonl")]
    return {
        "en": Texts("English (WikiText-2 valid articles)", english),
        "zh": Texts("Chinese (CMRC 2018 zh Wikipedia)", chinese),
        "ascii": Texts(
            "English, non-ASCII removed (fast path)",
            [doc.encode("ascii", "ignore").decode() for doc in english],
        ),
        "mojibake": Texts(
            "Chinese as mojibake (worst case)",
            [doc.encode().decode("latin-1") for doc in chinese],
        ),
    }


NORMALIZE_TEXTS = ("en", "zh", "ascii", "mojibake")
PII_TEXTS = ("en", "zh")


def apply_to_all(func: Callable[[str], object], docs: list[str]) -> None:
    for doc in docs:
        func(doc)


def count_pii(anonymizer: PiiAnonymizer, docs: list[str]) -> Counter[str]:
    """Replacements by kind over all documents."""
    found: Counter[str] = Counter()
    for doc in docs:
        found.update(anonymizer.anonymize(doc)[1])
    return found


def make_jobs(texts: dict[str, Texts]) -> dict[str, Callable[[], object]]:
    ftfy_everything = functools.partial(ftfy.fix_text, config=_FTFY_CONFIG)
    anonymizer = PiiAnonymizer()
    jobs: dict[str, Callable[[], object]] = {}
    for key in NORMALIZE_TEXTS:
        docs = texts[key].docs
        jobs[f"normalize:{key}"] = functools.partial(apply_to_all, normalize_text, docs)
        jobs[f"ftfy:{key}"] = functools.partial(apply_to_all, ftfy_everything, docs)
    for key in PII_TEXTS:
        jobs[f"pii:{key}"] = functools.partial(count_pii, anonymizer, texts[key].docs)
    return jobs


# --- report ---------------------------------------------------------------------------------


def _mb_per_s(texts: Texts, t: Timing) -> float:
    return texts.size / MB / t.median


def normalize_table(texts: dict[str, Texts], timings: dict[str, Timing]) -> str:
    lines = [
        "| text | docs, size | `normalize_text` MB/s | CPU s | spread | ftfy on everything "
        "MB/s | spread | speed-up |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key in NORMALIZE_TEXTS:
        ours, ftfy_all = timings[f"normalize:{key}"], timings[f"ftfy:{key}"]
        lines.append(
            f"| {texts[key].name} | {texts[key].describe()} | {_mb_per_s(texts[key], ours):.0f} "
            f"| {statistics.median(ours.cpu):.3f} | {ours.spread:.0%} "
            f"| {_mb_per_s(texts[key], ftfy_all):.1f} | {ftfy_all.spread:.0%} "
            f"| {ftfy_all.median / ours.median:.1f}× |"
        )
    return "\n".join(lines)


def pii_table(texts: dict[str, Texts], timings: dict[str, Timing], found: dict) -> str:
    lines = [
        "| text | docs, size | `anonymize` MB/s | median s | CPU s | spread | replacements |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for key in PII_TEXTS:
        t = timings[f"pii:{key}"]
        kinds = ", ".join(f"{kind} {n}" for kind, n in found[key].most_common()) or "none"
        lines.append(
            f"| {texts[key].name} | {texts[key].describe()} | {_mb_per_s(texts[key], t):.0f} "
            f"| {t.median:.3f} | {statistics.median(t.cpu):.3f} | {t.spread:.0%} | {kinds} |"
        )
    return "\n".join(lines)


def report(
    texts: dict[str, Texts],
    timings: dict[str, Timing],
    found: dict[str, Counter[str]],
    context: dict[str, str],
) -> str:
    return f"""\
{report_header(context)}
- Text: `reference/wikitext2-valid.txt` split before each top-level `= Title =` line (one
  document per article, raw WikiText tokens) and the `text` of every line of
  `reference/cmrc2018_zh_wikipedia.jsonl`, as they are; MB = 10^6 bytes of UTF-8 text.
- Method: {context["repeats"]} repetitions of every measurement, all interleaved (order rotated
  each repetition), one process on one core; medians of wall time, CPU s = median process CPU
  time, spread = (max − min) / median; speed-up = ftfy's median time / ours.

Normalization (`stages.filter.normalize`; ftfy with the same `TextFixerConfig` on every
document is what the module avoids):

{normalize_table(texts, timings)}

PII anonymization (`stages.filter.pii`, all four kinds):

{pii_table(texts, timings, found)}
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return argument_parser(__doc__, repeats=5).parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pinning = pin_to_one_cpu(args.cpu)
    texts = load_texts()
    anonymizer = PiiAnonymizer()
    found = {key: count_pii(anonymizer, texts[key].docs) for key in PII_TEXTS}  # + warm-up
    normalize_text("warm-up\u00e9")
    timings = run_interleaved(make_jobs(texts), args.repeats)
    context = run_context(pinning, ("ftfy",), args.repeats)
    text = report(texts, timings, found, context)
    print(text)
    if args.update_docs:
        title = "## Filter steps: normalization and PII (`bench/bench_filter_steps.py`)\n\n"
        update_docs_section("bench_filter_steps", title + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
