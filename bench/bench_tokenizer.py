#!/usr/bin/env python
"""Tokenizer: datapipe's train_tokenizer and Tokenizer.encode_batch vs sentencepiece direct.

Corpora (stage directories, built untimed in bench/out/tokenizer/ by tests/shared_text.py):

  shared: all of ../shared text: the ingest stage on shared/samples (every JSONL document,
      the HTML of the WARCs extracted with resiliparse, the WET) plus the reference text
      (WikiText-2 test and valid articles, CMRC 2018 paragraphs, RedPajama arXiv)
  shared x4: every document of `shared` four times: copy 0 verbatim; in copies 1-3 (new ids)
      every line is rotated at a seeded random point (at a space if it has one, else at any
      character, e.g. in Chinese): `b c. a` from `a b c.`, so sentencepiece sees four times
      as many distinct lines (it merges identical lines into one with a count)

Training, 64,000 pieces with the pipeline's options (BPE, split digits, byte fallback,
identity normalization, no dummy prefix, <|im_start|> <|im_end|>), on one core
(`num_threads` 1 for both, `--threads` to change):

  (a) ours: `train_tokenizer(inputs, prefix, TokenizerConfig(num_threads=1))`:
      mixture sample of the shards to a text file, sentencepiece training, the report
      (vocabulary composition, held-out compression per language)
  (b) sentencepiece: `SentencePieceTrainer.train` with the same options on the text file
      `write_sample` gives for the same config (written once, untimed)

  Each run is a fresh subprocess (pinned like this script) that times the call itself and
  reports its peak RSS (VmHWM) and its RSS just before the call (after imports). An
  untimed check first: (a) and (b) learn exactly the same pieces and scores.

Encoding, on all `shared` documents with the 64k model of (a), one core, in process:

  (a) `Tokenizer.encode_batch(texts)`: ids as uint16 numpy arrays
  (b) `SentencePieceProcessor.encode(texts, num_threads=1)`: lists of Python ints
  (c) `SentencePieceProcessor.encode(text)` per document (informative)

Targets: (a)/(b) below 1.20 for training (each corpus) and for encoding.

    python bench/bench_tokenizer.py [--repeats 5] [--threads 1] [--update-docs]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# common.py sits next to this file (the script's directory is first on sys.path).
from common import (
    MB,
    OUT_DIR,
    REPO,
    Timing,
    argument_parser,
    paired_ratio,
    pass_fail,
    pin_to_one_cpu,
    report_header,
    run_context,
    run_interleaved,
    shared_dir,
    update_docs_section,
)

sys.path.insert(0, str(REPO))  # tests/shared_text.py builds the corpora

VOCAB = 64_000
TARGET = 1.20
WORK = OUT_DIR / "tokenizer"
COPIES = 4


# --- corpora --------------------------------------------------------------------------------


def build_corpora() -> dict[str, list[str]]:
    """name -> stage directories; rebuilt from ../shared each run (a few seconds)."""
    from core.shards import list_shards, read_shard
    from tests.shared_text import build_shared_stages
    from tests.test_minhash_stage import write_stage_dir

    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    shared = build_shared_stages(WORK / "shared", shared_dir())
    rows = [
        row
        for stage in shared
        for shard in list_shards(stage)
        for batch in read_shard(shard)
        for row in batch.to_pylist()
    ]
    rng = random.Random(4)
    copies = [rows]
    for copy in range(1, COPIES):
        copies.append(
            [
                {
                    **row,
                    "id": f"{row['id']}#{copy}",
                    "text": "\n".join(rotate(line, rng) for line in row["text"].split("\n")),
                }
                for row in rows
            ]
        )
    repeated = write_stage_dir(WORK / "shared-x4", copies)
    return {"shared": [str(d) for d in shared], f"shared x{COPIES}": [str(repeated)]}


def rotate(line: str, rng: random.Random) -> str:
    """The line cut at a random space (else character) and its two parts swapped."""
    cuts = [i for i, c in enumerate(line) if c == " " and 0 < i < len(line) - 1]
    if cuts:
        cut = rng.choice(cuts)
        return line[cut + 1 :] + " " + line[:cut]
    if len(line) < 2:
        return line
    cut = rng.randrange(1, len(line))
    return line[cut:] + line[:cut]


def corpus_bytes(inputs: list[str]) -> tuple[int, int]:
    from tests.shared_text import stage_texts

    texts = [t for d in inputs for t in stage_texts(Path(d))]
    return len(texts), sum(len(t.encode()) for t in texts)


# --- training, one subprocess per run -------------------------------------------------------


def sentencepiece_options(cfg: Any, text_file: Path, prefix: Path, vocab: int) -> dict[str, Any]:
    """What tokenizer/train.py passes to sentencepiece, written out again here: the untimed
    check that (a) and (b) learn the same pieces catches any drift."""
    return {
        "input": str(text_file),
        "model_prefix": str(prefix),
        "model_type": "bpe",
        "vocab_size": vocab,
        "split_digits": True,
        "byte_fallback": True,
        "normalization_rule_name": "identity",
        "add_dummy_prefix": False,
        "remove_extra_whitespaces": False,
        "allow_whitespace_only_pieces": True,
        "character_coverage": cfg.character_coverage,
        "unk_id": 0,
        "bos_id": 1,
        "eos_id": 2,
        "pad_id": 3,
        "unk_piece": "<unk>",
        "bos_piece": "<s>",
        "eos_piece": "</s>",
        "pad_piece": "<pad>",
        "user_defined_symbols": list(cfg.special_tokens),
        "hard_vocab_limit": True,
        "max_sentence_length": 8192,
        "input_sentence_size": 0,
        "num_threads": cfg.thread_count(),
        "minloglevel": 2,
    }


def status_kib(field: str) -> int:
    """`VmRSS` (now) or `VmHWM` (peak) of this process, KiB. Not ru_maxrss: Linux carries
    the forking parent's peak over exec into the child's ru_maxrss."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def child(job: dict[str, Any]) -> None:
    """Run one training in this (fresh) process; print what it cost as JSON."""
    if job["kind"] == "ours":
        from tokenizer.stage import train_tokenizer
        from tokenizer.train import TokenizerConfig

        cfg = TokenizerConfig(vocab_size=VOCAB, num_threads=job["threads"])

        def call() -> dict[str, Any]:
            report = train_tokenizer(job["inputs"], Path(job["prefix"]), cfg)
            return {"sentencepiece_seconds": report["train_seconds"]}

    elif job["kind"] == "sample":
        from tokenizer.train import TokenizerConfig, write_sample

        cfg = TokenizerConfig(vocab_size=VOCAB, num_threads=job["threads"])
        prefix = job["prefix"]

        def call() -> dict[str, Any]:
            write_sample(job["inputs"], cfg, Path(prefix + ".txt"), Path(prefix + ".jsonl"))
            return {}

    else:  # sentencepiece alone: no datapipe import in this process
        import sentencepiece as spm

        def call() -> dict[str, Any]:
            spm.set_random_generator_seed(job["seed"])
            spm.SentencePieceTrainer.train(**job["options"])
            return {}

    before = status_kib("VmRSS")
    wall, cpu = time.perf_counter(), time.process_time()
    extra = call()
    result = {
        "wall": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
        "rss_before_kib": before,
        "peak_rss_kib": status_kib("VmHWM"),
        **extra,
    }
    print(json.dumps(result))


def run_child(job: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(job)],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_wall"] = time.perf_counter() - started
    return result


def model_pieces(model: Path) -> list[tuple[str, float]]:
    import sentencepiece as spm

    proc = spm.SentencePieceProcessor(model_file=str(model))
    return [(proc.id_to_piece(i), proc.get_score(i)) for i in range(proc.get_piece_size())]


def bench_training(
    corpora: dict[str, list[str]], repeats: int, threads: int
) -> dict[str, dict[str, Any]]:
    from tokenizer.train import TokenizerConfig, write_sample

    cfg = TokenizerConfig(vocab_size=VOCAB, num_threads=threads)
    results: dict[str, dict[str, Any]] = {}
    for name, inputs in corpora.items():
        slug = name.replace(" ", "")
        text_file = WORK / f"{slug}.train.txt"
        stats = write_sample(inputs, cfg, text_file, WORK / f"{slug}.heldout.jsonl")
        spm_prefix = WORK / f"{slug}-spm" / "yi"
        jobs = {
            "a": {"kind": "ours", "inputs": inputs, "prefix": str(WORK / f"{slug}-ours" / "yi")},
            "b": {
                "kind": "sentencepiece",
                "options": sentencepiece_options(cfg, text_file, spm_prefix, VOCAB),
                "seed": cfg.seed,
                "prefix": str(spm_prefix),
            },
            "s": {"kind": "sample", "inputs": inputs, "prefix": str(WORK / f"{slug}-sample")},
        }
        for job in jobs.values():
            job["threads"] = threads
            Path(job["prefix"]).parent.mkdir(parents=True, exist_ok=True)
        print(f"{name}: untimed run of (a) and (b)", file=sys.stderr)
        for job in jobs.values():
            run_child(job)
        same = model_pieces(Path(jobs["a"]["prefix"] + ".model")) == model_pieces(
            Path(jobs["b"]["prefix"] + ".model")
        )
        runs: dict[str, list[dict[str, Any]]] = {key: [] for key in jobs}
        keys = list(jobs)
        for rep in range(repeats):
            shift = rep % len(keys)
            for key in keys[shift:] + keys[:shift]:
                runs[key].append(run_child(jobs[key]))
            print(f"  {name}: repetition {rep + 1}/{repeats} done", file=sys.stderr)
        results[name] = {
            "runs": runs,
            "timings": {
                k: Timing([r["wall"] for r in v], [r["cpu"] for r in v]) for k, v in runs.items()
            },
            "same_model": same,
            "docs_bytes": corpus_bytes(inputs),
            "training_bytes": stats.training_bytes,
        }
    return results


# --- encoding, in process -------------------------------------------------------------------


def bench_encoding(model: Path, texts: list[str], repeats: int) -> dict[str, Any]:
    import sentencepiece as spm

    from tokenizer.encode import Tokenizer

    tok = Tokenizer(str(model))
    proc = spm.SentencePieceProcessor(model_file=str(model))
    ours = [a.tolist() for a in tok.encode_batch(texts)]
    same = ours == proc.encode(texts, num_threads=1) == [proc.encode(t) for t in texts]
    tokens = sum(len(ids) for ids in ours)
    jobs: dict[str, Callable[[], object]] = {
        "a": lambda: tok.encode_batch(texts),
        "b": lambda: proc.encode(texts, num_threads=1),
        "c": lambda: [proc.encode(t) for t in texts],
    }
    for job in jobs.values():  # warm-up
        job()
    return {"timings": run_interleaved(jobs, repeats), "same_ids": same, "tokens": tokens}


# --- report ---------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


RUN_LABELS = {
    "a": "(a) ours `train_tokenizer`",
    "b": "(b) sentencepiece",
    "s": "(s) `write_sample` alone, part of (a)",
}


def training_report(results: dict[str, dict[str, Any]], threads: int) -> list[str]:
    rows = [
        "| corpus | run | median s | MB/s of sample | CPU s | spread | of which sentencepiece s "
        "| process s | peak RSS MiB | RSS before call MiB | peak − before MiB | (a)/(b) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    checks: list[str] = []
    memory: list[str] = []
    for name, res in results.items():
        timings, runs = res["timings"], res["runs"]
        ratio = paired_ratio(timings["a"], timings["b"])
        checks.append(f"{name} {ratio:.2f} {pass_fail(ratio < TARGET)}")
        peak = {k: max(x["peak_rss_kib"] for x in v) for k, v in runs.items()}
        memory.append(f"{name} {peak['a'] / peak['b']:.2f}")
        sample_mb = res["training_bytes"] / MB
        for key, label in RUN_LABELS.items():
            t, r = timings[key], runs[key]
            cpu = sorted(t.cpu)[len(t.cpu) // 2]
            before = median([x["rss_before_kib"] for x in r])
            inner = {
                "a": f"{median([x.get('sentencepiece_seconds', 0) for x in r]):.2f}",
                "b": f"{t.median:.2f}",
                "s": "0",
            }[key]
            rows.append(
                f"| {name} | {label} | {t.median:.2f} | {sample_mb / t.median:.2f} | {cpu:.2f} "
                f"| {t.spread:.0%} | {inner} | {median([x['process_wall'] for x in r]):.2f} "
                f"| {peak[key] / 1024:,.0f} | {before / 1024:,.0f} "
                f"| {(peak[key] - before) / 1024:,.0f} "
                f"| {f'{ratio:.2f}' if key == 'a' else '—'} |"
            )
    same = all(res["same_model"] for res in results.values())
    corpora = "; ".join(
        f"{name}: {res['docs_bytes'][0]:,} documents, {res['docs_bytes'][1] / MB:.2f} MB, "
        f"sample {res['training_bytes'] / MB:.2f} MB"
        for name, res in results.items()
    )
    return [
        "### Training (64,000 pieces)",
        "",
        f"- Corpora: {corpora} (the sample leaves out the 1% of documents held out for the "
        "report; MB = 10^6 bytes of UTF-8).",
        f"- (a) and (b) learned the same pieces and scores: {'yes' if same else '**NO**'}.",
        f"- `num_threads` {threads} for both. Median s: the training call timed inside the "
        "subprocess; sentencepiece s: the part of (a) spent in sentencepiece (its "
        "`train_seconds`), the rest is sampling the shards (s) and the report (vocabulary "
        "composition, held-out compression, writing the JSON); process s: the "
        "whole subprocess (interpreter start and imports included); peak RSS: VmHWM of "
        "the subprocess, the largest over the repetitions; RSS before call: after imports.",
        "",
        *rows,
        "",
        f"Target (a)/(b) < {TARGET:.2f}: {'; '.join(checks)}. Peak RSS (a)/(b), no target: "
        f"{'; '.join(memory)} (mostly pyarrow and datapipe imports: compare peak − before).",
    ]


def encoding_report(res: dict[str, Any], n_docs: int, n_bytes: int) -> list[str]:
    timings = res["timings"]
    labels = {
        "a": "(a) ours `Tokenizer.encode_batch` (uint16 arrays)",
        "b": "(b) `SentencePieceProcessor.encode(texts, num_threads=1)`",
        "c": "(c) `SentencePieceProcessor.encode(text)` per document",
    }
    rows = [
        "| run | MB/s per core | docs/s | Mtokens/s | median s | spread | time / (b) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, label in labels.items():
        t = timings[key]
        rows.append(
            f"| {label} | {n_bytes / MB / t.median:.2f} | {n_docs / t.median:,.0f} "
            f"| {res['tokens'] / 1e6 / t.median:.2f} | {t.median:.3f} | {t.spread:.0%} "
            f"| {paired_ratio(t, timings['b']):.2f} |"
        )
    ratio = paired_ratio(timings["a"], timings["b"])
    return [
        "### Encoding",
        "",
        f"- Texts: the {n_docs:,} `shared` documents, {n_bytes / MB:.2f} MB, "
        f"{res['tokens']:,} tokens with the 64k model of (a) on `shared` "
        f"({n_bytes / res['tokens']:.2f} bytes per token); same ids from (a), (b) and (c): "
        f"{'yes' if res['same_ids'] else '**NO**'}.",
        "",
        *rows,
        "",
        f"Target (a)/(b) < {TARGET:.2f}: {ratio:.2f} {pass_fail(ratio < TARGET)}.",
    ]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argument_parser(__doc__, repeats=5)
    parser.add_argument("--threads", type=int, default=1, help="sentencepiece training threads")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0
    started = time.perf_counter()
    pinning = pin_to_one_cpu(args.cpu)
    context = run_context(pinning, ("sentencepiece", "pyarrow", "numpy"), args.repeats)
    corpora = build_corpora()
    training = bench_training(corpora, args.repeats, args.threads)
    from tests.shared_text import stage_texts

    texts = [t for d in corpora["shared"] for t in stage_texts(Path(d))]
    model = WORK / "shared-ours" / "yi.model"
    encoding = bench_encoding(model, texts, args.repeats)
    n_bytes = sum(len(t.encode()) for t in texts)
    lines = [
        report_header(context),
        f"- Method: {args.repeats} repetitions, runs interleaved (order rotated each "
        "repetition), one CPU; medians of wall time, spread = (max − min) / median; "
        "(a)/(b) = median of per-repetition time ratios.",
        "",
        *training_report(training, args.threads),
        "",
        *encoding_report(encoding, len(texts), n_bytes),
    ]
    text = "\n".join(lines)
    print(text)
    if args.update_docs:
        update_docs_section(
            "bench_tokenizer", "## Tokenizer (`bench/bench_tokenizer.py`)\n\n" + text
        )
    print(f"total {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
