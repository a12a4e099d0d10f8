"""The executor contract: resumable, deterministic, nothing lost, Ray and local alike."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from core.shards import list_shards, read_table
from core.stagedir import NotAStageDirectory
from pipeline.config import load_config
from pipeline.executor import LocalExecutor
from pipeline.runner import StageFailed, StageRun, run_pipeline, run_stage
from stages import STAGE_CLASSES
from stages.base import BatchOutput, StageConfig, TransformStage, split_by_rejections
from stages.ingest.stage import IngestConfig
from tests.conftest import GENERATED

WORDS = [
    "river",
    "stone",
    "lamp",
    "quiet",
    "market",
    "orbit",
    "pencil",
    "harbor",
    "meadow",
    "signal",
    "copper",
    "violet",
]


def write_jsonl_corpus(directory: Path, files: int, docs_per_file: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for f in range(files):
        lines = []
        for d in range(docs_per_file):
            words = [WORDS[(f * 7 + d * 3 + k) % len(WORDS)] for k in range(40 + d % 9)]
            lines.append(json.dumps({"text": " ".join(words), "url": f"http://x/{f}/{d}"}))
        lines.append(json.dumps({"text": "   "}))  # one empty document per file
        (directory / f"docs-{f:03d}.jsonl").write_text("\n".join(lines) + "\n")
    return directory


def stage_files(stage_dir: Path) -> dict[str, bytes]:
    shards = [*stage_dir.glob("part-*.arrow"), *stage_dir.glob("rejected/part-*.arrow")]
    return {str(p.relative_to(stage_dir)): p.read_bytes() for p in sorted(shards)}


def ingest_run(inputs: list[str], output: Path, **options: object) -> StageRun:
    return StageRun("ingest", IngestConfig(**options), inputs, str(output), 4096)


def test_stage_writes_kept_rejected_stats_and_marker(tmp_path: Path) -> None:
    corpus = write_jsonl_corpus(tmp_path / "in", files=3, docs_per_file=20)
    stats = run_stage(ingest_run([str(corpus)], tmp_path / "out"), LocalExecutor(), False)
    out = tmp_path / "out"
    assert (out / "_SUCCESS").exists()
    assert stats["docs_in"] == 63 == stats["docs_kept"] + stats["docs_rejected"]
    assert stats["rejected_by_reason"] == {"empty_document": 3}
    assert json.loads((out / "stats.json").read_text())["docs_kept"] == 60
    assert read_table(list_shards(out)).num_rows == 60
    rejected = read_table(list_shards(out / "rejected"))
    assert rejected.column("reason").to_pylist() == ["empty_document"] * 3
    assert not list(out.rglob("*.tmp"))


def test_shards_roll_over_at_target_size(tmp_path: Path) -> None:
    corpus = write_jsonl_corpus(tmp_path / "in", files=1, docs_per_file=200)
    run = ingest_run([str(corpus)], tmp_path / "out", batch_rows=10)
    run_stage(run, LocalExecutor(), False)
    shards = list_shards(tmp_path / "out")
    assert len(shards) > 3  # 4 KiB target
    assert [p.name for p in shards][:2] == ["part-00000-0000.arrow", "part-00000-0001.arrow"]
    assert read_table(shards).num_rows == 200


def test_rerun_with_same_config_skips_and_changed_config_redoes(tmp_path: Path) -> None:
    corpus = write_jsonl_corpus(tmp_path / "in", files=2, docs_per_file=5)
    first = run_stage(ingest_run([str(corpus)], tmp_path / "out"), LocalExecutor(), False)
    again = run_stage(ingest_run([str(corpus)], tmp_path / "out"), LocalExecutor(), False)
    assert again["skipped"] and again["fingerprint"] == first["fingerprint"]
    changed = ingest_run([str(corpus)], tmp_path / "out", source="web")
    redone = run_stage(changed, LocalExecutor(), False)
    assert "skipped" not in redone
    assert set(read_table(list_shards(tmp_path / "out")).column("source").to_pylist()) == {"web"}


def test_missing_task_markers_are_redone_identically(tmp_path: Path) -> None:
    corpus = write_jsonl_corpus(tmp_path / "in", files=4, docs_per_file=30)
    run = ingest_run([str(corpus)], tmp_path / "out")
    run_stage(run, LocalExecutor(), False)
    before = stage_files(tmp_path / "out")
    # Simulate a crash after two tasks: no _SUCCESS, two markers and their shards gone,
    # and a half-written temporary shard left behind.
    (tmp_path / "out/_SUCCESS").unlink()
    for marker in sorted((tmp_path / "out/_tasks").glob("*.json"))[2:]:
        marker.unlink()
    for shard in (tmp_path / "out").glob("part-00003-*.arrow"):
        shard.rename(shard.with_name(shard.name + ".tmp"))
    stats = run_stage(run, LocalExecutor(), False)
    assert stats["resumed_tasks"] == 2
    assert stage_files(tmp_path / "out") == before
    assert not list((tmp_path / "out").rglob("*.tmp"))


def test_refuses_to_overwrite_a_directory_it_did_not_write(tmp_path: Path) -> None:
    corpus = write_jsonl_corpus(tmp_path / "in", files=1, docs_per_file=2)
    (tmp_path / "out").mkdir()
    (tmp_path / "out/notes.txt").write_text("precious")
    with pytest.raises(NotAStageDirectory):
        run_stage(ingest_run([str(corpus)], tmp_path / "out"), LocalExecutor(), False)
    assert (tmp_path / "out/notes.txt").read_text() == "precious"


class MaxWordsConfig(StageConfig):
    max_words: int = 45
    lose_rows: bool = False  # simulate a buggy stage that drops rows without a reason
    crash_on_url: str | None = None  # simulate a stage that crashes on some document


class MaxWordsStage(TransformStage):
    """A minimal transform stage, as later stages are written: rejects long documents."""

    name = "max_words"
    summary = "test stage"
    config_class = MaxWordsConfig
    config: MaxWordsConfig

    def output_schema(self, input_schema: pa.Schema | None) -> pa.Schema:
        assert input_schema is not None
        return input_schema

    def process_batch(self, batch: pa.RecordBatch) -> BatchOutput:
        if self.config.crash_on_url in batch.column("url").to_pylist():
            raise RuntimeError(f"cannot handle {self.config.crash_on_url}")
        words = pc.list_value_length(pc.utf8_split_whitespace(batch.column("text")))
        too_long = pc.greater(words, self.config.max_words).to_pylist()
        out = split_by_rejections(
            batch, [("too_many_words", None) if t else None for t in too_long]
        )
        if self.config.lose_rows:
            out.rejected = out.rejected.slice(0, 0)
        return out


@pytest.fixture
def max_words_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(STAGE_CLASSES, "max_words", "tests.test_runner:MaxWordsStage")


def test_transform_stage_chains_after_ingest(tmp_path: Path, max_words_stage: None) -> None:
    corpus = write_jsonl_corpus(tmp_path / "in", files=2, docs_per_file=20)
    config_path = tmp_path / "pipe.yaml"
    config_path.write_text(
        f"inputs: [{corpus}]\nwork_dir: {tmp_path / 'work'}\n"
        "stages:\n  - ingest\n  - max_words: {max_words: 44}\n"
    )
    ingested, filtered = run_pipeline(load_config(config_path), LocalExecutor(), progress=False)
    assert filtered["docs_in"] == ingested["docs_kept"] == 40
    assert filtered["docs_kept"] + filtered["docs_rejected"] == 40
    assert 0 < filtered["docs_rejected"] < 40
    # A transform keeps its input shard's name, so rows can be traced across stages.
    names = {p.name for p in list_shards(tmp_path / "work/max_words")}
    assert names <= {p.name for p in list_shards(tmp_path / "work/ingest")}


def test_a_stage_that_loses_rows_fails_loudly(tmp_path: Path, max_words_stage: None) -> None:
    corpus = write_jsonl_corpus(tmp_path / "in", files=1, docs_per_file=20)
    run_stage(ingest_run([str(corpus)], tmp_path / "ingest"), LocalExecutor(), False)
    lossy = StageRun(
        "max_words",
        MaxWordsConfig(max_words=44, lose_rows=True),
        [str(tmp_path / "ingest")],
        str(tmp_path / "out"),
    )
    with pytest.raises(StageFailed, match="ReconciliationError"):
        run_stage(lossy, LocalExecutor(), False)
    assert not (tmp_path / "out/_SUCCESS").exists()


def test_failed_tasks_are_reported_and_the_others_kept(
    tmp_path: Path, max_words_stage: None
) -> None:
    corpus = write_jsonl_corpus(tmp_path / "in", files=2, docs_per_file=3)
    run_stage(ingest_run([str(corpus)], tmp_path / "ingest"), LocalExecutor(), False)
    crashing = StageRun(
        "max_words",
        MaxWordsConfig(crash_on_url="http://x/1/2"),
        [str(tmp_path / "ingest")],
        str(tmp_path / "out"),
    )
    with pytest.raises(StageFailed, match=r"1 of 2 tasks failed(.|\n)*part-00001-0000\.arrow"):
        run_stage(crashing, LocalExecutor(), False)
    assert [p.name for p in (tmp_path / "out/_tasks").iterdir()] == ["00000.json"]
    assert not (tmp_path / "out/_SUCCESS").exists()


def test_transform_needs_a_finished_input_stage(tmp_path: Path, max_words_stage: None) -> None:
    (tmp_path / "unfinished").mkdir()
    run = StageRun(
        "max_words", MaxWordsConfig(), [str(tmp_path / "unfinished")], str(tmp_path / "out")
    )
    with pytest.raises(FileNotFoundError, match="not a finished stage directory"):
        run_stage(run, LocalExecutor(), False)


def read_stage(stage_dir: Path) -> pa.Table:
    return read_table(list_shards(stage_dir))


def test_pipeline_config_runs_stages_in_order(tmp_path: Path) -> None:
    corpus = write_jsonl_corpus(tmp_path / "in", files=2, docs_per_file=4)
    config_path = tmp_path / "pipe.yaml"
    config_path.write_text(
        f"inputs: [{corpus}]\nwork_dir: {tmp_path / 'work'}\n"
        "executor: {kind: local}\nstages:\n  - ingest: {source: test}\n"
    )
    [stats] = run_pipeline(load_config(config_path), LocalExecutor(), progress=False)
    assert stats["docs_kept"] == 8
    assert set(read_stage(tmp_path / "work/ingest").column("source").to_pylist()) == {"test"}


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], cwd=cwd, capture_output=True, text=True
    )


def write_config(path: Path, inputs: list[Path], work_dir: Path) -> Path:
    listed = ", ".join(str(p) for p in inputs)
    path.write_text(
        f"inputs: [{listed}]\nwork_dir: {work_dir}\nshard_target_mb: 0.05\n"
        "stages:\n  - ingest: {batch_rows: 50}\n"
    )
    return path


def test_killed_run_resumes_to_identical_output(tmp_path: Path) -> None:
    corpus = write_jsonl_corpus(tmp_path / "in", files=300, docs_per_file=300)
    reference = write_config(tmp_path / "a.yaml", [corpus], tmp_path / "ref")
    assert run_cli("run", str(reference), "--executor", "local", cwd=tmp_path).returncode == 0

    config = write_config(tmp_path / "b.yaml", [corpus], tmp_path / "work")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "run", str(config), "--executor", "local"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    markers = tmp_path / "work/ingest/_tasks"
    deadline = time.monotonic() + 120
    while len(list(markers.glob("*.json"))) < 5 and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "work/ingest/_SUCCESS").exists(), "run finished before the kill"

    resumed = run_cli("run", str(config), "--executor", "local", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    stats = json.loads((tmp_path / "work/ingest/stats.json").read_text())
    assert stats["resumed_tasks"] >= 5
    assert stats["docs_in"] == 300 * 301 == stats["docs_kept"] + stats["docs_rejected"]
    assert stage_files(tmp_path / "work/ingest") == stage_files(tmp_path / "ref/ingest")


@pytest.mark.ray
def test_ray_and_local_executors_write_identical_shards(tmp_path: Path, real_data: Path) -> None:
    corpus = write_jsonl_corpus(tmp_path / "in", files=6, docs_per_file=50)
    inputs = [corpus, real_data / "samples", GENERATED]
    local = write_config(tmp_path / "local.yaml", inputs, tmp_path / "local")
    ray = write_config(tmp_path / "ray.yaml", inputs, tmp_path / "ray")
    done_local = run_cli("run", str(local), "--executor", "local", cwd=tmp_path)
    assert done_local.returncode == 0, done_local.stderr
    done_ray = run_cli("run", str(ray), "--executor", "ray", cwd=tmp_path)
    assert done_ray.returncode == 0, done_ray.stderr
    assert "ingest:" in done_ray.stderr
    local_files = stage_files(tmp_path / "local/ingest")
    assert len(local_files) > 10
    assert stage_files(tmp_path / "ray/ingest") == local_files
