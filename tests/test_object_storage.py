"""A work directory and inputs on object storage (core/storage.py), against real servers the
tests start themselves on localhost: an S3-compatible one (moto in server mode) and a Google
Cloud Storage emulator (gcp-storage-emulator), both from PyPI.

Every location may be an `s3://` URI: shards, markers, step files, models, locks (leases)
and the export live in the bucket, each process working in its own scratch directory; the
whole default pipeline run that way gives the same bytes as `make pipeline` on local disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import yaml

from core import storage
from tests import background
from tests.pipeline_runs import (
    differences,
    driver_command,
    output_files,
    run_to_completion,
)
from tests.ray_cluster import Cluster, free_port

REPO = Path(__file__).resolve().parents[1]
BUCKET = "datapipe-test"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _wait_for(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the storage server exited with {server.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError("the storage server did not start within 60 s")


@contextlib.contextmanager
def _serving(
    command: list[str], port: int, env: dict[str, str], create_bucket: Callable[[], None]
) -> Iterator[dict[str, str]]:
    """A storage server started with `command` on `port`, with one bucket; this process and
    its children reach it through `env`, the variables a user sets."""
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    saved = {key: os.environ.get(key) for key in env}
    try:
        _wait_for(port, server)
        os.environ.update(env)
        create_bucket()
        yield env
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.terminate()
        server.wait(30)


def moto_server() -> contextlib.AbstractContextManager[dict[str, str]]:
    """A moto S3 server (`DATAPIPE_S3_ENDPOINT` and AWS credentials)."""
    port = free_port()
    env = {storage.ENDPOINT_VARIABLE: f"http://127.0.0.1:{port}", **CREDENTIALS}

    def create_bucket() -> None:
        import pyarrow.fs as pafs

        endpoint = env[storage.ENDPOINT_VARIABLE]
        pafs.S3FileSystem(endpoint_override=endpoint, allow_bucket_creation=True).create_dir(BUCKET)

    command = [sys.executable, "-m", "moto.server", "-p", str(port)]
    return _serving(command, port, env, create_bucket)


def gcs_server() -> contextlib.AbstractContextManager[dict[str, str]]:
    """A Google Cloud Storage emulator (`DATAPIPE_GCS_ENDPOINT`, a project for the bucket)."""
    port = free_port()
    env = {
        storage.GCS_ENDPOINT_VARIABLE: f"http://127.0.0.1:{port}",
        "GOOGLE_CLOUD_PROJECT": "datapipe-test",
    }
    command = [sys.executable, "-m", "gcp_storage_emulator", "start", "--in-memory"]
    command += ["--host=127.0.0.1", f"--port={port}"]
    return _serving(
        command, port, env, lambda: storage.filesystem(f"gs://{BUCKET}")[0].create_dir(BUCKET)
    )


@pytest.fixture(scope="module", params=["s3", "gs"])
def bucket(request: pytest.FixtureRequest) -> Iterator[str]:
    """The test bucket's URI, on each kind of store in turn."""
    serving = moto_server if request.param == "s3" else gcs_server
    with serving():
        yield f"{request.param}://{BUCKET}"


def _uri(*parts: str) -> str:
    return "/".join([f"s3://{BUCKET}", *parts])


def _in(bucket: str, *parts: str) -> str:
    return "/".join([bucket, *parts])


def test_files_round_trip_and_list_like_local_ones(bucket: str, tmp_path: Path) -> None:
    for root in (str(tmp_path / "files"), _in(bucket, "round-trip")):
        storage.make_dirs(storage.join(root, "a"))  # object storage needs none
        storage.write_bytes(storage.join(root, "a", "one.json"), b'{"n": 1}')
        storage.write_bytes(storage.join(root, "two.txt"), b"two")
        assert storage.read_text(storage.join(root, "a", "one.json")) == '{"n": 1}'
        assert storage.size(storage.join(root, "two.txt")) == 3
        assert storage.is_dir(root) and storage.is_file(storage.join(root, "two.txt"))
        assert not storage.exists(storage.join(root, "three.txt"))
        assert [storage.name(f) for f in storage.list_files(root)] == ["two.txt"]
        assert storage.subdirectories(root) == [storage.join(root, "a")]
        assert [storage.name(f) for f in storage.list_files(root, recursive=True)] == [
            "one.json",
            "two.txt",
        ]
        assert storage.read_tail(storage.join(root, "two.txt"), 2) == (3, b"wo")
        # a name ending in .gz is bytes like any other (Arrow would (de)compress by default)
        storage.write_bytes(storage.join(root, "three.gz"), b"not gzip")
        assert storage.read_bytes(storage.join(root, "three.gz")) == b"not gzip"
        with storage.open_binary(storage.join(root, "three.gz")) as raw:
            assert raw.read() == b"not gzip"
        copy = tmp_path / "copy" / "three.gz"
        storage.download(storage.join(root, "three.gz"), copy)
        assert copy.read_bytes() == b"not gzip"
        storage.delete_tree(root)
        assert storage.list_files(root, recursive=True) == []
    with pytest.raises(FileNotFoundError, match="does not exist"):
        storage.read_bytes(_in(bucket, "round-trip", "gone"))


def test_node_copies_stay_under_their_limit_least_recently_used_first(
    bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Models and step files are copied to a node once; the copies are pruned, least
    recently used first, when they pass `DATAPIPE_SCRATCH_COPIES_GB`."""
    monkeypatch.setenv(storage.SCRATCH_VARIABLE, str(tmp_path / "scratch"))
    monkeypatch.setenv(storage.COPIES_LIMIT_VARIABLE, str(2.5 * 1000 / 2**30))  # 2.5 kB
    files = [_in(bucket, "copies", f"model-{i}.bin") for i in range(3)]
    for i, location in enumerate(files):
        storage.write_bytes(location, bytes([i]) * 1000)
    first, second = storage.local_copy(files[0]), storage.local_copy(files[1])
    assert storage.local_copy(files[0]) == first and first.read_bytes() == b"\0" * 1000
    time.sleep(0.01)
    storage.local_copy(files[0])  # used again: the second is now the least recently used
    third = storage.local_copy(files[2])
    assert first.exists() and third.exists() and not second.exists()
    assert storage.local_copy(files[1]).read_bytes() == b"\1" * 1000  # fetched again


def test_relative_locations_between_directories_of_one_bucket() -> None:
    model, export = _uri("w", "train-tokenizer", "tokenizer.model"), _uri("w", "export")
    assert storage.relative(model, export) == "../train-tokenizer/tokenizer.model"
    assert storage.beside(export, "../train-tokenizer/tokenizer.model") == model
    assert storage.parent(model) == _uri("w", "train-tokenizer")


class _FailingSource:
    """A local file whose reading fails after its first chunk (a disk error mid-upload)."""

    def __init__(self, path: Any, mode: str = "rb") -> None:
        self._file = open(path, mode)  # noqa: SIM115 closed in __exit__
        self._reads = 0

    def __enter__(self) -> _FailingSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()

    def read(self, n: int) -> bytes:
        self._reads += 1
        if self._reads > 1:
            raise OSError("read error")
        return self._file.read(n)


def test_a_failed_upload_leaves_no_object_where_readers_look(
    bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = tmp_path / "big.bin"
    local.write_bytes(os.urandom(3 * 2**20))
    monkeypatch.setattr(storage, "_COPY_CHUNK", 2**20)
    monkeypatch.setattr(storage, "open", _FailingSource, raising=False)
    target = _in(bucket, "uploads", "big.bin")
    with pytest.raises(OSError, match="read error"):
        storage.publish(local, target)
    assert storage.list_files(_in(bucket, "uploads")) == []  # neither the object nor its temporary
    monkeypatch.undo()
    storage.publish(local, target)
    assert storage.read_bytes(target) == local.read_bytes()


def test_shards_on_object_storage_are_written_read_and_checked_like_local_ones(
    bucket: str,
) -> None:
    from core.shards import RollingShardWriter, read_table, shard_damage, shard_locations

    batch = pa.record_batch({"id": [str(i) for i in range(1000)], "n": list(range(1000))})
    directory = _in(bucket, "shards")
    writer = RollingShardWriter(directory, batch.schema, lambda n: f"part-{n:05d}.arrow", 1)
    writer.write(batch)
    writer.write(batch)
    written = writer.close()
    assert sorted(written) == ["part-00000.arrow", "part-00001.arrow"]
    shards = shard_locations(directory)
    assert read_table(shards).num_rows == 2000
    assert all(shard_damage(s, written[storage.name(s)]) is None for s in shards)
    cut = storage.read_bytes(shards[1])[:-8]
    storage.write_bytes(shards[1], cut)  # the end-of-stream marker lost
    assert "cut short" in (shard_damage(shards[1], None) or "")
    assert "bytes, " in (shard_damage(shards[1], written["part-00001.arrow"]) or "")
    storage.delete(shards[0])
    assert shard_damage(shards[0], None) == "part-00000.arrow is missing"


def test_step_files_read_a_partition_with_ranged_reads(bucket: str, tmp_path: Path) -> None:
    """What one partition's task reads from every producer is the same in a bucket as on
    local disk (the remote read is one ranged read per producer file)."""
    from core.exchange import Exchange

    rng = np.random.default_rng(7)
    dtype = np.dtype([("key", np.uint64), ("doc", np.int32)])
    found = {}
    for root in (str(tmp_path / "stage"), _in(bucket, "stage")):
        exchange = Exchange(root)
        for task in range(3):
            records = np.zeros(500, dtype)
            records["key"] = rng.integers(0, 2**63, 500, dtype=np.uint64)
            records["doc"] = np.arange(500) + 1000 * task
            exchange.write_partitioned("hash", task, records, records["key"] % 4, 4)
        exchange.mark_complete("hash", 3)
        exchange.save("side", "lengths", np.arange(10, dtype=np.int64))
        found[root] = [exchange.read_partition("hash", p, dtype) for p in range(4)]
        assert exchange.load("side", "lengths").tolist() == list(range(10))
        gathered = np.zeros(5, dtype=np.int64)
        exchange.read_ranges("side", "lengths", np.r_[7, 1], np.r_[9, 4], gathered, np.r_[0, 2])
        assert gathered.tolist() == [7, 8, 1, 2, 3]
        rng = np.random.default_rng(7)
    local, remote = found.values()
    assert all(np.array_equal(a, b) for a, b in zip(local, remote, strict=True))
    assert sum(len(part) for part in remote) == 1500


def test_a_stage_directory_in_a_bucket_has_one_writer(bucket: str) -> None:
    """Leases stand in for flock on object storage: a second writer, or a writer while a
    run reads, is refused naming the holder; a lease its holder stopped renewing expires."""
    from core.locks import LEASE_SECONDS, StageBusy, stage_locks

    output, read = _in(bucket, "locks", "filter"), _in(bucket, "locks", "ingest")
    with stage_locks(output, [read]):
        busy = r"cannot write .*locks/{}: pid \d+ on "
        with pytest.raises(StageBusy, match=busy.format("filter")), stage_locks(output, []):
            pass
        with pytest.raises(StageBusy, match=busy.format("ingest")), stage_locks(read, []):
            pass
        with stage_locks(_in(bucket, "locks", "score"), [read]):  # a second reader is welcome
            pass
    stale = {"pid": 1, "host": "gone", "since": 0, "renewed": time.time() - LEASE_SECONDS - 1}
    storage.write_bytes(_in(bucket, "locks", ".filter.lock"), json.dumps(stale).encode())
    with stage_locks(output, []):  # a dead run's lease is taken over
        pass
    assert storage.list_files(_in(bucket, "locks"), recursive=True) == []


def _upload_tree(local: Path, location: str) -> None:
    for file in sorted(p for p in local.rglob("*") if p.is_file()):
        storage.publish(file, storage.join(location, *file.relative_to(local).parts))


def _download_tree(location: str, local: Path) -> None:
    base = location.rstrip("/") + "/"
    for file in storage.list_files(location, recursive=True):
        storage.download(file, local / file[len(base) :])


def comparable_outputs(work: Path) -> dict[str, bytes]:
    """`output_files`, with each shard's `input_file` (where ingest read the document: a path
    on local disk, a URI in the bucket) cut to the file's name; every other byte as written."""
    found = output_files(work)
    for name, data in found.items():
        if name.startswith("export/") or not name.endswith(".arrow"):
            continue
        table = pa.ipc.open_stream(data).read_all()
        names = pa.array([storage.name(f) for f in table.column("input_file").to_pylist()])
        table = table.set_column(table.column_names.index("input_file"), "input_file", names)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        found[name] = sink.getvalue().to_pybytes()
    return found


GCS_RUN_FILES = (
    "cc/whirlwind.warc.gz",
    "cc/resiliparse_CC-MAIN-2020-34_00395.warc.gz",
    "cc/ccnet_en_head_CC-MAIN-2020-16_0091.jsonl.gz",
    "cc/datajuicer_redpajama-c4-refined.jsonl",
)


def _local_run(config: Path, work: str) -> list[str]:
    """`datapipe run CONFIG --work-dir WORK` in one process (WORK may be a URI)."""
    args = ["run", str(config), "--work-dir", work, "--no-progress", "--executor", "local"]
    return [sys.executable, "-m", "pipeline", *args]


def test_a_run_with_inputs_and_work_dir_in_a_gcs_bucket_gives_the_bytes_of_the_local_run(
    tmp_path: Path,
) -> None:
    """ingest, filter, minhash and substring (configs/default.yaml's settings) on four
    samples, once on local disk and once with inputs and work directory on the GCS emulator:
    the same bytes; a second run in the bucket finds every stage done."""
    default = yaml.safe_load((REPO / "configs/default.yaml").read_text())
    wanted = ("ingest", "filter", "minhash", "substring")
    stages = [entry for entry in default["stages"] if next(iter(entry)) in wanted]
    local_inputs = [str(REPO / "data_samples/samples" / name) for name in GCS_RUN_FILES]
    bucket_inputs = [f"gs://{BUCKET}/samples/{name}" for name in GCS_RUN_FILES]
    works = {"local": str(tmp_path / "work"), "bucket": f"gs://{BUCKET}/work"}
    with gcs_server() as env:
        for local, remote in zip(local_inputs, bucket_inputs, strict=True):
            storage.publish(Path(local), remote)
        for where, inputs in (("local", local_inputs), ("bucket", bucket_inputs)):
            config = tmp_path / f"{where}.yaml"
            config.write_text(yaml.safe_dump({"inputs": inputs, "stages": stages}))
            run_to_completion(_local_run(config, works[where]), tmp_path / f"{where}.log", env=env)
        run_to_completion(_local_run(config, works["bucket"]), tmp_path / "again.log", env=env)
        from pipeline.status import work_status

        statuses = work_status(works["bucket"])
        _download_tree(works["bucket"], tmp_path / "downloaded")
    assert [s["stage"] for s in statuses] == list(wanted)
    assert all(s["state"] == "done" for s in statuses)
    rerun = (tmp_path / "again.log").read_text()
    assert rerun.count("[already complete, skipped]") == len(wanted), rerun[-2000:]
    want = comparable_outputs(Path(works["local"]))
    assert any(name.startswith("substring/") for name in want)
    assert differences(comparable_outputs(tmp_path / "downloaded"), want) == []


def run_default_pipeline_in_a_bucket(env: dict[str, str], cluster: Cluster, root: Path) -> None:
    """configs/default.yaml with every file it names in the bucket (its inputs, the reference
    texts and labelled pages it trains on) and its work directory there, run by `datapipe` on
    the two-node cluster; the bucket's work directory downloaded to ROOT/work, and in
    ROOT/result.json where the tasks ran and what `status` and `verify` said of the bucket."""
    for part in ("samples", "wiki", "reference", "labels"):
        _upload_tree(REPO / "data_samples" / part, _uri("data_samples", part))
    text = (REPO / "configs/default.yaml").read_text()
    config = yaml.safe_load(re.sub(r"(?<=[\s\[,])data_samples/", f"{_uri('data_samples')}/", text))
    assert config["inputs"] == [_uri("data_samples", "samples"), _uri("data_samples", "wiki")]
    path = root / "default-in-bucket.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    args = ["run", str(path), "--no-progress", "--work-dir", _uri("work")]
    args += ["--ray-address", cluster.address, "--max-concurrency", "2"]
    nodes = root / "nodes.json"
    command = driver_command("report-nodes", str(nodes), args)
    run_to_completion(command, root / "run.log", env={**cluster.env, **env})
    _download_tree(_uri("work"), root / "work")

    from core.manifest import verify_export
    from pipeline.status import work_status

    problems, checked = verify_export(_uri("work", "export"))
    result = {
        "nodes": json.loads(nodes.read_text()),
        "status": work_status(_uri("work")),
        "verify": {"problems": problems, "checked": checked},
    }
    (root / "result.json").write_text(json.dumps(result))


def bucket_run_job(root: Path) -> tuple[Path, dict[str, Any]]:
    """`run_default_pipeline_in_a_bucket` in a process of its own, with its own S3 server and
    cluster (this module run as a script): a background job (tests/background.py) that runs
    while the rest of the suite does."""
    root.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "tests.test_object_storage", str(root)]
    # none of another store's settings: the job starts its own server
    env = {k: v for k, v in os.environ.items() if k not in storage.environment()}
    # background.run: stopped with everything it started if the session ends first
    done = background.run(command, REPO, 1800, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return root / "work", json.loads((root / "result.json").read_text())


def start_background(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Called when the session's tests are collected (tests/conftest.py)."""
    root = tmp_path_factory.mktemp("bucket")
    background.submit("bucket-run", bucket_run_job, root, lane="bucket")


@pytest.fixture(scope="module")
def bucket_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    return background.result(
        "bucket-run", lambda: bucket_run_job(tmp_path_factory.mktemp("bucket"))
    )


@pytest.mark.ray
def test_the_default_pipeline_in_a_bucket_on_two_nodes_gives_the_bytes_of_the_local_run(
    bucket_run: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`make pipeline` on local disk (the fresh clone's run, tests/test_fresh_clone.py) and
    the same config with inputs and work directory in the bucket, on a two-node cluster whose
    nodes share no directory (each its own working directory and TMPDIR, and neither the
    store's settings: the driver passes them): every output identical."""
    from tests.test_fresh_clone import make_pipeline_in_a_fresh_clone

    work, result = bucket_run
    ran = result["nodes"]
    node = {resource: n for n, res in ran["nodes"].items() for resource in res}
    assert set(ran["nodes_used"]) == {node["head_node"], node["worker_node"]}, ran
    local_work, _ = background.result(
        "fresh-clone", lambda: make_pipeline_in_a_fresh_clone(tmp_path_factory.mktemp("fresh"))
    )
    want = comparable_outputs(local_work)
    assert any(name.startswith("export/shards/") for name in want)
    assert differences(comparable_outputs(work), want) == []
    assert not list(work.glob("*/_steps"))  # step files removed once complete
    manifest = json.loads((work / "export/manifest.json").read_text())
    assert manifest["tokenizer"]["path"] == "../train-tokenizer/tokenizer.model"


def test_status_report_and_verify_read_a_work_directory_in_the_bucket(
    bucket_run: tuple[Path, dict[str, Any]],
) -> None:
    work, result = bucket_run
    statuses = result["status"]
    assert [s["stage"] for s in statuses][:2] == ["ingest", "train-quality"]
    assert all(s["state"] == "done" for s in statuses)
    assert result["verify"]["problems"] == [] and result["verify"]["checked"]["tokenizer_checked"]
    page = (work / "report.html").read_text()  # written into the bucket by `datapipe run`
    assert "documents in" in page and "tokens exported" in page


if __name__ == "__main__":
    from tests.ray_cluster import two_node_cluster

    with moto_server() as store_env, two_node_cluster() as nodes:
        run_default_pipeline_in_a_bucket(store_env, nodes, Path(sys.argv[1]))


def test_listing_a_directory_another_task_is_creating_does_not_fail(tmp_path: Path) -> None:
    """Arrow lists a missing directory as empty, but one created between its opendir and its
    existence check fails the listing ("Cannot list directory", errno 2): export's write
    tasks list the source directory that a sibling task's writer is creating. The listing
    is asked again; here a thread creates and removes the directory all along."""
    directory = tmp_path / "shards" / "zh"
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            directory.mkdir(parents=True, exist_ok=True)
            directory.rmdir()

    thread = threading.Thread(target=churn)
    thread.start()
    try:
        for _ in range(5000):
            assert storage.list_files(directory) == []
    finally:
        stop.set()
        thread.join()


def test_a_lease_taken_over_is_neither_written_over_nor_deleted(
    bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run whose renewals failed long enough for another run to take its lease learns it
    at its next renewal: it stops renewing, leaves the other run's lease in place when it
    ends, and fails saying so, instead of both runs writing on."""
    import core.locks as locks

    monkeypatch.setattr(locks, "LEASE_SECONDS", 0.6)  # renewals every 0.15 s
    output = _in(bucket, "takeover", "filter")
    lease_file = _in(bucket, "takeover", ".filter.lock")
    other_run = uuid.uuid4().hex
    theirs = {"pid": 2, "host": "elsewhere", "since": time.time(), "token": other_run}
    lost = pytest.raises(locks.LeaseLost, match="took over this run's lease")
    with lost, locks.stage_locks(output, []):
        storage.write_bytes(lease_file, json.dumps({**theirs, "renewed": time.time()}).encode())
        time.sleep(0.5)
    assert json.loads(storage.read_text(lease_file))["token"] == other_run
