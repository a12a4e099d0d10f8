"""The train-tokenizer stage: sample stage shards, train the BPE tokenizer, write its report.

    datapipe train-tokenizer --input work/topics --output work/train-tokenizer [--vocab-size N]

Writes tokenizer.model and tokenizer.vocab (sentencepiece), tokenizer.heldout.jsonl (the
held-out documents) and tokenizer.json (config, sample, special token ids, vocabulary
composition, compression per language) into its stage directory. Like every stage it is
skipped while its inputs and options are unchanged; a later export uses the model.
`train_tokenizer` composes train.py's sample and sentencepiece steps with report.py's
measurements (report.py imports train.py, so the composition cannot live in train.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core import storage
from core.integrity import seal
from core.shards import atomic_write_json, temporary_path
from stages.base import TrainingStage
from tokenizer.encode import Tokenizer
from tokenizer.report import TokenizerReport, compression, vocabulary_composition
from tokenizer.train import (
    CONTROL_TOKENS,
    TokenizerConfig,
    train_sentencepiece,
    vocabulary_for,
    write_sample,
)

# The stage writes <stage dir>/tokenizer.{model,vocab,json} (and tokenizer.heldout.jsonl).
MODEL_PREFIX = "tokenizer"


def describe_training(report: TokenizerReport) -> str:
    langs = ", ".join(
        f"{lang} {c['bytes_per_token']} B/token" for lang, c in report["compression"].items()
    )
    return (
        f"trained {report['vocab_size']:,} pieces on {report['training_mb']:.1f} MiB in "
        f"{report['train_seconds']:.0f} s -> {report['model']}; held-out: {langs}"
    )


def with_ext(prefix: Path, ext: str) -> Path:
    """PREFIX + ext (a prefix may contain dots, so never `with_suffix`)."""
    return prefix.with_name(prefix.name + ext)


def train_tokenizer(inputs: Sequence[str], prefix: Path, cfg: TokenizerConfig) -> TokenizerReport:
    """Sample `inputs` (stage directories or shards), train, and write PREFIX.model, .vocab,
    .heldout.jsonl and the report PREFIX.json, which is also returned."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    model, meta_file = with_ext(prefix, ".model"), with_ext(prefix, ".json")
    heldout_file = with_ext(prefix, ".heldout.jsonl")
    # Everything is written under names unique to this attempt and renamed when complete: a
    # crash or a retried task never leaves a partial model or a truncated held-out file.
    tmp = temporary_path(prefix)
    train_file, tmp_heldout = with_ext(tmp, ".train.txt"), with_ext(tmp, ".heldout.jsonl")
    try:
        sample = write_sample(inputs, cfg, train_file, tmp_heldout)
        vocab = vocabulary_for(cfg, sample.training_bytes)
        started = time.perf_counter()
        train_sentencepiece(cfg, train_file, tmp, vocab)
    except BaseException:
        tmp_heldout.unlink(missing_ok=True)
        raise
    finally:
        train_file.unlink(missing_ok=True)  # as large as the sample; never kept
    train_seconds = time.perf_counter() - started
    for suffix in (".model", ".vocab"):
        os.replace(with_ext(tmp, suffix), with_ext(prefix, suffix))
    os.replace(tmp_heldout, heldout_file)
    seal(model)
    tok = Tokenizer(str(model))
    report: TokenizerReport = {
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
    }
    atomic_write_json(meta_file, report)
    return report


class TokenizerTrainingStage(TrainingStage):
    name = "train-tokenizer"
    summary = "Train the sentencepiece BPE tokenizer (64k, digits split, byte fallback)."
    config_class = TokenizerConfig
    config: TokenizerConfig

    def train(self, inputs: Sequence[str], output_dir: Path) -> dict[str, Any]:
        report = train_tokenizer(inputs, output_dir / MODEL_PREFIX, self.config)
        summary = {key: report[key] for key in ("vocab_size", "training_mb", "compression")}
        warnings = report["sample"]["warnings"]
        return {"description": describe_training(report), "warnings": warnings, **summary}

    def provides(self, output_dir: str) -> dict[str, Any]:
        return {"tokenizer": storage.join(output_dir, f"{MODEL_PREFIX}.model")}
