"""train-safety where labelled data exists: the fixtures' labelled gambling spam vs articles."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from stages.ingest.stage import IngestConfig, IngestStage
from stages.score.classifier import load_classifier, positive_probability
from stages.score.stage import ScoreConfig, ScoreStage
from stages.score.train import SAFETY_MODEL
from tests import background
from tests.conftest import GENERATED, REPO
from tests.test_filter_rules import ZH
from tests.test_filter_stage import SPAM_ZH
from tests.test_score_stage import batch


def labelled_fixture_texts() -> dict[str, list[str]]:
    labels = [json.loads(line) for line in (GENERATED / "_labels.jsonl").open()]
    kind_by_url = {label["url"]: label["kind"] for label in labels if label.get("url")}
    texts: dict[str, list[str]] = {"unsafe": [], "safe": []}
    stage = IngestStage(IngestConfig())
    for path in stage.list_inputs([str(GENERATED)]):
        for out in stage.read_file(path):
            for row in out.kept.select(["text", "url"]).to_pylist():
                kind = kind_by_url.get(row["url"])
                if kind == "gambling_spam":
                    texts["unsafe"].append(row["text"])
                elif kind == "article":
                    texts["safe"].append(row["text"])
    return texts


@dataclass(frozen=True)
class Trained:
    texts: dict[str, list[str]]  # the labelled fixture texts it was trained on
    model: Path
    run: subprocess.CompletedProcess[str]  # `datapipe train-safety` (in-process executor)


def train_safety(texts: dict[str, list[str]], tmp_path: Path) -> Trained:
    """`datapipe train-safety` in a process of its own on the labelled fixture texts."""
    for name, docs in texts.items():
        (tmp_path / f"{name}.jsonl").write_text(
            "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in docs)
        )
    args = [
        "train-safety",
        "--executor",
        "local",
        "--unsafe",
        str(tmp_path / "unsafe.jsonl"),
        "--input",
        str(tmp_path / "safe.jsonl"),
        "--output",
        str(tmp_path / "train-safety"),
        "--min-count",
        "1",
    ]
    done = background.run([sys.executable, "-m", "pipeline", *args], REPO, 900)
    return Trained(texts, tmp_path / "train-safety" / SAFETY_MODEL, done)


def start_background(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Called when the session's tests are collected: the training (~25 s, fastText's
    quantization most of it) runs while the rest of the suite does. The texts are read here,
    in the session's thread."""
    texts, tmp = labelled_fixture_texts(), tmp_path_factory.mktemp("safety")
    background.submit("train-safety", train_safety, texts, tmp)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    return background.result(
        "train-safety",
        lambda: train_safety(labelled_fixture_texts(), tmp_path_factory.mktemp("safety")),
    )


def test_safety_classifier_trains_and_scores(trained: Trained) -> None:
    texts, model, done = trained.texts, trained.model, trained.run
    assert len(texts["unsafe"]) >= 5 and len(texts["safe"]) >= 50
    assert done.returncode == 0, done.stderr[-4000:]
    classifier = load_classifier(str(model))
    assert positive_probability(classifier, SPAM_ZH) > positive_probability(classifier, ZH)
    stage = ScoreStage(
        ScoreConfig(
            safety_model=str(model),
            coherence=False,
            thresholds={"safety_model_score": {"max": 0.5}},
        )
    )
    out = stage.process_batch(batch([(ZH, "zh"), (SPAM_ZH, "zh")]))
    assert out.kept.column("text").to_pylist() == [ZH]
    assert out.rejected.column("reason").to_pylist() == ["safety_model_score:max"]
