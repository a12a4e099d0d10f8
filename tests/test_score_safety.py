"""train-safety where labelled data exists: the fixtures' labelled gambling spam vs articles."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.cli import main
from stages.ingest.stage import IngestConfig, IngestStage
from stages.score.classifier import load_classifier, positive_probability
from stages.score.stage import ScoreConfig, ScoreStage
from stages.score.train import SAFETY_MODEL
from tests.conftest import GENERATED
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


def test_safety_classifier_trains_and_scores(tmp_path: Path) -> None:
    texts = labelled_fixture_texts()
    assert len(texts["unsafe"]) >= 5 and len(texts["safe"]) >= 50
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
    model = tmp_path / "train-safety" / SAFETY_MODEL
    assert main(args) == 0
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
