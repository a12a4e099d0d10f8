"""train-quality on data_samples/ data: held-out F1 in English and Chinese, reuse on rerun."""

from __future__ import annotations

import json
from pathlib import Path

from stages.score.classifier import load_classifier, positive_probability
from tests.test_filter_rules import EN, ZH
from tests.test_filter_stage import SPAM_ZH


def test_training_is_reused_when_inputs_are_unchanged(
    quality_model: Path, quality_training_args: list[str]
) -> None:
    """A training stage resumes like every stage: same inputs and options, nothing redone."""
    from pipeline.cli import main

    mtime = quality_model.stat().st_mtime_ns
    assert main(quality_training_args) == 0
    assert quality_model.stat().st_mtime_ns == mtime
    stats = json.loads((quality_model.parent / "stats.json").read_text())
    assert stats["kind"] == "training"
    assert stats["provides"] == {"quality_model": str(quality_model)}


def test_held_out_f1_in_both_languages(quality_model: Path) -> None:
    trained = quality_model
    metrics = json.loads(trained.with_suffix(".metrics.json").read_text())
    assert metrics["f1"] >= 0.9
    assert metrics["by_language"]["en"]["f1"] >= 0.9
    assert metrics["by_language"]["zh"]["f1"] >= 0.9
    assert len(metrics["web_percentiles"]) == 101
    assert trained.stat().st_size < 5 * 2**20  # quantized


def test_reference_like_text_scores_above_spam(quality_model: Path) -> None:
    model = load_classifier(str(quality_model))
    assert load_classifier(str(quality_model)) is model  # loaded once per process
    spam = "Buy cheap watches! Best price! Click here now! " * 20
    assert positive_probability(model, EN) > positive_probability(model, spam)
    assert positive_probability(model, ZH) > positive_probability(model, SPAM_ZH)
