"""Training stages in a pipeline: they train on the documents so far, pass those documents on,
fill the model options later stages leave out, and resume like every stage (a changed
reference file retrains, and the stages that use the model are redone)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from core.shards import list_shards, read_table
from pipeline.config import load_config
from pipeline.executor import LocalExecutor
from pipeline.runner import run_pipeline
from pipeline.status import format_status, work_status
from tests.conftest import GENERATED

REPO = Path(__file__).resolve().parents[1]
REFERENCE = GENERATED / "docs.jsonl"  # articles; a mechanics test, not a quality one


def write_config(tmp_path: Path, reference: Path, score_options: str = "{}") -> Path:
    config = tmp_path / "pipeline.yaml"
    config.write_text(
        f"inputs: [{GENERATED / 'docs.jsonl'}, {GENERATED / 'docs_dolma.jsonl.gz'}]\n"
        f"work_dir: {tmp_path / 'work'}\n"
        "stages:\n"
        "  - ingest\n"
        "  - train-perplexity:\n"
        f"      references: {{en: [{reference}]}}\n"
        "      min_count: 1\n"
        "  - filter\n"
        f"  - score: {score_options}\n"
    )
    return config


def run(config: Path) -> dict[str, dict[str, Any]]:
    return {s["stage"]: s for s in run_pipeline(load_config(config), LocalExecutor(), False)}


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    copy = tmp_path / "reference.jsonl"
    copy.write_bytes(REFERENCE.read_bytes())
    return copy


def test_the_model_fills_the_option_the_next_stage_leaves_out(
    tmp_path: Path, reference: Path
) -> None:
    stats = run(write_config(tmp_path, reference))
    work = tmp_path / "work"
    model = work / "train-perplexity" / "lm.en.npz"
    assert stats["train-perplexity"]["kind"] == "training"
    assert stats["train-perplexity"]["provides"] == {"perplexity_models": {"en": str(model)}}
    # The training stage passed the ingested documents on: the filter read them, all of them.
    assert stats["filter"]["docs_in"] == stats["ingest"]["docs_kept"]
    recorded = json.loads((work / "score/_config.json").read_text())
    assert recorded["config"]["perplexity_models"] == {"en": str(model)}
    scored = read_table(list_shards(work / "score"))
    english = [
        p
        for p, lang in zip(
            scored["perplexity"].to_pylist(), scored["lang"].to_pylist(), strict=True
        )
        if lang == "en"
    ]
    assert english and all(p is not None and p > 0 for p in english)
    listed = format_status(work_status(work))
    assert "train-perplexity" in listed and "trained perplexity_models=" in listed
    assert [s["tasks"] for s in work_status(work) if s["stage"] == "train-perplexity"] == [1]


def test_an_option_the_user_set_is_never_replaced(tmp_path: Path, reference: Path) -> None:
    run(write_config(tmp_path, reference, "{perplexity_models: {}}"))
    recorded = json.loads((tmp_path / "work/score/_config.json").read_text())
    assert recorded["config"]["perplexity_models"] == {}
    scored = read_table(list_shards(tmp_path / "work/score"))
    assert set(scored["perplexity"].to_pylist()) == {None}


def test_a_changed_reference_retrains_and_redoes_the_stages_after(
    tmp_path: Path, reference: Path
) -> None:
    config = write_config(tmp_path, reference)
    run(config)
    again = run(config)
    assert again["train-perplexity"].get("skipped") and again["score"].get("skipped")
    with reference.open("a") as extra:
        extra.write(json.dumps({"text": "A new reference paragraph about rivers and tides."}))
        extra.write("\n")
    os.utime(reference)
    changed = run(config)
    assert not changed["train-perplexity"].get("skipped")
    assert not changed["score"].get("skipped")  # its model file changed
    assert changed["ingest"].get("skipped") and changed["filter"].get("skipped")


def test_input_sources_keep_the_crawl_apart_from_wikipedia(tmp_path: Path) -> None:
    """A model measured against 'the random web' reads only the crawl's documents, even when
    Wikipedia shares the pipeline."""
    from pipeline.runner import StageRun, run_stage
    from stages.ingest.stage import IngestConfig
    from stages.score.corpus import read_texts

    wiki = REPO / "data_samples/wiki/zhwiki_cmrc2018.jsonl"
    config = IngestConfig(source="cc", source_by_file={"zhwiki_*": "wiki"})
    run = StageRun("ingest", config, [str(GENERATED / "docs.jsonl"), str(wiki)], str(tmp_path))
    stats = run_stage(run, LocalExecutor(), False)
    every = [t for shard in list_shards(tmp_path) for t in read_texts(shard)]
    crawl = [t for shard in list_shards(tmp_path) for t in read_texts(shard, sources={"cc"})]
    per_input = {Path(i["input"]).name: i["docs_kept"] for i in stats["per_input"]}
    assert len(every) == stats["docs_kept"]
    assert len(crawl) == per_input["docs.jsonl"] < len(every)
