"""The score stage's models, trained as pipeline stages: train-quality, train-safety,
train-perplexity.

Each reads the documents given as its inputs (random web documents, e.g. the ingest stage's
output) beside reference files named in its config, and writes its model into its stage
directory; the runner fingerprints both, so an unchanged model is reused and a changed input
retrains it. A later score stage whose model option is unset uses the trained model.

    datapipe train-quality --input work/ingest --output work/train-quality \\
        --positive wikitext2-valid.txt cmrc2018_zh_wikipedia.jsonl
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from core import storage
from core.integrity import seal
from core.labels import Label, fold_of, labelled_texts, read_labels
from core.stagedir import input_files
from stages.base import StageConfig, TrainingStage
from stages.filter.langid import identify_many
from stages.score.classifier import (
    TrainOptions,
    cross_fitted,
    train_classifier,
    training_pieces,
)
from stages.score.commercial import fit_commercial, threshold_file
from stages.score.corpus import read_texts
from stages.score.keep import feature_matrix, fit_keep_model
from stages.score.perplexity import NgramLM

QUALITY_MODEL = "quality.ftz"
COMMERCIAL_MODEL = "commercial.ftz"  # with `labelled` pages: read by topics (commercial.py)
KEEP_MODEL = "keep.json"  # with `labelled` pages: the keep_score model (stages/score/keep.py)
EDU_MODEL = "edu.ftz"  # with `labelled` pages: P(educational grade >= min_edu), edu_score
SAFETY_MODEL = "safety.ftz"


def _texts(paths: Iterable[str], sources: Collection[str] = ()) -> Iterator[str]:
    return (text for path in paths for text in read_texts(path, sources=sources))


class WebSample(StageConfig):
    """Which input documents stand for the random web the models are measured against."""

    input_sources: tuple[str, ...] = Field(
        (),
        description="Only input documents whose `source` is one of these (empty: all), e.g. "
        "the crawl's and not Wikipedia's.",
    )


def _named(paths: Sequence[str]) -> str:
    """How a model records what it learned from: the stage directory of each shard, or the
    file's name, once each in order (never a full path: the model's bytes stay the same
    wherever the work directory is)."""
    names = [Path(p).parent.name if p.endswith(".arrow") else Path(p).name for p in paths]
    return ", ".join(dict.fromkeys(names))


class LabelledPages(BaseModel):
    """Pages a reader labelled (docs/rubric.md) as more training data: the pages the labels
    call good are positives, the others negatives, each piece seen `weight` times."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pages: str = Field(description="JSON lines with id and text (data_samples/labels/).")
    labels: str = Field(description="The labels of those pages, JSON lines.")
    split: Literal["tune", "test"] | None = Field(
        "tune", description="Learn only from this split (null: all; never the one you report)."
    )
    target: Literal["keep", "edu"] = Field(
        "keep", description="Good means labelled keep, or an educational grade >= min_edu."
    )
    min_edu: int = Field(2, ge=1, le=3)
    models: tuple[Literal["keep", "edu", "commercial"], ...] = Field(
        ("keep", "edu", "commercial"),
        description="Models fitted besides the quality classifier: keep_score's (two more "
        "fastText fits, cross-fitted), edu_score's (one more) and the commercial page "
        "classifier topics reads (three more, on the labelled pages alone).",
    )
    max_good_removed: float = Field(
        0.03,
        gt=0,
        lt=1,
        description="The commercial classifier's threshold: this share of the labelled good "
        "pages (scored out of fold) lies above it.",
    )
    weight: int = Field(
        10,
        ge=1,
        description="Copies of each labelled piece (10: cross-validated, docs/quality.md).",
    )


class QualityTrainingConfig(TrainOptions, WebSample):
    positive: tuple[str, ...] = Field(
        min_length=1,
        description="Reference text (Wikipedia, papers): JSONL, WikiText or stage directories.",
    )
    labelled: LabelledPages | None = Field(
        None, description="Labelled pages added to the reference-vs-web examples."
    )


class SafetyTrainingConfig(TrainOptions, WebSample):
    unsafe: tuple[str, ...] = Field(
        min_length=1, description="Labelled unsafe pages (adult, gambling, violence)."
    )


class _ClassifierTraining(TrainingStage):
    """A bilingual fastText classifier: the config's labelled files against the inputs."""

    config: QualityTrainingConfig | SafetyTrainingConfig
    model_file: ClassVar[str]
    provided_option: ClassVar[str]  # the score stage's option the model fills
    positive_option: ClassVar[str]  # the config's option naming the labelled files

    def positive_files(self) -> tuple[str, ...]:
        return getattr(self.config, self.positive_option)

    def labelled(self) -> LabelledPages | None:
        return getattr(self.config, "labelled", None)

    def dependencies(self) -> list[str]:
        labelled = self.labelled()
        extra = [labelled.pages, labelled.labels] if labelled else []
        return input_files((*self.positive_files(), *extra))

    def train(self, inputs: Sequence[str], output_dir: Path) -> dict[str, Any]:
        options = TrainOptions.model_validate(
            self.config.model_dump(include=set(TrainOptions.model_fields))
        )
        positives = list(training_pieces(_texts(self.positive_files())))
        negatives = list(training_pieces(_texts(inputs, self.config.input_sources)))
        good: list[str] = []
        bad: list[str] = []
        labelled = self.labelled()
        if labelled:
            good, bad = _labelled_pieces(labelled)
        model = output_dir / self.model_file
        metrics = train_classifier(positives + good, negatives + bad, model, options)
        seal(model)
        if labelled and labelled.target == "keep" and "keep" in labelled.models:
            fit_keep(positives, negatives, labelled, options, output_dir / KEEP_MODEL)
            seal(output_dir / KEEP_MODEL)
        if labelled and labelled.target == "keep" and "edu" in labelled.models:
            good, bad = _labelled_pieces(labelled.model_copy(update={"target": "edu"}))
            train_classifier(positives + good, negatives + bad, output_dir / EDU_MODEL, options)
            seal(output_dir / EDU_MODEL)
        if labelled and "commercial" in labelled.models:
            model = output_dir / COMMERCIAL_MODEL
            fit_commercial(_labelled_pages(labelled), model, options, labelled.max_good_removed)
            seal(model)
            seal(Path(threshold_file(str(model))))
        held_out = {k: metrics[k] for k in ("precision", "recall", "f1")}
        by_language = ", ".join(
            f"{lang} {m['f1']:.3f}" for lang, m in metrics["by_language"].items()
        )
        description = (
            f"held-out precision {held_out['precision']:.3f}, recall {held_out['recall']:.3f}, "
            f"F1 {held_out['f1']:.3f} ({by_language})"
        )
        return {"description": description, **held_out}

    def provides(self, output_dir: str) -> dict[str, Any]:
        provided = {self.provided_option: storage.join(output_dir, self.model_file)}
        for option, name in (
            ("keep_model", KEEP_MODEL),
            ("edu_model", EDU_MODEL),
            ("commercial_model", COMMERCIAL_MODEL),
        ):
            if storage.exists(storage.join(output_dir, name)):
                provided[option] = storage.join(output_dir, name)
        return provided


def _labelled_pages(labelled: LabelledPages) -> list[tuple[str, Label]]:
    return list(labelled_texts(labelled.pages, read_labels(labelled.labels, labelled.split)))


def _labelled_pieces(
    labelled: LabelledPages, pages: list[tuple[str, Label]] | None = None
) -> tuple[list[str], list[str]]:
    """Pieces of the pages labelled good and of the others, each `weight` times."""
    good: list[str] = []
    bad: list[str] = []
    for text, label in _labelled_pages(labelled) if pages is None else pages:
        is_good = label.keep if labelled.target == "keep" else label.edu >= labelled.min_edu
        (good if is_good else bad).extend(list(training_pieces([text])) * labelled.weight)
    return good, bad


def fit_keep(
    positives: list[str],
    negatives: list[str],
    labelled: LabelledPages,
    options: TrainOptions,
    output: Path,
) -> dict[str, Any]:
    """The keep model (stages/score/keep.py) of the labelled pages: each fold's quality
    feature from a classifier trained on the reference, the web and the other fold."""

    def examples(others: list[tuple[str, Label]]) -> tuple[list[str], list[str]]:
        good, bad = _labelled_pieces(labelled, others)
        return positives + good, negatives + bad

    pages = _labelled_pages(labelled)
    texts = [text for text, _ in pages]
    folds = [fold_of(label.id) for _, label in pages]
    quality = cross_fitted(pages, examples, options).tolist()
    identified = identify_many(texts)
    langs = [lang for lang, _ in identified]
    features = feature_matrix(quality, [score for _, score in identified], texts, langs)
    keep = np.array([label.keep for _, label in pages])
    fit_keep_model(features, keep, langs, folds).save(output)
    return {"pages": len(pages), "keep": int(keep.sum())}


class QualityTrainingStage(_ClassifierTraining):
    name = "train-quality"
    summary = "Train the fastText quality classifier: reference text (--positive) vs the input."
    config_class = QualityTrainingConfig
    config: QualityTrainingConfig
    model_file = QUALITY_MODEL
    provided_option = "quality_model"
    positive_option = "positive"


class SafetyTrainingStage(_ClassifierTraining):
    name = "train-safety"
    summary = "Train the fastText safety classifier: labelled unsafe pages vs the input."
    config_class = SafetyTrainingConfig
    config: SafetyTrainingConfig
    model_file = SAFETY_MODEL
    provided_option = "safety_model"
    positive_option = "unsafe"


class PerplexityTrainingConfig(WebSample):
    references: dict[str, tuple[str, ...]] = Field(
        min_length=1,
        description='Language -> reference text, e.g. {"en": ["wikitext2-valid.txt"]}.',
    )
    order: int = Field(3, ge=1, description="n-gram order.")
    min_count: int = Field(2, ge=1, description="Rarer units become <unk>.")
    cutoff_lang_score: float = Field(
        0.5, ge=0, le=1, description="Input documents set bucket cut-offs above this lid score."
    )


def perplexity_model_file(lang: str) -> str:
    return f"lm.{lang}.npz"


class PerplexityTrainingStage(TrainingStage):
    """Per language, an interpolated modified Kneser-Ney n-gram model of the reference text;
    the head/middle/tail cut-offs are the 33rd and 66th perplexity percentiles of the input
    documents identified as that language, as cc_net sets them."""

    name = "train-perplexity"
    summary = "Train per-language n-gram models; cut-offs from the input web documents."
    config_class = PerplexityTrainingConfig
    config: PerplexityTrainingConfig

    def dependencies(self) -> list[str]:
        return input_files([p for paths in self.config.references.values() for p in paths])

    def train(self, inputs: Sequence[str], output_dir: Path) -> dict[str, Any]:
        summary: dict[str, Any] = {}
        descriptions = []
        cfg = self.config
        for lang, references in sorted(cfg.references.items()):
            lm = NgramLM.train(
                _texts(references), lang, cfg.order, cfg.min_count, description=_named(references)
            )
            head = middle = None
            if inputs:
                head, middle = lm.set_cutoffs(
                    self._in_language(inputs, lang), description=_named(inputs)
                )
            lm.save(output_dir / perplexity_model_file(lang))
            seal(output_dir / perplexity_model_file(lang))
            summary[lang] = {"units": len(lm.vocab), "cutoffs": [head, middle]}
            buckets = f", head < {head:.1f} <= middle < {middle:.1f}" if inputs else ""
            descriptions.append(f"{lang} {len(lm.vocab):,} units{buckets}")
        return {"description": "; ".join(descriptions), "languages": summary}

    def _in_language(self, inputs: Sequence[str], lang: str) -> Iterator[str]:
        from stages.filter.langid import identify

        for text in _texts(inputs, self.config.input_sources):
            found, score = identify(text)
            if found == lang and score >= self.config.cutoff_lang_score:
                yield text

    def provides(self, output_dir: str) -> dict[str, Any]:
        models = {
            lang: storage.join(output_dir, perplexity_model_file(lang))
            for lang in self.config.references
        }
        return {"perplexity_models": models}
