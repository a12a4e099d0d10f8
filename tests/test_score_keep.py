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
    KeepModel,
    LinearModel,
    feature_matrix,
    fit_keep_model,
    fit_logistic,
    load_keep_model,
)
from stages.score.stage import ScoreConfig, ScoreStage
from tests.real_texts import real_documents
from tests.test_score_stage import batch


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
    model = fit_keep_model(features, keep, langs, [i // 2 % 2 for i in range(len(texts))])
    assert set(model.by_lang) == {OTHER_LANGUAGES, "en", "zh"}
    path = tmp_path / "keep.json"
    model.save(path)
    loaded = load_keep_model(str(path))
    scores = loaded.scores(features, [*langs[:-1], "de"])  # de: the other languages' model
    assert scores == pytest.approx(model.scores(features, [*langs[:-1], "de"]))
    assert np.mean([s > 0.5 for s in scores] == keep) > 0.95
    missing = feature_matrix([None], [None], ["short"], ["en"])
    assert 0 < loaded.scores(missing, ["en"])[0] < 1  # a missing score counts as the mean
    assert loaded.floor("de", 0.9) == model.floor(OTHER_LANGUAGES, 0.9)


def _pages(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Pages whose keep label the features predict only in part, as real scores do."""
    features = rng.normal(size=(n, len(FEATURES)))
    langs = ["en" if i % 3 else "zh" for i in range(n)]
    keep = features[:, 0] + features[:, 1] + rng.normal(size=n) > 0
    return features, keep, langs


def test_a_keep_recall_floor_keeps_that_share_of_unseen_keep_pages() -> None:
    rng = np.random.default_rng(5)
    features, keep, langs = _pages(rng, 3000)
    model = fit_keep_model(features, keep, langs, rng.integers(0, 2, size=3000).tolist())
    new_features, new_keep, new_langs = _pages(rng, 20000)
    scores = np.array(model.scores(new_features, new_langs))
    for lang in ("en", "zh"):
        rows = new_keep & (np.array(new_langs) == lang)
        floors = [model.floor(lang, recall) for recall in (0.8, 0.9, 0.95)]
        assert floors == sorted(floors, reverse=True)
        for recall, floor in zip((0.8, 0.9, 0.95), floors, strict=True):
            assert (scores[rows] >= floor).mean() == pytest.approx(recall, abs=0.03)


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        {"features": ["x"], "models": {}},
        {"features": list(FEATURES), "models": {}},
        {
            "features": list(FEATURES),
            "models": {"*": {"mean": [0] * 4, "scale": [1] * 4, "weights": [0] * 5}},
        },
    ],
)
def test_a_file_that_is_not_a_keep_model_is_refused(tmp_path: Path, content: object) -> None:
    path = tmp_path / "keep.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(ValueError, match="is not a keep model"):
        load_keep_model(str(path))


def test_the_score_stage_rejects_below_the_floor_of_each_documents_language(
    tmp_path: Path,
) -> None:
    # Longer pages score higher; each language's floor is the score of its median page.
    weights = np.zeros(len(FEATURES) + 1)
    weights[1 + FEATURES.index("log_bytes")] = 0.1
    linear = LinearModel(np.zeros(len(FEATURES)), np.ones(len(FEATURES)), weights)
    docs = real_documents(per_file=20)
    texts, langs = [text for text, _ in docs], [lang for _, lang in docs]
    missing = [None] * len(docs)  # no quality model, no lang_score column
    expected = linear.probabilities(feature_matrix(missing, missing, texts, langs))
    floors = {lang: float(np.median(expected[np.array(langs) == lang])) for lang in ("en", "zh")}
    tables = {lang: [floor] * 101 for lang, floor in floors.items()}
    tables[OTHER_LANGUAGES] = [0.5] * 101
    path = tmp_path / "keep.json"
    KeepModel({"en": linear, "zh": linear, OTHER_LANGUAGES: linear}, tables).save(path)
    thresholds = {"keep_score": {"min_keep_recall": 0.9}}
    config = ScoreConfig(keep_model=str(path), coherence=False, safety=False, thresholds=thresholds)
    out = ScoreStage(config).process_batch(batch(docs))
    for table, below in ((out.kept, False), (out.rejected, True)):
        for row in table.select(["lang", "keep_score"]).to_pylist():
            assert (row["keep_score"] < floors[row["lang"]]) == below
    for lang in ("en", "zh"):
        assert lang in out.kept.column("lang").to_pylist()
        assert lang in out.rejected.column("lang").to_pylist()
    assert set(out.rejected.column("reason").to_pylist()) == {"keep_score:min"}
    misplaced = {"compression_ratio": {"min_keep_recall": 0.9}}
    with pytest.raises(ValueError, match="min_keep_recall needs keep_score and keep_model"):
        ScoreStage(ScoreConfig(keep_model=str(path), thresholds=misplaced)).process_batch(
            batch(docs[:1])
        )


def test_a_model_retrained_in_place_is_loaded_again(tmp_path: Path) -> None:
    """Loaders keep one model per process (workers score many batches), but a file rewritten
    in place, as a rerun of train-quality does, is read again instead of served stale."""
    rng = np.random.default_rng(5)
    features = rng.normal(size=(200, len(FEATURES)))
    path = tmp_path / "keep.json"
    langs, folds = ["en"] * 200, [i % 2 for i in range(200)]
    fit_keep_model(features, features[:, 0] > 0, langs, folds).save(path)
    first = load_keep_model(str(path))
    assert load_keep_model(str(path)) is first  # once per process and version
    fit_keep_model(features, features[:, 0] < 0, langs, folds).save(path)
    again = load_keep_model(str(path))
    assert again is not first
    assert again.scores(features[:1], ["en"])[0] != pytest.approx(
        first.scores(features[:1], ["en"])[0]
    )
