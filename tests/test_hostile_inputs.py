"""A corpus of hostile files runs through the whole pipeline, ingest to a verified export: no
crash, every problem counted under a name, memory bounded.

The corpus is built at test time in a temporary directory (nothing big is committed): damaged
compression, zero-length files, malformed WARC headers, a 200 MiB one-line document, invalid
UTF-8 and unpaired surrogate escapes, NUL bytes, 100,000-deep JSON, decompression bombs (a
gzip JSONL line and a zstd WARC record that inflate to gigabytes), names with spaces,
non-ASCII and non-UTF-8 bytes, the fixtures of tests/fixtures/generated/bad, and real documents
from data_samples/ so the later stages have something to work on.

The pipeline runs in a subprocess whose address space is capped (`RLIMIT_AS`, 4 GiB): a
reader that inflated a bomb into memory dies there, a streaming one stays far below. Its own
peak RSS (from `wait4`, in a small launcher) is bounded too, tightly enough that reading the
200 MiB line whole (bytes, then str, then the parsed object: ~720 MiB) would exceed it.
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest
import zstandard

from core.manifest import verify_export
from core.shards import list_shards, read_table
from tests.conftest import GENERATED

REPO = Path(__file__).resolve().parents[1]
BAD_FIXTURES = GENERATED / "bad"

GIANT_TEXT_BYTES = 200 * 2**20  # one JSONL line holding one 200 MiB text
BOMB_BYTES = 5 * 2**30  # what the gzip JSONL bomb inflates to (~5 MB on disk)
WARC_BOMB_BYTES = 2 * 2**30  # the payload the zstd WARC bomb declares and holds (~70 KB)
# Ingest holds one record (<= max_record_bytes, 16 MiB by default) plus one output batch; the
# cap leaves room for the interpreter, pyarrow, sentencepiece and gensim, and is below what
# holding a bomb needs.
ADDRESS_SPACE_LIMIT = 4 * 2**30
# Measured here: 430-520 MiB for the whole run once numba's on-disk cache holds the compiled
# kernels (438 in the development venv, 486 alone and 520 within the suite in CI's fresh one:
# library versions and what the process touched first move it). An ingest that read the
# 200 MiB line whole (`--max-record-bytes 300000000`) peaks at ~720 MiB on that file alone: the
# limit sits between the two. A process that compiles the kernels itself (the first run on a
# machine, an empty cache) adds ~330 MiB and ~60 s of LLVM work, whatever its input: the fixture
# runs the pipeline twice and measures the second.
PEAK_RSS_LIMIT = 600 * 2**20
STAGES = ["ingest", "filter", "minhash", "substring", "topics", "export"]
NON_UTF8_NAME = b"truncated latin-1 \xe9t\xe9.jsonl.gz"


def shown(name: str) -> str:
    """A file name as ingest writes it to `input_file` (non-UTF-8 bytes become U+FFFD)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


# --- building the corpus -----------------------------------------------------------------


def gzip_member(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(row, ensure_ascii=False).encode() + b"\n" for row in rows)


def warc_head(headers: list[str]) -> bytes:
    return ("WARC/1.1\r\n" + "".join(f"{h}\r\n" for h in headers) + "\r\n").encode()


def warc_headers(n: int, record_type: str = "response") -> list[str]:
    return [
        f"WARC-Type: {record_type}",
        f"WARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-{n:012d}>",
        "WARC-Date: 2024-05-20T00:00:00Z",
        f"WARC-Target-URI: https://hostile.example.com/{n}",
    ]


def response(n: int, text: str, length: str | None = None, extra: tuple[str, ...] = ()) -> bytes:
    body = f"<html><body><article><p>{text}</p></article></body></html>".encode()
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + body
    headers = [
        *warc_headers(n),
        *extra,
        "Content-Type: application/http; msgtype=response",
        f"Content-Length: {length if length is not None else len(http)}",
    ]
    return warc_head(headers) + http + b"\r\n\r\n"


@dataclass
class Expect:
    """What ingest must report for one input file (by base name)."""

    rejected: dict[str, int] | None = field(default_factory=dict)  # None: real data, any
    kept: int | None = None  # kept documents, when exactly known
    min_kept: int = 0
    detail_names_file: tuple[str, ...] = ()  # reasons whose detail must name the file


@dataclass
class Corpus:
    root: Path
    expect: dict[str, Expect]  # by file name as `shown`
    counters: dict[str, int]  # ingest counters the corpus must produce (at least these)


def stream_giant_line(path: Path, real: list[str]) -> None:
    """A good document, one 200 MiB document on a single line, a good document; written a
    megabyte at a time so the test never holds the line either."""
    block = ("The same sentence again and again, forever. " * 24_000).encode()[: 2**20]
    with path.open("wb") as out:
        out.write(jsonl([{"text": real[0]}]))
        out.write(b'{"id": "giant", "text": "')
        for _ in range(GIANT_TEXT_BYTES // len(block)):
            out.write(block)
        out.write(b'"}\n')
        out.write(jsonl([{"text": real[1]}]))


def write_gzip_bomb(path: Path) -> None:
    """`{"text": "` then 5 GiB of NUL bytes and no newline: one endless line. Gzip members may
    be concatenated, so one compressed 64 MiB member repeated 80 times is a valid 5 GiB
    stream, ~5 MB on disk, built in a fraction of a second."""
    member = gzip.compress(bytes(64 * 2**20), compresslevel=9, mtime=0)
    with path.open("wb") as out:
        out.write(gzip_member(b'{"text": "'))
        for _ in range(BOMB_BYTES // (64 * 2**20)):
            out.write(member)


def write_zstd_warc_bomb(path: Path, good_text: str) -> None:
    """A WARC response whose Content-Length is 2 GiB (all of it present, as zstd frames of
    zeros), then a good record. Zstd frames concatenate like gzip members."""
    frame = zstandard.ZstdCompressor(level=19).compress(bytes(64 * 2**20))
    compress = zstandard.ZstdCompressor().compress
    head = [*warc_headers(500), "Content-Type: application/http; msgtype=response"]
    with path.open("wb") as out:
        out.write(compress(warc_head([*head, f"Content-Length: {WARC_BOMB_BYTES}"])))
        for _ in range(WARC_BOMB_BYTES // (64 * 2**20)):
            out.write(frame)
        out.write(compress(b"\r\n\r\n" + response(501, good_text)))


def malformed_warc(real: list[str]) -> bytes:
    """Good records between damaged ones; each record is its own gzip member (as in CC)."""
    records = [
        response(1, real[0]),
        response(2, "never read", length="twelve"),  # non-numeric Content-Length
        response(3, real[1]),
        # No WARC-Type: a record of unknown type, skipped and counted.
        response(4, "unknown type").replace(b"WARC-Type: response\r\n", b""),
        b"GET / HTTP/1.1\r\ngarbage between records\r\n\x00\x01\x02\r\n\r\n",
        response(5, real[2]),
        response(6, "never read", length="\u00b2"),  # '²'.isdigit(), yet int('²') fails
        response(7, "never read", extra=("this header line has no colon",)),
        response(8, real[3]),
        response(9, "cut short", length="999999"),  # longer than the rest of the file
    ]
    return b"".join(gzip_member(r) for r in records)


@pytest.fixture(scope="module")
def corpus(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    root = tmp_path_factory.mktemp("hostile") / "corpus"
    root.mkdir()
    samples = real_data / "samples"
    expect: dict[str, Expect] = {}

    # Real documents, intact, so filter, dedup, topics, tokenizer and export have work.
    for name in ("cc/llamafactory_c4_demo.jsonl", "web/dolma_wget_sample-0000.warc.gz"):
        shutil.copy(samples / name, root / Path(name).name)
    expect["llamafactory_c4_demo.jsonl"] = Expect(kept=300)
    expect["dolma_wget_sample-0000.warc.gz"] = Expect(rejected=None, min_kept=15)
    with gzip.open(samples / "cc/dolma_CC-MAIN-2019-30_00140.jsonl.gz", "rt") as f:
        dolma = [json.loads(line)["text"] for line in f]
    real = [t for t in dolma if 500 < len(t) < 5000][:40]
    assert len(real) == 40

    # Truncated gzip: a JSONL.gz and a real Common Crawl style WARC.gz cut mid-stream.
    data = gzip_member(jsonl([{"text": t} for t in real[:30]]))
    (root / "truncated.jsonl.gz").write_bytes(data[: len(data) * 6 // 10])
    expect["truncated.jsonl.gz"] = Expect(
        rejected={"truncated_input": 1}, min_kept=5, detail_names_file=("truncated_input",)
    )
    data = (samples / "web/dolma_wget_sample-0001.warc.gz").read_bytes()
    (root / "cut_crawl.warc.gz").write_bytes(data[: len(data) * 6 // 10])
    expect["cut_crawl.warc.gz"] = Expect(
        rejected={"truncated_input": 1}, min_kept=3, detail_names_file=("truncated_input",)
    )

    # Concatenated gzip members: every line of every member is read.
    members = [jsonl([{"text": t} for t in real[i : i + 4]]) for i in (0, 4, 8)]
    (root / "concatenated.jsonl.gz").write_bytes(b"".join(gzip_member(m) for m in members))
    expect["concatenated.jsonl.gz"] = Expect(kept=12)

    # Zero-length files: a .gz or .parquet of no bytes is not a valid file of its format; an
    # empty .jsonl is valid and has no documents, which ingest counts as `empty_file`.
    for name in ("empty.jsonl", "empty.warc.gz", "empty.parquet"):
        (root / name).write_bytes(b"")
    expect["empty.jsonl"] = Expect(kept=0)
    for name in ("empty.warc.gz", "empty.parquet"):
        expect[name] = Expect(
            rejected={"unreadable_file": 1}, kept=0, detail_names_file=("unreadable_file",)
        )

    # Malformed WARC headers.
    (root / "malformed_headers.warc.gz").write_bytes(malformed_warc(real[10:14]))
    expect["malformed_headers.warc.gz"] = Expect(rejected={"malformed_warc_record": 5}, kept=4)

    # A 200 MiB document on one line: past max_record_bytes, skipped unread in bounded chunks.
    stream_giant_line(root / "giant_line.jsonl", real[14:16])
    expect["giant_line.jsonl"] = Expect(rejected={"record_too_large": 1}, kept=2)

    # Invalid UTF-8 bytes, and JSON escapes that decode to unpaired surrogates (valid JSON,
    # but no UTF-8 encoding exists for them).
    lines = [
        jsonl([{"text": real[16]}]),
        b'{"text": "caf\xe9 au lait, cr\xe8me br\xfbl\xe9e"}\n',  # Latin-1, not UTF-8
        b'{"text": "\xff\xfe\xfd not even a start byte"}\n',
        b'{"text": "overlong \xc0\xaf slash"}\n',
        b'{"text": "encoded surrogate \xed\xa0\x80 here"}\n',
        b'{"text": "escaped lone surrogate \\ud800 here"}\n',
        b'{"text": "fine text", "url": "http://x.example/\\uDFFF"}\n',
        # A paired escape (how ensure_ascii JSON writes an emoji) is fine.
        json.dumps({"text": "\U0001f600 " + real[17]}).encode() + b"\n",
    ]
    (root / "bad_unicode.jsonl").write_bytes(b"".join(lines))
    expect["bad_unicode.jsonl"] = Expect(rejected={"invalid_utf8": 6}, kept=2)

    # NUL bytes: escaped in a JSON string (valid JSON: a text with NULs), raw inside a string
    # (invalid JSON), a line of nothing but NULs, and a WET record whose text has NULs. The
    # texts with NULs are documents; the filter's normalization strips the NULs.
    nul_text = real[18][:200] + "\u0000\u0000" + real[18][200:]
    lines = [
        jsonl([{"text": nul_text}]),
        b'{"text": "raw \x00 NUL inside a JSON string"}\n',
        b"\x00" * 1000 + b"\n",
        jsonl([{"text": real[19]}]),
    ]
    (root / "nul_bytes.jsonl").write_bytes(b"".join(lines))
    expect["nul_bytes.jsonl"] = Expect(rejected={"invalid_json": 2}, kept=2)
    wet_text = (real[20][:300] + "\x00\x00\x00" + real[20][300:]).encode()
    head = [*warc_headers(100, "conversion"), "Content-Type: text/plain"]
    wet = warc_head([*head, f"Content-Length: {len(wet_text)}"]) + wet_text + b"\r\n\r\n"
    (root / "nul_bytes.warc.wet.gz").write_bytes(gzip_member(wet))
    expect["nul_bytes.warc.wet.gz"] = Expect(kept=1)

    # Deeply nested JSON: 100,000 `[` alone, and nested inside otherwise good objects.
    depth = 100_000
    lines = [
        b"[" * depth + b"\n",
        b'{"text": "deep", "meta": ' + b"[" * depth + b"]" * depth + b"}\n",
        b'{"text": "deep", "meta": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}\n",
        jsonl([{"text": real[21]}]),
    ]
    (root / "deep_nesting.jsonl").write_bytes(b"".join(lines))
    expect["deep_nesting.jsonl"] = Expect(rejected={"invalid_json": 3}, kept=1)

    # Decompression bombs: a 5 GiB endless JSONL line, a 2 GiB WARC payload.
    write_gzip_bomb(root / "bomb.jsonl.gz")
    expect["bomb.jsonl.gz"] = Expect(rejected={"record_too_large": 1}, kept=0)
    write_zstd_warc_bomb(root / "bomb_record.warc.zst", real[22])
    expect["bomb_record.warc.zst"] = Expect(rejected={"record_too_large": 1}, kept=1)

    # Names with spaces and non-ASCII characters, and one that is not UTF-8 at all (its
    # detail must still name it, its bad byte shown as U+FFFD).
    for name, texts in (
        ("my docs – 文档.jsonl", real[23:27]),
        ("ünï cödé ☃.jsonl.gz", real[27:31]),
    ):
        rows = [
            {"text": t, "url": f"https://hostile.example.com/u{i}"} for i, t in enumerate(texts)
        ]
        (root / name).write_bytes(gzip_member(jsonl(rows)) if name.endswith(".gz") else jsonl(rows))
        expect[name] = Expect(kept=4)
    data = gzip_member(jsonl([{"text": t} for t in real[31:40]]))
    (root / os.fsdecode(NON_UTF8_NAME)).write_bytes(data[: len(data) // 2])
    expect[shown(os.fsdecode(NON_UTF8_NAME))] = Expect(
        rejected={"truncated_input": 1}, min_kept=1, detail_names_file=("truncated_input",)
    )

    # The generator's broken fixtures (tests/fixtures/generate.py describes each).
    for path in sorted(BAD_FIXTURES.iterdir()):
        shutil.copy(path, root / path.name)
    expect["truncated.warc.gz"] = Expect(rejected={"truncated_input": 1}, kept=3)
    expect["malformed_header.warc.gz"] = Expect(rejected={"malformed_warc_record": 2}, kept=2)
    expect["binary_payload.warc.gz"] = Expect(rejected={"binary_payload": 1}, kept=1)
    reasons = ("invalid_utf8", "invalid_json", "empty_document", "missing_text_field")
    expect["invalid_utf8.jsonl"] = Expect(rejected=dict.fromkeys(reasons, 1), kept=4)
    expect["giant_doc.jsonl.gz"] = Expect(rejected={"document_too_large": 1}, kept=2)
    expect["not_gzip.jsonl.gz"] = Expect(rejected={"unreadable_file": 1}, kept=0)
    expect["gzip_bomb.warc.gz"] = Expect(rejected={"record_too_large": 2}, kept=1)

    counters = {"skipped_record:unknown": 1, "empty_file": 1}
    return Corpus(root, expect, counters)


# --- running the pipeline ----------------------------------------------------------------


@dataclass
class Run:
    work: Path
    returncode: int
    stderr: str
    peak_rss: int  # bytes, of the pipeline process alone
    seconds: float
    warm_up_peak_rss: int  # the same run before it, which may have compiled the kernels


def _limit_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))


# Runs the command and prints its peak RSS. `ru_maxrss` of a forked child starts at its parent's
# resident size (Linux carries the forking process's peak over exec), so a child of the pytest
# process, hundreds of MiB by the time this module runs, would report at least that: this small
# launcher is the parent instead.
PEAK_RSS_LAUNCHER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
print(usage.ru_maxrss * 1024)
sys.exit(min(abs(os.waitstatus_to_exitcode(status)), 255))
"""


def run_capped(args: list[str], stderr_path: Path) -> tuple[int, int]:
    """Run `args` under the address-space cap; return its exit code and its own peak RSS."""
    with stderr_path.open("wb") as stderr:
        launched = subprocess.run(
            [sys.executable, "-c", PEAK_RSS_LAUNCHER, *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=stderr,
            preexec_fn=_limit_address_space,
            check=False,
        )
    return launched.returncode, int(launched.stdout)


@pytest.fixture(scope="module")
def run(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Run:
    base = tmp_path_factory.mktemp("hostile-run")
    work = base / "work"
    config = base / "hostile.yaml"
    config.write_text(
        f"inputs: [{json.dumps(str(corpus.root))}]\n"
        f"work_dir: {json.dumps(str(work))}\n"
        "stages:\n"
        "  - ingest\n"
        "  - filter\n"
        "  - minhash\n"
        "  - substring\n"
        "  - topics: {num_topics: 5}\n"
        "  - train-tokenizer:\n"
        "      vocab_size: 4000\n"
        "      allow_smaller_vocabulary: true\n"
        "      character_coverage: 0.99\n"
        "  - export\n"
    )
    args = [sys.executable, "-m", "pipeline", "run", str(config), "--executor", "local"]
    warm_up = [*args, "--no-progress", "--work-dir", str(base / "warm-up")]
    _, cold_peak = run_capped(warm_up, base / "warm-up.txt")
    started = time.perf_counter()
    returncode, peak = run_capped([*args, "--no-progress"], base / "stderr.txt")
    seconds = time.perf_counter() - started
    stderr = (base / "stderr.txt").read_text(errors="replace")
    return Run(work, returncode, stderr, peak, seconds, cold_peak)


def stats(run: Run, stage: str) -> dict[str, Any]:
    return json.loads((run.work / stage / "stats.json").read_text())


def test_the_pipeline_finishes_and_the_export_verifies(run: Run) -> None:
    assert run.returncode == 0, run.stderr[-5000:]
    problems, checked = verify_export(run.work / "export")
    assert problems == []
    assert checked["documents"] == stats(run, "export")["docs_kept"] > 100
    assert checked["tokens"] > 0


def test_memory_stays_bounded(run: Run, tmp_path: Path) -> None:
    assert run.returncode == 0, run.stderr[-5000:]
    print(
        f"\nhostile corpus: peak RSS {run.peak_rss / 2**20:.0f} MiB, {run.seconds:.1f} s"
        f" (warm-up run: {run.warm_up_peak_rss / 2**20:.0f} MiB)"
    )
    assert run.peak_rss < PEAK_RSS_LIMIT
    # The cap is real: holding one bomb's worth of bytes under it fails.
    code = f"bytearray({BOMB_BYTES})"
    returncode, _ = run_capped([sys.executable, "-c", code], tmp_path / "stderr.txt")
    assert returncode != 0 and "MemoryError" in (tmp_path / "stderr.txt").read_text()


def test_every_hostile_file_is_counted_by_name(run: Run, corpus: Corpus) -> None:
    assert run.returncode == 0, run.stderr[-5000:]
    ingest = stats(run, "ingest")
    per_input = {shown(Path(row["input"]).name): row for row in ingest["per_input"]}
    # Every input file was a task of its own, named in per_input: none was skipped or lost.
    assert set(per_input) == {shown(p.name) for p in corpus.root.iterdir()} == set(corpus.expect)

    table = read_table(list_shards(run.work / "ingest" / "rejected"))
    by_file: dict[str, Counter[str]] = defaultdict(Counter)
    details: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in table.select(["input_file", "reason", "reason_detail"]).to_pylist():
        name = Path(row["input_file"]).name
        by_file[name][row["reason"]] += 1
        details[name, row["reason"]].append(row["reason_detail"] or "")
    for name, want in sorted(corpus.expect.items()):
        got = per_input[name]
        if want.rejected is not None:
            assert dict(by_file[name]) == want.rejected, name
        assert got["docs_rejected"] == sum(by_file[name].values()), name
        if want.kept is not None:
            assert got["docs_kept"] == want.kept, name
        assert got["docs_kept"] >= want.min_kept, name
        for reason in want.detail_names_file:
            assert details[name, reason], (name, reason)
            assert all(name in d for d in details[name, reason]), (name, details[name, reason])
    for counter, count in corpus.counters.items():
        assert ingest["counters"].get(counter, 0) == count, counter
    # The bombs were read to their end (the sizes are in the detail), not given up on.
    assert details["bomb.jsonl.gz", "record_too_large"] == [f"JSON line of {BOMB_BYTES + 10} bytes"]
    [bomb] = details["bomb_record.warc.zst", "record_too_large"]
    assert str(WARC_BOMB_BYTES) in bomb


def test_text_with_nul_bytes_is_cleaned_by_the_filter(run: Run) -> None:
    assert run.returncode == 0, run.stderr[-5000:]
    ingested = read_table(list_shards(run.work / "ingest"))
    nul = pc.match_substring(ingested.column("text"), "\x00")
    assert pc.sum(nul).as_py() == 2  # the escaped-NUL JSON line and the WET record
    assert stats(run, "filter")["counters"]["normalized"] >= 2
    for stage in ("filter", "minhash", "substring", "topics"):
        kept = read_table(list_shards(run.work / stage))
        assert not pc.any(pc.match_substring(kept.column("text"), "\x00")).as_py(), stage


def test_accounting_holds_at_every_stage(run: Run) -> None:
    assert run.returncode == 0, run.stderr[-5000:]
    previous_kept = None
    for stage in STAGES:
        s = stats(run, stage)
        assert s["docs_in"] == s["docs_kept"] + s["docs_rejected"], stage
        assert s["docs_rejected"] == sum(s["rejected_by_reason"].values()), stage
        for row in s["per_input"]:
            assert row["docs_in"] == row["docs_kept"] + row["docs_rejected"], (stage, row)
        rejected = list_shards(run.work / stage / "rejected")
        assert (read_table(rejected).num_rows if rejected else 0) == s["docs_rejected"], stage
        if previous_kept is not None:
            assert s["docs_in"] == previous_kept, stage
        previous_kept = s["docs_kept"]


def test_the_corpus_is_small_on_disk_but_hostile(corpus: Corpus) -> None:
    """Guards the test itself: the bombs are small files, the giant line is really there."""
    sizes = {p.name: p.stat().st_size for p in corpus.root.iterdir()}
    assert sizes["bomb.jsonl.gz"] < 10 * 2**20
    assert sizes["bomb_record.warc.zst"] < 2**20
    assert sizes["giant_line.jsonl"] > GIANT_TEXT_BYTES
    assert sizes["empty.jsonl"] == sizes["empty.warc.gz"] == sizes["empty.parquet"] == 0
