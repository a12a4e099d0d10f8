"""Shared fixtures. Real data comes from the repository's data_samples/ (samples/ and
reference/), generated fixtures from tests/fixtures/generated/: the suite needs nothing outside
the checkout."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests import background

if TYPE_CHECKING:
    from pipeline.config import PipelineConfig
    from pipeline.executor import RayExecutor
    from tests.ray_cluster import Cluster

REPO = Path(__file__).resolve().parents[1]
# Real web data (samples/cc, samples/web) and reference text (reference/), committed in the repo.
SAMPLES = REPO / "data_samples"
GENERATED = REPO / "tests" / "fixtures" / "generated"  # synthetic fixtures (tests/fixtures/)


def _starts_background(item: pytest.Item) -> bool:
    return hasattr(getattr(item, "module", None), "start_background")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests whose module starts a background job (tests/background.py) run last, when
    their job has had the rest of the suite's time to finish."""
    items.sort(key=_starts_background)  # stable: the order within each part is kept


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the background jobs of the modules whose tests were selected."""
    if session.config.option.collectonly:
        return
    start_model_training(session)
    modules = {getattr(item, "module", None) for item in session.items if _starts_background(item)}
    for module in sorted(modules, key=lambda m: m.__name__):
        # If starting fails, the module's fixture does the work, and reports the error, itself.
        with contextlib.suppress(Exception):
            module.start_background(session.config._tmp_path_factory)  # tmp_path_factory


def pytest_sessionfinish() -> None:
    background.stop()


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


def _quality_training_args(output: Path) -> list[str]:
    """`datapipe train-quality`: reference text against random web documents."""
    ref, cc = SAMPLES / "reference", SAMPLES / "samples/cc"
    return [
        "train-quality",
        *LOCAL,
        "--output",
        str(output / "train-quality"),
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


def _perplexity_training_args(output: Path) -> list[str]:
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
        str(output / "train-perplexity"),
        "--references",
        json.dumps(references),
        "--input",
        str(cc / "dolma_CC-MAIN-2019-30_00140.jsonl.gz"),
        str(GENERATED / "docs.jsonl"),
    ]


# The session's models, by fixture: how to make its training arguments, given a directory of
# its own, and that directory's name.
MODELS = {
    "quality_model": (_quality_training_args, "models"),
    "perplexity_models": (_perplexity_training_args, "lm"),
}
_training_args: dict[str, list[str]] = {}  # by model fixture, once per session


def training_args(model: str, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    if model not in _training_args:
        make_args, directory = MODELS[model]
        _training_args[model] = make_args(tmp_path_factory.mktemp(directory))
    return _training_args[model]


def train(args: list[str]) -> Path:
    """Run `datapipe <args>` (a training stage, in-process executor) in a process of its own;
    it must succeed. Its output directory."""
    done = background.run([sys.executable, "-m", "pipeline", *args], REPO, 1800)
    assert done.returncode == 0, f"datapipe {args[0]} failed:\n{done.stderr[-4000:]}"
    return Path(args[args.index("--output") + 1])


def start_model_training(session: pytest.Session) -> None:
    """Train the models the selected tests need, in the background (tests/background.py): the
    tests that use them come long after the session starts."""
    needed = {name for item in session.items for name in getattr(item, "fixturenames", ())}
    for model in MODELS:
        if model in needed:
            args = training_args(model, session.config._tmp_path_factory)
            background.submit(model, train, args)


@pytest.fixture(scope="session")
def quality_training_args(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return training_args("quality_model", tmp_path_factory)


@pytest.fixture(scope="session")
def quality_model(quality_training_args: list[str]) -> Path:
    """The quality classifier trained once per test session by its stage (~20-45 s), started
    in the background when the session starts."""
    from stages.score.train import QUALITY_MODEL

    return background.result("quality_model", train, quality_training_args) / QUALITY_MODEL


@pytest.fixture(scope="session")
def perplexity_training_args(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return training_args("perplexity_models", tmp_path_factory)


@pytest.fixture(scope="session")
def perplexity_models(perplexity_training_args: list[str]) -> dict[str, str]:
    """English and Chinese n-gram models with cut-offs, trained once by their stage (~5 s),
    started in the background when the session starts."""
    from stages.score.train import perplexity_model_file

    stage_dir = background.result("perplexity_models", train, perplexity_training_args)
    return {lang: str(stage_dir / perplexity_model_file(lang)) for lang in ("en", "zh")}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A two-node Ray cluster on this machine whose nodes share no directory
    (tests/ray_cluster.py), for one module's tests."""
    from tests.ray_cluster import two_node_cluster

    with two_node_cluster() as started:
        yield started
