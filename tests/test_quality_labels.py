"""train-quality learns from labelled pages of one split only: keep (or edu >= min_edu) pages
as positives, the others as negatives, each piece `weight` times."""

from __future__ import annotations

import json
from pathlib import Path

from core.schema import DOCUMENT_SCHEMA, rows_to_batch
from stages.score.commercial import load_threshold
from stages.score.stage import ScoreConfig, ScoreStage
from stages.score.train import (
    COMMERCIAL_MODEL,
    EDU_MODEL,
    KEEP_MODEL,
    QUALITY_MODEL,
    LabelledPages,
    QualityTrainingConfig,
    QualityTrainingStage,
    _labelled_pieces,
)
from tests.real_texts import real_documents

PROSE = "A paragraph of plain prose about the river and the town, long enough to learn from. " * 5


def _write(tmp_path: Path, rows: list[tuple[str, bool, int, str]]) -> LabelledPages:
    pages = tmp_path / "pages.jsonl"
    labels = tmp_path / "labels.jsonl"
    pages.write_text(
        "".join(json.dumps({"id": i, "text": f"{i} {PROSE}"}) + "\n" for i, *_ in rows)
    )
    labels.write_text(
        "".join(
            json.dumps({"id": i, "lang": "en", "category": "news", "keep": k, "edu": e, "split": s})
            + "\n"
            for i, k, e, s in rows
        )
    )
    return LabelledPages(pages=str(pages), labels=str(labels))


def test_only_the_chosen_split_is_learned_from(tmp_path: Path) -> None:
    rows = [("a", True, 1, "tune"), ("b", False, 0, "tune"), ("c", True, 3, "test")]
    labelled = _write(tmp_path, rows)
    good, bad = _labelled_pieces(labelled.model_copy(update={"weight": 2}))
    assert [p.split()[0] for p in good] == ["a", "a"]
    assert [p.split()[0] for p in bad] == ["b", "b"]
    everything = labelled.model_copy(update={"split": None, "weight": 1})
    assert sorted(p.split()[0] for p in _labelled_pieces(everything)[0]) == ["a", "c"]


def test_the_educational_grade_can_be_the_target(tmp_path: Path) -> None:
    rows = [("a", True, 1, "tune"), ("b", False, 2, "tune"), ("c", True, 3, "tune")]
    labelled = _write(tmp_path, rows).model_copy(update={"target": "edu", "weight": 1})
    good, bad = _labelled_pieces(labelled)
    assert sorted(p.split()[0] for p in good) == ["b", "c"]
    assert [p.split()[0] for p in bad] == ["a"]


def test_with_labels_train_quality_also_fits_keep_edu_and_commercial_models(
    tmp_path: Path,
) -> None:
    samples = Path(__file__).resolve().parents[1] / "data_samples"
    lines = (samples / "labels/labels.jsonl").read_text().splitlines()
    chosen = [line for line in lines if '"tune"' in line][:160]  # both languages, both labels
    labels = tmp_path / "labels.jsonl"
    labels.write_text("\n".join(chosen) + "\n")
    reference = tmp_path / "reference.jsonl"
    wiki = (samples / "wiki/zhwiki_cmrc2018.jsonl").read_text().splitlines()[:200]
    reference.write_text("\n".join(wiki) + "\n")
    config = QualityTrainingConfig(
        positive=(str(reference),),
        labelled=LabelledPages(
            pages=str(samples / "labels/pages.jsonl.gz"), labels=str(labels), weight=1
        ),
        epochs=2,  # the plumbing, not the model's quality, is under test
    )
    stage = QualityTrainingStage(config)
    assert str(labels) in stage.dependencies()
    web = [str(samples / "samples/cc/datajuicer_redpajama-c4-refined.jsonl")]
    models = tmp_path / "models"
    stage.train(web, models)
    provided = stage.provides(models)
    assert provided == {
        "quality_model": str(models / QUALITY_MODEL),
        "keep_model": str(models / KEEP_MODEL),
        "edu_model": str(models / EDU_MODEL),
        "commercial_model": str(models / COMMERCIAL_MODEL),
    }
    # the commercial classifier is the topics stage's; its threshold is sealed beside it
    threshold = load_threshold(provided.pop("commercial_model"))
    assert 0 < threshold["threshold"] < 1 and threshold["commercial_pages"] >= 10
    assert (models / "commercial.json.sha256").exists()
    score = ScoreStage(ScoreConfig(**provided, coherence=False, safety=False))
    rows = [
        {
            "id": str(i),
            "text": text,
            "lang": lang,
            "source": "cc",
            "input_file": "x",
            "input_offset": i,
        }
        for i, (text, lang) in enumerate(real_documents(per_file=5))
    ]
    out = score.process_batch(rows_to_batch(rows, DOCUMENT_SCHEMA))
    for column in ("keep_score", "edu_score"):
        values = out.kept.column(column).to_pylist()
        assert len(values) == len(rows) and all(0 <= s <= 1 for s in values)
