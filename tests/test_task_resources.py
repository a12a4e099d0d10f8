"""Declared task resources: every stage says what one of its tasks needs (CPUs, and memory from
the size of the shard it reads); the Ray executor asks Ray for exactly that, so a node never
runs more tasks than its memory holds, and a task no node can hold is refused before anything
runs. A config can override a stage's request."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pipeline.config import ResourceOverride
from pipeline.executor import RayExecutor, TaskRequest, TaskTooLarge
from pipeline.runner import StageRun, run_stage, task_sizer
from stages.base import TaskResources
from stages.filter.stage import FilterConfig, FilterStage
from stages.ingest.stage import IngestConfig, IngestStage
from stages.score.train import QualityTrainingConfig, QualityTrainingStage
from tests.conftest import SAMPLES


def spec(input_path: str | None) -> SimpleNamespace:
    # A standard type: Ray's workers unpickle it without importing this module.
    return SimpleNamespace(input_path=input_path, label=f"task on {input_path}")


def test_a_transform_asks_for_its_base_plus_a_share_of_its_shard(tmp_path: Path) -> None:
    shard = tmp_path / "part-00000.arrow"
    shard.write_bytes(b"x" * 10_000_000)
    declared = FilterStage.resources
    request = task_sizer(FilterStage(FilterConfig()), None)(spec(str(shard)))
    assert request == TaskRequest(declared.cpus, declared.memory_bytes(10_000_000))
    assert request.memory_bytes == int(declared.base_mb * 2**20 + 3 * 10_000_000)
    # A source stage streams its files and a training stage samples: no share per byte.
    warc = next(SAMPLES.rglob("*.warc.gz"))
    ingest = task_sizer(IngestStage(IngestConfig()), None)(spec(str(warc)))
    assert ingest.memory_bytes == IngestStage.resources.memory_bytes(0)
    positive = str(next(SAMPLES.rglob("*wiki*")))
    training = QualityTrainingStage(QualityTrainingConfig(positive=(positive,)))
    assert task_sizer(training, None)(spec(None)).memory_bytes == (2048 * 2**20)


def test_a_partition_step_asks_for_its_share_of_the_stage_input() -> None:
    """A step over P partitions reads about 1/P of what the stage reads: its request grows
    with the corpus unless the partitions grow too (minhash: one per shard by default)."""
    from stages.base import Step
    from stages.minhash.stage import MinhashConfig, MinhashStage

    stage = MinhashStage(MinhashConfig())
    sizer = task_sizer(stage, None, corpus_bytes=80_000_000)
    task = SimpleNamespace(input_path=None, step=Step("buckets", 8, {}), label="buckets 0")
    assert sizer(task).memory_bytes == stage.resources.memory_bytes(10_000_000)
    over_shards = SimpleNamespace(input_path=None, step=Step("signatures", 8, {}, over="shards"))
    assert sizer(over_shards).memory_bytes == stage.resources.memory_bytes(0)


def test_the_config_overrides_what_a_stage_declares(tmp_path: Path) -> None:
    shard = tmp_path / "part-00000.arrow"
    shard.write_bytes(b"x" * 1000)
    override = ResourceOverride(cpus=2, memory_mb=100)
    request = task_sizer(FilterStage(FilterConfig()), override)(spec(str(shard)))
    assert request == TaskRequest(2, 100 * 2**20)
    cpus_only = task_sizer(FilterStage(FilterConfig()), ResourceOverride(cpus=0.5))
    assert cpus_only(spec(str(shard))) == TaskRequest(0.5, TaskResources().memory_bytes(1000))


@pytest.mark.ray
def test_ray_tasks_get_the_cpus_and_memory_they_declare(ray_executor: RayExecutor) -> None:
    def _assigned(_: Any) -> dict[str, float]:  # nested: Ray's workers get it by value
        import ray

        return ray.get_runtime_context().get_assigned_resources()

    request = TaskRequest(1, 300 * 2**20)
    [(_, assigned)] = list(ray_executor.map_unordered(_assigned, [spec(None)], lambda _: request))
    assert assigned["CPU"] == 1
    assert assigned["memory"] == pytest.approx(300 * 2**20, rel=0.01)


@pytest.mark.ray
def test_a_task_larger_than_every_node_is_refused_before_anything_runs(
    ray_executor: RayExecutor, tmp_path: Path
) -> None:
    ran = tmp_path / "ran"
    huge = TaskRequest(1, 2**50)  # a PiB
    with pytest.raises(TaskTooLarge, match=r"needs 1 CPUs and 1048576\.0 GiB.*largest Ray node"):
        list(ray_executor.map_unordered(ran.mkdir, [spec(None)], lambda _: huge))
    assert not ran.exists()


@pytest.mark.ray
def test_a_stage_whose_override_no_node_holds_fails_with_what_to_change(
    ray_executor: RayExecutor, tmp_path: Path
) -> None:
    run = StageRun(
        "ingest",
        IngestConfig(),
        [str(next(SAMPLES.rglob("*.warc.gz")))],
        str(tmp_path / "ingest"),
        resources=ResourceOverride(memory_mb=2**30),
    )
    with pytest.raises(TaskTooLarge, match="set the stage's `resources` in the config"):
        run_stage(run, ray_executor, False)
