"""Download a small real Common Crawl sample (the first N WET or WARC files of a crawl).

Standard library only, so it runs before the project is installed::

    python data_samples/download_cc.py --crawl CC-MAIN-2024-22 --kind wet --count 2 \\
        --output work/cc-sample

It fetches ``crawl-data/<crawl>/<kind>.paths.gz``, takes the first N paths and streams each
file to ``<output>/<basename>`` through a ``.part`` file that is renamed when complete, and
records its SHA-256 in ``<output>/SHA256SUMS`` (``sha256sum -c`` reads it). A file already
present is skipped only while it has the size the server reports and the checksum recorded
when it was downloaded, so an interrupted run can simply be started again and a damaged file
is fetched anew. Network and HTTP failures end with exit code 1 and a message saying what to
do. A WET file is ~80-150 MB, a WARC file ~1 GB. ``configs/cc-download.yaml`` runs the
pipeline on ``work/cc-sample``.
"""

import argparse
import gzip
import hashlib
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from http.client import HTTPResponse
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_BASE_URL = "https://data.commoncrawl.org"
KINDS = ("wet", "warc")
USER_AGENT = "datapipe-sample-downloader/0.1"
CHUNK_BYTES = 1 << 20
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
CHECKSUMS = "SHA256SUMS"


class DownloadError(RuntimeError):
    """A download failed; the message says what went wrong and what to try."""


def _request(url: str, method: str = "GET") -> urllib.request.Request:
    # Every URL is --base-url plus a path, so its scheme is the one the user chose.
    return urllib.request.Request(url, method=method, headers={"User-Agent": USER_AGENT})  # noqa: S310


def _explain(url: str, err: Exception) -> str:
    host = urlsplit(url).netloc
    if isinstance(err, urllib.error.HTTPError):
        if err.code == 404:
            return (
                f"{url} returned HTTP 404 Not Found: check the crawl name (for example "
                "CC-MAIN-2024-22, see https://commoncrawl.org/overview) and --kind."
            )
        if err.code in RETRY_STATUSES or err.code == 403:
            return (
                f"{url} returned HTTP {err.code} {err.reason}: the server is busy or refusing "
                "requests; wait a few minutes and run the same command again."
            )
        return f"{url} returned HTTP {err.code} {err.reason}."
    reason = getattr(err, "reason", err)
    return (
        f"could not reach {host} ({reason}). Check your internet connection, proxy settings "
        "(HTTPS_PROXY) or firewall; without internet access use the small fixtures in "
        "data_samples/ instead, or point --base-url at a reachable mirror."
    )


def _open(url: str, timeout: float, method: str = "GET", retries: int = 3) -> HTTPResponse:
    """Open `url`, retrying busy-server statuses; raise DownloadError with advice."""
    for attempt in range(1, retries + 1):
        try:
            return urllib.request.urlopen(_request(url, method), timeout=timeout)  # noqa: S310 see _request
        except urllib.error.HTTPError as err:
            err.close()
            if err.code not in RETRY_STATUSES or attempt == retries:
                raise DownloadError(_explain(url, err)) from err
        except OSError as err:  # URLError, refused connections, timeouts
            raise DownloadError(_explain(url, err)) from err
        time.sleep(2**attempt)
    raise DownloadError(f"{url}: retries must be at least 1")


def fetch_paths(crawl: str, kind: str, base_url: str, timeout: float = 60.0) -> list[str]:
    """The file paths listed in ``crawl-data/<crawl>/<kind>.paths.gz``."""
    url = f"{base_url.rstrip('/')}/crawl-data/{crawl}/{kind}.paths.gz"
    with _open(url, timeout) as response:
        try:
            data = response.read()
        except OSError as err:
            raise DownloadError(_explain(url, err)) from err
    try:
        text = gzip.decompress(data).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise DownloadError(
            f"{url} is not a gzip list of paths ({err}); check --base-url."
        ) from err
    return [line.strip() for line in text.splitlines() if line.strip()]


def _content_length(response: HTTPResponse) -> int | None:
    value = response.headers.get("Content-Length")
    return int(value) if value and value.isdigit() else None


def _remote_size(url: str, timeout: float) -> int | None:
    """Size reported by a HEAD request, or None if the server does not say."""
    try:
        with _open(url, timeout, method="HEAD") as response:
            return _content_length(response)
    except DownloadError:
        return None  # the GET that follows reports the real problem


def _progress(name: str, done: int, total: int | None, final: bool = False) -> None:
    size = f"{done / 2**20:,.1f} MiB"
    if total:
        size += f" of {total / 2**20:,.1f} MiB ({100 * done / total:.0f}%)"
    if sys.stdout.isatty():
        print(f"\r  {name}: {size}", end="\n" if final else "", flush=True)
    elif final:
        print(f"  {name}: {size}", flush=True)


def _stream(response: HTTPResponse, part: Path, name: str, total: int | None) -> tuple[int, str]:
    """Write the body to `part`; return its size and SHA-256."""
    done, last, digest = 0, 0.0, hashlib.sha256()
    with part.open("wb") as out:
        while chunk := response.read(CHUNK_BYTES):
            out.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            if time.monotonic() - last > 1:
                _progress(name, done, total)
                last = time.monotonic()
    _progress(name, done, total, final=True)
    return done, digest.hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while chunk := data.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def read_checksums(out_dir: Path) -> dict[str, str]:
    """File name -> SHA-256 from `out_dir/SHA256SUMS` (the `sha256sum` format)."""
    path = out_dir / CHECKSUMS
    if not path.exists():
        return {}
    pairs = (line.split(maxsplit=1) for line in path.read_text().splitlines() if line.strip())
    return {name.lstrip("*"): digest for digest, name in pairs}


def write_checksums(out_dir: Path, sums: dict[str, str]) -> None:
    tmp = out_dir / (CHECKSUMS + ".part")
    tmp.write_text("".join(f"{sums[name]}  {name}\n" for name in sorted(sums)))
    os.replace(tmp, out_dir / CHECKSUMS)


def _intact(dest: Path, url: str, recorded: str | None, timeout: float) -> bool:
    """A file from an earlier run is kept only at the server's size and its recorded sum."""
    if not dest.exists() or _remote_size(url, timeout) != dest.stat().st_size:
        return False
    if recorded is not None and sha256_file(dest) != recorded:
        print(f"  {dest.name}: checksum differs from {CHECKSUMS}, downloading again")
        return False
    return True


def download_file(url: str, dest: Path, recorded: str | None = None, timeout: float = 60.0) -> str:
    """Stream `url` to `dest` via a temp file unless an intact copy is there (see `_intact`);
    return the file's SHA-256."""
    if _intact(dest, url, recorded, timeout):
        print(f"  {dest.name}: already present ({dest.stat().st_size:,} bytes), skipped")
        return recorded or sha256_file(dest)
    part = dest.with_name(dest.name + ".part")
    try:
        with _open(url, timeout) as response:
            total = _content_length(response)
            done, digest = _stream(response, part, dest.name, total)
        if total is not None and done != total:
            raise DownloadError(f"{url}: got {done:,} of {total:,} bytes; run again to retry.")
        os.replace(part, dest)
    except OSError as err:
        raise DownloadError(f"{url}: transfer failed ({err}); run again to retry.") from err
    finally:
        part.unlink(missing_ok=True)
    return digest


def download(
    crawl: str,
    kind: str,
    count: int,
    output: str | Path,
    base_url: str = DEFAULT_BASE_URL,
    timeout: float = 60.0,
) -> list[Path]:
    """Download the first `count` files of `kind` from `crawl` into `output`; return paths."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    if count < 1:
        raise ValueError("count must be at least 1")
    paths = fetch_paths(crawl, kind, base_url, timeout)[:count]
    if not paths:
        raise DownloadError(f"the {kind} path list of {crawl} is empty")
    out_dir = Path(output)
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = []
    sums = read_checksums(out_dir)
    for index, path in enumerate(paths, 1):
        dest = out_dir / path.rsplit("/", 1)[-1]
        print(f"[{index}/{len(paths)}] {path}", flush=True)
        url = f"{base_url.rstrip('/')}/{path}"
        sums[dest.name] = download_file(url, dest, sums.get(dest.name), timeout)
        write_checksums(out_dir, sums)  # after every file: an interrupted run keeps them
        saved.append(dest)
    return saved


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Download the first N files of a CC crawl.")
    parser.add_argument("--crawl", required=True, help="crawl id, e.g. CC-MAIN-2024-22")
    parser.add_argument("--kind", choices=KINDS, default="wet", help="file kind (default wet)")
    parser.add_argument("--count", type=int, default=1, help="number of files (default 1)")
    parser.add_argument("--output", type=Path, required=True, help="destination directory")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL, help="server or mirror root")
    parser.add_argument("--timeout", type=float, default=60.0, help="socket timeout, seconds")
    args = parser.parse_args(argv)
    try:
        files = download(
            args.crawl, args.kind, args.count, args.output, args.base_url, args.timeout
        )
    except (DownloadError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"done: {len(files)} file(s) in {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
