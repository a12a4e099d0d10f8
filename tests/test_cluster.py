"""The pipeline on a real two-node Ray cluster (`ray start --head` and `ray start --address`,
both on this machine): `datapipe run --ray-address` runs tasks on both nodes and writes the
same bytes as `--executor local`.

The nodes get a temporary directory of their own (so `ray.init()` elsewhere on the machine
never finds them), token authentication with a token made up here, and ports picked free; the
finalizer stops exactly their processes (`ray stop` would stop every Ray on the machine).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.pipeline_runs import (
    differences,
    driver_command,
    output_files,
    run_args,
    run_to_completion,
    stop_ray_nodes,
    write_shared_config,
)

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Cluster:
    address: str
    env: dict[str, str]  # for every process of the cluster: nodes and driver


def ray_start(args: list[str], env: dict[str, str]) -> None:
    started = subprocess.run(
        [RAY, "start", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert started.returncode == 0, f"ray start {' '.join(args)}:\n{started.stdout}{started.stderr}"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    # Short: Ray puts its sockets under it, and a socket path has at most 107 bytes.
    temp_dir = tempfile.mkdtemp(prefix="datapipe-ray-", dir="/tmp")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    # Multi-node clusters need the same auth mode and token in every process.
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16))
    port = free_port()
    address = f"127.0.0.1:{port}"
    common = ["--num-cpus=1", "--node-ip-address=127.0.0.1", "--disable-usage-stats"]
    try:
        ray_start(
            [
                "--head",
                f"--port={port}",
                '--resources={"head_node": 1}',
                f"--temp-dir={temp_dir}",
                "--include-dashboard=false",
                f"--dashboard-port={free_port()}",
                f"--dashboard-agent-listen-port={free_port()}",
                *common,
            ],
            env,
        )
        ray_start(
            [
                f"--address={address}",
                '--resources={"worker_node": 1}',
                f"--dashboard-agent-listen-port={free_port()}",
                *common,
            ],
            env,
        )
        # The nodes recorded their address in their own directory, where a plain `ray.init()`
        # (one that would start an embedded Ray) does not look.
        assert (Path(temp_dir) / "ray_current_cluster").read_text().strip().endswith(f":{port}")
        yield Cluster(address, env)
    finally:
        stop_ray_nodes(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


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
