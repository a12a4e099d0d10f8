#!/usr/bin/env python
"""Score stage throughput against the filter stage, per core, English and Chinese.

Builds a ~7 MB corpus of real English and Chinese documents from the shared samples (repeated
to size), sets each row's `lang` with lid.176 as the filter stage does, then measures on one
core, interleaved and repeated, on the same record batches:

  (a)  FilterStage(FilterConfig()).process_batch: the reference
  (b)  ScoreStage.process_batch with every scorer (quality classifier, perplexity, coherence,
       safety) and the thresholds of configs/default.yaml
  (b1)-(b4) ScoreStage with one scorer enabled: where the time of (b) goes
  (b0) ScoreStage with no scorer: the stage's own Arrow and rejection work
  (t)  one `tokenize(text, lang)` per document: the work every scorer repeats on its own

and reports docs/s and MB/s per core by language and overall, the throughput ratio (b)/(a)
with PASS/FAIL against the target (scoring at least as fast as filtering), and the per-scorer
breakdown. The score models come from `make pipeline` (its train-quality and
train-perplexity stages, in work/).

    python bench/bench_score.py [--repeats 7] [--target-mb 7] [--update-docs] [--profile]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# common.py and bench_filter.py sit next to this file (the script's directory is first on
# sys.path).
from bench_filter import ENGLISH_MIN_SCORE
from bench_filter import SOURCES as FILTER_SOURCES
from common import (
    MB,
    REPO,
    Timing,
    argument_parser,
    count_outcomes,
    iter_html_responses,
    paired_ratio,
    pass_fail,
    pin_to_one_cpu,
    profile_text,
    read_jsonl,
    record_batches,
    report_header,
    run_context,
    run_interleaved_keeping_results,
    shared_dir,
    update_docs_section,
)

from stages.filter.langid import identify
from stages.filter.stage import FilterConfig, FilterStage
from stages.ingest.html import decode_html, extract_text
from stages.score.perplexity import load_model
from stages.score.stage import ScoreConfig, ScoreStage
from stages.score.train import QUALITY_MODEL, perplexity_model_file
from stages.text import tokenize

SPEED_TARGET = 1.0  # (b) must process at least as many documents per second as (a)
CHINESE_MIN_SCORE = 0.5  # FilterConfig's default threshold for zh
MIN_SCORE = {"en": ENGLISH_MIN_SCORE, "zh": CHINESE_MIN_SCORE}
LANGS = tuple(MIN_SCORE)
LANG_NAMES = {"en": "English", "zh": "Chinese"}
MODELS_DIR = REPO / "work"  # the default pipeline's work dir
# The score stage's settings in configs/default.yaml (the pipeline `make pipeline` runs).
THRESHOLDS: dict[str, dict[str, float]] = {
    "quality_score": {"min_web_percentile": 90},
    "safety_score": {"max": 3.0},
}
DROP_BUCKETS = ("tail",)
SCORERS = ("quality", "perplexity", "coherence", "safety")
SCORER_COLUMNS = {
    "quality": ("quality_score",),
    "perplexity": ("perplexity", "perplexity_bucket"),
    "coherence": ("coherence_score",),
    "safety": ("safety_score",),
}
SCORE_COLUMNS = tuple(c for cols in SCORER_COLUMNS.values() for c in cols)


# --- corpus ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    rel: str  # path under the shared directory
    label: str
    langs: tuple[str, ...]  # languages taken from this file
    read: Callable[[Path], Iterator[tuple[int, str, str | None]]]  # (offset, text, url)


def _jsonl(url_of: Callable[[dict], str | None]) -> Callable[[Path], Iterator]:
    def read(path: Path) -> Iterator[tuple[int, str, str | None]]:
        for offset, row in enumerate(read_jsonl(path)):
            yield offset, row.get("text") or "", url_of(row)

    return read


def _warc_pages(path: Path) -> Iterator[tuple[int, str, str | None]]:
    """HTML responses extracted as the ingest stage does (resiliparse, main content)."""
    for offset, resp in enumerate(iter_html_responses(path)):
        html, _ = decode_html(resp.body, resp.content_type)
        yield offset, extract_text(html, "resiliparse", main_content=True), resp.url


SOURCES: tuple[Source, ...] = (
    # bench_filter.py's English documents; the dolma shard also has Chinese pages.
    *(
        Source(rel, label, ("en", "zh") if "dolma" in rel else ("en",), _jsonl(url_of))
        for rel, label, url_of in FILTER_SOURCES
    ),
    Source(
        "reference/cmrc2018_zh_wikipedia.jsonl",
        "CMRC 2018 (Chinese Wikipedia paragraphs)",
        ("zh",),
        _jsonl(lambda _: None),
    ),
    Source(
        "samples/cc/oscar2019_multilingual.jsonl", "OSCAR 2019", ("zh",), _jsonl(lambda _: None)
    ),
    Source(
        "samples/cc/resiliparse_CC-MAIN-2020-34_00395.warc.gz",
        "CC-MAIN-2020-34 WARC (HTML, resiliparse)",
        ("zh",),
        _warc_pages,
    ),
)


@dataclass(frozen=True)
class Doc:
    id: str
    text: str
    url: str | None
    lang: str
    source: str  # shared file name
    offset: int  # line (JSONL) or HTML response (WARC) number in the shared file


@dataclass
class Corpus:
    originals: list[Doc]
    copies: int
    selection: list[tuple[str, int, Counter[str]]]  # (source label, read, kept by language)

    def unique(self, lang: str | None = None) -> list[Doc]:
        return [d for d in self.originals if lang is None or d.lang == lang]

    def docs(self, lang: str) -> list[Doc]:
        return [
            Doc(f"{d.id}#{copy}", d.text, d.url, d.lang, d.source, d.offset)
            for copy in range(self.copies)
            for d in self.unique(lang)
        ]

    def count(self, lang: str | None = None) -> int:
        return len(self.unique(lang)) * self.copies

    def text_bytes(self, lang: str | None = None) -> int:
        return sum(len(d.text.encode()) for d in self.unique(lang)) * self.copies

    def describe(self) -> str:
        per_source = "; ".join(
            f"{label}: "
            + ", ".join(f"{kept[lang]:,} {lang}" for lang in LANGS if kept[lang])
            + f" of {read:,}"
            for label, read, kept in self.selection
        )
        per_lang = ", ".join(
            f"{LANG_NAMES[lang]} {len(self.unique(lang)):,} "
            f"({self.text_bytes(lang) / self.copies / MB:.2f} MB)"
            for lang in LANGS
        )
        return (
            f"{len(self.originals):,} real documents from the shared samples ({per_lang}; by "
            f"file: {per_source}), repeated {self.copies} times in order = "
            f"{self.count():,} documents, {self.text_bytes() / MB:.1f} MB of UTF-8 text"
        )


def build_corpus(target_mb: float) -> Corpus:
    """English (lid.176 `en`, p >= 0.65) and Chinese (`zh`, p >= 0.5) documents, repeated."""
    root = shared_dir()
    originals: list[Doc] = []
    selection = []
    for source in SOURCES:
        path = root / source.rel
        read, kept = 0, Counter[str]()
        for offset, text, url in source.read(path):
            read += 1
            lang, score = identify(text)
            if lang not in source.langs or score < MIN_SCORE[lang]:
                continue
            kept[lang] += 1
            originals.append(Doc(f"{path.name}:{offset}", text, url, lang, path.name, offset))
        selection.append((source.label, read, kept))
    per_copy = sum(len(d.text.encode()) for d in originals)
    copies = max(1, round(target_mb * MB / per_copy))
    return Corpus(originals, copies, selection)


# --- the stages -----------------------------------------------------------------------------


def model_paths(models_dir: Path) -> tuple[str, dict[str, str]]:
    quality = models_dir / "train-quality" / QUALITY_MODEL
    lms = {lang: models_dir / "train-perplexity" / perplexity_model_file(lang) for lang in LANGS}
    missing = [p for p in (quality, *lms.values()) if not p.exists()]
    if missing:
        names = ", ".join(os.path.relpath(p, REPO) for p in missing)
        sys.exit(f"score models not found: {names}; run `make pipeline` first")
    return str(quality), {lang: str(p) for lang, p in lms.items()}


def score_configs(models_dir: Path) -> dict[str, ScoreConfig]:
    """(b) every scorer, (b0) none, (b1)-(b4) one each with its own thresholds from (b)."""
    quality, lms = model_paths(models_dir)
    off: dict[str, Any] = {
        "quality_model": None,
        "perplexity_models": {},
        "coherence": False,
        "safety": False,
    }
    alone: dict[str, dict[str, Any]] = {
        "quality": {
            "quality_model": quality,
            "thresholds": {"quality_score": THRESHOLDS["quality_score"]},
        },
        "perplexity": {"perplexity_models": lms, "drop_perplexity_buckets": DROP_BUCKETS},
        "coherence": {"coherence": True},
        "safety": {"safety": True, "thresholds": {"safety_score": THRESHOLDS["safety_score"]}},
    }
    configs = {
        "b": ScoreConfig(
            quality_model=quality,
            perplexity_models=lms,
            coherence=True,
            safety=True,
            thresholds=THRESHOLDS,
            drop_perplexity_buckets=DROP_BUCKETS,
        ),
        "b0": ScoreConfig(**off),
    }
    for i, scorer in enumerate(SCORERS, 1):
        configs[f"b{i}"] = ScoreConfig(**{**off, **alone[scorer]})
    return configs


def make_stages(configs: dict[str, ScoreConfig]) -> dict[str, Any]:
    return {"a": FilterStage(FilterConfig()), **{k: ScoreStage(c) for k, c in configs.items()}}


def tokenize_all(texts: list[str], lang: str) -> int:
    """(t): one tokenization of every document, as a scorer does it."""
    return sum(len(tokenize(text, lang)) for text in texts)


def model_info(models_dir: Path) -> str:
    quality, lms = model_paths(models_dir)
    parts = [f"`{os.path.relpath(quality, REPO)}` ({Path(quality).stat().st_size / MB:.1f} MB)"]
    for path in lms.values():
        meta = load_model(path).meta
        parts.append(
            f"`{os.path.relpath(path, REPO)}` (order {meta['order']}, "
            f"{meta['vocab_size']:,} units, {sum(meta['ngrams']):,} n-grams)"
        )
    return ", ".join(parts)


# --- untimed check --------------------------------------------------------------------------


@dataclass
class Check:
    n: dict[str, int]  # unique documents by language
    outcomes: dict[str, dict[str, Counter[str]]]  # stage key -> language -> counts
    filled: Counter[str]  # score column -> non-null values in (b)
    buckets: Counter[str]


def _scored(stage: ScoreStage, batches: list) -> tuple[Counter[str], dict[str, dict]]:
    """Outcome counts as `run_stage`, and id -> score columns of kept and rejected rows."""
    counts: Counter[str] = Counter()
    rows: dict[str, dict[str, Any]] = {}
    for batch in batches:
        out = stage.process_batch(batch)
        counts["kept"] += out.kept.num_rows
        counts.update(out.rejected.column("reason").to_pylist())
        for part in (out.kept, out.rejected):
            values = {c: part.column(c).to_pylist() for c in SCORE_COLUMNS}
            for i, doc_id in enumerate(part.column("id").to_pylist()):
                rows[doc_id] = {c: values[c][i] for c in SCORE_COLUMNS}
    return counts, rows


def check_outputs(corpus: Corpus, configs: dict[str, ScoreConfig]) -> Check:
    """Untimed pass on the unique documents (also the warm-up): outcomes of every stage, and
    each scorer alone must give exactly the values it gives in (b)."""
    stages = make_stages(configs)
    batches = {lang: record_batches(corpus.unique(lang)) for lang in LANGS}
    outcomes: dict[str, dict[str, Counter[str]]] = {"a": {}}
    scores: dict[str, dict[str, dict[str, dict]]] = {}
    for lang in LANGS:
        outcomes["a"][lang] = count_outcomes(stages["a"], batches[lang])
        for key in configs:
            outcomes.setdefault(key, {})[lang], rows = _scored(stages[key], batches[lang])
            scores.setdefault(key, {}).update(rows)
    for key, by_lang in outcomes.items():
        for lang, counts in by_lang.items():
            if sum(counts.values()) != len(corpus.unique(lang)):
                raise RuntimeError(f"({key}) lost {lang} documents")
    full = scores["b"]
    filled = Counter(c for row in full.values() for c, v in row.items() if v is not None)
    buckets = Counter(row["perplexity_bucket"] for row in full.values())
    for i, scorer in enumerate(SCORERS, 1):
        for doc_id, row in scores[f"b{i}"].items():
            for column, value in row.items():
                expected = full[doc_id][column] if column in SCORER_COLUMNS[scorer] else None
                if value != expected:
                    raise RuntimeError(
                        f"(b{i}) {scorer} alone: {column} of {doc_id} is {value!r}, "
                        f"{expected!r} in (b)"
                    )
    return Check({lang: len(corpus.unique(lang)) for lang in LANGS}, outcomes, filled, buckets)


def check_timed_results(corpus: Corpus, check: Check, results: dict[str, set[object]]) -> None:
    """Every timed run kept what the untimed pass kept, on every copy."""
    for job, kept in results.items():
        key, _, lang = job.partition(":")
        if key == "t":
            continue
        expected = corpus.copies * check.outcomes[key][lang]["kept"]
        if kept != {expected}:
            raise RuntimeError(f"({key}) {lang} kept {kept} documents, expected {expected}")


# --- timing ---------------------------------------------------------------------------------

MEASUREMENTS = ("a", "b", "b1", "b2", "b3", "b4", "b0", "t")


def measure(
    corpus: Corpus, configs: dict[str, ScoreConfig], repeats: int
) -> tuple[dict[str, Timing], dict[str, set[object]]]:
    """Every measurement on each language's batches, as separate interleaved jobs; returns
    timings by `key:lang` and what each run kept (to check against the untimed pass)."""
    stages = make_stages(configs)
    batches = {lang: record_batches(corpus.docs(lang)) for lang in LANGS}
    texts = {lang: [d.text for d in corpus.docs(lang)] for lang in LANGS}
    for stage in stages.values():  # lists, models, jieba's dictionary: loaded outside timing
        for lang in LANGS:
            stage.process_batch(batches[lang][0].slice(0, 20))
    jobs: dict[str, Callable[[], object]] = {}
    for key in MEASUREMENTS:
        for lang in LANGS:
            if key == "t":
                jobs[f"t:{lang}"] = lambda lang=lang: tokenize_all(texts[lang], lang)
            else:
                stage, part = stages[key], batches[lang]
                jobs[f"{key}:{lang}"] = lambda s=stage, b=part: count_outcomes(s, b)["kept"]
    return run_interleaved_keeping_results(jobs, repeats)


def total(timings: dict[str, Timing], key: str) -> Timing:
    """A measurement over the whole corpus: its languages' jobs of the same repetition added."""
    parts = [timings[f"{key}:{lang}"] for lang in LANGS]
    return Timing(
        [sum(walls) for walls in zip(*(t.wall for t in parts), strict=True)],
        [sum(cpus) for cpus in zip(*(t.cpu for t in parts), strict=True)],
    )


def with_totals(timings: dict[str, Timing]) -> dict[str, Timing]:
    out = dict(timings)
    for key in MEASUREMENTS:
        out[f"{key}:all"] = total(timings, key)
    return out


def profile_stage(corpus: Corpus, configs: dict[str, ScoreConfig], top: int = 30) -> str:
    """cProfile of (b) on one copy of the corpus: where the whole stage spends its time."""
    stage = ScoreStage(configs["b"])
    batches = [b for lang in LANGS for b in record_batches(corpus.unique(lang))]
    count_outcomes(stage, [b.slice(0, 20) for b in batches])
    return profile_text(lambda: count_outcomes(stage, batches), top)


# --- report ---------------------------------------------------------------------------------

FILTER_WHAT = "`FilterConfig()`: normalization, URL lists, language ID, rules, safety, PII"
SCORE_WHAT = "quality, perplexity, coherence, safety; thresholds of `configs/default.yaml`"
ROWS = (
    ("a", "(a) `FilterStage`", FILTER_WHAT),
    ("b", "(b) `ScoreStage`, all scorers", SCORE_WHAT),
)
BREAKDOWN = (
    ("b1", "(b1) quality classifier alone", "`quality_score` (fastText)"),
    ("b2", "(b2) perplexity alone", "`perplexity`, `perplexity_bucket` (n-gram LM)"),
    ("b3", "(b3) coherence alone", "`coherence_score`"),
    ("b4", "(b4) safety alone", "`safety_score` (lexicon)"),
    ("b0", "(b0) no scorer", "the stage's Arrow columns and rejection pass"),
    ("t", "(t) one tokenization", "`tokenize(text, lang)` per document (regex / rjieba)"),
)


def _rate(corpus: Corpus, t: Timing, lang: str) -> float:
    return corpus.count(None if lang == "all" else lang) / t.median


def _ratio(timings: dict[str, Timing], key: str, lang: str) -> float:
    """Throughput of `key` relative to (a): median of per-repetition time ratios (a)/(key)."""
    return paired_ratio(timings[f"a:{lang}"], timings[f"{key}:{lang}"])


def speed_table(
    corpus: Corpus, timings: dict[str, Timing], rows: tuple[tuple[str, str, str], ...]
) -> str:
    lines = [
        "| measurement | what it runs | English docs/s | Chinese docs/s | all docs/s | all MB/s "
        "| median s (all) | CPU s | spread | throughput vs (a) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    size = corpus.text_bytes()
    for key, label, what in rows:
        t = timings[f"{key}:all"]
        by_lang = " | ".join(
            f"{_rate(corpus, timings[f'{key}:{lang}'], lang):,.0f}" for lang in LANGS
        )
        speed = 1.0 if key == "a" else _ratio(timings, key, "all")
        lines.append(
            f"| {label} | {what} | {by_lang} | {_rate(corpus, t, 'all'):,.0f} | "
            f"{size / MB / t.median:.2f} | {t.median:.3f} | {statistics.median(t.cpu):.3f} | "
            f"{t.spread:.0%} | {speed:.2f}× |"
        )
    return "\n".join(lines)


def verdict(timings: dict[str, Timing]) -> tuple[str, bool]:
    parts, ok = [], True
    for lang in ("all", *LANGS):
        ratio = _ratio(timings, "b", lang)
        passed = ratio >= SPEED_TARGET
        ok &= passed
        name = "whole corpus" if lang == "all" else LANG_NAMES[lang]
        parts.append(f"{name} {ratio:.2f}× {pass_fail(passed)}")
    return (
        "Target: the score stage processes at least as many documents per second as the filter "
        "stage, throughput ratio (b)/(a) ≥ 1.00, on the whole corpus and on each language: "
        + ", ".join(parts)
        + "."
    ), ok


def breakdown_text(timings: dict[str, Timing]) -> str:
    """Each scorer's share of (b): its time alone minus (b0), over (b), medians."""
    med = {key: timings[f"{key}:all"].median for key in MEASUREMENTS}
    base, whole = med["b0"], med["b"]
    own = {f"b{i}": med[f"b{i}"] - base for i in range(1, len(SCORERS) + 1)}
    shares = ", ".join(
        f"{scorer} {own[f'b{i}']:.2f} s ({own[f'b{i}'] / whole:.0%})"
        for i, scorer in enumerate(SCORERS, 1)
    )
    rest = whole - base - sum(own.values())
    top = max(own, key=own.__getitem__)
    top_name = SCORERS[int(top[1:]) - 1]
    tokenizing = len(SCORERS) * med["t"] / whole
    return (
        f"Where the time of (b) goes ({whole:.2f} s, medians over the whole corpus; each "
        f"scorer = its run alone minus (b0)): {shares}; the stage itself (b0) {base:.2f} s "
        f"({base / whole:.0%}); left over {rest:+.2f} s ({rest / whole:+.0%}): what (b) takes "
        "beyond the sum of its parts run apart. The largest part is "
        f"{top_name}. Every scorer tokenizes the "
        "document itself (quality: the first 20,000 characters, lower-cased; perplexity: each "
        "normalized line; coherence: each sentence; safety: `DocView.words` for the per-100-"
        f"words rate), and one tokenization (t) takes {med['t']:.2f} s, so "
        f"{len(SCORERS)} such passes would be about {tokenizing:.0%} of (b)."
    )


def outcome_text(check: Check) -> str:
    def reasons(key: str, counts: Counter[str]) -> str:
        grouped: Counter[str] = Counter()
        for reason, count in counts.items():
            if reason != "kept":  # the filter's reasons by step, the score stage's in full
                grouped[reason.partition(":")[0] if key == "a" else reason] += count
        return ", ".join(f"`{r}` {n}" for r, n in grouped.most_common()) or "nothing"

    def stage(key: str) -> str:
        by_lang = check.outcomes[key]
        kept = ", ".join(
            f"{LANG_NAMES[lang]} {by_lang[lang]['kept']:,} of {check.n[lang]:,}" for lang in LANGS
        )
        rejected = reasons(key, sum(by_lang.values(), Counter()))
        return f"keeps {kept} (rejected: {rejected})"

    total_docs = sum(check.n.values())
    filled = ", ".join(f"`{c}` {check.filled[c]:,}" for c in SCORE_COLUMNS)
    buckets = ", ".join(f"{b} {check.buckets[b]:,}" for b in ("head", "middle", "tail"))
    return (
        f"(a) {stage('a')}; (b) {stage('b')}. Score columns filled by (b), of {total_docs:,}: "
        f"{filled}; perplexity buckets {buckets}. Each scorer alone, (b1)-(b4), fills only its "
        "own columns, with exactly the values of (b)"
    )


def report(corpus: Corpus, timings: dict[str, Timing], check: Check, ctx: dict[str, str]) -> str:
    target_line, _ = verdict(timings)
    return f"""\
{report_header(ctx)}
- Corpus: {corpus.describe()}. English = fastText lid.176 label `en` with p ≥ 0.65 (the
  English documents of `bench_filter.py`), Chinese = label `zh` with p ≥ 0.5 (the filter
  stage's defaults); WARC pages are extracted with resiliparse as the ingest stage does. Each
  row's `lang` is that label, as the filter stage would set it. 1,000-row record batches of the
  document schema, one language per batch. MB = 10^6 bytes of UTF-8 text.
- Models (`make models`): {ctx["models"]}. CMRC 2018 is training text of the Chinese n-gram
  model and of the quality classifier: that does not change the work done per document.
- Same documents for both stages: in the pipeline the score stage only sees what the filter
  kept (and edited), here both see every document, so this compares cost per document offered.
- Decisions on the unique documents: {outcome_text(check)}.
- Method: {ctx["repeats"]} repetitions of every measurement, English and Chinese batches as
  separate jobs, all interleaved (order rotated each repetition), one process on one core;
  whole-corpus time = English + Chinese of the same repetition; medians of wall time, CPU s =
  median process CPU time, spread = (max − min) / median; throughput vs (a) = median of
  per-repetition time ratios (a)/(x).

{speed_table(corpus, timings, ROWS)}

{target_line}

Per scorer: the score stage with one scorer enabled (its thresholds as in (b)), the stage with
none, and one tokenization pass, on the same batches in the same repetitions.

{speed_table(corpus, timings, BREAKDOWN)}

{breakdown_text(timings)}
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argument_parser(__doc__, repeats=7, check=True)
    parser.add_argument("--target-mb", type=float, default=7.0, help="MB of text in the corpus")
    parser.add_argument("--models", type=Path, default=MODELS_DIR, help="score models directory")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of (b)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configs = score_configs(args.models.resolve())
    pinning = pin_to_one_cpu(args.cpu)
    started = time.perf_counter()
    corpus = build_corpus(args.target_mb)
    print(f"corpus ({time.perf_counter() - started:.1f}s): {corpus.describe()}", file=sys.stderr)
    check = check_outputs(corpus, configs)
    print(f"check done ({time.perf_counter() - started:.1f}s)", file=sys.stderr)
    raw, results = measure(corpus, configs, args.repeats)
    check_timed_results(corpus, check, results)
    timings = with_totals(raw)
    packages = ("pyarrow", "numpy", "fasttext-numpy2", "fasttext-predict", "rjieba", "ftfy")
    context = run_context(pinning, packages, args.repeats)
    context["models"] = model_info(args.models.resolve())
    text = report(corpus, timings, check, context)
    print(text)
    if args.profile:
        print(profile_stage(corpus, configs))
    if args.update_docs:
        title = "## Score stage vs filter stage (`bench/bench_score.py`)\n\n"
        update_docs_section("bench_score", title + text)
    print(f"total {time.perf_counter() - started:.0f}s", file=sys.stderr)
    _, ok = verdict(timings)
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
