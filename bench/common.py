"""Helpers shared by the benchmark scripts in bench/.

- where things are: the repository, the real samples (data_samples/, or `$DATAPIPE_SHARED`),
  scratch output
- what ran where: machine, software versions, git commit, command line, date
- how to time: one CPU, interleaved repetitions, medians, spread and paired ratios
- how to publish: rewrite one marked section of docs/benchmarks.md
- inputs several scripts read: JSONL samples, HTML responses of the shared WARCs, record
  batches of the document schema

The scripts import it as `common` (the script's directory is first on sys.path).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gzip
import io
import json
import os
import platform
import pstats
import random
import re
import shlex
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

REPO = Path(__file__).resolve().parents[1]
OUT_DIR = REPO / "bench" / "out"
DOCS_FILE = REPO / "docs" / "benchmarks.md"
MB = 1e6  # MB/s means 10^6 bytes per second
BATCH_ROWS = 1000  # rows per record batch, as the ingest stage writes them
SHARED_WARCS = (
    "samples/cc/resiliparse_CC-MAIN-2020-34_00395.warc.gz",
    "samples/cc/whirlwind.warc.gz",
    "samples/web/dolma_wget_sample-0000.warc.gz",
    "samples/web/dolma_wget_sample-0001.warc.gz",
)
HTML_TYPES = ("text/html", "application/xhtml+xml")


# --- command line ---------------------------------------------------------------------------


def argument_parser(doc: str, repeats: int, check: bool = False) -> argparse.ArgumentParser:
    """A parser described by the first paragraph of `doc`, with the options every script has:
    `--repeats` (default `repeats`), `--cpu`, `--update-docs`, and `--check` if `check`."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument(
        "--repeats", type=int, default=repeats, help=f"repetitions (default {repeats})"
    )
    parser.add_argument("--cpu", type=int, default=None, help="CPU to pin to (-1: no pinning)")
    parser.add_argument("--update-docs", action="store_true", help="rewrite docs/benchmarks.md")
    if check:
        parser.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    return parser


# --- where the inputs are -------------------------------------------------------------------


def shared_dir() -> Path:
    """The real samples: the repository's data_samples/ (`samples/` and `reference/`), or
    `$DATAPIPE_SHARED` when set: another directory of the same layout (e.g. a larger copy)."""
    path = Path(os.environ.get("DATAPIPE_SHARED") or REPO / "data_samples")
    if not (path / "samples").is_dir() or not (path / "reference").is_dir():
        sys.exit(f"no samples/ and reference/ in {path} (DATAPIPE_SHARED, default data_samples/)")
    return path


def read_jsonl(path: Path) -> Iterator[dict]:
    """The rows of a JSONL file, gzip-compressed if its name ends in `.gz`."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


@dataclass(frozen=True)
class HtmlResponse:
    source: str  # shared WARC file name
    url: str
    body: bytes  # HTTP body after dechunking / content decoding: what decode_html receives
    content_type: str  # HTTP Content-Type header
    member: bytes  # the record's gzip member, as stored in the source WARC


def _is_html_200(record: object) -> bool:
    http = getattr(record, "http_headers", None)
    if getattr(record, "rec_type", None) != "response" or http is None:
        return False
    mime = (http.get_header("Content-Type") or "").split(";")[0].strip().lower()
    return http.get_statuscode() == "200" and mime in HTML_TYPES


def iter_html_responses(path: Path) -> Iterator[HtmlResponse]:
    """Every HTTP 200 HTML response of a gzip-per-record WARC, read with warcio."""
    from warcio.archiveiterator import ArchiveIterator

    data = path.read_bytes()
    with open(path, "rb") as stream:
        records = ArchiveIterator(stream)
        for record in records:
            if not _is_html_200(record):
                continue
            body = record.content_stream().read()
            records.read_to_end(record)
            start, length = records.get_record_offset(), records.get_record_length()
            yield HtmlResponse(
                source=path.name,
                url=record.rec_headers.get_header("WARC-Target-URI") or "",
                body=body,
                content_type=record.http_headers.get_header("Content-Type") or "",
                member=data[start : start + length],
            )


def load_html_responses() -> list[HtmlResponse]:
    """The HTML responses of all shared sample WARCs, in file order."""
    root = shared_dir()
    return [resp for name in SHARED_WARCS for resp in iter_html_responses(root / name)]


class BenchDocument(Protocol):
    id: str
    text: str
    url: str | None
    source: str  # shared file name
    offset: int  # position in the shared file


def record_batches(docs: Iterable[BenchDocument]) -> list:
    """Record batches of the document schema, `BATCH_ROWS` rows each; a document's `lang`
    attribute, where it has one, fills the `lang` column."""
    from core.schema import DOCUMENT_SCHEMA, rows_to_batch

    rows = [
        {
            "id": d.id,
            "text": d.text,
            "url": d.url,
            "source": "bench",
            "lang": getattr(d, "lang", None),
            "input_file": d.source,
            "input_offset": d.offset,
        }
        for d in docs
    ]
    return [
        rows_to_batch(rows[i : i + BATCH_ROWS], DOCUMENT_SCHEMA)
        for i in range(0, len(rows), BATCH_ROWS)
    ]


def count_outcomes(stage: Any, batches: list) -> Counter[str]:
    """A stage's `process_batch` over the batches: the kept count and rejections by reason."""
    counts: Counter[str] = Counter()
    for batch in batches:
        out = stage.process_batch(batch)
        counts["kept"] += out.kept.num_rows
        counts.update(out.rejected.column("reason").to_pylist())
    return counts


# --- what ran where -------------------------------------------------------------------------


def machine_description() -> str:
    """`nproc N, <CPU model>, <RAM> GiB RAM` of this machine."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    meminfo = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
    ram = f"{int(meminfo.group(1)) / 2**20:.1f} GiB RAM" if meminfo else "RAM unknown"
    return f"nproc {os.cpu_count()}, {model.group(1) if model else 'unknown CPU'}, {ram}"


def git_commit_description() -> str:
    """`datapipe commit <short hash>`, noting uncommitted changes to tracked files."""

    def git(*args: str) -> str:
        # git from the developer's PATH, as they would run it themselves
        result = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)  # noqa: S607
        return result.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = " + uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else ""
    return f"datapipe commit {commit}{dirty}"


def software_description(packages: tuple[str, ...]) -> str:
    """Python and the packages' installed versions, then the git commit."""
    versions = []
    for name in packages:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    return (
        f"Python {platform.python_version()}, "
        + ", ".join(versions)
        + f"; {git_commit_description()}"
    )


def command_line() -> str:
    """This run's command, with the script path relative to the repository."""
    script = os.path.relpath(Path(sys.argv[0]).resolve(), REPO)
    return shlex.join(["python", script, *sys.argv[1:]])


def utc_timestamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def run_context(pinning: str, packages: tuple[str, ...], repeats: int) -> dict[str, str]:
    """What `report_header` prints, plus the number of repetitions."""
    return {
        "date": utc_timestamp(),
        "machine": machine_description(),
        "pinning": pinning,
        "software": software_description(packages),
        "command": command_line(),
        "repeats": str(repeats),
    }


def report_header(context: Mapping[str, str]) -> str:
    """The Date / Machine / Software / Command lines that open a report."""
    return f"""\
- Date: {context["date"]}
- Machine: {context["machine"]}; benchmark process {context["pinning"]}
- Software: {context["software"]}
- Command: `{context["command"]}`"""


# --- corpora ---------------------------------------------------------------------------------


def tokens_changed(text: str, rng: random.Random, share: float) -> str:
    """`text` with `share` of its whitespace-separated tokens (or characters, in a text
    without spaces; at least one) replaced by another of the same text: one token makes a
    near-duplicate, a third of them a document minhash no longer pairs with the original."""
    tokens = text.split(" ") if " " in text else list(text)
    if len(tokens) < 2:
        return text + " x"
    for _ in range(max(1, round(share * len(tokens)))):
        tokens[rng.randrange(len(tokens))] = tokens[rng.randrange(len(tokens))] + "x"
    return (" " if " " in text else "").join(tokens)


# --- timing ---------------------------------------------------------------------------------


def pin_to_one_cpu(cpu: int | None) -> str:
    """Run on one core so that throughput is per core; returns a description for the report.
    None picks the last allowed CPU, a negative number disables pinning."""
    if cpu is not None and cpu < 0:
        return "not pinned"
    allowed = sorted(os.sched_getaffinity(0))
    chosen = allowed[-1] if cpu is None else cpu
    os.sched_setaffinity(0, {chosen})
    return f"pinned to CPU {chosen}"


@dataclass
class Timing:
    wall: list[float]  # seconds, one per repetition
    cpu: list[float]  # process CPU seconds, one per repetition

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    @property
    def spread(self) -> float:
        """(max - min) / median of the wall times: how noisy this measurement was."""
        return (max(self.wall) - min(self.wall)) / self.median


def time_once(fn: Callable[[], object], timing: Timing) -> None:
    """Run `fn` once, adding its wall and CPU time to `timing`."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    timing.cpu.append(time.process_time() - cpu)
    timing.wall.append(time.perf_counter() - wall)


def run_interleaved(jobs: dict[str, Callable[[], object]], repeats: int) -> dict[str, Timing]:
    """Each repetition runs every job once, order rotated, so machine noise hits all alike."""
    timings = {name: Timing([], []) for name in jobs}
    names = list(jobs)
    for rep in range(repeats):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            time_once(jobs[name], timings[name])
        print(f"  repetition {rep + 1}/{repeats} done", file=sys.stderr)
    return timings


def run_interleaved_keeping_results(
    jobs: dict[str, Callable[[], object]], repeats: int
) -> tuple[dict[str, Timing], dict[str, set[object]]]:
    """`run_interleaved`, also keeping the distinct values each job returned (one value per
    job means every repetition did the same work; adding to a set costs nothing measurable)."""
    results: dict[str, set[object]] = {name: set() for name in jobs}

    def keeping_result(name: str) -> Callable[[], object]:
        job = jobs[name]
        return lambda: results[name].add(job())

    timings = run_interleaved({name: keeping_result(name) for name in jobs}, repeats)
    return timings, results


def paired_ratio(num: Timing, den: Timing) -> float:
    """Median of per-repetition ratios: each pair ran back to back, so drift cancels."""
    return statistics.median(n / d for n, d in zip(num.wall, den.wall, strict=True))


def pass_fail(passed: bool) -> str:
    return "**PASS**" if passed else "**FAIL**"


def profile_text(fn: Callable[[], object], top: int) -> str:
    """cProfile of one call of `fn`: the `top` functions by cumulative, then by own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


# --- publishing -----------------------------------------------------------------------------


def update_docs_section(name: str, body: str, path: Path = DOCS_FILE) -> None:
    """Replace the text between `<!-- name:start -->` and `<!-- name:end -->` (append if absent)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{start}\n{body.strip()}\n{end}"
    if start in text and end in text:
        head, _, rest = text.partition(start)
        _, _, tail = rest.partition(end)
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"updated section {name!r} in {os.path.relpath(path, REPO)}")
