"""One writer per stage directory, and no writer while another run reads it.

A run holds an exclusive lock on the stage directory it writes and a shared lock on every
stage directory it reads, for the whole stage. A second process that wants to write either
fails at once with a line naming the holder; a second reader is welcome. The locks are
`flock`s on a file next to the directory (`.<name>.lock` in its parent), never inside it, so
that clearing a stage directory cannot drop a lock that is held. The kernel releases a
`flock` when its process dies: a killed run leaves no stale lock to take over.

These are locks of one filesystem (local disks; NFS emulates `flock` with POSIX locks). A
work directory on object storage needs leases instead (issue #20).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO


class StageBusy(RuntimeError):
    """Another process writes (or reads) the stage directory."""


def lock_path(stage_dir: Path) -> Path:
    return stage_dir.parent / f".{stage_dir.name}.lock"


def _holder_description(lock: IO[str]) -> str:
    lock.seek(0)
    try:
        holder = json.loads(lock.read() or "{}")
    except json.JSONDecodeError:
        holder = {}
    if not holder:
        return "another datapipe process is reading it"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("since", 0)))
    return (
        f"pid {holder.get('pid')} on {holder.get('host')} has written it since {since} "
        f"({holder.get('command', '?')})"
    )


def _acquire(stage_dir: Path, exclusive: bool) -> IO[str] | None:
    """The open lock file, locked; None when a shared lock cannot be created (a read-only
    input directory, which no datapipe run can rewrite either)."""
    path = lock_path(stage_dir)
    try:
        lock = path.open("a+", encoding="utf-8")
    except OSError as err:
        if exclusive:  # a read-only work directory, a full disk...
            raise StageBusy(f"cannot write {stage_dir}: {err.strerror} ({path})") from None
        return None
    try:
        fcntl.flock(lock, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder_description(lock)
        lock.close()
        action = "write" if exclusive else "read"
        raise StageBusy(
            f"cannot {action} {stage_dir}: {holder}; wait for it to finish or stop it"
        ) from None
    if exclusive:
        lock.seek(0)
        lock.truncate()
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.time(),
            "command": " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:])[:200],
        }
        lock.write(json.dumps(holder))
        lock.flush()
    return lock


@contextlib.contextmanager
def stage_locks(output_dir: Path, input_dirs: Sequence[Path]) -> Iterator[None]:
    """Hold the exclusive lock of `output_dir` and shared locks of `input_dirs`."""
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as held:
        for directory, exclusive in [(output_dir, True), *((d, False) for d in input_dirs)]:
            lock = _acquire(directory, exclusive)
            if lock is not None:
                held.callback(lock.close)
                if exclusive:  # the holder's description goes with the lock
                    held.callback(_clear, lock)
        yield


def _clear(lock: IO[str]) -> None:
    lock.seek(0)
    lock.truncate()
