"""Shared fixtures. Real data comes from the repository's data_samples/ (samples/ and
reference/), generated fixtures from tests/fixtures/generated/: the suite needs nothing outside
the checkout."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pipeline.config import PipelineConfig
    from pipeline.executor import RayExecutor

REPO = Path(__file__).resolve().parents[1]
# Real web data (samples/cc, samples/web) and reference text (reference/), committed in the repo.
SAMPLES = REPO / "data_samples"
GENERATED = REPO / "tests" / "fixtures" / "generated"  # synthetic fixtures (tests/fixtures/)


@pytest.fixture(scope="session")
def real_data() -> Path:
    """data_samples/: `samples/` (Common Crawl and web crawls) and `reference/` (Wikipedia,
    arXiv)."""
    return SAMPLES


def shared_samples_config(real_data: Path, work_dir: Path) -> PipelineConfig:
    """configs/shared-samples.yaml on `real_data`/samples, writing to `work_dir`."""
    from pipeline.config import load_config

    config = load_config(REPO / "configs/shared-samples.yaml")
    return config.model_copy(
        update={"inputs": [str(real_data / "samples")], "work_dir": str(work_dir)}
    )


@pytest.fixture(scope="session")
def shared_samples_run(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The work directory of configs/shared-samples.yaml run in-process once per session
    (no models needed, ~25 s). Tests only read it."""
    from pipeline.executor import LocalExecutor
    from pipeline.runner import run_pipeline

    work_dir = tmp_path_factory.mktemp("shared-samples-run") / "work"
    run_pipeline(shared_samples_config(real_data, work_dir), LocalExecutor(), progress=False)
    return work_dir


@pytest.fixture(scope="session")
def ray_executor() -> Iterator[RayExecutor]:
    """An embedded Ray with 2 CPUs (so tasks run in other processes), started once per session:
    starting Ray takes seconds, and the tests that compare Ray with in-process runs share it."""
    from pipeline.executor import RayExecutor, RaySettings

    executor = RayExecutor(RaySettings(num_cpus=2))
    yield executor
    executor.close()


LOCAL = ["--executor", "local", "--no-progress"]


@pytest.fixture(scope="session")
def quality_training_args(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """`datapipe train-quality`: reference text against random web documents."""
    ref, cc = SAMPLES / "reference", SAMPLES / "samples/cc"
    return [
        "train-quality",
        *LOCAL,
        "--output",
        str(tmp_path_factory.mktemp("models") / "train-quality"),
        "--positive",
        str(ref / "wikitext2-valid.txt"),
        str(ref / "wikitext2-test.txt"),
        str(ref / "cmrc2018_zh_wikipedia.jsonl"),
        str(ref / "redpajama-arxiv-sample.jsonl"),
        "--input",
        str(cc / "dolma_CC-MAIN-2019-30_00140.jsonl.gz"),
        str(cc / "llamafactory_c4_demo.jsonl"),
        str(cc / "oscar2019_multilingual.jsonl"),
        str(GENERATED / "docs.jsonl"),
    ]


@pytest.fixture(scope="session")
def quality_model(quality_training_args: list[str]) -> Path:
    """The quality classifier trained once per test session by its stage (~20 s)."""
    from pipeline.cli import main
    from stages.score.train import QUALITY_MODEL

    assert main(quality_training_args) == 0
    stage_dir = Path(quality_training_args[quality_training_args.index("--output") + 1])
    return stage_dir / QUALITY_MODEL


@pytest.fixture(scope="session")
def perplexity_training_args(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """`datapipe train-perplexity`: English and Chinese reference text, cut-offs from web text."""
    ref, cc = SAMPLES / "reference", SAMPLES / "samples/cc"
    references = {
        "en": [str(ref / "wikitext2-valid.txt")],
        "zh": [str(ref / "cmrc2018_zh_wikipedia.jsonl")],
    }
    return [
        "train-perplexity",
        *LOCAL,
        "--output",
        str(tmp_path_factory.mktemp("lm") / "train-perplexity"),
        "--references",
        json.dumps(references),
        "--input",
        str(cc / "dolma_CC-MAIN-2019-30_00140.jsonl.gz"),
        str(GENERATED / "docs.jsonl"),
    ]


@pytest.fixture(scope="session")
def perplexity_models(perplexity_training_args: list[str]) -> dict[str, str]:
    """English and Chinese n-gram models with cut-offs, trained once by their stage (~5 s)."""
    from pipeline.cli import main
    from stages.score.train import perplexity_model_file

    assert main(perplexity_training_args) == 0
    stage_dir = Path(perplexity_training_args[perplexity_training_args.index("--output") + 1])
    return {lang: str(stage_dir / perplexity_model_file(lang)) for lang in ("en", "zh")}
