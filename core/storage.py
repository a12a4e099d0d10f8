"""Where files live: a local path, or a URI on object storage (`s3://`, `gs://`, `file://`).

Every path a user gives (inputs, the work directory, models, an export) is a *location*: a
plain string. Local paths keep their plain POSIX meaning; a URI is reached through Arrow's
filesystems (`pyarrow.fs`: S3 and S3-compatible stores, Google Cloud Storage, no extra
dependency). An S3-compatible store is named by `DATAPIPE_S3_ENDPOINT` (or Arrow's own
`AWS_ENDPOINT_URL`); credentials come from the usual AWS variables or files. Google Cloud
Storage takes its credentials the usual way (`GOOGLE_APPLICATION_CREDENTIALS`, the metadata
server); `DATAPIPE_GCS_ENDPOINT` names another server that speaks its API (an emulator such
as the tests' `gcp-storage-emulator`: an `http://` endpoint is reached without credentials).

Object stores have no rename and no partial visibility rules of their own, so writes follow
one rule: **an object under its final name is complete**. Small files (markers, JSON) are one
PUT from memory; larger files are uploaded under a writer-unique temporary key and then
copied to their final key by the server (`publish`), so a failed upload never leaves a
truncated object where a reader looks. Readers still trust a shard only through the marker
that records its size (core/stagedir.py), on every filesystem.

Native libraries (fastText, sentencepiece, numpy memory maps) need local files: `local_copy`
gives one, downloaded once per node into the scratch directory (`DATAPIPE_SCRATCH`, default
under the system's temporary directory), whose copies are kept under
`DATAPIPE_SCRATCH_COPIES_GB` (default 20) by removing the least recently used.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from stat import S_ISREG
from typing import BinaryIO, TypeVar
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.fs as pafs

T = TypeVar("T")
R = TypeVar("R")
REMOTE_SCHEMES = ("s3", "gs", "gcs")
ENDPOINT_VARIABLE = "DATAPIPE_S3_ENDPOINT"
GCS_ENDPOINT_VARIABLE = "DATAPIPE_GCS_ENDPOINT"
SCRATCH_VARIABLE = "DATAPIPE_SCRATCH"
COPIES_LIMIT_VARIABLE = "DATAPIPE_SCRATCH_COPIES_GB"
DEFAULT_COPIES_GB = 20.0
_COPY_CHUNK = 8 << 20


class StorageError(RuntimeError):
    """A location that cannot be reached (unknown scheme, no bucket, no credentials)."""


def is_remote(location: str | Path) -> bool:
    return isinstance(location, str) and urlsplit(location).scheme in REMOTE_SCHEMES


def local_path(location: str | Path) -> str:
    """A local location as a plain path (`file:///a/b` -> `/a/b`); a remote one unchanged."""
    text = str(location)
    return urlsplit(text).path if text.startswith("file://") else text


def join(location: str | Path, *parts: str) -> str:
    if is_remote(location):
        return posixpath.join(str(location).rstrip("/"), *parts)
    return os.path.join(local_path(location), *parts)


def with_suffix(location: str | Path, suffix: str) -> str:
    """`location` with its last suffix replaced (`a/m.ftz` -> `a/m.metrics.json`)."""
    text = str(location)
    base = name(text)
    stem = base[: base.rindex(".")] if "." in base.lstrip(".") else base
    return text[: len(text) - len(base)] + stem + suffix


def name(location: str | Path) -> str:
    return posixpath.basename(str(location).rstrip("/"))


def parent(location: str | Path) -> str:
    if is_remote(location):
        scheme, _, rest = str(location).partition("://")
        return f"{scheme}://{posixpath.dirname(rest.rstrip('/'))}"
    return os.path.dirname(os.path.abspath(local_path(location)))


def relative(location: str | Path, start: str | Path) -> str:
    """`location` relative to the directory `start` (both local, or both in one bucket)."""
    if is_remote(location) != is_remote(start):
        return absolute(location)
    if is_remote(location):
        scheme, _, path = str(location).partition("://")
        start_scheme, _, start_path = str(start).partition("://")
        if scheme != start_scheme or path.split("/")[0] != start_path.split("/")[0]:
            return absolute(location)
        return posixpath.relpath(path, start_path)
    return os.path.relpath(local_path(location), local_path(start))


def beside(directory: str | Path, relative: str) -> str:
    """The location `relative` (which may climb with `..`, or be absolute) names from
    `directory`: the inverse of `relative`."""
    if is_remote(directory):
        if is_remote(relative):
            return relative
        scheme, _, path = str(directory).partition("://")
        return f"{scheme}://{posixpath.normpath(posixpath.join(path, relative))}"
    return os.path.normpath(os.path.join(local_path(directory), relative))


def absolute(location: str | Path) -> str:
    """Remote locations as given (without a trailing slash); local ones made absolute, so a
    worker in another working directory finds them."""
    if is_remote(location):
        return str(location).rstrip("/")
    return os.path.abspath(local_path(location))


@cache
def _remote_filesystem(scheme: str, endpoint: str | None) -> pafs.FileSystem:
    if scheme == "s3":
        options = {"endpoint_override": endpoint} if endpoint else {}
        return pafs.S3FileSystem(**options)
    if endpoint is None:
        return pafs.GcsFileSystem()
    server = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    return pafs.GcsFileSystem(
        endpoint_override=server.netloc,
        scheme=server.scheme,
        anonymous=server.scheme == "http",  # an emulator; a TLS endpoint gets credentials
        project_id=os.environ.get("GOOGLE_CLOUD_PROJECT"),
    )


def filesystem(location: str | Path) -> tuple[pafs.FileSystem, str]:
    """The Arrow filesystem of a location and the path on it."""
    if not is_remote(location):
        return pafs.LocalFileSystem(use_mmap=True), os.path.abspath(local_path(location))
    parts = urlsplit(str(location))
    variable = ENDPOINT_VARIABLE if parts.scheme == "s3" else GCS_ENDPOINT_VARIABLE
    endpoint = os.environ.get(variable) or None
    try:
        fs = _remote_filesystem(parts.scheme, endpoint)
    except (OSError, pa.ArrowException) as err:
        raise StorageError(f"cannot reach {location}: {err}") from None
    return fs, f"{parts.netloc}{parts.path}".rstrip("/")


# What every process of a run needs to reach the same object store as its driver.
_STORAGE_VARIABLES = (
    ENDPOINT_VARIABLE,
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_PROFILE",
    GCS_ENDPOINT_VARIABLE,
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CLOUD_PROJECT",
)


def environment() -> dict[str, str]:
    """The storage settings of this process, for the workers of a cluster."""
    return {key: os.environ[key] for key in _STORAGE_VARIABLES if key in os.environ}


@dataclass(frozen=True)
class FileStat:
    size: int
    mtime_ns: int


def stat(location: str | Path) -> FileStat | None:
    """Size and modification time of a file; None when there is no file there."""
    if not is_remote(location):
        try:
            st = os.stat(local_path(location))
        except FileNotFoundError:
            return None
        return FileStat(st.st_size, st.st_mtime_ns) if S_ISREG(st.st_mode) else None
    fs, path = filesystem(location)
    info = fs.get_file_info(path)
    if info.type != pafs.FileType.File:
        return None
    return FileStat(info.size or 0, info.mtime_ns or 0)


def size(location: str | Path) -> int:
    found = stat(location)
    if found is None:
        raise FileNotFoundError(f"{location} does not exist")
    return found.size


def exists(location: str | Path) -> bool:
    if not is_remote(location):
        return os.path.exists(local_path(location))
    fs, path = filesystem(location)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def is_file(location: str | Path) -> bool:
    return stat(location) is not None


def is_dir(location: str | Path) -> bool:
    if not is_remote(location):
        return os.path.isdir(local_path(location))
    fs, path = filesystem(location)
    return fs.get_file_info(path).type == pafs.FileType.Directory


def read_bytes(location: str | Path) -> bytes:
    if not is_remote(location):
        return Path(local_path(location)).read_bytes()
    fs, path = filesystem(location)
    try:
        with fs.open_input_stream(path, compression=None) as stream:
            return stream.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"{location} does not exist") from None


def read_text(location: str | Path) -> str:
    return read_bytes(location).decode()


def read_tail(location: str | Path, n: int) -> tuple[int, bytes]:
    """A file's size and its last `n` bytes (one ranged read on object storage)."""
    fs, path = filesystem(location)
    with fs.open_input_file(path) as file:
        size = file.size()
        return size, file.read_at(min(n, size), max(size - n, 0))


def open_input(location: str | Path) -> pa.NativeFile:
    """A file for random access: memory-mapped when local."""
    if not is_remote(location):
        return pa.memory_map(local_path(location))
    fs, path = filesystem(location)
    return fs.open_input_file(path)


def open_binary(location: str | Path) -> BinaryIO:
    """A file to read from the start (seekable): a plain local file, or an object."""
    if not is_remote(location):
        return open(local_path(location), "rb")
    fs, path = filesystem(location)
    return fs.open_input_file(path)  # type: ignore[no-any-return] a NativeFile reads like one


def temporary_name(location: str | Path) -> str:
    """A name for a file while it is written: unique per writer, so two attempts of one task
    (a Ray retry while the first still runs) never truncate each other's file."""
    return f"{location}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"


def write_bytes(location: str | Path, data: bytes) -> None:
    """The file appears complete or not at all (local: temporary name, fsync, rename;
    object storage: one PUT)."""
    if is_remote(location):
        fs, path = filesystem(location)
        with fs.open_output_stream(path, compression=None) as out:
            out.write(data)
        return
    with atomic_file(Path(local_path(location))) as out:
        out.write(data)


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A local file that appears under `path` complete (written under a temporary name,
    flushed to disk, renamed) or not at all: on an error (a full disk) the temporary file is
    removed."""
    tmp = Path(temporary_name(path))
    try:
        with tmp.open("wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def publish(local_file: str | Path, location: str | Path) -> None:
    """Put a finished local file at `location`: uploaded under a temporary key, then copied
    to its final key by the server, so `location` is never a partial object."""
    if not is_remote(location):
        os.replace(local_file, local_path(location))
        return
    fs, path = filesystem(location)
    tmp = temporary_name(path)
    try:
        with open(local_file, "rb") as source, fs.open_output_stream(tmp, compression=None) as out:
            while chunk := source.read(_COPY_CHUNK):
                out.write(chunk)
        fs.move(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError, FileNotFoundError):
            fs.delete_file(tmp)
        raise


def download(location: str | Path, local_file: str | Path) -> None:
    """Copy a file to a local path, atomically."""
    fs, path = filesystem(location)
    target = Path(local_file)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(temporary_name(target))
    try:
        with fs.open_input_stream(path, compression=None) as source, tmp.open("wb") as out:
            while chunk := source.read(_COPY_CHUNK):
                out.write(chunk)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _entries(directory: str | Path, recursive: bool) -> list[tuple[str, pafs.FileInfo]]:
    fs, path = filesystem(directory)
    selector = pafs.FileSelector(path, allow_not_found=True, recursive=recursive)
    base = str(directory).rstrip("/") if is_remote(directory) else os.path.abspath(path)
    return sorted(
        (join(base, *info.path[len(path) :].lstrip("/").split("/")), info)
        for info in _listing(fs, selector)
    )


def _listing(fs: pafs.FileSystem, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
    """The selector's entries. Arrow's local listing reads a directory, then stats each
    entry: a file renamed away in between (another task publishing its shard into the same
    directory) fails the whole listing with "No such file or directory"; list again."""
    for _ in range(_LISTING_ATTEMPTS - 1):
        with contextlib.suppress(FileNotFoundError):
            return fs.get_file_info(selector)  # type: ignore[no-any-return]
    return fs.get_file_info(selector)  # type: ignore[no-any-return]


_LISTING_ATTEMPTS = 5


def list_files(directory: str | Path, recursive: bool = False) -> list[str]:
    """The files in a directory (sorted locations); none when it does not exist."""
    return [
        found for found, info in _entries(directory, recursive) if info.type == pafs.FileType.File
    ]


def file_stats(directory: str | Path, recursive: bool = False) -> dict[str, FileStat]:
    """The files in a directory with their size and modification time."""
    return {
        found: FileStat(info.size or 0, info.mtime_ns or 0)
        for found, info in _entries(directory, recursive)
        if info.type == pafs.FileType.File
    }


def subdirectories(directory: str | Path) -> list[str]:
    """The directories directly in `directory` (on object storage: the common prefixes)."""
    if urlsplit(str(directory)).scheme in ("gs", "gcs"):
        # Arrow lists a GCS prefix's objects, not its prefixes: they are read off every
        # object below (a listing request per 1,000 objects).
        base = str(directory).rstrip("/")
        return sorted(
            {
                join(base, found[len(base) + 1 :].split("/")[0])
                for found, info in _entries(directory, True)
                if "/" in found[len(base) + 1 :] or info.type == pafs.FileType.Directory
            }
        )
    return [
        found for found, info in _entries(directory, False) if info.type == pafs.FileType.Directory
    ]


def delete(location: str | Path) -> None:
    """Remove a file if it is there."""
    if not is_remote(location):
        Path(local_path(location)).unlink(missing_ok=True)
        return
    fs, path = filesystem(location)
    with contextlib.suppress(FileNotFoundError):
        fs.delete_file(path)


def delete_tree(directory: str | Path) -> None:
    """Remove a directory and everything in it, if it is there."""
    fs, path = filesystem(directory)
    if fs.get_file_info(path).type != pafs.FileType.Directory:
        return
    if not is_remote(directory):
        fs.delete_dir(path)
        return
    fs.delete_dir_contents(path, missing_dir_ok=True)
    # A store may keep an object for the directory itself; most (GCS's emulator) keep none,
    # and Arrow's `delete_dir` on GCS fails where there is none to delete.
    with contextlib.suppress(FileNotFoundError):
        if fs.get_file_info(path).type == pafs.FileType.Directory:
            fs.delete_dir(path)


def make_dirs(directory: str | Path) -> None:
    """Create a local directory (object storage needs none)."""
    if not is_remote(directory):
        Path(local_path(directory)).mkdir(parents=True, exist_ok=True)


REQUESTS_IN_FLIGHT = 16  # concurrent requests when many small objects are read


def map_locations(fn: Callable[[T], R], items: Sequence[T], remote: bool) -> list[R]:
    """`[fn(item) for item in items]`, in order; on object storage (`remote`) with
    REQUESTS_IN_FLIGHT requests at a time, since each is a round trip, not a disk read."""
    if not remote or len(items) < 2:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(REQUESTS_IN_FLIGHT) as pool:
        return list(pool.map(fn, items))


def scratch_root() -> Path:
    """This node's directory for local copies and task workspaces."""
    root = os.environ.get(SCRATCH_VARIABLE) or os.path.join(
        tempfile.gettempdir(), f"datapipe-{os.getuid()}"
    )
    return Path(root)


def local_copy(location: str | Path) -> Path:
    """A local file with the bytes of `location`: the path itself when local, else a copy
    in this node's scratch directory, downloaded once per (location, size, mtime)."""
    if not is_remote(location):
        return Path(local_path(location))
    found = stat(location)
    if found is None:
        raise FileNotFoundError(f"{location} does not exist")
    key = hashlib.sha256(f"{location}|{found.size}|{found.mtime_ns}".encode()).hexdigest()[:24]
    copy = scratch_root() / "copies" / key / name(location)
    if copy.exists():
        _used(copy.parent)
    else:
        download(location, copy)
        _prune_copies(keep=copy.parent)
    return copy


def _used(entry: Path) -> None:
    """Mark a copy as just used: pruning removes the least recently used first."""
    with contextlib.suppress(OSError):
        os.utime(entry)


def _prune_copies(keep: Path) -> None:
    """Keep this node's copies under `$DATAPIPE_SCRATCH_COPIES_GB` (default 20): remove the
    least recently used ones (never `keep`, the one just made). A copy removed while another
    task of the node still maps it stays readable to that task (the file lives until
    unmapped); a task that looks it up afterwards downloads it again."""
    limit = float(os.environ.get(COPIES_LIMIT_VARIABLE) or DEFAULT_COPIES_GB) * 2**30
    entries = []
    for entry in (scratch_root() / "copies").iterdir():
        with contextlib.suppress(OSError):
            size = sum(f.stat().st_size for f in entry.rglob("*") if f.is_file())
            entries.append((entry.stat().st_mtime_ns, entry, size))
    total = sum(size for _, _, size in entries)
    for _, entry, size in sorted(entries, key=lambda e: e[0]):
        if total <= limit:
            return
        if entry != keep:
            shutil.rmtree(entry, ignore_errors=True)
            total -= size


def local_tree(directory: str | Path) -> Path:
    """A local directory with the files of `directory` (files that are read together, e.g.
    a model saved as several files): itself when local, else a copy on this node, made
    once per listing of names, sizes and times."""
    if not is_remote(directory):
        return Path(local_path(directory))
    fs, path = filesystem(directory)
    infos = [
        info
        for info in fs.get_file_info(pafs.FileSelector(path, recursive=True))
        if info.type == pafs.FileType.File
    ]
    if not infos:
        raise FileNotFoundError(f"{directory} holds no files")
    listing = "|".join(
        f"{i.path}:{i.size}:{i.mtime_ns}" for i in sorted(infos, key=lambda i: i.path)
    )
    key = hashlib.sha256(f"{directory}|{listing}".encode()).hexdigest()[:24]
    copy = scratch_root() / "copies" / key / name(directory)
    if copy.exists():
        _used(copy.parent)
        return copy
    staging = Path(temporary_name(copy))
    for info in infos:
        relative = info.path[len(path) :].lstrip("/")
        download(join(str(directory), *relative.split("/")), staging / relative)
    try:
        staging.rename(copy)
    except OSError:  # another task of this node made the same copy first
        shutil.rmtree(staging, ignore_errors=True)
    _prune_copies(keep=copy.parent)
    return copy


@contextlib.contextmanager
def scratch_directory(prefix: str) -> Iterator[Path]:
    """A fresh local directory for one task's work, removed afterwards."""
    root = scratch_root() / "tasks"
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=prefix, dir=root) as directory:
        yield Path(directory)
