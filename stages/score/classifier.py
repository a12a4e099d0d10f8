"""Binary fastText text classifiers: the quality classifier (reference-like text such as
Wikipedia and papers against random web) and the safety classifier (unsafe against safe pages)
are both trained here; `positive_probability` is P(the positive class).

One joint English-Chinese model. Chinese is segmented into words first (fastText splits on
spaces), English lower-cased into word and punctuation tokens, so both share one bag of word
n-grams. Training is single-threaded by default so that the same data and seed give the same
model file, which keeps a committed model reproducible by its documented command.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from core.integrity import check_model, local_model, once_per_version
from core.labels import Label, fold_of
from core.shards import atomic_write_json, temporary_path
from stages.base import StageConfig
from stages.score.batch import JIEBA, REGEX, TextBatch, lowered_tokens, prefix_counts
from stages.score.chartable import ALNUM, HAN, decode
from stages.text import count_han, tokenize

POSITIVE, NEGATIVE = "__label__positive", "__label__negative"
_MAX_CHARS = 20_000  # a document's label is settled well before; bounds cost on giant pages


def _looks_chinese(text: str) -> bool:
    sample = text[:2000]
    return count_han(sample) > 0.2 * max(sum(ch.isalnum() for ch in sample), 1)


def model_tokens(text: str) -> str:
    """The one-line, space-separated token string the model sees."""
    text = text[:_MAX_CHARS]
    lang = "zh" if _looks_chinese(text) else "en"
    return " ".join(token.lower() for token in tokenize(text, lang))


def is_held_out(text: str, share: float) -> bool:
    """Deterministic split by content hash: the same document is always on the same side."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share


def training_pieces(texts: Iterable[str], size: int = 1500) -> Iterator[str]:
    """Cut documents into paragraph-aligned pieces of about `size` characters, so a long
    Wikipedia article and a short web page weigh alike and the model sees many examples."""
    for text in texts:
        piece: list[str] = []
        length = 0
        for paragraph in text.split("\n"):
            piece.append(paragraph)
            length += len(paragraph) + 1
            if length >= size:
                yield "\n".join(piece).strip()
                piece, length = [], 0
        if length > 200:
            yield "\n".join(piece).strip()


class TrainOptions(StageConfig):
    """fastText options. Chosen on the held-out split of the real samples (docs/scorers.md):
    F1 0.96 against 0.87 for fastText's usual lr 0.5 / 10 epochs / dim 64, and a model half
    the size. One thread: the same data and seed give the same model."""

    epochs: int = Field(25, ge=1)
    learning_rate: float = Field(0.2, gt=0)
    word_ngrams: int = Field(2, ge=1)
    dim: int = Field(32, ge=1)
    min_count: int = Field(2, ge=1)
    threads: int = Field(1, ge=1)
    seed: int = 0
    held_out_share: float = Field(0.1, gt=0, lt=1)


def _write_lines(path: Path, examples: Iterable[tuple[str, str]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for label, text in examples:
            tokens = model_tokens(text)
            if tokens:
                out.write(f"{label} {tokens}\n")
                count += 1
    return count


def _scores(scores: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    predicted = scores >= 0.5
    tp = int(np.sum(predicted & truth))
    precision = tp / max(int(predicted.sum()), 1)
    recall = tp / max(int(truth.sum()), 1)
    deciles = np.linspace(0, 1, 11)

    def quantiles(values: np.ndarray) -> list[float]:
        return np.round(np.quantile(values, deciles), 4).tolist() if values.size else []

    return {
        "held_out": {"positive": int(truth.sum()), "negative": int((~truth).sum())},
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(2 * precision * recall / max(precision + recall, 1e-9), 4),
        "score_deciles_positive": quantiles(scores[truth]),
        "score_deciles_negative": quantiles(scores[~truth]),
    }


def _metrics(model: Any, held_out: list[tuple[str, str]]) -> dict[str, Any]:
    """Held-out precision, recall, F1 and score deciles, overall and per language."""
    scores = np.array([positive_probability(model, text) for _, text in held_out])
    truth = np.array([label == POSITIVE for label, _ in held_out])
    chinese = np.array([_looks_chinese(text) for _, text in held_out])
    return {
        **_scores(scores, truth),
        # Where a score falls among web documents: percentile thresholds read this table.
        "web_percentiles": np.round(np.percentile(scores[~truth], np.arange(101)), 6).tolist()
        if (~truth).any()
        else [],
        "by_language": {
            "en": _scores(scores[~chinese], truth[~chinese]),
            "zh": _scores(scores[chinese], truth[chinese]),
        },
    }


def train_classifier(
    positives: Iterable[str],
    negatives: Iterable[str],
    output: Path,
    options: TrainOptions,
    quantize: bool = True,
) -> dict[str, Any]:
    """Train, evaluate on the held-out split, quantize (a model that is shipped), save
    `output` and its metrics JSON."""
    import fasttext

    examples = [(POSITIVE, t) for t in positives] + [(NEGATIVE, t) for t in negatives]
    held_out = [e for e in examples if is_held_out(e[1], options.held_out_share)]
    train = [e for e in examples if not is_held_out(e[1], options.held_out_share)]
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        train_file = Path(tmp) / "train.txt"
        _write_lines(train_file, train)
        model = fasttext.train_supervised(
            input=str(train_file),
            epoch=options.epochs,
            lr=options.learning_rate,
            wordNgrams=options.word_ngrams,
            dim=options.dim,
            minCount=options.min_count,
            thread=options.threads,
            seed=options.seed,
            verbose=0,
        )
        if quantize:
            model.quantize(
                input=str(train_file),
                retrain=True,
                qnorm=True,
                cutoff=100_000,
                thread=options.threads,
                verbose=0,
            )
    metrics = {
        "train": {
            "positive": sum(lab == POSITIVE for lab, _ in train),
            "negative": sum(lab == NEGATIVE for lab, _ in train),
        },
        **_metrics(model, held_out),
        "options": options.model_dump(),
    }
    tmp_model = temporary_path(output)
    model.save_model(str(tmp_model))
    os.replace(tmp_model, output)
    atomic_write_json(output.with_suffix(".metrics.json"), metrics)
    return metrics


# Loads and uses a fastText model in a child process before a worker does (core/integrity.py):
# a damaged file that crashes fastText's parser kills the child, not the worker.
FASTTEXT_PROBE = (
    "import sys, fasttext; m = fasttext.load_model(sys.argv[1]); "
    "m.predict('a probe sentence'); m.predict('一个探测句子' * 50)"
)


@once_per_version
def load_classifier(path: str) -> Any:
    """Once per worker process and model version: Ray workers call this per batch and get the
    same object. A sealed model whose bytes changed, or an unsealed one fastText cannot use,
    is refused."""
    import fasttext

    local = local_model(path)
    check_model(local, FASTTEXT_PROBE)
    return fasttext.load_model(local)


def cross_fitted(
    pages: Sequence[tuple[str, Label]],
    examples: Callable[[list[tuple[str, Label]]], tuple[list[str], list[str]]],
    options: TrainOptions,
) -> np.ndarray:
    """Each page's positive probability from a classifier trained on the `examples`
    (positives, negatives) of the pages of the other fold (`fold_of`): no page is scored by a
    model that saw it. The fold models are unquantized and live in a temporary directory."""
    import fasttext

    folds = np.array([fold_of(label.id) for _, label in pages])
    scores = np.zeros(len(pages))
    with tempfile.TemporaryDirectory() as tmp:
        for fold in (0, 1):
            others = [page for page, f in zip(pages, folds, strict=True) if f != fold]
            path = Path(tmp) / f"fold{fold}.bin"
            train_classifier(*examples(others), path, options, quantize=False)
            model = fasttext.load_model(str(path))
            for i in np.flatnonzero(folds == fold):
                scores[i] = positive_probability(model, pages[i][0])
    return scores


def positive_probability(model: Any, text: str) -> float:
    labels, probs = model.predict(model_tokens(text), k=2)
    return _positive(labels, probs)


def _positive(labels: Sequence[str], probs: Sequence[float]) -> float:
    scores = dict(zip(labels, probs, strict=False))
    return float(min(scores.get(POSITIVE, 1.0 - scores.get(NEGATIVE, 0.0)), 1.0))


# --- every document of a batch at once --------------------------------------------------------

_CHINESE_SAMPLE = 2000  # `_looks_chinese` reads this many characters


def batch_model_tokens(batch: TextBatch) -> list[str]:
    """`model_tokens` of every text of the batch, from the batch's tokens: each text's first
    _MAX_CHARS characters, split as Chinese where `_looks_chinese` says so, the tokens
    lower-cased through the batch's table and joined by spaces. A text holding a character
    whose lower case is not one code point (İ, Σ) is lower-cased by Python, its tokens joined
    first (Python's one contextual rule, the final sigma, stops at a space either way)."""
    han = prefix_counts(batch, _CHINESE_SAMPLE, HAN)
    alnum = prefix_counts(batch, _CHINESE_SAMPLE, ALNUM)
    chinese = han > 0.2 * np.maximum(alnum, 1)
    spans = batch.tokens(np.where(chinese, JIEBA, REGEX), limit=_MAX_CHARS)
    lower_of = batch.tables[1]
    cp, parts, redo = lowered_tokens(batch.cp, lower_of, spans.starts, spans.ends, spans.offsets)
    joined = decode(cp)
    lines = [joined[a:b] for a, b in parts.T.tolist()]
    for i in np.flatnonzero(redo).tolist():
        lines[i] = lines[i].lower()
    return lines


def positive_probabilities(model: Any, token_lines: list[str]) -> list[float]:
    """`positive_probability` of each `model_tokens` line, predicted as one list."""
    all_labels, all_probs = model.predict(token_lines, k=2)
    return [_positive(labels, probs) for labels, probs in zip(all_labels, all_probs, strict=True)]
