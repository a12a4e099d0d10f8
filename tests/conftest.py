"""Shared fixtures. Real data comes from ../shared (or $DATAPIPE_SHARED); it is required."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GENERATED = REPO / "data_samples" / "generated"


def shared_dir() -> Path:
    path = Path(os.environ.get("DATAPIPE_SHARED", REPO.parent / "shared"))
    if not (path / "samples").is_dir():
        raise RuntimeError(
            f"shared data not found at {path}; set DATAPIPE_SHARED to the shared/ directory"
        )
    return path


@pytest.fixture(scope="session")
def shared() -> Path:
    return shared_dir()


@pytest.fixture(scope="session")
def quality_training_args(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    ref, cc = shared_dir() / "reference", shared_dir() / "samples/cc"
    model = tmp_path_factory.mktemp("models") / "quality.ftz"
    return [
        "train-quality",
        "--output",
        str(model),
        "--positive",
        str(ref / "wikitext2-valid.txt"),
        str(ref / "wikitext2-test.txt"),
        str(ref / "cmrc2018_zh_wikipedia.jsonl"),
        str(ref / "redpajama-arxiv-sample.jsonl"),
        "--negative",
        str(cc / "dolma_CC-MAIN-2019-30_00140.jsonl.gz"),
        str(cc / "llamafactory_c4_demo.jsonl"),
        str(cc / "oscar2019_multilingual.jsonl"),
        str(GENERATED / "docs.jsonl"),
    ]


@pytest.fixture(scope="session")
def quality_model(quality_training_args: list[str]) -> Path:
    """The quality classifier trained once per test session through the CLI (~20 s)."""
    from pipeline.cli import main

    assert main(quality_training_args) == 0
    return Path(quality_training_args[quality_training_args.index("--output") + 1])


@pytest.fixture(scope="session")
def perplexity_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """English and Chinese n-gram models with cut-offs, trained through the CLI (~5 s)."""
    from pipeline.cli import main

    ref, cc = shared_dir() / "reference", shared_dir() / "samples/cc"
    out = tmp_path_factory.mktemp("lm")
    inputs = {
        "en": [ref / "wikitext2-valid.txt"],
        "zh": [ref / "cmrc2018_zh_wikipedia.jsonl"],
    }
    sample = [cc / "dolma_CC-MAIN-2019-30_00140.jsonl.gz", GENERATED / "docs.jsonl"]
    models = {}
    for lang, paths in inputs.items():
        model = out / f"lm.{lang}.npz"
        args = [
            "train-perplexity",
            "--lang",
            lang,
            "--output",
            str(model),
            "--input",
            *map(str, paths),
            "--cutoff-sample",
            *map(str, sample),
        ]
        assert main(args) == 0
        models[lang] = str(model)
    return models
