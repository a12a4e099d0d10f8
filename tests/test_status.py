"""`datapipe status`: done, incomplete and failed stages as a user sees them after a run, an
interruption or a crash."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.executor import LocalExecutor
from pipeline.runner import StageFailed, StageRun, run_stage
from pipeline.status import work_status
from tests.test_runner import MaxWordsConfig, ingest_run, max_words_stage, write_jsonl_corpus

__all__ = ["max_words_stage"]  # the fixture, used by name


@pytest.fixture
def work(tmp_path: Path, max_words_stage: None) -> Path:
    """A work dir with a finished ingest (2 inputs) and a finished max_words stage."""
    corpus = write_jsonl_corpus(tmp_path / "in", files=2, docs_per_file=5)
    work = tmp_path / "work"
    run_stage(ingest_run([str(corpus)], work / "ingest"), LocalExecutor(), False)
    words = StageRun(
        "max_words", MaxWordsConfig(max_words=44), [str(work / "ingest")], str(work / "max_words")
    )
    run_stage(words, LocalExecutor(), False)
    return work


def test_finished_stages_are_done_with_their_counts(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", str(work)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["ingest", "done", "tasks", "2/2"]
    assert "12 in -> 10 kept, 2 rejected" in out[0]
    assert out[1].startswith("max_words") and "done" in out[1]


def test_an_interrupted_stage_is_incomplete_with_its_finished_tasks(work: Path) -> None:
    (work / "max_words/_SUCCESS").unlink()
    markers = sorted((work / "max_words/_tasks").glob("*.json"))
    markers[0].unlink()
    [_, words] = work_status(work)
    assert (words["state"], words["done"], words["tasks"]) == (
        "incomplete",
        len(markers) - 1,
        len(markers),
    )
    assert main(["status", str(work)]) == 1


def test_a_failed_stage_names_the_task_and_the_error(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.rmtree(work / "max_words")
    crashing = StageRun(
        "max_words",
        MaxWordsConfig(crash_on_url="http://x/1/2"),
        [str(work / "ingest")],
        str(work / "max_words"),
    )
    with pytest.raises(StageFailed):
        run_stage(crashing, LocalExecutor(), False)
    assert main(["status", str(work)]) == 1
    out = capsys.readouterr().out
    assert "max_words        failed" in out
    assert "1 of 2 tasks failed in max_words" in out
    assert "RuntimeError: cannot handle http://x/1/2" in out
    assert main(["status", "--json", str(work)]) == 1
    [_, failed] = json.loads(capsys.readouterr().out)["stages"]
    assert failed["failed"]["failures"][0]["error"].startswith("RuntimeError")
