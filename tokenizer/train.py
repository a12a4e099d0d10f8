"""Train the sentencepiece BPE tokenizer on a mixture-aware sample of stage shards.

Yi's tokenizer: BPE, 64,000 pieces, numbers split into single digits, rare characters fall
back to UTF-8 bytes, identity normalization (no NFKC), no dummy prefix. The training text is
sampled from the shards in proportion to the configured mixture and streamed to a file, so
the corpus is never held in memory; sentencepiece reads that file.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
from pydantic import Field

from core.seeded import unit_hash
from core.shards import read_shard
from core.stagedir import input_files
from stages.base import StageConfig

# Training text needed per vocabulary entry by default: with less, late BPE merges are learned
# from pairs seen a handful of times (and sentencepiece may not find enough pieces at all).
MIN_BYTES_PER_PIECE = 100
MIN_VOCABULARY = 1000  # the smallest vocabulary `allow_smaller_vocabulary` falls back to
# sentencepiece skips longer "sentences"; longer lines are cut at this many characters
MAX_LINE_CHARS = 2048
CONTROL_TOKENS = ("<unk>", "<s>", "</s>", "<pad>")  # ids 0-3, as Llama's tokenizer (+ pad)


class TokenizerConfig(StageConfig):
    """What `datapipe train-tokenizer` trains; every sentencepiece option it sets is here."""

    vocab_size: int = Field(64_000, ge=256, description="pieces, control and special included")
    min_bytes_per_piece: int = Field(
        MIN_BYTES_PER_PIECE,
        ge=1,
        description="training text required per piece; below it the vocabulary is refused "
        "(or made smaller)",
    )
    allow_smaller_vocabulary: bool = Field(
        False,
        description="when the sample is too small, train the vocabulary it supports instead "
        "of failing (for small fixtures)",
    )
    character_coverage: float = Field(
        0.9999, gt=0, le=1, description="share of characters covered by pieces; rarer: bytes"
    )
    special_tokens: list[str] = Field(
        default_factory=lambda: ["<|im_start|>", "<|im_end|>"],
        description="control tokens, ids 4, 5... in this order: reserved for the trainer's "
        "chat or document structure; text never encodes to them (web text that contains "
        "'<|im_start|>' gets ordinary pieces)",
    )
    mixture: dict[str, float] = Field(
        default_factory=dict,
        description="share of training text per `source`; empty: each source's natural share",
    )
    training_mb: float = Field(
        1024, gt=0, description="training text to sample, at most (MB of UTF-8)"
    )
    heldout_share: float = Field(
        0.01, ge=0, lt=0.5, description="documents held out for the tokenizer report"
    )
    seed: int = Field(1, description="seed of the sample and of sentencepiece")
    num_threads: int | None = Field(
        None, ge=1, description="training threads; unset: every CPU this process may use"
    )

    def thread_count(self) -> int:
        """Configured, else the CPUs this process may run on (not the machine's count)."""
        return self.num_threads or len(os.sched_getaffinity(0)) or 1


class NotEnoughText(ValueError):
    """The sample is too small for the requested vocabulary."""


@dataclass
class SampleStats:
    source_bytes: dict[str, int] = field(default_factory=dict)  # in the corpus
    sampled_bytes: dict[str, int] = field(default_factory=dict)  # written for training
    sample_rates: dict[str, float] = field(default_factory=dict)
    heldout_bytes: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def training_bytes(self) -> int:
        return sum(self.sampled_bytes.values())


HASH_BUCKETS = 1 << 16  # resolution of the per-source byte budget (1/65,536 of a source)


@dataclass
class SourceBytes:
    """Bytes of training candidates (held-out documents excluded) per source, in total and
    by hash bucket, so a source's budget becomes a hash threshold in one pass."""

    totals: Counter[str] = field(default_factory=Counter)
    histograms: dict[str, list[int]] = field(default_factory=dict)

    def add(self, source: str, position: float, size: int) -> None:
        self.totals[source] += size
        histogram = self.histograms.setdefault(source, [0] * HASH_BUCKETS)
        histogram[int(position * HASH_BUCKETS)] += size

    def threshold(self, source: str, budget: float) -> float:
        """The smallest hash threshold whose documents hold at least `budget` bytes."""
        if budget >= self.totals[source]:
            return 1.0
        running = 0
        for bucket, size in enumerate(self.histograms[source]):
            running += size
            if running >= budget:
                return (bucket + 1) / HASH_BUCKETS
        return 1.0


def _rows(shard: Path) -> Iterator[tuple[str, str, str, str | None]]:
    """(id, text, source, lang) of every document of a shard."""
    for batch in read_shard(shard):
        langs = (
            batch.column("lang").to_pylist()
            if "lang" in batch.schema.names
            else [None] * batch.num_rows
        )
        yield from zip(
            batch.column("id").to_pylist(),
            batch.column("text").to_pylist(),
            batch.column("source").to_pylist(),
            langs,
            strict=True,
        )


def source_bytes(shards: Sequence[Path], cfg: TokenizerConfig) -> SourceBytes:
    """First pass: reads ids, sources and text lengths only (no text is decoded)."""
    found = SourceBytes()
    for shard in shards:
        for batch in read_shard(shard):
            sizes = pc.binary_length(batch.column("text")).to_pylist()
            ids = batch.column("id").to_pylist()
            for doc_id, source, size in zip(
                ids, batch.column("source").to_pylist(), sizes, strict=True
            ):
                if unit_hash(cfg.seed, "heldout", doc_id) >= cfg.heldout_share:
                    found.add(source, unit_hash(cfg.seed, "train", doc_id), size)
    return found


def sample_budgets(
    totals: Counter[str], mixture: dict[str, float], target_bytes: float
) -> tuple[dict[str, float], list[str]]:
    """Bytes to sample per source so the training text follows the mixture. The sample
    shrinks below `target_bytes` when a source is too scarce for its share (it is taken whole
    and the others scaled to match), which is reported."""
    shares = mixture or {s: n / max(sum(totals.values()), 1) for s, n in totals.items()}
    norm = sum(shares.get(s, 0.0) for s in totals) or 1.0
    weights = {s: shares.get(s, 0.0) / norm for s in totals}
    warnings = [
        f"source {s!r} of the mixture has no documents" for s in sorted(set(mixture) - set(totals))
    ]
    # the largest sample that keeps every ratio: no source can give more than all it has
    limits = {s: totals[s] / w for s, w in weights.items() if w > 0}
    scale = min([target_bytes, *limits.values()])
    scarce = [s for s, limit in limits.items() if limit < target_bytes]
    if mixture and scarce:
        warnings.append(
            f"source(s) {', '.join(sorted(scarce))} too small for their share of "
            f"{target_bytes / 2**20:,.0f} MB: the sample is {scale / 2**20:,.1f} MB so the "
            "mixture ratios hold"
        )
    return {s: scale * w for s, w in weights.items()}, warnings


def _lines(text: str) -> Iterator[str]:
    for line in text.split("\n"):
        for start in range(0, len(line), MAX_LINE_CHARS):
            piece = line[start : start + MAX_LINE_CHARS]
            if piece.strip():
                yield piece


def write_sample(
    inputs: Sequence[str], cfg: TokenizerConfig, train_file: Path, heldout_file: Path
) -> SampleStats:
    """Stream the mixture-aware training sample (one line per text line) and a held-out set
    of documents (JSON lines with `lang`) for the report. Two passes over the shards: bytes
    per source by hash bucket, then the documents under each source's hash threshold, so each
    source gives its budget to within 1/65,536 of its size."""
    shards = input_files(inputs)
    if not shards:
        raise FileNotFoundError(f"no shards (part-*.arrow) in {', '.join(inputs)}")
    found = source_bytes(shards, cfg)
    budgets, warnings = sample_budgets(found.totals, cfg.mixture, cfg.training_mb * 2**20)
    rates = {s: found.threshold(s, budget) for s, budget in budgets.items()}
    stats = SampleStats(dict(found.totals), Counter(), rates, 0, warnings)
    with train_file.open("w", encoding="utf-8") as train, heldout_file.open("w") as heldout:
        for shard in shards:
            for doc_id, text, source, lang in _rows(shard):
                if unit_hash(cfg.seed, "heldout", doc_id) < cfg.heldout_share:
                    heldout.write(json.dumps({"text": text, "lang": lang}) + "\n")
                    stats.heldout_bytes += len(text.encode())
                elif unit_hash(cfg.seed, "train", doc_id) < rates.get(source, 0.0):
                    for line in _lines(text):
                        train.write(line + "\n")
                    stats.sampled_bytes[source] += len(text.encode())
    stats.sampled_bytes = dict(stats.sampled_bytes)
    return stats


def vocabulary_for(cfg: TokenizerConfig, training_bytes: int) -> int:
    """The vocabulary to train: as configured if the sample is large enough, else smaller
    (if allowed) or a NotEnoughText error saying how much text is needed."""
    supported = training_bytes // cfg.min_bytes_per_piece
    if supported >= cfg.vocab_size:
        return cfg.vocab_size
    needed = cfg.vocab_size * cfg.min_bytes_per_piece
    if not cfg.allow_smaller_vocabulary or supported < MIN_VOCABULARY:
        if not cfg.allow_smaller_vocabulary:
            trains = max(supported, 0)
            remedy = f"or set allow_smaller_vocabulary (it would train {trains:,} pieces)"
        else:  # set, but even the smallest vocabulary needs more text
            smallest = MIN_VOCABULARY
            remedy = f"or lower min_bytes_per_piece (the smallest vocabulary is {smallest:,})"
        raise NotEnoughText(
            f"a {cfg.vocab_size:,}-piece vocabulary needs at least {needed / 2**20:,.1f} MB "
            f"of training text ({cfg.min_bytes_per_piece} bytes per piece); the sample has "
            f"{training_bytes / 2**20:,.2f} MB. Add input, raise training_mb, {remedy}."
        )
    return int(supported)


def train_sentencepiece(cfg: TokenizerConfig, text_file: Path, prefix: Path, vocab: int) -> None:
    import sentencepiece as spm

    spm.set_random_generator_seed(cfg.seed)
    try:
        _train(spm, cfg, text_file, prefix, vocab)
        _forget_paths(Path(f"{prefix}.model"))
    except RuntimeError as err:
        if "required_chars" not in str(err):
            raise
        counts = re.search(r"(\d+) vs (\d+)", str(err))
        needed = f"{counts.group(2)} characters" if counts else "more characters"
        raise NotEnoughText(
            f"{vocab:,} pieces cannot hold the {needed} that character_coverage "
            f"{cfg.character_coverage} requires: raise vocab_size or lower character_coverage"
        ) from None


def _forget_paths(model_file: Path) -> None:
    """Drop the training file and prefix sentencepiece records in the model: the same text
    and options then give the same model bytes in any directory."""
    from sentencepiece import sentencepiece_model_pb2

    model = sentencepiece_model_pb2.ModelProto()
    model.ParseFromString(model_file.read_bytes())
    del model.trainer_spec.input[:]
    model.trainer_spec.model_prefix = ""
    model_file.write_bytes(model.SerializeToString())


def _train(spm: Any, cfg: TokenizerConfig, text_file: Path, prefix: Path, vocab: int) -> None:
    spm.SentencePieceTrainer.train(
        input=str(text_file),
        model_prefix=str(prefix),
        model_type="bpe",
        vocab_size=vocab,
        split_digits=True,
        byte_fallback=True,
        normalization_rule_name="identity",
        add_dummy_prefix=False,
        remove_extra_whitespaces=False,
        allow_whitespace_only_pieces=True,
        character_coverage=cfg.character_coverage,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=3,
        unk_piece=CONTROL_TOKENS[0],
        bos_piece=CONTROL_TOKENS[1],
        eos_piece=CONTROL_TOKENS[2],
        pad_piece=CONTROL_TOKENS[3],
        # Control, not user-defined: sentencepiece never produces a control id from text, so
        # crawled text cannot forge chat structure in training data (docs/tokenizer.md).
        control_symbols=list(cfg.special_tokens),
        hard_vocab_limit=True,
        max_sentence_length=4 * MAX_LINE_CHARS,
        input_sentence_size=0,  # every sampled line: the sample is already the right size
        num_threads=cfg.thread_count(),
        minloglevel=2,
    )
