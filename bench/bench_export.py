#!/usr/bin/env python
"""Export: the export stage's MB/s per core against raw sentencepiece encoding of the same
text, and MixtureSampler tokens/s.

Corpus (a stage directory, built untimed in bench/out/export/ from tests/shared_text.py):
the English and Chinese documents of all of ../shared text: the ingest stage's documents of
shared/samples whose fastText lid.176 label (`stages.filter.langid`) is `en` or `zh`, plus
every reference document (WikiText-2 and RedPajama arXiv: `en`; CMRC 2018: `zh`), each with
that label in its `lang` column; documents of other languages are left out. The set is
written `--copies` times (default 3), copy k verbatim with ids suffixed `#k`, one input shard
per copy in record batches of 1,000 rows, so that one export takes a few seconds.

Tokenizer: 64,000 pieces trained with `train_tokenizer` on all of ../shared text (every
language, as bench_tokenizer.py's `shared` corpus), untimed.

Export, in process on one core (`run_stage` with the LocalExecutor, into a fresh directory
each time; the sentencepiece model is loaded before timing, as a worker keeps it):

  (a) export with the mixture en 0.7 (`lang: [en]`), zh 0.3 (`lang: [zh]`)
  (a') export without a mixture: one source per `source` value (cc, web, wiki_en, wiki_zh,
      arxiv) at its natural share
  (b) `SentencePieceProcessor.encode(texts, num_threads=1)` on the same texts, in memory:
      the raw baseline, no reading, routing, `</s>`, grouping or writing
  (c) `Tokenizer.encode_documents(texts, append_eos=True)`: the stage's encoding call alone
      (informative: what the encode step adds to (b) before any I/O)

An untimed run of (a) and (a') first checks the exports: `verify_export` finds no problem,
every document is exported, and every document's `input_ids` are (b)'s ids plus `</s>`.

Sampler: `MixtureSampler(export, seq_len, seed=0, rank, world_size)` over the untimed exports,
a fresh sampler per repetition, `--samples` samples taken; tokens/s of the samples this rank
returns, opening time (manifest, memory maps, document index) apart. Reference: copying
`seq_len` slices of one contiguous in-memory array of the same tokens (no sampler logic).
Untimed: each rank's share of `en` samples for world sizes 2, 8 and 10.

No target in the issue; above 1.30 for (a)/(b) the script prints a cProfile of one export
run to stderr.

    python bench/bench_export.py [--repeats 5] [--copies 3] [--samples 20000] [--update-docs]
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

# common.py sits next to this file (the script's directory is first on sys.path).
from common import (
    BATCH_ROWS,
    MB,
    OUT_DIR,
    REPO,
    Timing,
    argument_parser,
    paired_ratio,
    pin_to_one_cpu,
    profile_text,
    report_header,
    run_context,
    run_interleaved,
    shared_dir,
    update_docs_section,
)

sys.path.insert(0, str(REPO))  # tests/shared_text.py builds the corpus

VOCAB = 64_000
WORK = OUT_DIR / "export"
LANGS = ("en", "zh")
MIXTURE = {
    "sources": [
        {"name": "en", "ratio": 0.7, "lang": ["en"]},
        {"name": "zh", "ratio": 0.3, "lang": ["zh"]},
    ]
}
PROFILE_ABOVE = 1.30
STEPS = ("encode", "layout", "write", "manifest")
RANK_CHECK_WORLDS = (2, 8, 10)
RANK_CHECK_SAMPLES = 2000


# --- corpus and tokenizer -------------------------------------------------------------------


def build_corpus(copies: int) -> tuple[Path, list[Path], dict[str, Any]]:
    """The export input (a finished stage directory), the shared stage directories the
    tokenizer is trained on, and what went into the corpus."""
    from core.schema import DOCUMENT_SCHEMA, rows_to_batch
    from core.shards import list_shards, read_shard
    from stages.filter.langid import identify
    from tests.shared_text import build_shared_stages

    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    shared = build_shared_stages(WORK / "shared", shared_dir())
    rows, left_out = [], Counter()
    for stage in shared:
        for shard in list_shards(stage):
            for batch in read_shard(shard):
                for row in batch.to_pylist():
                    lang = row["lang"] or identify(row["text"])[0]
                    if lang in LANGS and row["text"]:
                        rows.append({**row, "lang": lang})
                    else:
                        left_out[lang] += 1
    corpus = WORK / "corpus"
    corpus.mkdir()
    for copy in range(copies):
        copied = [{**row, "id": f"{row['id']}#{copy}"} for row in rows]
        path = corpus / f"part-{copy:05d}-0000.arrow"
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, DOCUMENT_SCHEMA) as out:
            for i in range(0, len(copied), BATCH_ROWS):
                out.write_batch(rows_to_batch(copied[i : i + BATCH_ROWS], DOCUMENT_SCHEMA))
    (corpus / "_SUCCESS").write_text("written by bench/bench_export.py\n")
    info = {
        "documents": Counter(row["lang"] for row in rows),
        "bytes": Counter(),
        "sources": Counter(row["source"] for row in rows),
        "left_out": sum(left_out.values()),
        "left_out_langs": len(left_out),
    }
    for row in rows:
        info["bytes"][row["lang"]] += len(row["text"].encode())
    return corpus, shared, info


def corpus_texts(corpus: Path) -> tuple[list[str], list[str]]:
    """(ids, texts) of the corpus, in shard order."""
    from core.shards import list_shards, read_shard

    ids: list[str] = []
    texts: list[str] = []
    for shard in list_shards(corpus):
        for batch in read_shard(shard):
            ids += batch.column("id").to_pylist()
            texts += batch.column("text").to_pylist()
    return ids, texts


def train_model(shared: list[Path]) -> tuple[Path, dict[str, Any]]:
    from tokenizer.stage import train_tokenizer
    from tokenizer.train import TokenizerConfig

    prefix = WORK / "tokenizer" / "yi"
    prefix.parent.mkdir(parents=True)
    cfg = TokenizerConfig(vocab_size=VOCAB)
    report = train_tokenizer([str(d) for d in shared], prefix, cfg)
    return prefix.with_name(prefix.name + ".model"), report


# --- export ---------------------------------------------------------------------------------


def export_configs(model: Path) -> dict[str, Any]:
    from stages.export.stage import ExportConfig

    return {
        "a": ExportConfig(tokenizer=str(model), mixture=MIXTURE),
        "a'": ExportConfig(tokenizer=str(model)),
    }


def run_export(config: Any, corpus: Path, out: Path) -> dict[str, Any]:
    from pipeline.executor import LocalExecutor
    from pipeline.runner import StageRun, run_stage

    shutil.rmtree(out, ignore_errors=True)
    return run_stage(StageRun("export", config, [str(corpus)], str(out)), LocalExecutor(), False)


def check_export(out: Path, ids: list[str], raw: list[list[int]], eos: int) -> dict[str, Any]:
    """Untimed: the export is intact and holds exactly the raw ids plus `</s>` per document."""
    from core.manifest import load_manifest, shard_path, verify_export

    problems, _ = verify_export(out)
    manifest = load_manifest(out)
    expected = dict(zip(ids, raw, strict=True))
    seen, differ = 0, 0
    for source in manifest["sources"]:
        for shard in source["shards"]:
            with pa.memory_map(str(shard_path(out, shard["path"]))) as mapped:
                table = pa.ipc.open_stream(mapped).read_all()
            for doc_id, tokens in zip(
                table.column("id").to_pylist(), table.column("input_ids").to_pylist(), strict=True
            ):
                seen += 1
                differ += tokens != [*expected[doc_id], eos]
    return {
        "problems": problems,
        "all_exported": seen == len(ids) == manifest["documents"],
        "same_ids": differ == 0,
        "manifest": manifest,
    }


def bench_export(
    corpus: Path, configs: dict[str, Any], texts: list[str], repeats: int
) -> dict[str, Any]:
    import sentencepiece as spm

    from tokenizer.encode import Tokenizer

    model = configs["a"].tokenizer
    proc = spm.SentencePieceProcessor(model_file=model)
    tok = Tokenizer.load(model)  # the stage's cached instance: loaded once, as in a worker
    stats: dict[str, list[dict[str, Any]]] = {key: [] for key in configs}

    def export_job(key: str) -> Callable[[], object]:
        runs = itertools.count()

        def job() -> None:
            out = WORK / "runs" / f"{key.replace(chr(39), 'p')}-{next(runs)}"
            stats[key].append(run_export(configs[key], corpus, out))

        return job

    jobs: dict[str, Callable[[], object]] = {
        "a": export_job("a"),
        "a'": export_job("a'"),
        "b": lambda: proc.encode(texts, num_threads=1),
        "c": lambda: tok.encode_documents(texts, True),
    }
    jobs["b"]()  # warm-up (the exports were warmed up by their checked runs)
    jobs["c"]()
    timings = run_interleaved(jobs, repeats)
    shutil.rmtree(WORK / "runs", ignore_errors=True)
    return {"timings": timings, "stats": stats}


def step_seconds(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Median wall seconds per step of the export runs; `apply` is the rest of the stage
    (apply tasks writing the rejected rows, stage directory bookkeeping)."""
    out = {s: statistics.median(r["step_seconds"][s]["wall"] for r in runs) for s in STEPS}
    out["apply"] = statistics.median(
        r["wall_seconds"] - sum(r["step_seconds"][s]["wall"] for s in STEPS) for r in runs
    )
    return out


# --- sampler --------------------------------------------------------------------------------


def sampler_cases(exports: dict[str, Path]) -> dict[str, dict[str, Any]]:
    mixed, natural = exports["a"], exports["a'"]
    return {
        "s1": {"dir": mixed, "label": "(a) en 0.7 / zh 0.3", "seq_len": 2048, "world": 1},
        "s2": {"dir": mixed, "label": "(a) en 0.7 / zh 0.3", "seq_len": 4096, "world": 1},
        "s3": {"dir": mixed, "label": "(a) en 0.7 / zh 0.3", "seq_len": 2048, "world": 8},
        "s4": {"dir": natural, "label": "(a') 5 sources, natural", "seq_len": 2048, "world": 1},
    }


def all_tokens(export: Path) -> np.ndarray:
    from core.manifest import load_manifest, shard_path

    arrays = []
    for source in load_manifest(export)["sources"]:
        for shard in source["shards"]:
            with pa.memory_map(str(shard_path(export, shard["path"]))) as mapped:
                table = pa.ipc.open_stream(mapped).read_all()
            for chunk in table.column("input_ids").chunks:
                arrays.append(chunk.flatten().to_numpy())
    return np.concatenate(arrays)


def rank_shares(export: Path, samples: int) -> dict[int, list[float]]:
    """Untimed: per world size, each rank's share of `en` samples among its first `samples`."""
    from pipeline.mixture import MixtureSampler

    shares = {}
    for world in RANK_CHECK_WORLDS:
        shares[world] = []
        for rank in range(world):
            sampler = MixtureSampler(export, 2048, 0, rank, world)
            taken = [s.source for s in itertools.islice(sampler, samples)]
            shares[world].append(taken.count("en") / samples)
    return shares


def bench_sampler(exports: dict[str, Path], samples: int, repeats: int) -> dict[str, Any]:
    from pipeline.mixture import MixtureSampler

    cases = sampler_cases(exports)
    opened: dict[str, list[float]] = {key: [] for key in cases}
    drawn: dict[str, list[float]] = {key: [] for key in cases}
    shares: dict[str, Counter[str]] = {}
    tokens: dict[str, int] = {}

    def sampler_job(key: str) -> Callable[[], object]:
        case = cases[key]

        def job() -> None:
            started = time.perf_counter()
            sampler = MixtureSampler(case["dir"], case["seq_len"], 0, 0, case["world"])
            ready = time.perf_counter()
            count, sources = 0, Counter()
            for sample in itertools.islice(sampler, samples):
                count += len(sample.tokens)
                sources[sample.source] += 1
            drawn[key].append(time.perf_counter() - ready)
            opened[key].append(ready - started)
            shares[key], tokens[key] = sources, count

        return job

    flat = all_tokens(exports["a"])

    def reference() -> None:
        seq_len = 2048
        for i in range(samples):
            start = (i * seq_len) % (len(flat) - seq_len)
            flat[start : start + seq_len].copy()

    jobs: dict[str, Callable[[], object]] = {key: sampler_job(key) for key in cases}
    jobs["ref"] = reference
    for job in jobs.values():  # warm-up
        job()
    for key in cases:
        opened[key].clear()
        drawn[key].clear()
    timings = run_interleaved(jobs, repeats)
    return {
        "cases": cases,
        "ranks": rank_shares(exports["a"], RANK_CHECK_SAMPLES),
        "timings": timings,
        "opened": opened,
        "drawn": drawn,
        "shares": shares,
        "tokens": tokens,
        "flat_tokens": len(flat),
    }


# --- report ---------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


def corpus_lines(
    info: dict[str, Any], copies: int, n_docs: int, n_bytes: int, tokenizer: dict[str, Any]
) -> list[str]:
    langs = ", ".join(
        f"{lang} {info['documents'][lang]:,} documents / {info['bytes'][lang] / MB:.2f} MB"
        for lang in LANGS
    )
    sources = ", ".join(f"{s} {n:,}" for s, n in sorted(info["sources"].items()))
    return [
        f"- Corpus: the English and Chinese documents of ../shared text ({langs}; by `source`: "
        f"{sources}; {info['left_out']:,} documents in {info['left_out_langs']} other languages "
        f"left out), written {copies} times with distinct ids, one input shard per copy: "
        f"{n_docs:,} documents, {n_bytes / MB:.2f} MB of text (MB = 10^6 bytes of UTF-8).",
        f"- Tokenizer: {tokenizer['vocab_size']:,} pieces trained by `train_tokenizer` on all "
        f"of ../shared text ({tokenizer['training_mb']:.2f} MB sample), uint16 ids.",
    ]


EXPORT_LABELS = {
    "a": "(a) export stage, mixture en 0.7 / zh 0.3 (`run_stage`, LocalExecutor)",
    "a'": "(a') export stage, no mixture (5 sources by `source`)",
    "b": "(b) `SentencePieceProcessor.encode(texts, num_threads=1)`",
    "c": "(c) `Tokenizer.encode_documents(texts, append_eos=True)`",
}


def export_report(
    res: dict[str, Any], checks: dict[str, dict[str, Any]], n_docs: int, n_bytes: int
) -> list[str]:
    timings: dict[str, Timing] = res["timings"]
    tokens = checks["a"]["manifest"]["tokens"]
    rows = [
        "| run | MB/s per core | docs/s | Mtokens/s | median s | CPU s | spread | time / (b) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, label in EXPORT_LABELS.items():
        t = timings[key]
        rows.append(
            f"| {label} | {n_bytes / MB / t.median:.2f} | {n_docs / t.median:,.0f} "
            f"| {tokens / 1e6 / t.median:.2f} | {t.median:.3f} | {median(t.cpu):.3f} "
            f"| {t.spread:.0%} | {paired_ratio(t, timings['b']):.2f} |"
        )
    steps = {key: step_seconds(res["stats"][key]) for key in ("a", "a'")}
    step_rows = [
        "| step | (a) median s | (a) share | (a') median s | (a') share |",
        "|---|---:|---:|---:|---:|",
    ]
    for step in (*STEPS, "apply"):
        cells = " | ".join(
            f"{steps[k][step]:.3f} | {steps[k][step] / timings[k].median:.0%}" for k in ("a", "a'")
        )
        step_rows.append(f"| {step} | {cells} |")
    checked = all(
        not c["problems"] and c["all_exported"] and c["same_ids"] for c in checks.values()
    )
    mixture = checks["a"]["manifest"]
    planned = "; ".join(
        f"{s['name']}: {s['documents']:,} documents, {s['tokens']:,} tokens, "
        f"ratio {s['ratio']:g}, {s['epochs']:.2f} epochs"
        for s in mixture["sources"]
    )
    warnings = "; ".join(mixture["warnings"]) or "none"
    ratio = paired_ratio(timings["a"], timings["b"])
    ratio_natural = paired_ratio(timings["a'"], timings["b"])
    return [
        "### Export throughput per core",
        "",
        f"- Check (untimed runs of (a) and (a')): `verify_export` clean, every document "
        f"exported, every document's `input_ids` = (b)'s ids + `</s>`: "
        f"{'yes' if checked else '**NO**'}. {tokens:,} tokens with `</s>` "
        f"({n_bytes / (tokens - n_docs):.2f} bytes per token without it).",
        f"- Manifest of (a): {planned}; token budget {mixture['token_budget']:,}; "
        f"warnings: {warnings}.",
        "- The model is loaded before timing (the stage's `Tokenizer.load` cache), as a "
        "worker keeps it across shards; each export run writes into a fresh directory.",
        "",
        *rows,
        "",
        "Where an export run's time goes (median wall s per step, from the stage stats; "
        "`apply`: the apply tasks, which route again and write the rejected rows, plus "
        "stage directory bookkeeping):",
        "",
        *step_rows,
        "",
        f"Export time / raw sentencepiece time (no target): (a)/(b) = {ratio:.2f}, "
        f"(a')/(b) = {ratio_natural:.2f}, (c)/(b) = "
        f"{paired_ratio(timings['c'], timings['b']):.2f}.",
    ]


def sampler_report(res: dict[str, Any], samples: int) -> list[str]:
    rows = [
        "| export | seq_len | rank / world | samples | Mtokens/s | samples/s | median s "
        "| spread | open ms | samples per source |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for key, case in res["cases"].items():
        drawn = median(res["drawn"][key])
        t = Timing(res["drawn"][key], res["drawn"][key])
        shares = ", ".join(
            f"{name} {n / samples:.3f}" for name, n in sorted(res["shares"][key].items())
        )
        rows.append(
            f"| {case['label']} | {case['seq_len']:,} | 0 / {case['world']} | {samples:,} "
            f"| {res['tokens'][key] / 1e6 / drawn:.1f} | {samples / drawn:,.0f} "
            f"| {drawn:.3f} | {t.spread:.0%} | {median(res['opened'][key]) * 1000:.1f} "
            f"| {shares} |"
        )
    ref = res["timings"]["ref"]
    rows.append(
        f"| reference: slices of one in-memory array | 2,048 | — | {samples:,} "
        f"| {samples * 2048 / 1e6 / ref.median:.1f} | {samples / ref.median:,.0f} "
        f"| {ref.median:.3f} | {ref.spread:.0%} | — | — |"
    )
    per_rank = "; ".join(
        f"world size {world}: " + " ".join(f"{share:.2f}" for share in shares)
        for world, shares in res["ranks"].items()
    )
    return [
        "### Sampler throughput",
        "",
        f"- `MixtureSampler(export, seq_len, seed=0, rank=0, world_size)` over the untimed "
        f"exports, a new sampler per repetition; {samples:,} samples of this rank taken "
        "(each rank schedules only its own samples and reads every world_size-th slice). "
        "Mtokens/s and samples/s: of the samples returned, iteration only; open ms: "
        "building the sampler (manifest, memory maps, document index). Samples per source: "
        "share of the samples this rank got.",
        f"- Reference: `flat[i : i + 2048].copy()` over one contiguous array of the "
        f"{res['flat_tokens']:,} tokens of (a): the cost of copying the tokens alone.",
        "",
        *rows,
        "",
        f"Share of `en` samples per rank (ranks 0, 1, ...; target 0.70; each rank's first "
        f"{RANK_CHECK_SAMPLES:,} samples of (a), seq_len 2,048): {per_rank}. The choice of "
        "source is made per rank (every rank runs the same schedule over its own samples), "
        "so every rank gets the target mix.",
    ]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argument_parser(__doc__, repeats=5)
    parser.add_argument(
        "--copies", type=int, default=3, help="times the corpus is written (default 3)"
    )
    parser.add_argument(
        "--samples", type=int, default=20_000, help="sampler samples per run (default 20000)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    pinning = pin_to_one_cpu(args.cpu)
    context = run_context(pinning, ("sentencepiece", "pyarrow", "numpy"), args.repeats)
    corpus, shared, info = build_corpus(args.copies)
    model, tokenizer = train_model(shared)
    print(f"corpus and tokenizer ready ({time.perf_counter() - started:.0f}s)", file=sys.stderr)
    ids, texts = corpus_texts(corpus)
    n_bytes = sum(len(t.encode()) for t in texts)
    import sentencepiece as spm

    proc = spm.SentencePieceProcessor(model_file=str(model))
    raw = proc.encode(texts, num_threads=1)
    configs = export_configs(model)
    exports = {"a": WORK / "export-mixture", "a'": WORK / "export-sources"}
    checks = {}
    for key, out in exports.items():
        run_export(configs[key], corpus, out)
        checks[key] = check_export(out, ids, raw, proc.eos_id())
        shown = {k: v for k, v in checks[key].items() if k != "manifest"}
        print(f"checked {key}: {json.dumps(shown)}", file=sys.stderr)
    export = bench_export(corpus, configs, texts, args.repeats)
    ratio = paired_ratio(export["timings"]["a"], export["timings"]["b"])
    if ratio > PROFILE_ABOVE:
        print(
            f"(a)/(b) = {ratio:.2f} > {PROFILE_ABOVE}: profile of one export run", file=sys.stderr
        )
        out = WORK / "export-profiled"
        print(profile_text(lambda: run_export(configs["a"], corpus, out), 30), file=sys.stderr)
        shutil.rmtree(out, ignore_errors=True)
    sampler = bench_sampler(exports, args.samples, args.repeats)
    lines = [
        report_header(context),
        f"- Method: {args.repeats} repetitions, runs interleaved (order rotated each "
        "repetition), one CPU; medians of wall time, spread = (max − min) / median; "
        "time / (b) = median of per-repetition time ratios.",
        *corpus_lines(info, args.copies, len(texts), n_bytes, tokenizer),
        "",
        *export_report(export, checks, len(texts), n_bytes),
        "",
        *sampler_report(sampler, args.samples),
    ]
    text = "\n".join(lines)
    print(text)
    if args.update_docs:
        update_docs_section("bench_export", "## Export (`bench/bench_export.py`)\n\n" + text)
    print(f"total {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
