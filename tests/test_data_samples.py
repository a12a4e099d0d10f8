"""data_samples/download_cc.py works against a loopback server."""

import gzip
import hashlib
import importlib.util
import socket
import sys
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"


def _load(name: str) -> ModuleType:
    """data_samples/NAME.py as module data_samples_NAME (data_samples/ holds scripts and is not
    on sys.path)."""
    spec = importlib.util.spec_from_file_location(f"data_samples_{name}", SAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


download_cc = _load("download_cc")


# --- download_cc against a loopback server ----------------------------------------------------

CRAWL = "CC-MAIN-TEST"
SEGMENT = f"crawl-data/{CRAWL}/segments/0001/wet"


class _Handler(SimpleHTTPRequestHandler):
    seen: list[tuple[str, str]]

    def log_message(self, format: str, *args: Any) -> None:
        self.seen.append((self.command, self.path))


@pytest.fixture
def cc_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    root = tmp_path / "www"
    (root / SEGMENT).mkdir(parents=True)
    files = {"a.warc.wet.gz": b"first file " * 100, "b.warc.wet.gz": b"second file " * 300}
    for name, data in files.items():
        (root / SEGMENT / name).write_bytes(data)
    paths = [f"{SEGMENT}/{name}" for name in [*files, "c.warc.wet.gz"]]
    (root / f"crawl-data/{CRAWL}/wet.paths.gz").write_bytes(
        gzip.compress("\n".join(paths).encode() + b"\n")
    )
    seen: list[tuple[str, str]] = []
    handler = type("Handler", (_Handler,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield {"base_url": f"http://{host}:{port}", "files": files, "seen": seen}
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_download_fetches_first_n_files_then_skips(
    cc_server: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    got = download_cc.download(CRAWL, "wet", 2, out, base_url=cc_server["base_url"], timeout=5)
    assert [p.name for p in got] == list(cc_server["files"])
    assert {p.name: p.read_bytes() for p in got} == cc_server["files"]
    listed = sorted([*cc_server["files"], download_cc.CHECKSUMS])
    assert sorted(p.name for p in out.iterdir()) == listed  # no .part
    mtimes = [p.stat().st_mtime_ns for p in got]
    cc_server["seen"].clear()
    again = download_cc.download(CRAWL, "wet", 2, out, base_url=cc_server["base_url"], timeout=5)
    assert again == got and [p.stat().st_mtime_ns for p in got] == mtimes
    data_requests = [(m, p) for m, p in cc_server["seen"] if "/segments/" in p]
    assert [m for m, _ in data_requests] == ["HEAD", "HEAD"]


def test_download_records_checksums_and_fetches_a_damaged_file_again(
    cc_server: dict[str, Any], tmp_path: Path
) -> None:
    """A file of the right size whose bytes changed since it was downloaded is fetched again."""
    out = tmp_path / "out"
    got = download_cc.download(CRAWL, "wet", 2, out, base_url=cc_server["base_url"], timeout=5)
    sums = download_cc.read_checksums(out)
    assert sums == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in got}
    damaged = bytearray(got[0].read_bytes())
    damaged[5] ^= 0xFF  # same size: only the checksum can tell
    got[0].write_bytes(bytes(damaged))
    cc_server["seen"].clear()
    download_cc.download(CRAWL, "wet", 2, out, base_url=cc_server["base_url"], timeout=5)
    assert got[0].read_bytes() == cc_server["files"][got[0].name]
    fetched = [p for m, p in cc_server["seen"] if m == "GET" and "/segments/" in p]
    assert [Path(p).name for p in fetched] == [got[0].name]  # the intact one was kept


def test_download_replaces_a_partial_file(cc_server: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.warc.wet.gz").write_bytes(b"partial")
    got = download_cc.download(CRAWL, "wet", 1, out, base_url=cc_server["base_url"], timeout=5)
    assert got[0].read_bytes() == cc_server["files"]["a.warc.wet.gz"]


def test_download_unknown_crawl_exits_1_with_advice(
    cc_server: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--crawl", "CC-MAIN-NOPE", "--kind", "wet", "--count", "1"]
    argv += ["--output", str(tmp_path / "out"), "--base-url", cc_server["base_url"]]
    assert download_cc.main(argv) == 1
    err = capsys.readouterr().err
    assert "404" in err and "crawl name" in err


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_download_unreachable_server_gives_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    base_url = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(download_cc.DownloadError, match=r"could not reach 127\.0\.0\.1"):
        download_cc.download(CRAWL, "wet", 1, tmp_path / "out", base_url=base_url, timeout=5)
    argv = ["--crawl", CRAWL, "--output", str(tmp_path / "out"), "--base-url", base_url]
    assert download_cc.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: could not reach") and "internet connection" in err
