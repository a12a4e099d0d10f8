"""train-quality on ../shared data: held-out F1 in English and Chinese, reuse on rerun."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cli import main
from stages.score.quality import load_quality_model, positive_probability
from tests.test_filter_rules import EN, ZH
from tests.test_filter_stage import SPAM_ZH


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, shared_path: Path) -> Path:
    model = tmp_path_factory.mktemp("models") / "quality.ftz"
    ref, cc = shared_path / "reference", shared_path / "samples/cc"
    args = [
        "train-quality",
        "--output",
        str(model),
        "--positive",
        str(ref / "wikitext2-valid.txt"),
        str(ref / "wikitext2-test.txt"),
        str(ref / "cmrc2018_zh_wikipedia.jsonl"),
        str(ref / "redpajama-arxiv-sample.jsonl"),
        "--negative",
        str(cc / "dolma_CC-MAIN-2019-30_00140.jsonl.gz"),
        str(cc / "llamafactory_c4_demo.jsonl"),
        str(cc / "oscar2019_multilingual.jsonl"),
        str(Path(__file__).parents[1] / "data_samples/generated/docs.jsonl"),
    ]
    assert main(args) == 0
    mtime = model.stat().st_mtime_ns
    assert main(args) == 0  # unchanged inputs and options: reused, not retrained
    assert model.stat().st_mtime_ns == mtime
    return model


@pytest.fixture(scope="module")
def shared_path() -> Path:
    from tests.conftest import shared_dir

    return shared_dir()


def test_held_out_f1_in_both_languages(trained: Path) -> None:
    metrics = json.loads(trained.with_suffix(".metrics.json").read_text())
    assert metrics["f1"] >= 0.9
    assert metrics["by_language"]["en"]["f1"] >= 0.9
    assert metrics["by_language"]["zh"]["f1"] >= 0.9
    assert len(metrics["web_percentiles"]) == 101
    assert trained.stat().st_size < 5 * 2**20  # quantized


def test_reference_like_text_scores_above_spam(trained: Path) -> None:
    model = load_quality_model(str(trained))
    assert load_quality_model(str(trained)) is model  # loaded once per process
    spam = "Buy cheap watches! Best price! Click here now! " * 20
    assert positive_probability(model, EN) > positive_probability(model, spam)
    assert positive_probability(model, ZH) > positive_probability(model, SPAM_ZH)
