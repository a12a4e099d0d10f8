"""`datapipe train-tokenizer`: sample stage shards, train the BPE tokenizer, write its report.

    datapipe train-tokenizer --input work/topics --output work/tokenizer/yi [--vocab-size 64000]

Writes PREFIX.model and PREFIX.vocab (sentencepiece), PREFIX.heldout.jsonl (the held-out
documents) and PREFIX.json (config, sample, special token ids, vocabulary composition,
compression per language, fingerprint). Reuses the model when inputs and options are
unchanged, like the other training commands.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.shards import atomic_write_json, expand_shards
from core.stagedir import file_identity, fingerprint
from pipeline import __version__
from tokenizer.encode import Tokenizer
from tokenizer.report import compression, vocabulary_composition
from tokenizer.train import (
    CONTROL_TOKENS,
    TokenizerConfig,
    train_sentencepiece,
    vocabulary_for,
    write_sample,
)

# A pipeline's train-tokenizer entry writes WORK_DIR/<entry>/tokenizer.{model,vocab,json}.
PIPELINE_PREFIX = "tokenizer"


def add_tokenizer_parser(sub: Any, add_field_option: Callable[..., None]) -> None:
    parser = sub.add_parser(
        "train-tokenizer",
        help="train the sentencepiece BPE tokenizer (64k, digits split, byte fallback)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--input", nargs="+", required=True, metavar="DIR", help="stage dirs")
    parser.add_argument("--output", required=True, metavar="PREFIX", help="e.g. work/tok/yi")
    group = parser.add_argument_group("tokenizer options")
    for name, field in TokenizerConfig.model_fields.items():
        add_field_option(group, name, field)
    parser.add_argument("--force", action="store_true", help="retrain even if up to date")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> None:
    options = {
        name: getattr(args, name)
        for name in TokenizerConfig.model_fields
        if getattr(args, name) is not None
    }
    report = train_tokenizer(args.input, Path(args.output), TokenizerConfig(**options), args.force)
    print(summary(report), file=sys.stderr)


def summary(report: dict[str, Any]) -> str:
    if report.get("skipped"):
        return f"{report['model']} is up to date (same inputs and options); --force retrains"
    langs = ", ".join(
        f"{lang} {c['bytes_per_token']} B/token" for lang, c in report["compression"].items()
    )
    return (
        f"trained {report['vocab_size']:,} pieces on {report['training_mb']:.1f} MB in "
        f"{report['train_seconds']:.0f} s -> {report['model']}; held-out: {langs}"
    )


def with_ext(prefix: Path, ext: str) -> Path:
    """PREFIX + ext (a prefix may contain dots, so never `with_suffix`)."""
    return prefix.with_name(prefix.name + ext)


def _recorded_fingerprint(meta_file: Path) -> str | None:
    return json.loads(meta_file.read_text()).get("fingerprint") if meta_file.exists() else None


def train_tokenizer(
    inputs: list[str], prefix: Path, cfg: TokenizerConfig, force: bool = False
) -> dict[str, Any]:
    prefix.parent.mkdir(parents=True, exist_ok=True)
    model, meta_file = with_ext(prefix, ".model"), with_ext(prefix, ".json")
    fp = fingerprint(
        {
            "inputs": [file_identity(str(p)) for p in expand_shards(inputs)],
            "config": cfg.model_dump(mode="json"),
            "version": __version__,
        }
    )
    if not force and model.exists() and _recorded_fingerprint(meta_file) == fp:
        return {"skipped": True, "model": str(model)}
    train_file = with_ext(prefix, ".train.txt")
    heldout_file = with_ext(prefix, ".heldout.jsonl")
    # Trained under a temporary prefix and renamed: a crash never leaves a partial model.
    tmp = with_ext(prefix, ".training")
    try:
        sample = write_sample(inputs, cfg, train_file, heldout_file)
        for warning in sample.warnings:
            print(f"train-tokenizer: warning: {warning}", file=sys.stderr)
        vocab = vocabulary_for(cfg, sample.training_bytes)
        started = time.perf_counter()
        train_sentencepiece(cfg, train_file, tmp, vocab)
    finally:
        train_file.unlink(missing_ok=True)  # as large as the sample; never kept
    train_seconds = time.perf_counter() - started
    for suffix in (".model", ".vocab"):
        os.replace(with_ext(tmp, suffix), with_ext(prefix, suffix))
    tok = Tokenizer(str(model))
    report = {
        "model": str(model),
        "vocab_size": tok.vocab_size,
        "requested_vocab_size": cfg.vocab_size,
        "dtype": tok.dtype.__name__,
        "token_ids": {
            piece: tok.processor.piece_to_id(piece)
            for piece in (*CONTROL_TOKENS, *cfg.special_tokens)
        },
        "training_mb": sample.training_bytes / 2**20,
        "train_seconds": round(train_seconds, 2),
        "sample": {
            "source_bytes": sample.source_bytes,
            "sampled_bytes": sample.sampled_bytes,
            "sample_rates": sample.sample_rates,
            "heldout_bytes": sample.heldout_bytes,
            "warnings": sample.warnings,
        },
        "composition": vocabulary_composition(tok, cfg.special_tokens),
        "compression": compression(tok, heldout_file),
        "config": cfg.model_dump(mode="json"),
        "fingerprint": fp,
    }
    atomic_write_json(meta_file, report)
    return report
