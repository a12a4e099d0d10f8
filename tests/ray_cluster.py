"""A real two-node Ray cluster on this machine (`ray start --head` and `ray start --address`),
for the tests that run the pipeline on one (`cluster` in tests/conftest.py).

The nodes get a temporary directory of their own (so `ray.init()` elsewhere on the machine
never finds them), each node its own working directory and TMPDIR (their workers share no
directory with the driver or each other), none of the driver's object-store settings (a
driver passes its own to the workers), token authentication with a token made up here, and
ports picked free; stopping stops exactly their processes (`ray stop` would stop every Ray
on the machine).
"""

from __future__ import annotations

import contextlib
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

from core import storage
from tests.pipeline_runs import stop_ray_nodes

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Cluster:
    address: str
    env: dict[str, str]  # for every process of the cluster: nodes and driver


def ray_start(args: list[str], env: dict[str, str], home: Path) -> None:
    """`ray start` from `home`, its working directory and TMPDIR: the node's workers share
    no directory with the driver or the other node (their scratch is under TMPDIR)."""
    home.mkdir(parents=True, exist_ok=True)
    started = subprocess.run(
        [RAY, "start", *args],
        env={**env, "TMPDIR": str(home)},
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert started.returncode == 0, f"ray start {' '.join(args)}:\n{started.stdout}{started.stderr}"


@contextlib.contextmanager
def two_node_cluster() -> Iterator[Cluster]:
    # Short: Ray puts its sockets under it, and a socket path has at most 107 bytes.
    temp_dir = tempfile.mkdtemp(prefix="datapipe-ray-", dir="/tmp")
    # Nor the settings of an object store: a driver passes its own to the workers.
    storage_settings = storage.environment()
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS" and k not in storage_settings}
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
            Path(temp_dir, "head-home"),
        )
        ray_start(
            [
                f"--address={address}",
                '--resources={"worker_node": 1}',
                f"--dashboard-agent-listen-port={free_port()}",
                *common,
            ],
            env,
            Path(temp_dir, "worker-home"),
        )
        # The nodes recorded their address in their own directory, where a plain `ray.init()`
        # (one that would start an embedded Ray) does not look.
        assert (Path(temp_dir) / "ray_current_cluster").read_text().strip().endswith(f":{port}")
        yield Cluster(address, env)
    finally:
        stop_ray_nodes(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
