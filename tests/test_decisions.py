"""Every stage's decisions on the real samples, recorded: a change that makes a stage faster
must not make it decide differently (issue #17).

The record (tests/fixtures/decisions.json) holds, for configs/shared-samples.yaml run on
data_samples/samples, each document stage's rejected ids with their reasons and its kept
count, and the score stage's scores of the filter's output (the session's quality and
perplexity models, `annotate_only`), equal to 1e-6 (relative for perplexity's large
values). A change meant to alter decisions rewrites the record and shows the difference in
review:

    DATAPIPE_UPDATE_DECISIONS=1 python -m pytest tests/test_decisions.py
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

from core.shards import list_shards, read_shard
from stages.score.stage import ScoreConfig, ScoreStage

RECORD = Path(__file__).parent / "fixtures" / "decisions.json"
DOCUMENT_STAGES = ("filter", "minhash", "substring", "topics")
SCORES = ("quality_score", "perplexity", "coherence_score", "safety_score", "compression_ratio")
TOLERANCE = 1e-6


def _rows(directory: Path, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        row
        for shard in list_shards(directory)
        for batch in read_shard(shard)
        for row in batch.select(list(columns)).to_pylist()
    ]


def stage_decisions(work: Path, stage: str) -> dict[str, Any]:
    rejected = _rows(work / stage / "rejected", ("id", "reason"))
    return {
        "kept": len(_rows(work / stage, ("id",))),
        "rejected": dict(sorted((row["id"], row["reason"]) for row in rejected)),
    }


def _value(value: float | None) -> float | None:
    """As computed (a float32 read as float): rounding would turn a difference of 1e-15
    across a rounding boundary into one of 1e-6."""
    return None if value is None or math.isnan(value) else value


def scores_of(work: Path, config: dict[str, Any]) -> dict[str, list[float | None]]:
    stage = ScoreStage(ScoreConfig(**config, annotate_only=True))
    found = {}
    for shard in list_shards(work / "filter"):
        for batch in read_shard(shard):
            kept = stage.process_batch(batch).kept
            columns = [kept.column(name).to_pylist() for name in ("id", *SCORES)]
            for doc, *values in zip(*columns, strict=True):
                found[doc] = [_value(v) for v in values]
    return dict(sorted(found.items()))


@pytest.fixture(scope="module")
def decisions(
    shared_samples_run: Path, quality_model: Path, perplexity_models: dict[str, str]
) -> dict[str, Any]:
    models = {"quality_model": str(quality_model), "perplexity_models": perplexity_models}
    found: dict[str, Any] = {s: stage_decisions(shared_samples_run, s) for s in DOCUMENT_STAGES}
    found["score"] = scores_of(shared_samples_run, models)
    if os.environ.get("DATAPIPE_UPDATE_DECISIONS"):
        RECORD.write_text(json.dumps(found, indent=1, ensure_ascii=False) + "\n")
    return found


def _recorded() -> dict[str, Any]:
    return json.loads(RECORD.read_text(encoding="utf-8"))


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed[:10]]


@pytest.mark.parametrize("stage", DOCUMENT_STAGES)
def test_each_stage_keeps_and_rejects_what_the_record_says(
    decisions: dict[str, Any], stage: str
) -> None:
    recorded, found = _recorded()[stage], decisions[stage]
    assert found["kept"] > 0
    assert found["kept"] == recorded["kept"]
    assert found["rejected"] == recorded["rejected"], _differences(
        recorded["rejected"], found["rejected"]
    )


def test_every_score_is_the_recorded_one(decisions: dict[str, Any]) -> None:
    recorded, found = _recorded()["score"], decisions["score"]
    assert found.keys() == recorded.keys() and len(found) > 100
    off = [
        f"{doc} {name}: {old} -> {new}"
        for doc, values in found.items()
        for name, old, new in zip(SCORES, recorded[doc], values, strict=True)
        if (old is None) != (new is None)
        or (old is not None and not math.isclose(old, new, rel_tol=TOLERANCE, abs_tol=TOLERANCE))
    ]
    assert not off, off[:10]
