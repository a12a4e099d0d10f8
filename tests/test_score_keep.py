"""keep_score: a logistic regression per language over the score stage's own signals, fitted
on labelled pages; the model file is checked when it is loaded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stages.score.keep import (
    FEATURES,
    OTHER_LANGUAGES,
    feature_matrix,
    fit_keep_model,
    fit_logistic,
    load_keep_model,
)
from tests.real_texts import real_documents


def test_the_regression_learns_which_feature_decides() -> None:
    rng = np.random.default_rng(3)
    features = rng.normal(size=(400, len(FEATURES)))
    keep = features[:, 2] + 0.3 * rng.normal(size=400) > 0
    model = fit_logistic(features, keep)
    assert np.argmax(np.abs(model.weights[1:])) == 2 and model.weights[3] > 0
    predicted = model.probabilities(features) > 0.5
    assert (predicted == keep).mean() > 0.9


def test_languages_with_enough_pages_get_their_own_model(tmp_path: Path) -> None:
    docs = real_documents(per_file=60)
    texts = [text for text, _ in docs]
    langs = [lang for _, lang in docs]
    quality = [0.9 if i % 2 else 0.2 for i in range(len(texts))]
    features = feature_matrix(quality, [0.95] * len(texts), texts, langs)
    assert features.shape == (len(texts), len(FEATURES))
    keep = np.array([q > 0.5 for q in quality])
    model = fit_keep_model(features, keep, langs)
    assert set(model.by_lang) == {OTHER_LANGUAGES, "en", "zh"}
    path = tmp_path / "keep.json"
    model.save(path)
    loaded = load_keep_model(str(path))
    scores = loaded.scores(features, [*langs[:-1], "de"])  # de: the other languages' model
    assert scores == pytest.approx(model.scores(features, [*langs[:-1], "de"]))
    assert np.mean([s > 0.5 for s in scores] == keep) > 0.95
    missing = feature_matrix([None], [None], ["short"], ["en"])
    assert 0 < loaded.scores(missing, ["en"])[0] < 1  # a missing score counts as the mean


@pytest.mark.parametrize(
    "content",
    ["not json", {"features": ["x"], "models": {}}, {"features": list(FEATURES), "models": {}}],
)
def test_a_file_that_is_not_a_keep_model_is_refused(tmp_path: Path, content: object) -> None:
    path = tmp_path / "keep.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(ValueError, match="is not a keep model"):
        load_keep_model(str(path))
