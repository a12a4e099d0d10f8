"""The commercial page classifier: fastText, trained by train-quality on the labelled pages
(ads, product listings and SEO spam against good prose, reference and news), with the
probability above which the topics stage downsamples a page whatever its topics.

Why per page: LDA files most ads under their subject (a law firm's ad under law, a hair
dryer's under hair care), so a topic's weight reaches few of them (docs/quality.md). Why this
threshold: the probability that `max_good_removed` of the labelled good pages exceed, each
good page scored by a model trained on the other fold; a model scores the pages it was
trained on too confidently to set it. The threshold and how it was set are written beside
the model (`commercial.json`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from core.integrity import check_sealed, local_model, once_per_version
from core.labels import Label
from core.shards import atomic_write_json
from stages.score.batch import TextBatch
from stages.score.classifier import (
    TrainOptions,
    batch_model_tokens,
    cross_fitted,
    load_classifier,
    positive_probabilities,
    train_classifier,
    training_pieces,
)

COMMERCIAL = frozenset({"ad", "product_listing", "seo_spam"})
GOOD_TEXT = frozenset({"good_prose", "reference", "news"})
MIN_PAGES = 10  # of each kind


class CommercialThreshold(TypedDict):
    """`commercial.json`: the threshold and how it was set."""

    threshold: float  # a page whose probability is above this is downsampled
    max_good_removed: float
    commercial_pages: int
    good_pages: int
    # of the labelled pages scored out of fold: the share above the threshold
    commercial_above: float
    good_above: float


def threshold_file(model: str) -> str:
    """Where the threshold of a model is: beside it, `.json` for `.ftz`."""
    return model[: -len(".ftz")] + ".json" if model.endswith(".ftz") else model + ".json"


def _examples(pages: Sequence[tuple[str, Label]]) -> tuple[list[str], list[str]]:
    """Pieces of the commercial pages (positives) and of the good ones (negatives)."""
    commercial = [text for text, label in pages if label.category in COMMERCIAL]
    good = [text for text, label in pages if label.category in GOOD_TEXT]
    return list(training_pieces(commercial)), list(training_pieces(good))


def fit_commercial(
    pages: Sequence[tuple[str, Label]], output: Path, options: TrainOptions, max_good_removed: float
) -> CommercialThreshold:
    """Train the classifier of all `pages` into `output`, set its threshold from the pages
    scored out of fold and write it beside. Refuses pages that hold too few of either kind."""
    commercial = np.array([label.category in COMMERCIAL for _, label in pages])
    good = np.array([label.category in GOOD_TEXT for _, label in pages])
    if min(commercial.sum(), good.sum()) < MIN_PAGES:
        raise ValueError(
            f"the labelled pages hold {commercial.sum()} ads, listings or spam pages and "
            f"{good.sum()} good ones; the commercial classifier needs {MIN_PAGES} of each "
            "(or leave `commercial` out of labelled.models)"
        )
    held_out = cross_fitted(pages, _examples, options)
    train_classifier(*_examples(pages), output, options, quantize=True)
    threshold = float(np.quantile(held_out[good], 1 - max_good_removed))
    result: CommercialThreshold = {
        "threshold": round(threshold, 6),
        "max_good_removed": max_good_removed,
        "commercial_pages": int(commercial.sum()),
        "good_pages": int(good.sum()),
        "commercial_above": round(float(np.mean(held_out[commercial] > threshold)), 4),
        "good_above": round(float(np.mean(held_out[good] > threshold)), 4),
    }
    atomic_write_json(threshold_file(str(output)), result)
    return result


@once_per_version
def load_threshold(model: str) -> CommercialThreshold:
    """The threshold written beside `model` by train-quality; anything else is refused."""
    local = local_model(threshold_file(model))
    check_sealed(local)
    try:
        content: Any = json.loads(Path(local).read_text(encoding="utf-8"))
        content["threshold"] = float(content["threshold"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"{threshold_file(model)} is not a commercial threshold (train-quality writes "
            f"one beside {Path(model).name}): {err}"
        ) from err
    return content


def commercial_probabilities(model: str, texts: Sequence[str]) -> np.ndarray:
    """The classifier's probability that each text is an ad, a listing or spam."""
    lines = batch_model_tokens(TextBatch.of(texts))
    return np.array(positive_probabilities(load_classifier(model), lines), dtype=np.float64)
