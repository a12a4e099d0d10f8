"""The score stage: typed score columns, thresholds with named reasons, annotate-only mode."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from core.schema import DOCUMENT_SCHEMA, rows_to_batch
from core.shards import list_shards, read_table
from pipeline.executor import LocalExecutor
from pipeline.runner import StageRun, run_stage
from stages.ingest.stage import IngestConfig
from stages.score.stage import ScoreConfig, ScoreStage
from tests.test_filter_rules import EN, ZH
from tests.test_filter_stage import SPAM_ZH

SPAM_EN = "Buy cheap watches! Best price! Click here now! Free shipping! Order today! " * 20


def batch(texts: list[tuple[str, str]]) -> pa.RecordBatch:
    rows = [
        {
            "id": str(i),
            "text": text,
            "lang": lang,
            "source": "cc",
            "input_file": "x",
            "input_offset": i,
        }
        for i, (text, lang) in enumerate(texts)
    ]
    return rows_to_batch(rows, DOCUMENT_SCHEMA)


DOCS = [(EN, "en"), (SPAM_EN, "en"), (ZH, "zh"), (SPAM_ZH, "zh")]


@pytest.fixture
def config(quality_model: Path, perplexity_models: dict[str, str]) -> dict:
    return {"quality_model": str(quality_model), "perplexity_models": perplexity_models}


def test_annotate_only_adds_every_score_and_rejects_nothing(config: dict) -> None:
    stage = ScoreStage(
        ScoreConfig(**config, annotate_only=True, thresholds={"quality_score": {"min": 0.99}})
    )
    out = stage.process_batch(batch(DOCS))
    assert out.rejected.num_rows == 0 and out.kept.num_rows == 4
    rows = out.kept.to_pylist()
    for row in rows:
        assert 0 <= row["quality_score"] <= 1
        assert row["perplexity"] > 1 and row["perplexity_bucket"] in ("head", "middle", "tail")
        assert row["coherence_score"] is not None and row["safety_score"] is not None
    en, spam_en, zh, spam_zh = rows
    assert en["quality_score"] > spam_en["quality_score"]
    assert zh["quality_score"] > spam_zh["quality_score"]
    assert spam_zh["safety_score"] > zh["safety_score"]
    assert spam_en["compression_ratio"] < 0.3 < en["compression_ratio"]  # spam repeats
    assert spam_zh["compression_ratio"] < zh["compression_ratio"]


def test_thresholds_reject_with_named_reasons(config: dict) -> None:
    stage = ScoreStage(
        ScoreConfig(
            **config, thresholds={"quality_score": {"min": 0.5}, "safety_score": {"max": 5.0}}
        )
    )
    out = stage.process_batch(batch(DOCS))
    assert out.kept.column("text").to_pylist() == [EN, ZH]
    assert set(out.rejected.column("reason").to_pylist()) <= {
        "quality_score:min",
        "safety_score:max",
    }
    assert all("<" in d or ">" in d for d in out.rejected.column("reason_detail").to_pylist())


def test_thresholds_can_apply_to_some_sources_only(config: dict) -> None:
    thresholds = {"quality_score": {"min": 0.5}, "safety_score": {"max": 5.0}}
    stage = ScoreStage(ScoreConfig(**config, thresholds=thresholds, threshold_sources=("cc",)))
    wiki = batch(DOCS).to_pylist()
    for row in wiki[2:]:
        row["source"] = "wiki"  # the Chinese pair: scored, never rejected
    out = stage.process_batch(rows_to_batch(wiki, DOCUMENT_SCHEMA))
    assert out.kept.column("text").to_pylist() == [EN, ZH, SPAM_ZH]
    assert out.rejected.column("text").to_pylist() == [SPAM_EN]
    assert None not in out.kept.column("quality_score").to_pylist()


def test_percentile_threshold_reads_the_web_distribution(config: dict, quality_model: Path) -> None:
    metrics = json.loads(quality_model.with_suffix(".metrics.json").read_text())
    stage = ScoreStage(
        ScoreConfig(**config, thresholds={"quality_score": {"min_web_percentile": 99}})
    )
    assert stage._limits["quality_score"][0] == metrics["web_percentiles"][99]


def test_perplexity_buckets_can_be_dropped(config: dict) -> None:
    stage = ScoreStage(ScoreConfig(**config, drop_perplexity_buckets=("head", "middle", "tail")))
    out = stage.process_batch(batch(DOCS))
    assert out.kept.num_rows == 0
    assert {r.split(":")[0] for r in out.rejected.column("reason").to_pylist()} == {
        "perplexity_bucket"
    }


def test_score_stage_in_a_pipeline_run(tmp_path: Path, config: dict) -> None:
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t, _ in DOCS))
    run_stage(
        StageRun("ingest", IngestConfig(), [str(corpus)], str(tmp_path / "ingest")),
        LocalExecutor(),
        False,
    )
    score = ScoreConfig(**config, thresholds={"quality_score": {"min": 0.5}})
    stats = run_stage(
        StageRun("score", score, [str(tmp_path / "ingest")], str(tmp_path / "s")),
        LocalExecutor(),
        False,
    )
    assert stats["docs_in"] == 4 == stats["docs_kept"] + stats["docs_rejected"]
    kept = read_table(list_shards(tmp_path / "s"))
    assert "quality_score" in kept.schema.names


def test_models_are_reused_on_rerun(
    perplexity_models: dict[str, str], perplexity_training_args: list[str]
) -> None:
    from pipeline.cli import main

    model = Path(perplexity_models["en"])
    mtime = model.stat().st_mtime_ns
    assert main(perplexity_training_args) == 0
    assert model.stat().st_mtime_ns == mtime


def test_missing_models_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="train-quality"):
        ScoreStage(ScoreConfig(quality_model=str(tmp_path / "nope.ftz")))


def test_a_threshold_no_scorer_fills_is_refused_before_any_work() -> None:
    """Without its model a column is null and its threshold rejected nothing, silently."""
    with pytest.raises(ValueError, match=r"quality_score needs quality_model: .*reject nothing"):
        ScoreStage(ScoreConfig(thresholds={"quality_score": {"min": 0.5}}))
    with pytest.raises(ValueError, match="drop_perplexity_buckets needs perplexity_models"):
        ScoreStage(ScoreConfig(drop_perplexity_buckets=("tail",)))
    ScoreStage(ScoreConfig(thresholds={"safety_score": {"max": 3.0}}))  # the lexicon: no model
