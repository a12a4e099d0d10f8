"""The pipeline on a real two-node Ray cluster (`ray start --head` and `ray start --address`,
both on this machine, tests/ray_cluster.py): `datapipe run --ray-address` runs tasks on both
nodes and writes the same bytes as `--executor local`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.pipeline_runs import (
    differences,
    driver_command,
    output_files,
    run_args,
    run_to_completion,
    write_shared_config,
)
from tests.ray_cluster import Cluster


@pytest.mark.ray
def test_two_node_cluster_runs_tasks_on_both_nodes_with_local_bytes(
    cluster: Cluster, real_data: Path, shared_samples_run: Path, tmp_path: Path
) -> None:
    config = write_shared_config(real_data, tmp_path / "shared-samples.yaml")
    work, log = tmp_path / "work", tmp_path / "run.log"
    # The in-process (local executor) run of the same config, shared with other modules: in
    # another work directory, so even the manifest (it names the tokenizer relative to itself)
    # must be byte-identical.
    local = output_files(shared_samples_run)

    report = tmp_path / "nodes.json"
    # Two tasks in flight whatever the driver sees of the cluster when it connects.
    args = run_args(config, work, "--ray-address", cluster.address, "--max-concurrency", "2")
    run_to_completion(driver_command("report-nodes", str(report), args), log, cluster.env)

    ran = json.loads(report.read_text())
    node = {resource: n for n, res in ran["nodes"].items() for resource in res}
    head, worker = node["head_node"], node["worker_node"]
    assert head != worker
    assert set(ran["nodes_used"]) == {head, worker}, ran  # no embedded Ray: only our nodes
    assert min(ran["nodes_used"].values()) >= 5, ran
    print(f"tasks per node: head {ran['nodes_used'][head]}, worker {ran['nodes_used'][worker]}")
    diff = differences(output_files(work), local)
    assert not diff, f"the cluster's output differs from --executor local: {diff[:20]}"
