"""Executors run task functions over task specs: in-process, or as Ray tasks.

Both yield `(spec, result_or_exception)` as tasks finish, so the runner treats them alike.
Ray is imported only when the Ray executor is built.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from core import storage

TaskOutcome = tuple[Any, Any]  # (spec, result or the exception that ended the task)
RAY_AUTH_SETUP_LOGGER = "ray._private.authentication.authentication_token_setup"


def _not_the_token_notice(record: logging.LogRecord) -> bool:
    """Ray announces on every start that token authentication is on (its secure default):
    a notice each command printed, which read like something to act on. Its warning that
    authentication is *off* still shows."""
    return "Token authentication is enabled" not in record.getMessage()


@dataclass(frozen=True)
class TaskRequest:
    """What a task asks the scheduler for."""

    cpus: float
    memory_bytes: int


Sizer = Callable[[Any], TaskRequest]  # a spec's request


class Executor(Protocol):
    def map_unordered(
        self, fn: Callable[[Any], Any], specs: Sequence[Any], sizer: Sizer | None = None
    ) -> Iterator[TaskOutcome]: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Runs tasks one after another in this process: for debugging and fast tests."""

    def map_unordered(
        self, fn: Callable[[Any], Any], specs: Sequence[Any], sizer: Sizer | None = None
    ) -> Iterator[TaskOutcome]:
        for spec in specs:
            try:
                yield spec, fn(spec)
            except Exception as err:  # reported by the runner with the task's input
                yield spec, err

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class RaySettings:
    address: str | None = None  # None: start an embedded local Ray
    num_cpus: int | None = None  # embedded Ray only; default: all cores
    max_concurrency: int | None = None  # tasks in flight; default: the cluster's CPUs
    max_retries: int = 3  # Ray re-runs a task whose worker died
    object_store_mb: int = 512  # embedded Ray only; tasks pass files, not objects


def _run_on_node(fn: Callable[[Any], Any], spec: Any) -> tuple[str, Any]:
    """The Ray task: `fn(spec)` on a worker, with the id of the node it ran on. The worker's
    peak-memory mark is reset first, so the peak a task records is its own, not that of an
    earlier task of the same worker process."""
    import ray

    _reset_peak_rss()
    return ray.get_runtime_context().get_node_id(), fn(spec)


def _reset_peak_rss() -> None:
    """Linux: set this process's VmHWM back to its current resident size (clear_refs 5)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


class TaskTooLarge(ValueError):
    """A task asks for more than any node of the cluster has: it would wait forever."""


class ClusterUnreachable(ConnectionError):
    """The Ray address given does not answer."""


REACH_TIMEOUT = 10.0  # seconds to wait for a cluster's port to answer


def _check_reachable(address: str) -> None:
    """Fail within seconds, naming the address, when nothing listens there (ray.init would
    retry for minutes and then name an address of its own). `auto` is Ray's to resolve."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or "localhost", int(port)), REACH_TIMEOUT) as conn:
            # Ray's GCS and client server speak gRPC: an HTTP/2 server answers the connection
            # preface with a SETTINGS frame (type 4), anything else (a web server) does not.
            conn.sendall(HTTP2_PREFACE + EMPTY_SETTINGS_FRAME)
            answer = _receive(conn, 9)
        if len(answer) < 9 or answer[3] != 4:
            raise OSError("it does not speak gRPC: not a Ray head")
    except (OSError, ValueError) as err:
        raise ClusterUnreachable(
            f"cannot reach Ray at {address} ({err}); start the cluster (ray start --head) or "
            "check the address (host:port of the head's GCS, or ray://host:10001)"
        ) from None


HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
EMPTY_SETTINGS_FRAME = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def _receive(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size and (chunk := conn.recv(size - len(data))):
        data += chunk
    return data


class RayExecutor:
    """One Ray task per spec, at most `max_concurrency` in flight; each task writes its own
    outputs, so only small result dicts come back to the driver. `nodes_used` counts the
    finished tasks per Ray node id."""

    def __init__(self, settings: RaySettings) -> None:
        import ray

        notices = logging.getLogger(RAY_AUTH_SETUP_LOGGER)
        if _not_the_token_notice not in notices.filters:
            notices.addFilter(_not_the_token_notice)
        self._ray = ray
        self._settings = settings
        self.nodes_used: Counter[str] = Counter()
        if settings.address:  # checked even when this process is already connected
            _check_reachable(settings.address)
        self._owns_cluster = not ray.is_initialized()
        if self._owns_cluster:
            # Workers reach the run's object store as the driver does (core/storage.py).
            runtime_env = {"env_vars": storage.environment()}
            if settings.address:
                ray.init(
                    address=settings.address,
                    logging_level=logging.WARNING,
                    runtime_env=runtime_env,
                )
            else:
                # "local": always a new embedded Ray, never a cluster that `ray start` or
                # RAY_ADDRESS left behind (which would also refuse num_cpus).
                ray.init(
                    address="local",
                    num_cpus=settings.num_cpus or os.cpu_count() or 1,
                    object_store_memory=settings.object_store_mb * 2**20,
                    include_dashboard=False,
                    logging_level=logging.WARNING,
                    runtime_env=runtime_env,
                )
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.max_concurrency = settings.max_concurrency or max(cpus, 1)

    def map_unordered(
        self, fn: Callable[[Any], Any], specs: Sequence[Any], sizer: Sizer | None = None
    ) -> Iterator[TaskOutcome]:
        ray = self._ray
        remote_fn = ray.remote(num_cpus=1, max_retries=self._settings.max_retries)(_run_on_node)
        # Named after `fn`, so workers' process titles and Ray's task lists say what runs.
        name = getattr(fn, "__name__", "task")
        requests = {id(spec): sizer(spec) for spec in specs} if sizer else {}
        self._check_fits(specs, requests)
        pending = list(reversed(specs))
        in_flight: dict[Any, Any] = {}
        while pending or in_flight:
            while pending and len(in_flight) < self.max_concurrency:
                spec = pending.pop()
                options: dict[str, Any] = {"name": name}
                if (request := requests.get(id(spec))) is not None:
                    options |= {"num_cpus": request.cpus, "memory": max(request.memory_bytes, 1)}
                in_flight[remote_fn.options(**options).remote(fn, spec)] = spec
            done, _ = ray.wait(list(in_flight), num_returns=1)
            spec = in_flight.pop(done[0])
            try:
                node, result = ray.get(done[0])
            except ray.exceptions.RayTaskError as err:
                # The task's own exception (its message says what to do), not Ray's traceback.
                yield spec, err.cause if isinstance(err.cause, BaseException) else err
            except ray.exceptions.RayError as err:
                yield spec, err
            else:
                self.nodes_used[node] += 1
                yield spec, result

    def _check_fits(self, specs: Sequence[Any], requests: dict[int, TaskRequest]) -> None:
        """Refuse, before anything runs, a task no node can hold (Ray would queue it forever,
        with a warning in a log)."""
        if not requests:
            return
        nodes = [node["Resources"] for node in self._ray.nodes() if node.get("Alive")]
        memory = max((node.get("memory", 0) for node in nodes), default=0)
        cpus = max((node.get("CPU", 0) for node in nodes), default=0)
        for spec in specs:
            request = requests.get(id(spec))
            if request and (request.memory_bytes > memory or request.cpus > cpus):
                raise TaskTooLarge(
                    f"{getattr(spec, 'label', 'a task')} needs {request.cpus:g} CPUs and "
                    f"{request.memory_bytes / 2**30:.1f} GiB of memory; the largest Ray node "
                    f"has {cpus:g} CPUs and {memory / 2**30:.1f} GiB: lower shard_target_mb, or "
                    "set the stage's `resources` in the config (docs/architecture.md)"
                )

    def close(self) -> None:
        if self._owns_cluster:
            self._ray.shutdown()
