"""Sources with processing of their own: each source's chain of stages runs side by side
(work/<source>/<stage>/), and the joint stages (cross-source dedup, the tokenizer, export)
read every source's last output. configs/sources.yaml is the example a user starts from.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.manifest import load_manifest, verify_export
from core.stagedir import read_run
from pipeline.config import ConfigError, load_config
from pipeline.estimate import sample_inputs
from pipeline.executor import LocalExecutor, RayExecutor, TaskTooLarge
from pipeline.mixture import MixtureSampler
from pipeline.report import render_report
from pipeline.runner import run_pipeline
from pipeline.status import work_status

REPO = Path(__file__).resolve().parents[1]


def _config(tmp_path: Path, raw: dict[str, Any], name: str = "pipeline.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def sources_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """configs/sources.yaml (web, wiki, math and code, two phases) run in one process."""
    tmp = tmp_path_factory.mktemp("sources")
    raw = yaml.safe_load((REPO / "configs/sources.yaml").read_text())
    for branch in raw["sources"].values():
        branch["inputs"] = [str(REPO / path) for path in branch["inputs"]]
    export = raw["stages"][-1]["export"]
    export["mixture"] = str(REPO / export["mixture"])
    raw["work_dir"] = str(tmp / "work")
    with (tmp / "run.log").open("w") as log, contextlib.redirect_stderr(log):
        run_pipeline(load_config(_config(tmp, raw)), LocalExecutor(), progress=False)
    return tmp / "work"


def test_four_sources_and_two_phases_reach_a_verified_export(sources_run: Path) -> None:
    statuses = work_status(str(sources_run))
    assert [s["stage"] for s in statuses] == [  # the chains in config order
        "web/ingest",
        "web/filter",
        "web/minhash",
        "web/substring",
        "wiki/ingest",
        "wiki/minhash",
        "math/ingest",
        "math/filter",
        "math/minhash",
        "code/ingest",
        "code/filter",
        "code/minhash",
        "minhash",
        "train-tokenizer",
        "export",
    ]
    assert {s["state"] for s in statuses} == {"done"}
    assert read_run(sources_run)["stages"][:2] == ["web/ingest", "web/filter"]  # config order
    export = sources_run / "export"
    assert verify_export(export)[0] == []
    manifest = load_manifest(export)
    # Each chain's ingest wrote its source's name, which the mixture selects on.
    documents = {s["name"]: s["documents"] for s in manifest["sources"]}
    joint = next(s for s in statuses if s["stage"] == "minhash")["documents"]
    assert all(documents.values()) and sum(documents.values()) == joint["docs_kept"]
    assert [p["name"] for p in manifest["phases"]] == ["stage1", "stage2"]
    samples = list(MixtureSampler(export, seq_len=4096))
    by_phase = Counter((s.phase, s.source) for s in samples)
    for source in ("math", "code"):  # the phase heavy in code and math
        assert by_phase[("stage2", source)] > 2 * by_phase[("stage1", source)]
    # Each source's own rules: the code and math profiles, not the web rules, judged them.
    filtered = {s["stage"]: s["documents"] for s in statuses if s["stage"].endswith("/filter")}
    assert filtered["code/filter"]["docs_kept"] == 26  # 7 planted files dropped
    assert filtered["math/filter"]["docs_kept"] == 5  # 6 fragments dropped


def test_the_run_names_each_chains_stages_by_source(sources_run: Path) -> None:
    """Four chains each run a minhash: what the run prints says whose it is."""
    log = (sources_run.parent / "run.log").read_text()
    for name in ("code/filter", "math/filter", "web/filter", "wiki/minhash"):
        assert f"\n{name}: " in log
    assert "\nminhash: 1,686 in -> 1,686 kept" in log  # the joint stage, over every source


def test_the_report_shows_each_source_chain_and_each_phase(sources_run: Path) -> None:
    page = render_report(sources_run)
    for name in ("web/filter", "wiki/minhash", "math/filter", "code/ingest"):
        assert name in page
    assert "Phase stage1: 600,000 tokens" in page and "Phase stage2: 200,000 tokens" in page
    # What entered is every source's input; the joint minhash read every chain's last stage.
    assert "2,668 documents in → 1,686 kept after export" in page
    assert "do not add up" not in page


def _jsonl(path: Path, texts: list[str]) -> str:
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    return str(path)


@pytest.mark.parametrize("joint_dedup", [True, False])
def test_cross_source_dedup_is_a_choice(tmp_path: Path, joint_dedup: bool) -> None:
    """A Wikipedia article found in two sources is one document when the joint stages
    include minhash, and two when they do not."""
    with (REPO / "data_samples/wiki/enwiki_wikitext2.jsonl").open() as lines:
        articles = [json.loads(line)["text"] for line in lines if len(line) > 5000][:3]
    sources = {
        "a": {"inputs": [_jsonl(tmp_path / "a.jsonl", articles[:2])], "stages": ["ingest"]},
        "b": {"inputs": [_jsonl(tmp_path / "b.jsonl", articles[1:])], "stages": ["ingest"]},
    }
    joint = ["minhash"] if joint_dedup else ["substring"]
    raw = {"work_dir": str(tmp_path / "work"), "sources": sources, "stages": joint}
    run_pipeline(load_config(_config(tmp_path, raw)), LocalExecutor(), progress=False)
    last = work_status(str(tmp_path / "work"))[-1]
    assert last["stage"] == joint[0] and last["documents"]["docs_in"] == 4
    if joint_dedup:
        assert last["documents"]["docs_kept"] == 3
    else:  # substring removes the repeated spans: the copies are emptied, not kept twice
        assert last["documents"]["docs_rejected"] == 2


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"inputs": ["x"], "sources": {"a": {"inputs": ["x"], "stages": ["ingest"]}}},
            "each source names its own inputs",
        ),
        (
            {"sources": {"a": {"inputs": ["x"], "stages": ["ingest"]}}, "stages": ["ingest"]},
            "ingest belongs in a source",
        ),
        ({"sources": {"filter": {"inputs": ["x"], "stages": ["ingest"]}}}, "not a stage's"),
        ({"sources": {"a b": {"inputs": ["x"], "stages": ["ingest"]}}}, "a directory name"),
        (
            {"sources": {"a": {"inputs": ["x"], "stages": ["minhash", "ingest"]}}},
            "sources.a.stages: .* out of order",
        ),
        ({"sources": {"a": {"inputs": [], "stages": ["ingest"]}}}, "inputs"),
        ({"sources": {"a": ["ingest"]}}, "expected {inputs"),
        (
            {
                "sources": {"a": {"inputs": ["x"], "stages": ["ingest"]}},
                "resources": {"b/ingest": {"memory_mb": 100}},
            },
            r"resources names b/ingest: not a stage of this config \(its stages: a/ingest, ingest",
        ),
        (
            {
                "sources": {"a": {"inputs": ["x"], "stages": ["ingest"]}},
                "resources": {"a/ingest": {"num_cpus": 1}},
            },
            "unknown option num_cpus; the options are cpus, memory_mb",
        ),
    ],
)
def test_a_sources_config_that_cannot_run_is_refused(
    tmp_path: Path, raw: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(_config(tmp_path, raw))


def test_estimate_says_it_takes_one_chain(tmp_path: Path) -> None:
    config = load_config(REPO / "configs/sources.yaml")
    with pytest.raises(ValueError, match="estimate each source's chain"):
        sample_inputs(config, 0.1, "files")


@pytest.mark.ray
def test_a_resources_override_can_name_one_chains_stage(
    tmp_path: Path, ray_executor: RayExecutor
) -> None:
    """`b/ingest` asks more memory than any node has: source a's ingest runs, b's is refused
    with what to change; the plain stage name would have applied to both."""
    texts = ["A paragraph of plain text long enough to be a document. " * 5]
    sources = {
        name: {"inputs": [_jsonl(tmp_path / f"{name}.jsonl", texts)], "stages": ["ingest"]}
        for name in ("a", "b")
    }
    raw = {
        "work_dir": str(tmp_path / "work"),
        "sources": sources,
        "resources": {"b/ingest": {"memory_mb": 2**30}},
    }
    config = load_config(_config(tmp_path, raw))
    assert config.resources.keys() == {"b/ingest"}
    with pytest.raises(TaskTooLarge, match="set the stage's `resources` in the config"):
        run_pipeline(config, ray_executor, progress=False)
    assert [(s["stage"], s["state"]) for s in work_status(str(tmp_path / "work"))] == [
        ("a/ingest", "done"),
        ("b/ingest", "incomplete"),
    ]


def test_a_source_chain_without_ingest_on_raw_files_is_refused_before_anything_runs(
    tmp_path: Path,
) -> None:
    text = ["A paragraph of plain text long enough to be a document. " * 5]
    sources = {
        "a": {"inputs": [_jsonl(tmp_path / "a.jsonl", text)], "stages": ["ingest"]},
        "b": {"inputs": [str(tmp_path)], "stages": ["minhash"]},
    }
    raw = {"work_dir": str(tmp_path / "work"), "sources": sources}
    with pytest.raises(ConfigError, match=r"sources\.b: its first stage, minhash, reads finished"):
        run_pipeline(load_config(_config(tmp_path, raw)), LocalExecutor(), progress=False)
    assert work_status(str(tmp_path / "work")) == []  # source a did not run first


def test_a_chain_may_read_another_chains_stage_of_the_same_run(tmp_path: Path) -> None:
    """The check before the run lets through a directory the run itself writes first."""
    text = ["A paragraph of plain text long enough to be a document. " * 5]
    work = tmp_path / "work"
    sources = {
        "a": {"inputs": [_jsonl(tmp_path / "a.jsonl", text)], "stages": ["ingest"]},
        "b": {"inputs": [str(work / "a" / "ingest")], "stages": ["minhash"]},
    }
    raw = {"work_dir": str(work), "sources": sources}
    run_pipeline(load_config(_config(tmp_path, raw)), LocalExecutor(), progress=False)
    assert [s["stage"] for s in work_status(str(work))] == ["a/ingest", "b/minhash"]
