"""The README's first command on a fresh clone: `make pipeline` with nothing beside the
checkout (no ../shared), from a new virtualenv, to a verified export whose tokenizer has
64,000 pieces and a mixture of several sources.

It clones the committed HEAD (uncommitted changes are not in the clone) and installs datapipe
into the clone's own .venv from the package registry, so it takes a few minutes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests import background

REPO = Path(__file__).resolve().parents[1]


def make_pipeline_in_a_fresh_clone(root: Path) -> tuple[Path, str]:
    """A clone in an empty directory (so no `../shared`) after `make pipeline`; its output."""
    clone = root / "datapipe"
    cloned = background.run(["git", "clone", "--quiet", str(REPO), str(clone)], REPO, 300)
    assert cloned.returncode == 0, cloned.stderr
    assert not (root / "shared").exists()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATAPIPE_", "VIRTUAL_ENV"))}
    done = background.run(["make", "pipeline"], clone, 1800, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return clone / "work", done.stderr


def start_background(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Called when the session's tests are collected: the clone and its `make pipeline` (a few
    minutes, other processes only) run while the rest of the suite does."""
    root = tmp_path_factory.mktemp("fresh")
    # A lane of its own: the longest job, it does not hold up the others.
    background.submit("fresh-clone", make_pipeline_in_a_fresh_clone, root, lane="fresh-clone")


@pytest.fixture(scope="module")
def fresh_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return background.result(
        "fresh-clone", lambda: make_pipeline_in_a_fresh_clone(tmp_path_factory.mktemp("fresh"))
    )


def test_the_export_is_verified(fresh_run: tuple[Path, str]) -> None:
    work, log = fresh_run
    assert "verified " in log and "match manifest.json" in log
    assert (work / "report.html").is_file()


def test_the_tokenizer_has_64000_pieces_and_held_out_compression_per_language(
    fresh_run: tuple[Path, str],
) -> None:
    work, _ = fresh_run
    report = json.loads((work / "train-tokenizer/tokenizer.json").read_text())
    assert report["vocab_size"] == 64_000
    assert report["composition"]["pieces"]["byte"] == 256  # byte fallback
    assert set(report["compression"]) >= {"en", "zh"}
    assert all(c["bytes_per_token"] > 1 for c in report["compression"].values())


def test_the_mixture_has_several_sources_with_their_epochs(fresh_run: tuple[Path, str]) -> None:
    work, _ = fresh_run
    manifest = json.loads((work / "export/manifest.json").read_text())
    sources = {s["name"]: s for s in manifest["sources"]}
    assert set(sources) == {"wiki_en", "wiki_zh", "web_en", "web_zh"}
    assert all(s["documents"] > 0 and s["epochs"] > 0 for s in sources.values())
    assert not manifest["warnings"]


def test_the_models_were_trained_in_the_run(fresh_run: tuple[Path, str]) -> None:
    work, _ = fresh_run
    for stage in ("train-quality", "train-perplexity", "train-tokenizer"):
        stats = json.loads((work / stage / "stats.json").read_text())
        assert stats["kind"] == "training" and (work / stage / "_SUCCESS").exists()
    score = json.loads((work / "score/_config.json").read_text())["config"]
    assert score["quality_model"] == str(work / "train-quality/quality.ftz")
