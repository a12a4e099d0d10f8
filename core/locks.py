"""One writer per stage directory, and no writer while another run reads it.

A run holds an exclusive lock on the stage directory it writes and a shared lock on every
stage directory it reads, for the whole stage. A second process that wants to write either
fails at once with a line naming the holder; a second reader is welcome. The locks are
`flock`s on a file next to the directory (`.<name>.lock` in its parent), never inside it, so
that clearing a stage directory cannot drop a lock that is held. The kernel releases a
`flock` when its process dies: a killed run leaves no stale lock to take over.

These are locks of one filesystem (local disks; NFS emulates `flock` with POSIX locks). On
object storage, where no process can hold a file open, a lock is a **lease**: a small object
(`.<name>.lock` for the writer, `.<name>.readers/<token>.json` for each reader) that its
holder renews every `LEASE_SECONDS / 4` and deletes when done; a lease not renewed for
`LEASE_SECONDS` belongs to a dead run and is taken over. A writer checks, 0.2 s after
writing its lease, that it is still the one there and that no live reader appeared, which
catches two runs started together; only a reader whose lease lands in those 0.2 s can slip
past. (Arrow's S3 client cannot send a conditional PUT, which would close that window.)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from core import storage

LEASE_SECONDS = 120.0


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


def _holder() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": time.time(),
        "command": " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:])[:200],
    }


@contextlib.contextmanager
def stage_locks(output_dir: str | Path, input_dirs: Sequence[str | Path]) -> Iterator[None]:
    """Hold the exclusive lock of `output_dir` and shared locks of `input_dirs`."""
    with contextlib.ExitStack() as held:
        for directory, exclusive in [(output_dir, True), *((d, False) for d in input_dirs)]:
            if storage.is_remote(directory):
                held.enter_context(_lease(str(directory), exclusive))
                continue
            # resolved: a stage directory reached through a symlink is locked as itself
            directory = Path(os.path.realpath(directory))
            directory.parent.mkdir(parents=True, exist_ok=True)
            lock = _acquire(directory, exclusive)
            if lock is not None:
                held.callback(lock.close)
                if exclusive:  # the holder's description goes with the lock
                    held.callback(_clear, lock)
        yield


def _clear(lock: IO[str]) -> None:
    lock.seek(0)
    lock.truncate()


def _lease_files(directory: str) -> tuple[str, str]:
    """The writer's lease object and the readers' lease directory of a stage directory."""
    parent, name = storage.parent(directory), storage.name(directory)
    return storage.join(parent, f".{name}.lock"), storage.join(parent, f".{name}.readers")


def _live(location: str) -> dict[str, Any] | None:
    """A lease that its holder still renews, or None."""
    try:
        lease = json.loads(storage.read_text(location))
    except (FileNotFoundError, ValueError):
        return None
    return lease if time.time() - lease.get("renewed", 0) < LEASE_SECONDS else None


def _busy(directory: str, action: str, lease: dict[str, Any]) -> StageBusy:
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(lease.get("since", 0)))
    return StageBusy(
        f"cannot {action} {directory}: pid {lease.get('pid')} on {lease.get('host')} has "
        f"held it since {since} ({lease.get('command', '?')}); wait for it to finish or stop "
        f"it (a lease it stops renewing expires after {LEASE_SECONDS:.0f} s)"
    )


def _live_readers(readers: str, own: str | None = None) -> list[dict[str, Any]]:
    return [
        lease
        for location in storage.list_files(readers)
        if location != own and (lease := _live(location)) is not None
    ]


class LeaseLost(StageBusy):
    """Another run took over a lease while its holder still ran (its renewals failed for
    longer than LEASE_SECONDS): what both wrote may be mixed."""


@contextlib.contextmanager
def _lease(directory: str, exclusive: bool) -> Iterator[None]:
    writer, readers = _lease_files(directory)
    token = uuid.uuid4().hex
    own = writer if exclusive else storage.join(readers, f"{token}.json")
    action = "write" if exclusive else "read"
    checked = time.monotonic()
    if (holder := _live(writer)) is not None:
        raise _busy(directory, action, holder)
    if exclusive and (reading := _live_readers(readers)):
        raise _busy(directory, action, reading[0])
    lease = {**_holder(), "token": token}
    lost = threading.Event()

    def renew() -> None:
        if lost.is_set():
            return
        if exclusive and (current := _live(own)) is not None and current.get("token") != token:
            lost.set()  # another run holds it now: never write over its lease
            return
        storage.write_bytes(own, json.dumps({**lease, "renewed": time.time()}).encode())

    renew()
    if exclusive:
        # Another run that checked before this one wrote may write after it: the last writer
        # wins. Wait longer than such a run takes from its check to its write (this run's
        # own took `checked`; a slow listing of readers makes it long) before reading back.
        time.sleep(max(0.2, 3 * (time.monotonic() - checked)))
        current = _live(writer) or {}
        if current.get("token") != token:
            raise _busy(directory, action, current)
        if reading := _live_readers(readers):
            _release(own, token)
            raise _busy(directory, action, reading[0])
    stop = threading.Event()
    renewer = threading.Thread(target=_renew_until, args=(stop, renew), daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        _release(own, token)
    if lost.is_set():
        raise LeaseLost(
            f"{directory}: another run took over this run's lease (its renewals failed for "
            f"over {LEASE_SECONDS:.0f} s); what both wrote may be mixed: delete it and rerun one "
            "of them"
        )


def _release(own: str, token: str) -> None:
    """Delete a lease only while it is this run's: never another run's that took it over."""
    with contextlib.suppress(FileNotFoundError, ValueError):
        if json.loads(storage.read_text(own)).get("token") == token:
            storage.delete(own)


def _renew_until(stop: threading.Event, renew: Any) -> None:
    while not stop.wait(LEASE_SECONDS / 4):
        with contextlib.suppress(OSError):  # a missed renewal: the next one may succeed
            renew()
