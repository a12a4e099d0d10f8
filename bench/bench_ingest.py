#!/usr/bin/env python
"""Ingest overhead benchmark: how much the ingest stage costs on top of the HTML extractor.

Builds a ~40 MB (of HTML) WARC, gzip per record like Common Crawl, by repeating every real
HTML response of the shared sample WARCs, then measures on one core, interleaved and repeated:

  (a) raw extractor: decode_html + resiliparse on the same HTTP bodies, pre-loaded in memory
  (b) IngestStage.read_file on the WARC: + gunzip, WARC/HTTP parsing, checks, Arrow batches
  (c) run_stage with LocalExecutor: + Arrow shard writing, task marker and stage manifests

and reports medians, docs/s and HTML MB/s per core, and the overhead ratios (b)/(a), (c)/(a)
against the target (< 1.30). Optionally compares our WARC reader with fastwarc's.

    python bench/bench_ingest.py [--repeats 5] [--target-mb 40] [--update-docs]
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# common.py sits next to this file (the script's directory is first on sys.path).
from common import (
    MB,
    OUT_DIR,
    REPO,
    HtmlResponse,
    Timing,
    argument_parser,
    load_html_responses,
    paired_ratio,
    pass_fail,
    pin_to_one_cpu,
    report_header,
    run_context,
    run_interleaved,
    update_docs_section,
)

OVERHEAD_TARGET = 1.30
MAX_RECORD_BYTES = 16 * 2**20
_RECORD_ID = re.compile(rb"(?im)^WARC-Record-ID:[^\r\n]*")


# --- corpus ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Corpus:
    path: Path
    copies: int
    originals: list[HtmlResponse]

    @property
    def responses(self) -> list[HtmlResponse]:
        return self.originals * self.copies

    @property
    def html_bytes(self) -> int:
        return sum(len(r.body) for r in self.originals) * self.copies

    def describe(self) -> str:
        by_source: dict[str, int] = {}
        for resp in self.originals:
            by_source[resp.source] = by_source.get(resp.source, 0) + 1
        parts = ", ".join(f"{n} from {name}" for name, n in by_source.items())
        size = self.path.stat().st_size
        return (
            f"`{os.path.relpath(self.path, REPO)}`: {self.copies} copies of the "
            f"{len(self.originals)} real HTML (HTTP 200) responses of the shared samples "
            f"({parts}) = {len(self.responses):,} response records, "
            f"{self.html_bytes / MB:.1f} MB of HTML, {size / MB:.1f} MB on disk; one gzip "
            "member per record as in Common Crawl, record bytes verbatim except a fresh "
            "WARC-Record-ID per copy, plus one warcinfo record (request/metadata records "
            "are not included)"
        )


def _record_member(resp: HtmlResponse, copy: int) -> bytes:
    raw = gzip.decompress(resp.member)
    if not raw.startswith(b"WARC/"):
        raise ValueError(f"{resp.source}: not one gzip member per record")
    old = _RECORD_ID.search(raw)
    seed = old.group(0).decode() if old else resp.url
    new = f"WARC-Record-ID: <urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{seed}#{copy}')}>"
    raw = _RECORD_ID.sub(new.encode(), raw, count=1)
    return gzip.compress(raw, compresslevel=6, mtime=0)


def _warcinfo_member(description: str) -> bytes:
    block = (f"software: datapipe bench/bench_ingest.py\r\ndescription: {description}\r\n").encode()
    head = (
        "WARC/1.0\r\nWARC-Type: warcinfo\r\n"
        f"WARC-Record-ID: <urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, description)}>\r\n"
        "WARC-Date: 2024-01-01T00:00:00Z\r\nContent-Type: application/warc-fields\r\n"
        f"Content-Length: {len(block)}\r\n\r\n"
    ).encode()
    return gzip.compress(head + block + b"\r\n\r\n", compresslevel=6, mtime=0)


def build_corpus(target_mb: float, out_dir: Path) -> Corpus:
    originals = load_html_responses()
    per_copy = sum(len(r.body) for r in originals)
    copies = max(1, round(target_mb * MB / per_copy))
    path = out_dir / "bench-ingest.warc.gz"
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as out:
        out.write(_warcinfo_member(f"{copies} copies of {len(originals)} shared HTML responses"))
        for copy in range(copies):
            for resp in originals:
                out.write(_record_member(resp, copy))
    os.replace(tmp, path)
    return Corpus(path, copies, originals)


# --- the measured jobs ----------------------------------------------------------------------


def raw_extract(responses: list[HtmlResponse]) -> tuple[int, int]:
    """(a): decode + resiliparse with the stage's settings; returns (docs, text chars)."""
    from resiliparse.extract.html2text import extract_plain_text

    from stages.ingest.html import decode_html

    chars = 0
    for resp in responses:
        html, _ = decode_html(resp.body, resp.content_type)
        text = extract_plain_text(
            html, preserve_formatting=True, main_content=True, alt_texts=False, links=False
        ).strip()
        chars += len(text)
    return len(responses), chars


def stage_read(path: Path) -> tuple[int, int]:
    """(b): IngestStage.read_file; returns (document rows kept + rejected, kept text chars)."""
    import pyarrow.compute as pc

    from stages.ingest.stage import IngestConfig, IngestStage

    stage = IngestStage(IngestConfig(extractor="resiliparse"))
    rows = chars = 0
    for out in stage.read_file(str(path)):
        rows += out.kept.num_rows + out.rejected.num_rows
        if out.kept.num_rows:
            chars += pc.sum(pc.utf8_length(out.kept.column("text"))).as_py() or 0
    return rows, chars


def stage_read_only(path: Path) -> None:
    """(b) as timed: consume the batches and nothing else."""
    from stages.ingest.stage import IngestConfig, IngestStage

    stage = IngestStage(IngestConfig(extractor="resiliparse"))
    for _ in stage.read_file(str(path)):
        pass


def run_whole_stage(path: Path, output_dir: Path) -> dict[str, object]:
    """(c): run_stage into a fresh directory (a finished one would be skipped)."""
    from pipeline.executor import LocalExecutor
    from pipeline.runner import StageRun, run_stage
    from stages.ingest.stage import IngestConfig

    run = StageRun("ingest", IngestConfig(), [str(path)], str(output_dir), 128 * 2**20)
    stats = run_stage(run, LocalExecutor(), progress=False)
    if stats.get("skipped"):
        raise RuntimeError(f"{output_dir} was reused, not recomputed")
    return stats


def check_outputs(corpus: Corpus, out_dir: Path) -> str:
    """Untimed pass (also the warm-up): (a), (b) and (c) must see the same documents."""
    docs, raw_chars = raw_extract(corpus.responses)
    rows, stage_chars = stage_read(corpus.path)
    shutil.rmtree(out_dir, ignore_errors=True)
    stats = run_whole_stage(corpus.path, out_dir)
    if not docs == rows == stats["docs_in"] or raw_chars != stage_chars:
        raise RuntimeError(
            f"outputs disagree: raw {docs} docs/{raw_chars} chars, read_file {rows} docs/"
            f"{stage_chars} chars, run_stage {stats['docs_in']} docs"
        )
    reasons = stats["rejected_by_reason"]
    rejected = f"{stats['docs_rejected']:,} rejected" + (f" {reasons}" if reasons else "")
    return (
        f"{docs:,} documents ({stats['docs_kept']:,} kept, {rejected}), {raw_chars:,} text "
        "chars: identical in (a), (b) and (c)"
    )


def measure_ingest(corpus: Corpus, repeats: int, out_dir: Path) -> dict[str, Timing]:
    responses = corpus.responses
    stage_dir = out_dir / "stage-ingest"

    def whole_stage() -> None:
        shutil.rmtree(stage_dir, ignore_errors=True)  # untimed share is negligible (~ms)
        run_whole_stage(corpus.path, stage_dir)

    jobs: dict[str, Callable[[], object]] = {
        "a": lambda: raw_extract(responses),
        "b": lambda: stage_read_only(corpus.path),
        "c": whole_stage,
    }
    return run_interleaved(jobs, repeats)


# --- where the overhead goes: components alone, ours vs fastwarc ---------------------------


def ours_gunzip(path: Path) -> int:
    from core.streams import open_decompressed

    reader = open_decompressed(path)
    total = 0
    try:
        while chunk := reader.read(2**20):
            total += len(chunk)
    finally:
        reader.close()
    return total


def ours_warc(path: Path, http: bool) -> int:
    from core.streams import open_decompressed
    from stages.ingest.warc import WarcRecord, iter_warc_records, parse_http_response

    reader = open_decompressed(path)
    total = 0
    try:
        for item in iter_warc_records(reader, MAX_RECORD_BYTES):
            if not isinstance(item, WarcRecord) or item.payload is None:
                continue
            if not http:
                total += len(item.payload)
            elif item.record_type == "response":
                total += len(parse_http_response(item.payload, MAX_RECORD_BYTES).body)
    finally:
        reader.close()
    return total


def ours_binary_check(bodies: list[bytes]) -> int:
    from stages.ingest.html import looks_binary

    return sum(looks_binary(body) for body in bodies)


def fast_gunzip(path: Path) -> int:
    from fastwarc.stream_io import GzipReader

    reader = GzipReader(str(path))
    total = 0
    while chunk := reader.read(2**20):
        total += len(chunk)
    reader.close()
    return total


def fast_warc(path: Path, http: bool) -> int:
    from fastwarc.warc import ArchiveIterator as FastIterator
    from fastwarc.warc import WarcRecordType

    total = 0
    records = FastIterator(
        str(path), parse_http=http, auto_decode="all" if http else "none", fsspec_args=False
    )
    for record in records:
        if not http or record.record_type == WarcRecordType.response:
            total += len(record.reader.read())
    return total


def fastwarc_jobs(path: Path) -> tuple[dict[str, Callable[[], object]], str | None]:
    """fastwarc counterparts, after checking they read exactly the bytes ours read."""
    try:
        import fastwarc  # noqa: F401
    except ImportError:
        return {}, "fastwarc is not installed (pip install -e '.[bench]')"
    jobs: dict[str, Callable[[], object]] = {
        "gunzip": lambda: fast_gunzip(path),
        "warc": lambda: fast_warc(path, False),
        "http": lambda: fast_warc(path, True),
    }
    ours = (ours_gunzip(path), ours_warc(path, False), ours_warc(path, True))
    for (name, job), expected in zip(jobs.items(), ours, strict=True):
        if job() != expected:
            return {}, f"fastwarc read a different number of bytes ({name})"
    return {f"fast_{name}": job for name, job in jobs.items()}, None


def measure_components(
    corpus: Corpus, repeats: int, with_fastwarc: bool
) -> tuple[dict[str, Timing], str | None]:
    path, bodies = corpus.path, [r.body for r in corpus.responses]
    jobs: dict[str, Callable[[], object]] = {
        "ours_gunzip": lambda: ours_gunzip(path),
        "ours_warc": lambda: ours_warc(path, False),
        "ours_http": lambda: ours_warc(path, True),
        "ours_binary": lambda: ours_binary_check(bodies),
    }
    note = "not run (--no-fastwarc)"
    if with_fastwarc:
        fast, note = fastwarc_jobs(path)
        jobs |= fast
    return run_interleaved(jobs, repeats), note


# --- report ---------------------------------------------------------------------------------

ROWS = (
    ("a", "(a) raw extractor", "`decode_html` + resiliparse on in-memory HTTP bodies"),
    ("b", "(b) `IngestStage.read_file`", "(a) + gunzip, WARC/HTTP parsing, checks, Arrow batches"),
    ("c", "(c) `run_stage`, LocalExecutor", "(b) + Arrow shard writing, task marker, manifests"),
)


def ingest_table(corpus: Corpus, timings: dict[str, Timing]) -> str:
    docs, html = len(corpus.responses), corpus.html_bytes
    lines = [
        "| measurement | what it runs | median s | docs/s | HTML MB/s | CPU s | spread "
        "| ratio to (a) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, label, what in ROWS:
        t = timings[key]
        ratio = 1.0 if key == "a" else paired_ratio(t, timings["a"])
        lines.append(
            f"| {label} | {what} | {t.median:.3f} | {docs / t.median:,.0f} | "
            f"{html / MB / t.median:.1f} | {statistics.median(t.cpu):.3f} | "
            f"{t.spread:.0%} | {ratio:.3f} |"
        )
    return "\n".join(lines)


def verdict(timings: dict[str, Timing]) -> tuple[str, bool]:
    parts, ok = [], True
    for key in ("b", "c"):
        ratio = paired_ratio(timings[key], timings["a"])
        passed = ratio < OVERHEAD_TARGET
        ok &= passed
        parts.append(f"({key})/(a) = {ratio:.3f} {pass_fail(passed)}")
    target = f"Overhead target: ratio < {OVERHEAD_TARGET:.2f} (under 30% on top of the extractor)"
    return f"{target}: " + ", ".join(parts) + ".", ok


COMPONENTS = (
    ("gunzip", "gunzip only (datapipe: `open_decompressed`, ISA-L; fastwarc: `GzipReader`)"),
    ("warc", "gunzip + WARC headers + payload bytes"),
    ("http", "gunzip + WARC + HTTP status/headers, dechunk"),
    ("binary", "`looks_binary` on every body (no fastwarc counterpart)"),
)


def component_table(parts: dict[str, Timing], overhead: float) -> str:
    lines = [
        "| component, alone on the same WARC | datapipe s | fastwarc s | datapipe / fastwarc "
        "| share of (b) − (a) |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, label in COMPONENTS:
        ours, fast = parts[f"ours_{key}"], parts.get(f"fast_{key}")
        fast_cells = f"{fast.median:.3f} | {paired_ratio(ours, fast):.2f}" if fast else "– | –"
        lines.append(
            f"| {label} | {ours.median:.3f} | {fast_cells} | {ours.median / overhead:.0%} |"
        )
    return "\n".join(lines)


def component_part(timings: dict[str, Timing], parts: dict[str, Timing], note: str | None) -> str:
    overhead = timings["b"].median - timings["a"].median
    known = parts["ours_http"].median + parts["ours_binary"].median
    fastwarc = f" (fastwarc: {note})" if note else ""
    return (
        f"Where the overhead goes{fastwarc}: (b) − (a) = {overhead:.3f} s. Each component "
        "below ran alone (medians, same repetitions), so shares are approximate and the "
        "rows are cumulative except the last.\n\n"
        + component_table(parts, overhead)
        + f"\n\nUnattributed: {overhead - known:.3f} s ({(overhead - known) / overhead:.0%}): "
        "per-record Python (record objects, document ids, row dicts), Arrow batch building, "
        "and the extractor running a little slower when interleaved with decompression."
    )


def report(
    corpus: Corpus,
    timings: dict[str, Timing],
    components: tuple[dict[str, Timing], str | None],
    context: dict[str, str],
) -> str:
    target_line, _ = verdict(timings)
    return f"""\
{report_header(context)}
- Corpus: {corpus.describe()}.
- Check: {context["check"]}.
- Method: {context["repeats"]} repetitions of (a), (b), (c) interleaved (order rotated each
  repetition), one process on one core; medians of wall time, CPU s = median process CPU
  time, spread = (max − min) / median; ratios are medians of per-repetition ratios.

{ingest_table(corpus, timings)}

{target_line}

{component_part(timings, *components)}
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argument_parser(__doc__, repeats=5, check=True)
    parser.add_argument("--target-mb", type=float, default=40.0, help="MB of HTML in the WARC")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR, help="scratch (gitignored)")
    parser.add_argument("--no-fastwarc", action="store_true", help="skip the fastwarc comparison")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pinning = pin_to_one_cpu(args.cpu)
    started = time.perf_counter()
    corpus = build_corpus(args.target_mb, args.out_dir)
    print(f"corpus ({time.perf_counter() - started:.1f}s): {corpus.describe()}", file=sys.stderr)
    check = check_outputs(corpus, args.out_dir / "stage-ingest")
    print(f"check: {check}", file=sys.stderr)
    timings = measure_ingest(corpus, args.repeats, args.out_dir)
    components = measure_components(corpus, args.repeats, not args.no_fastwarc)
    context = run_context(pinning, ("resiliparse", "pyarrow", "fastwarc"), args.repeats)
    context["check"] = check
    text = report(corpus, timings, components, context)
    print(text)
    if args.update_docs:
        update_docs_section(
            "bench_ingest", "## Ingest overhead (`bench/bench_ingest.py`)\n\n" + text
        )
    shutil.rmtree(args.out_dir / "stage-ingest", ignore_errors=True)
    _, ok = verdict(timings)
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
