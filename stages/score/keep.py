"""keep_score: the probability that a reader following docs/rubric.md keeps the page, from
signals the score stage has anyway: the quality classifier's probability, lid.176's
confidence in the language, the page's length and its compression ratio.

One logistic regression per language (and one over all pages for the other languages),
fitted by train-quality on the labelled pages of its `labelled` split. The quality feature of
a labelled page comes from a classifier that did not see that page (two folds, each scored
by a model trained on the other: cross-fitting), so the regression learns how much to trust
the classifier on pages it has not seen, as at scoring time. docs/scorers.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.integrity import check_sealed, local_model, once_per_version
from stages.score.compression import compression_ratios

FEATURES = ("quality_score", "lang_score", "log_bytes", "compression_ratio")
OTHER_LANGUAGES = "*"  # the model of the languages without their own
MIN_PAGES = 40  # pages of both labels a language needs for a model of its own
L2 = 1.0  # ridge penalty on the standardized weights (the intercept is free)


def feature_matrix(
    quality: Sequence[float | None],
    lang_scores: Sequence[float | None],
    texts: Sequence[str],
    langs: Sequence[str | None],
) -> np.ndarray:
    """One row of FEATURES per page (NaN where a score is missing)."""
    sizes = [len(text.encode("utf-8", "surrogatepass")) for text in texts]
    columns = [
        [math.nan if q is None else q for q in quality],
        [math.nan if s is None else s for s in lang_scores],
        np.log1p(sizes),
        compression_ratios(texts, langs),
    ]
    return np.array(columns, dtype=np.float64).T.reshape(len(texts), len(FEATURES))


@dataclass(frozen=True)
class LinearModel:
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray  # intercept first

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        z = (features - self.mean) / self.scale
        z = np.where(np.isnan(z), 0.0, z)  # a missing score counts as the mean
        return 1 / (1 + np.exp(-(self.weights[0] + z @ self.weights[1:])))

    def to_json(self) -> dict[str, list[float]]:
        return {k: getattr(self, k).tolist() for k in ("mean", "scale", "weights")}


def fit_logistic(features: np.ndarray, keep: np.ndarray, l2: float = L2) -> LinearModel:
    """Ridge logistic regression by Newton's method on standardized features."""
    mean = np.nanmean(features, axis=0)
    scale = np.nanstd(features, axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    z = np.nan_to_num((features - mean) / scale)
    x = np.hstack([np.ones((len(z), 1)), z])
    penalty = l2 * np.diag([0.0] + [1.0] * z.shape[1])
    w = np.zeros(x.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-x @ w))
        gradient = x.T @ (p - keep) + penalty @ w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + penalty
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return LinearModel(mean, scale, w)


@dataclass(frozen=True)
class KeepModel:
    by_lang: dict[str, LinearModel]
    # Per model: the keep-labelled pages' out-of-fold scores at percentiles 0..100, so that a
    # threshold can say which share of the pages a reader keeps it keeps (`floor`).
    keep_percentiles: dict[str, list[float]]

    def model_of(self, lang: str | None) -> str:
        return lang if lang in self.by_lang else OTHER_LANGUAGES

    def floor(self, lang: str | None, keep_recall: float) -> float:
        """The score above which `keep_recall` of the keep-labelled pages of `lang` lie."""
        return self.keep_percentiles[self.model_of(lang)][round(100 * (1 - keep_recall))]

    def scores(self, features: np.ndarray, langs: Sequence[str | None]) -> list[float]:
        out = np.empty(len(langs))
        codes = np.array([self.model_of(lang) for lang in langs])
        for lang, model in self.by_lang.items():
            rows = codes == lang
            if rows.any():
                out[rows] = model.probabilities(features[rows])
        return out.tolist()

    def save(self, path: Path) -> None:
        models = {lang: m.to_json() for lang, m in sorted(self.by_lang.items())}
        content = {
            "features": FEATURES,
            "models": models,
            "keep_percentiles": dict(sorted(self.keep_percentiles.items())),
        }
        path.write_text(json.dumps(content, indent=1))


def _fit_models(
    features: np.ndarray, keep: np.ndarray, codes: np.ndarray
) -> dict[str, LinearModel]:
    """A model per language with MIN_PAGES pages of each label, and one over all pages."""
    by_lang = {OTHER_LANGUAGES: fit_logistic(features, keep)}
    for lang in sorted(set(codes.tolist())):
        rows = codes == lang
        if min(int(keep[rows].sum()), int((~keep[rows]).sum())) >= MIN_PAGES:
            by_lang[lang] = fit_logistic(features[rows], keep[rows])
    return by_lang


def fit_keep_model(
    features: np.ndarray, keep: np.ndarray, langs: Sequence[str], folds: Sequence[int]
) -> KeepModel:
    """The models of all pages, and the percentiles of the keep pages' scores, each page scored
    by the models of the other fold (scores of pages a model saw would be too confident)."""
    codes, fold_of = np.array(langs), np.array(folds)
    fitted = KeepModel(_fit_models(features, keep, codes), {})
    held_out = np.empty(len(keep))
    for fold in np.unique(fold_of):
        rows = fold_of == fold
        others = KeepModel(_fit_models(features[~rows], keep[~rows], codes[~rows]), {})
        held_out[rows] = others.scores(features[rows], langs=codes[rows].tolist())
    model_of = np.array([fitted.model_of(lang) for lang in langs])
    percentiles = {}
    for name in fitted.by_lang:
        pages = keep & ((model_of == name) | (name == OTHER_LANGUAGES))
        percentiles[name] = np.percentile(held_out[pages], np.arange(101)).tolist()
    return KeepModel(fitted.by_lang, percentiles)


@once_per_version
def load_keep_model(path: str) -> KeepModel:
    """A keep model written by train-quality; anything else is refused with what is wrong
    (and, when sealed, a file whose bytes changed since training)."""
    local = local_model(path)
    check_sealed(local)
    try:
        content: Any = json.loads(Path(local).read_text(encoding="utf-8"))
        if tuple(content["features"]) != FEATURES:
            raise ValueError(f"features {content['features']} are not {list(FEATURES)}")
        models = {
            lang: LinearModel(
                *(np.array(m[k], dtype=np.float64) for k in ("mean", "scale", "weights"))
            )
            for lang, m in content["models"].items()
        }
        for lang, m in models.items():
            if m.mean.shape != (len(FEATURES),) or m.weights.shape != (len(FEATURES) + 1,):
                raise ValueError(f"model {lang!r} has the wrong shape")
        if OTHER_LANGUAGES not in models:
            raise ValueError("no model for the other languages")
        percentiles = {
            lang: [float(v) for v in content["keep_percentiles"][lang]] for lang in models
        }
        if any(len(table) != 101 for table in percentiles.values()):
            raise ValueError("keep_percentiles need 101 values per model")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path} is not a keep model (train-quality writes one): {err}") from err
    return KeepModel(models, percentiles)
