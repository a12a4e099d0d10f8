"""score: learned scorers as typed columns, and rejection by configured thresholds.

Columns added (null where a scorer is not configured or has no model for the language):

| column | scorer |
|---|---|
| `quality_score` | fastText quality classifier: P(reference-like), `classifier.py` |
| `perplexity`, `perplexity_bucket` | n-gram LM per language, cc_net buckets, `perplexity.py` |
| `coherence_score` | lexical cohesion of adjacent segments, `coherence.py` |
| `safety_score` | safety-lexicon hits per 100 words (the filter's lists) |
| `safety_model_score` | fastText safety classifier: P(unsafe), where labelled data exists |

Thresholds are absolute (`min`/`max` on a column) or measured when the model was trained, so
that they mean the same on every shard without a second pass over the corpus: for
`quality_score` a percentile of the web documents' scores (`min_web_percentile`), for
`keep_score` the share of the labelled keep pages of the document's language that the floor
keeps (`min_keep_recall`, from scores of pages the model did not see: keep.py). With
`annotate_only` nothing is rejected: run it first, read the report, then choose thresholds.
Models load once per worker process (cached loaders), never per batch. Each batch is scored
in pieces of about _CHUNK_CHARS characters, each one `batch.TextBatch` that every scorer reads
(code points, character flags and tokens computed once), in compiled loops over its arrays:
no scorer walks a text in Python per token. The scores are those of the per-document
definitions (`coherence`, `model_tokens`, the `NgramLM` evaluation, `Lexicon.find`) to the
last bit: tests/test_score_batch.py checks each against them on real text.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from core import storage
from core.schema import with_columns, with_fields
from stages.base import BatchOutput, StageConfig, TransformStage, split_by_rejections
from stages.score.batch import TextBatch, count_words, token_kind
from stages.score.classifier import batch_model_tokens, load_classifier, positive_probabilities
from stages.score.coherence_batch import coherence_scores
from stages.score.compression import compression_ratios
from stages.score.keep import feature_matrix, load_keep_model
from stages.score.lexicon_hits import safety_hits
from stages.score.perplexity import load_model
from stages.text import WARM_UP_DOCUMENTS, Lexicon, char_batches

SCORE_FIELDS = (
    pa.field("quality_score", pa.float32()),
    pa.field("perplexity", pa.float32()),
    pa.field("perplexity_bucket", pa.string()),
    pa.field("coherence_score", pa.float32()),
    pa.field("safety_score", pa.float32()),
    pa.field("safety_model_score", pa.float32()),
    pa.field("compression_ratio", pa.float32()),
    pa.field("keep_score", pa.float32()),
    pa.field("edu_score", pa.float32()),
)
# Characters scored at once: the arrays of one piece take some 40 bytes per character.
_CHUNK_CHARS = 1 << 18
ScoreColumn = Literal[
    "quality_score",
    "perplexity",
    "coherence_score",
    "safety_score",
    "safety_model_score",
    "compression_ratio",
    "keep_score",
    "edu_score",
]


class Threshold(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min: float | None = None
    max: float | None = None
    min_web_percentile: float | None = Field(None, ge=0, le=100)
    # keep_score: the floor, per language, that keeps this share of the pages readers kept.
    min_keep_recall: float | None = Field(None, gt=0, le=1)


class ScoreConfig(StageConfig):
    quality_model: str | None = Field(None, description="fastText model (train-quality).")
    perplexity_models: dict[str, str] = Field(
        default_factory=dict, description="Language -> n-gram model (train-perplexity)."
    )
    coherence: bool = Field(True, description="Compute coherence_score.")
    safety: bool = Field(True, description="Compute safety_score from the safety lexicon.")
    safety_model: str | None = Field(None, description="fastText safety model (train-safety).")
    compression: bool = Field(True, description="Compute compression_ratio (zstd).")
    keep_model: str | None = Field(
        None, description="keep_score model (train-quality with labelled pages)."
    )
    edu_model: str | None = Field(
        None, description="edu_score fastText model (train-quality with labelled pages)."
    )
    thresholds: dict[ScoreColumn, Threshold] = Field(
        default_factory=dict,
        description='Rejection thresholds, e.g. {"quality_score": {"min_web_percentile": 50}}.',
    )
    drop_perplexity_buckets: tuple[Literal["head", "middle", "tail"], ...] = Field(
        (), description="Reject documents in these cc_net perplexity buckets."
    )
    threshold_sources: tuple[str, ...] = Field(
        (),
        description="Reject only documents whose `source` is one of these (empty: all); the "
        "others are scored and kept, e.g. Wikipedia beside the crawl.",
    )
    annotate_only: bool = Field(False, description="Add score columns, reject nothing.")


def _thresholds_without_scorer(config: ScoreConfig) -> list[str]:
    """The thresholds (and perplexity buckets) on a column no configured scorer fills."""
    needs = {
        "quality_score": ("quality_model", config.quality_model),
        "keep_score": ("keep_model", config.keep_model),
        "edu_score": ("edu_model", config.edu_model),
        "safety_model_score": ("safety_model", config.safety_model),
        "perplexity": ("perplexity_models", config.perplexity_models),
        "coherence_score": ("coherence", config.coherence),
        "safety_score": ("safety", config.safety),
        "compression_ratio": ("compression", config.compression),
    }
    found = [
        f"a threshold on {column} needs {needs[column][0]}"
        for column in config.thresholds
        if not needs[column][1]
    ]
    if config.drop_perplexity_buckets and not config.perplexity_models:
        found.append("drop_perplexity_buckets needs perplexity_models")
    return found


def _percentile_value(model_path: str, percentile: float) -> float:
    metrics = json.loads(storage.read_text(storage.with_suffix(model_path, ".metrics.json")))
    table = metrics["web_percentiles"]
    return float(table[round(percentile)])


class ScoreStage(TransformStage):
    name = "score"
    summary = "Quality classifier, perplexity, coherence and safety scores; threshold rejection."
    config_class = ScoreConfig
    config: ScoreConfig

    def __init__(self, config: ScoreConfig) -> None:
        super().__init__(config)
        models = [
            config.quality_model,
            config.safety_model,
            config.keep_model,
            config.edu_model,
            *config.perplexity_models.values(),
        ]
        missing = [m for m in models if m and not storage.exists(m)]
        if missing:
            raise FileNotFoundError(
                f"score models not found: {', '.join(missing)}; train them with "
                "datapipe train-quality / train-perplexity (or `make pipeline`, which does)"
            )
        if unscored := _thresholds_without_scorer(config):
            raise ValueError(
                f"score: {'; '.join(unscored)}: the column would be null and the threshold "
                "would reject nothing; give the model or remove the threshold"
            )

    def dependencies(self) -> list[str]:
        cfg = self.config
        models = [cfg.quality_model, cfg.safety_model, *cfg.perplexity_models.values()]
        metrics = [storage.with_suffix(m, ".metrics.json") for m in models[:2] if m]
        models += [cfg.keep_model, cfg.edu_model]
        return [m for m in [*models, *metrics] if m and storage.exists(m)]

    def output_schema(self, input_schema: pa.Schema | None) -> pa.Schema:
        assert input_schema is not None  # noqa: S101 type narrowing: a transform always has input
        return with_fields(input_schema, SCORE_FIELDS)

    @cached_property
    def _limits(self) -> dict[str, tuple[float | None, float | None]]:
        limits = {}
        for column, threshold in self.config.thresholds.items():
            low = threshold.min
            if threshold.min_web_percentile is not None:
                if column != "quality_score" or not self.config.quality_model:
                    raise ValueError("min_web_percentile needs quality_score and quality_model")
                low = _percentile_value(self.config.quality_model, threshold.min_web_percentile)
            if threshold.min_keep_recall is not None and (
                column != "keep_score" or not self.config.keep_model
            ):
                raise ValueError("min_keep_recall needs keep_score and keep_model")
            limits[column] = (low, threshold.max)
        return limits

    def _keep_floor(self, lang: str | None) -> float | None:
        """keep_score's `min_keep_recall` floor for a document in `lang`."""
        threshold = self.config.thresholds.get("keep_score")
        if threshold is None or threshold.min_keep_recall is None or not self.config.keep_model:
            return None
        return load_keep_model(self.config.keep_model).floor(lang, threshold.min_keep_recall)

    def setup(self) -> None:
        """Models, lexicon and compiled kernels, by scoring an English and a Chinese
        document: a worker process pays for them once."""
        texts, langs = list(WARM_UP_DOCUMENTS.values()), list(WARM_UP_DOCUMENTS)
        self._scores(texts, langs, [None] * len(texts))

    def process_batch(self, batch: pa.RecordBatch) -> BatchOutput:
        texts = batch.column("text").to_pylist()
        langs = (
            batch.column("lang").to_pylist()
            if "lang" in batch.schema.names
            else [None] * len(texts)
        )
        lang_scores = (
            batch.column("lang_score").to_pylist()
            if "lang_score" in batch.schema.names
            else [None] * len(texts)
        )
        scores: dict[str, list[Any]] = {f.name: [] for f in SCORE_FIELDS}
        # Pieces of about _CHUNK_CHARS characters bound the memory of the arrays per character.
        for lo, hi in char_batches(texts, _CHUNK_CHARS):
            piece = (texts[lo:hi], langs[lo:hi], lang_scores[lo:hi])
            for name, values in self._scores(*piece).items():
                scores[name] += values
        values = {f.name: scores[f.name] for f in SCORE_FIELDS}
        full = with_columns(batch, self.output_schema(batch.schema), values)
        judged = self._judged(batch)
        rejections = [
            self._rejection(scores, i, langs[i]) if judged[i] else None for i in range(len(texts))
        ]
        return split_by_rejections(full, rejections)

    def _scores(
        self, texts: list[str], langs: list[str | None], lang_scores: list[float | None]
    ) -> dict[str, list[Any]]:
        """Every configured score of each text, all read from one `TextBatch` of the texts:
        code points, character flags and tokens are computed once for every scorer."""
        batch = TextBatch.of(texts)
        scores: dict[str, list[Any]] = {f.name: [None] * len(texts) for f in SCORE_FIELDS}
        self._classify(batch, scores)
        self._perplexities(batch, langs, scores)
        if self.config.coherence:
            scores["coherence_score"] = coherence_scores(batch, langs)
        if self.config.safety:
            scores["safety_score"] = self._safety_scores(batch, langs)
        if self.config.compression:
            scores["compression_ratio"] = compression_ratios(texts, langs)
        if self.config.keep_model:
            scores["keep_score"] = self._keep_scores(texts, langs, lang_scores, scores)
        return scores

    def _keep_scores(
        self,
        texts: list[str],
        langs: list[str | None],
        lang_scores: list[float | None],
        scores: dict[str, list[Any]],
    ) -> list[float]:
        """The keep model's probability from the quality score, the language score, the
        length and the compression ratio (stages/score/keep.py)."""
        assert self.config.keep_model is not None  # noqa: S101 type narrowing
        features = feature_matrix(scores["quality_score"], lang_scores, texts, langs)
        return load_keep_model(self.config.keep_model).scores(features, langs)

    def _classify(self, batch: TextBatch, scores: dict[str, list[Any]]) -> None:
        """The fastText classifiers' probabilities; all read the same token lines."""
        models = {
            column: path
            for column, path in (
                ("quality_score", self.config.quality_model),
                ("safety_model_score", self.config.safety_model),
                ("edu_score", self.config.edu_model),
            )
            if path
        }
        lines = batch_model_tokens(batch) if models else []
        for column, path in models.items():
            scores[column] = positive_probabilities(load_classifier(path), lines)

    def _perplexities(
        self, batch: TextBatch, langs: list[str | None], scores: dict[str, list[Any]]
    ) -> None:
        """Perplexity and bucket of each text whose language has a model."""
        kinds = np.array([token_kind(lang) for lang in langs])  # as the safety words' tokens
        for lang, path in self.config.perplexity_models.items():
            docs = np.array([i for i, doc_lang in enumerate(langs) if (doc_lang or "") == lang])
            if not len(docs):
                continue
            lm = load_model(path)
            perplexities = lm.batch_perplexities(batch, docs, kinds).tolist()
            for i, perplexity in zip(docs.tolist(), perplexities, strict=True):
                scores["perplexity"][i] = perplexity
                scores["perplexity_bucket"][i] = lm.bucket(perplexity) if lm.cutoffs else None

    def _safety_scores(self, batch: TextBatch, langs: list[str | None]) -> list[float]:
        """Safety-lexicon hits per 100 words (`DocView.words`: tokens that are not all
        punctuation)."""
        hits = safety_hits(batch, self._safety_lexicon)
        spans = batch.tokens([token_kind(lang) for lang in langs])
        words = count_words(batch.flags, spans.starts, spans.ends, spans.offsets).tolist()
        return [100 * h / max(w, 1) for h, w in zip(hits, words, strict=True)]

    @cached_property
    def _safety_lexicon(self) -> Lexicon:
        return Lexicon.safety()

    def _judged(self, batch: pa.RecordBatch) -> list[bool]:
        """Per row: do the thresholds apply to it (`threshold_sources`)?"""
        sources = self.config.threshold_sources
        if not sources:
            return [True] * batch.num_rows
        return [source in sources for source in batch.column("source").to_pylist()]

    def _rejection(
        self, scores: dict[str, list[Any]], i: int, lang: str | None
    ) -> tuple[str, str] | None:
        if self.config.annotate_only:
            return None
        for column, (low, high) in self._limits.items():
            value = scores[column][i]
            if value is None:
                continue
            if column == "keep_score":
                floor = self._keep_floor(lang)
                low = floor if low is None or floor is None else max(low, floor)
            if low is not None and value < low:
                return f"{column}:min", f"{value:.4g} < {low:.4g}"
            if high is not None and value > high:
                return f"{column}:max", f"{value:.4g} > {high:.4g}"
        bucket = scores["perplexity_bucket"][i]
        if bucket in self.config.drop_perplexity_buckets:
            return f"perplexity_bucket:{bucket}", f"perplexity {scores['perplexity'][i]:.1f}"
        return None
