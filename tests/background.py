"""Long, self-contained jobs that only run other processes (a fresh clone's `make pipeline`, the
wheel built, installed and run, the session's models trained): started as soon as the session's
tests are collected, so they run while the rest of the suite does. Each job runs in a lane, a
thread that runs its jobs one after the other in the order they were submitted. The fixtures
that need a job's result wait for it; the tests of the modules that start jobs run last
(tests/conftest.py), by which time their jobs are usually done.

A job's result, or the exception it raised (a failed assertion included), is what its fixture
gets, exactly as if the fixture had done the work itself; a job nobody submitted (its tests run
without the conftest hook) is done by the fixture in the test's own thread.
"""

from __future__ import annotations

import queue
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.pipeline_runs import kill_session


class Job:
    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.fn, self.args = fn, args
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.fn(*self.args)
        except BaseException as error:  # handed to the fixture that waits for it
            self.error = error
        finally:
            self.done.set()

    def wait(self) -> Any:
        # In short waits: a signal (Ctrl-C) may be delivered to another thread, and this one
        # sees it only when it runs again.
        while not self.done.wait(0.2):
            pass
        if self.error is not None:
            raise self.error
        return self.result


_jobs: dict[str, Job] = {}
_lanes: dict[str, tuple[queue.Queue[Job | None], threading.Thread]] = {}
_running: set[subprocess.Popen[str]] = set()
_lock = threading.Lock()
_stopping = threading.Event()


def _work(jobs: queue.Queue[Job | None]) -> None:
    while (job := jobs.get()) is not None:
        if _stopping.is_set():
            job.error = RuntimeError("the session ended before this background job started")
            job.done.set()
            continue
        job.run()


def submit(key: str, fn: Callable[..., Any], *args: Any, lane: str = "jobs") -> None:
    """Queue `fn(*args)` under `key` (once), in `lane`: after the jobs queued there before."""
    if key in _jobs:
        return
    _jobs[key] = job = Job(fn, args)
    if lane not in _lanes:
        jobs: queue.Queue[Job | None] = queue.Queue()
        worker = threading.Thread(target=_work, args=(jobs,), name=f"background-{lane}")
        worker.daemon = True
        worker.start()
        _lanes[lane] = (jobs, worker)
    _lanes[lane][0].put(job)


def result(key: str, fn: Callable[..., Any], *args: Any) -> Any:
    """The result of the job queued under `key`, waited for; without one, `fn(*args)` now."""
    job = _jobs.get(key)
    return fn(*args) if job is None else job.wait()


def run(
    command: list[str], cwd: Path, timeout: float, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """`subprocess.run(command, capture_output=True, text=True)`, in a session of its own so
    that `stop` can end it with everything it started (an embedded Ray included)."""
    with _lock:
        if _stopping.is_set():
            raise RuntimeError("the session is ending")
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            **kwargs,
        )
        _running.add(proc)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except BaseException:
        kill_session(proc.pid)
        proc.communicate()
        raise
    finally:
        with _lock:
            _running.discard(proc)
    return subprocess.CompletedProcess(command, proc.returncode, stdout, stderr)


def stop() -> None:
    """At the end of the session: jobs not started are not started, running ones are killed
    (the process and its whole session)."""
    _stopping.set()
    with _lock:
        running = list(_running)
    for proc in running:
        kill_session(proc.pid)
    for jobs, _ in _lanes.values():
        jobs.put(None)
    for _, worker in _lanes.values():
        worker.join(timeout=60)
