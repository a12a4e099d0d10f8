"""Bad input never kills a run and is never silent: each case is a counted rejection with a
reason (or, for an unreadable file, one rejected row naming the file)."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import tracemalloc
import zlib
from collections import Counter
from pathlib import Path

import pytest
import zstandard

from stages.ingest.stage import IngestConfig, IngestStage

HTML = "<html><body><article><p>{}</p></article></body></html>"
SENTENCE = "The harbour lights came on one by one as the fishing boats returned home. "


def warc_record(payload: bytes, record_type: str = "response", extra: str = "") -> bytes:
    header = (
        f"WARC/1.1\r\nWARC-Type: {record_type}\r\n"
        f"WARC-Record-ID: <urn:uuid:{abs(hash(payload))}>\r\n"
        f"WARC-Date: 2024-05-01T00:00:00Z\r\nWARC-Target-URI: http://example.com/\r\n{extra}"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return header.encode() + payload + b"\r\n\r\n"


def http(
    body: bytes,
    content_type: str = "text/html; charset=utf-8",
    status: int = 200,
    headers: str = "",
) -> bytes:
    head = f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n{headers}\r\n"
    return head.encode("latin-1") + body


def page(text: str) -> bytes:
    return http(HTML.format(text).encode())


def gzip_members(records: list[bytes]) -> bytes:
    return b"".join(gzip.compress(r, mtime=0) for r in records)


def ingest(path: Path, **options: object) -> tuple[list[str], Counter[str], list[dict]]:
    texts: list[str] = []
    reasons: Counter[str] = Counter()
    rejected_rows: list[dict] = []
    for out in IngestStage(IngestConfig(**options)).read_file(str(path)):
        texts += out.kept.column("text").to_pylist()
        rows = out.rejected.to_pylist()
        reasons.update(row["reason"] for row in rows)
        rejected_rows += rows
    return texts, reasons, rejected_rows


def test_truncated_gzip_keeps_readable_records_and_reports_the_cut(tmp_path: Path) -> None:
    data = gzip_members([warc_record(page(SENTENCE * 20 + str(i))) for i in range(5)])
    path = tmp_path / "cut.warc.gz"
    path.write_bytes(data[: len(data) * 3 // 4])
    texts, reasons, rows = ingest(path)
    assert 2 <= len(texts) <= 4
    assert reasons == {"truncated_input": 1}
    assert "cut.warc.gz" in rows[0]["reason_detail"] and "offset" in rows[0]["reason_detail"]


def test_malformed_warc_header_is_rejected_and_reading_resumes(tmp_path: Path) -> None:
    bad = warc_record(page("lost")).replace(b"Content-Length: ", b"Content-Length: x")
    garbage = b"this is not a warc header\r\n\r\n"
    # Resynchronisation skips to the next `WARC/<digit>` line (1.0, 1.1 and the 0.17 of
    # 2008), so each damaged region is one rejection and every good record after it is read.
    records = [
        warc_record(page(SENTENCE + "one")),
        bad,
        warc_record(page(SENTENCE + "two")),
        garbage,
        warc_record(page(SENTENCE + "three")),
        bad,
        warc_record(page(SENTENCE + "four")).replace(b"WARC/1.1", b"WARC/0.17", 1),
    ]
    path = tmp_path / "bad.warc.gz"
    path.write_bytes(gzip_members(records))
    texts, reasons, rows = ingest(path)
    assert [t.split()[-1] for t in texts] == ["one", "two", "three", "four"]
    assert reasons == {"malformed_warc_record": 3}
    assert "Content-Length" in rows[0]["reason_detail"]


def test_binary_and_non_html_payloads_are_rejected(tmp_path: Path) -> None:
    binary = bytes(range(256)) * 20
    records = [
        warc_record(http(binary)),  # claims text/html
        warc_record(http(b"\x89PNG...", content_type="image/png")),
        warc_record(http(b"", status=301, headers="Location: /x\r\n")),
        warc_record(page(SENTENCE)),
    ]
    path = tmp_path / "mixed.warc"
    path.write_bytes(b"".join(records))
    texts, reasons, _ = ingest(path)
    assert len(texts) == 1
    assert reasons == {"binary_payload": 1, "non_html_content_type": 1, "http_status": 1}


def test_empty_and_giant_documents(tmp_path: Path) -> None:
    lines = [{"text": ""}, {"text": "  \n "}, {"text": SENTENCE * 200}, {"text": SENTENCE}]
    path = tmp_path / "sizes.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    texts, reasons, _ = ingest(path, max_text_bytes=10_000)
    assert texts == [SENTENCE]
    assert reasons == {"empty_document": 2, "document_too_large": 1}


def test_json_lines_that_are_not_documents(tmp_path: Path) -> None:
    path = tmp_path / "lines.jsonl"
    path.write_bytes(
        b'{"text": "fine one"}\n'
        b'{"text": "caf\xe9 latin-1"}\n'  # invalid UTF-8
        b'{"text": "unterminated\n'  # invalid JSON
        b'{"body": "no text field"}\n'
        b"[1, 2, 3]\n"
        b"\n"  # blank lines are not documents
        b'{"text": "fine two"}\n'
    )
    texts, reasons, rows = ingest(path)
    assert texts == ["fine one", "fine two"]
    assert reasons == {"invalid_utf8": 1, "invalid_json": 2, "missing_text_field": 1}
    assert rows[0]["text"].startswith('{"text": "caf')  # kept for audit, decoded leniently


def test_overlong_json_line_is_skipped_without_reading_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl.zst"
    raw = b'{"text": "' + b"a" * 5_000_000 + b'"}\n{"text": "after"}\n'
    path.write_bytes(zstandard.ZstdCompressor().compress(raw))
    texts, reasons, _ = ingest(path, max_record_bytes=100_000)
    assert texts == ["after"]
    assert reasons == {"record_too_large": 1}


def test_gzip_bomb_in_http_content_encoding_is_bounded(tmp_path: Path) -> None:
    bomb = zlib.compress(b" " * 200_000_000, 9)  # ~200 KB on disk, 200 MB expanded
    record = warc_record(http(bomb, headers="Content-Encoding: deflate\r\n"))
    path = tmp_path / "bomb.warc.gz"
    path.write_bytes(gzip_members([record, warc_record(page(SENTENCE))]))
    texts, reasons, _ = ingest(path, max_record_bytes=1_000_000)
    assert len(texts) == 1
    assert reasons == {"record_too_large": 1}


def test_oversized_warc_payload_is_skipped_in_bounded_chunks(tmp_path: Path) -> None:
    path = tmp_path / "big.warc.gz"
    big = warc_record(http(b"<p>" + b"x" * 3_000_000 + b"</p>"))
    path.write_bytes(gzip_members([big, warc_record(page(SENTENCE))]))
    texts, reasons, _ = ingest(path, max_record_bytes=1_000_000)
    assert len(texts) == 1 and reasons == {"record_too_large": 1}
    # a file cut inside the oversized record says so (the skip used to hide the cut)
    cut = tmp_path / "cut-big.warc"
    cut.write_bytes(warc_record(page(SENTENCE)) + big[:2_000_000])
    texts, reasons, rows = ingest(cut, max_record_bytes=1_000_000)
    assert len(texts) == 1 and reasons == {"malformed_warc_record": 1}
    assert "payload ends after" in rows[0]["reason_detail"]


def test_unreadable_files_become_one_named_rejection(tmp_path: Path) -> None:
    not_gzip = tmp_path / "broken.warc.gz"
    not_gzip.write_bytes(b"\x1f\x8b" + b"\x00garbage" * 10)
    unknown = tmp_path / "mystery.bin"
    unknown.write_bytes(b"\x00\x01\x02 no known format")
    for path in (not_gzip, unknown):
        texts, reasons, rows = ingest(path)
        assert texts == []
        assert sum(reasons.values()) == 1
        assert set(reasons) <= {"unreadable_file", "corrupt_input"}
        assert path.name in rows[0]["reason_detail"]


def test_http_bodies_are_decoded_like_a_browser(tmp_path: Path) -> None:
    chinese = "港口的灯一盏一盏亮了起来，渔船陆续回到了岸边。" * 5
    chunked_body = HTML.format(SENTENCE).encode()
    chunks = (
        b"".join(
            f"{len(part):x}\r\n".encode() + part + b"\r\n"
            for part in (chunked_body[:40], chunked_body[40:])
        )
        + b"0\r\n\r\n"
    )
    meta_gbk = f'<html><head><meta charset="gbk"></head><body><p>{chinese}</p></body></html>'
    records = [
        warc_record(http(chunks, headers="Transfer-Encoding: chunked\r\n")),
        warc_record(
            http(
                gzip.compress(HTML.format(SENTENCE).encode()), headers="Content-Encoding: gzip\r\n"
            )
        ),
        warc_record(http(meta_gbk.encode("gbk"), content_type="text/html")),
        warc_record(
            http(HTML.format(chinese).encode("gb18030"), content_type="text/html; charset=gb2312")
        ),
        # a charset no browser decodes with (utf-7 made lone surrogates the extractor refused)
        *(
            warc_record(http(HTML.format(chinese).encode(), content_type=f"text/html; charset={c}"))
            for c in ("utf-7", "unicode_escape", "raw_unicode_escape")
        ),
    ]
    path = tmp_path / "encodings.warc"
    path.write_bytes(b"".join(records))
    texts, reasons, _ = ingest(path)
    assert reasons == {}
    assert texts == [SENTENCE.strip(), SENTENCE.strip(), chinese, chinese, *[chinese] * 3]


def test_parquet_rows_are_documents(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "text": [SENTENCE, "", None, "第二篇文档的正文。"],
            "metadata": [{"url": f"http://example.com/{i}"} for i in range(4)],
            "score": [0.5, 0.1, 0.2, 0.9],
        }
    )
    path = tmp_path / "docs.parquet"
    pq.write_table(table, path)
    stage = IngestStage(IngestConfig())
    [out] = stage.read_file(str(path))
    kept = out.kept.to_pylist()
    assert [row["text"] for row in kept] == [SENTENCE, "第二篇文档的正文。"]
    assert [row["input_offset"] for row in kept] == [0, 3]
    assert kept[1]["url"] == "http://example.com/3"
    assert json.loads(kept[1]["meta"])["score"] == 0.9
    assert out.rejected.column("reason").to_pylist() == ["empty_document", "missing_text_field"]


def test_damaged_parquet_is_one_counted_rejection(tmp_path: Path) -> None:
    path = tmp_path / "cut.parquet"
    path.write_bytes(b"PAR1" + b"\x00" * 100)
    texts, reasons, rows = ingest(path)
    assert texts == [] and reasons == {"corrupt_input": 1}
    assert "cut.parquet" in rows[0]["reason_detail"]


def test_files_named_by_whole_files_are_one_document_each(tmp_path: Path) -> None:
    """Source files and plain text: the file is the document; a bad one is a counted rejection
    and the directory scan takes only the names the globs match (a README is not an input)."""
    code = Path(__file__).resolve().parents[1] / "data_samples/code/jinja2__visitor.py.txt"
    (tmp_path / "visitor.py").write_bytes(code.read_bytes())
    (tmp_path / "notes.txt.gz").write_bytes(gzip.compress("第二篇文档的正文。".encode()))
    (tmp_path / "empty.py").write_bytes(b"")
    (tmp_path / "latin1.py").write_bytes("# caf\xe9\n".encode("latin-1"))
    (tmp_path / "blob.py").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "big.txt").write_text("x" * 2_000)
    (tmp_path / "cut.py.gz").write_bytes(gzip.compress(b"print(1)\n" * 100)[:30])
    (tmp_path / "README.md").write_text("not an input")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "cached.py").write_text("a directory the scan skips")
    (tmp_path / ".hidden.py").write_text("a hidden file the scan skips")
    stage = IngestStage(IngestConfig(whole_files=("*.py", "*.txt"), max_record_bytes=1_500))
    files = stage.list_inputs([str(tmp_path)])
    assert sorted(Path(f).name for f in files) == sorted(
        ["visitor.py", "notes.txt.gz", "empty.py", "latin1.py", "blob.py", "big.txt", "cut.py.gz"]
    )
    (tmp_path / "__init__.py").write_text("from .visitor import NodeVisitor\n")
    assert "__init__.py" in {Path(f).name for f in stage.list_inputs([str(tmp_path)])}
    (tmp_path / "__init__.py").unlink()
    assert stage.list_inputs([str(tmp_path / "README.md")])  # named explicitly: still read
    with pytest.raises(FileNotFoundError, match="whole_files"):
        IngestStage(IngestConfig()).list_inputs([str(tmp_path)])

    results = {Path(f).name: ingest(Path(f), whole_files=("*.py", "*.txt")) for f in files}
    kept = {name: texts for name, (texts, _, _) in results.items() if texts}
    assert kept == {
        "visitor.py": [code.read_text(encoding="utf-8")],  # byte for byte, not stripped
        "notes.txt.gz": ["第二篇文档的正文。"],
        "big.txt": ["x" * 2_000],
    }
    reasons = {name: dict(r) for name, (_, r, _) in results.items() if r}
    assert reasons == {
        "empty.py": {"empty_document": 1},
        "latin1.py": {"invalid_utf8": 1},
        "blob.py": {"binary_payload": 1},
        "cut.py.gz": {"truncated_input": 1},
    }
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "visitor.py").write_text("x = 1\n")
    with pytest.raises(ValueError, match=r"repeated: \['visitor.py'\] .*as a tar archive"):
        stage.list_inputs([str(tmp_path)])
    assert IngestConfig(whole_files="*.py").whole_files == ("*.py",)  # YAML's one glob
    small = IngestStage(IngestConfig(whole_files=("*.txt",), max_record_bytes=1_500))
    [out] = small.read_file(str(tmp_path / "big.txt"))
    assert out.rejected.column("reason").to_pylist() == ["record_too_large"]


def _tar(members: dict[str, bytes]) -> bytes:
    """A tar archive (gzip) of these paths and contents; a path ending in / is a directory."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, body in members.items():
            info = tarfile.TarInfo(name.rstrip("/"))
            info.mtime = 0
            if name.endswith("/"):
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            else:
                info.size = len(body)
                archive.addfile(info, io.BytesIO(body))
    return out.getvalue()


def _plain_tar(members: dict[bytes, bytes]) -> bytes:
    """A GNU tar archive whose member names are raw bytes (not necessarily UTF-8)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name, body in members.items():
            info = tarfile.TarInfo(name.decode("utf-8", "surrogateescape"))
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    return out.getvalue()


def test_a_tar_archive_of_source_files_is_one_task_with_a_document_per_member(
    tmp_path: Path,
) -> None:
    """A source tree as it is shipped: repeated names (two __init__.py) are fine, since a
    member's id is seeded by its offset in the archive; members `whole_files` does not name
    are counted, bad ones rejected with a reason; a cut archive is a counted rejection."""
    code = Path(__file__).resolve().parents[1] / "data_samples/code/jinja2__visitor.py.txt"
    members = {
        "repo/": b"",
        "repo/a/__init__.py": b"from .core import run\n",
        "repo/b/__init__.py": b"VERSION = '1.0'\n",
        "repo/b/visitor.py": code.read_bytes(),
        "repo/README.md": b"# not named by whole_files\n",
        "repo/b/latin1.py": "# caf\xe9\n".encode("latin-1"),
        "repo/b/blob.py": bytes(range(256)) * 4,
        "repo/b/big.py": b"x = 1\n" * 500,
    }
    (tmp_path / "repo.tar.gz").write_bytes(_tar(members))
    # cut where the third member's header starts: tar itself reads that as a clean end
    raw = gzip.decompress(_tar(members))
    with tarfile.open(fileobj=io.BytesIO(raw)) as archive:
        third = archive.getmembers()[2].offset
    (tmp_path / "cut.tar").write_bytes(raw[:third])
    config = IngestConfig(whole_files=("*.py",), max_record_bytes=2_000)
    stage = IngestStage(config)
    assert sorted(Path(f).name for f in stage.list_inputs([str(tmp_path)])) == [
        "cut.tar",
        "repo.tar.gz",
    ]
    with pytest.raises(FileNotFoundError):  # without whole_files an archive is no input
        IngestStage(IngestConfig()).list_inputs([str(tmp_path)])

    [out] = stage.read_file(str(tmp_path / "repo.tar.gz"))
    kept = out.kept.to_pylist()
    paths = [json.loads(row["meta"])["path"] for row in kept]
    assert paths == ["repo/a/__init__.py", "repo/b/__init__.py"]  # visitor.py is over 2,000
    assert [row["text"] for row in kept] == ["from .core import run\n", "VERSION = '1.0'\n"]
    assert len({row["id"] for row in kept}) == 2
    reasons = {json.loads(r["meta"])["path"]: r["reason"] for r in out.rejected.to_pylist()}
    assert reasons == {
        "repo/b/visitor.py": "record_too_large",
        "repo/b/latin1.py": "invalid_utf8",
        "repo/b/blob.py": "binary_payload",
        "repo/b/big.py": "record_too_large",
    }
    assert out.counters == {"skipped_archive_member": 2}  # the directory and README.md

    texts, cut_reasons, rows = ingest(tmp_path / "cut.tar", whole_files=("*.py",))
    assert texts == ["from .core import run\n"] and cut_reasons == {"truncated_input": 1}
    assert "the archive stops at byte 1,536, without its end blocks" in rows[0]["reason_detail"]
    # a damaged header in the middle: tarfile ends there too; the members after it are named
    damaged = bytearray(raw)
    damaged[third : third + 100] = b"\xff" * 100
    (tmp_path / "damaged.tar").write_bytes(bytes(damaged))
    texts, reasons, rows = ingest(tmp_path / "damaged.tar", whole_files=("*.py",))
    assert texts == ["from .core import run\n"] and reasons == {"corrupt_input": 1}
    assert "the members after it are lost" in rows[0]["reason_detail"]
    # a member name that is not UTF-8 is kept, shown with U+FFFD
    (tmp_path / "names.tar").write_bytes(_plain_tar({b"caf\xe9.py": b"x = 1\n"}))
    [out] = stage.read_file(str(tmp_path / "names.tar"))
    assert json.loads(out.kept.to_pylist()[0]["meta"])["path"] == "caf\ufffd.py"


@pytest.mark.parametrize("kind", [tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME])
def test_a_huge_extended_tar_header_is_refused_before_it_is_read(
    tmp_path: Path, kind: bytes
) -> None:
    """tarfile reads a PAX or GNU long-name header's data whole: one declaring 64 MiB (zeros,
    64 KiB gzipped) is a corrupt_input rejection, not 64 MiB of memory."""
    size = 64 << 20
    header = tarfile.TarInfo("././@LongLink" if kind == tarfile.GNUTYPE_LONGNAME else "pax")
    header.type, header.size = kind, size
    raw = (
        header.tobuf(format=tarfile.GNU_FORMAT)
        + bytes(size)
        + gzip.decompress(_tar({"repo/after.py": b"x = 1\n"}))
    )
    (tmp_path / "huge.tar.gz").write_bytes(gzip.compress(raw, compresslevel=1, mtime=0))
    tracemalloc.start()
    try:
        texts, reasons, rows = ingest(tmp_path / "huge.tar.gz", whole_files=("*.py",))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert texts == [] and reasons == {"corrupt_input": 1}
    assert "the extended header at byte 0 declares 67,108,864 bytes" in rows[0]["reason_detail"]
    assert peak < 16 << 20


def test_hostile_numbers_in_warc_and_http_headers_reject_one_record(tmp_path: Path) -> None:
    """Digits int() refuses (over 4,300) and chunk sizes that are not plain hex (a negative
    one used to step back forever, growing the body until memory ran out)."""
    body = HTML.format(SENTENCE * 50).encode()
    chunked = "Transfer-Encoding: chunked\r\n"
    bad = [
        warc_record(b"x").replace(b"Content-Length: 1", b"Content-Length: " + b"9" * 5000),
        warc_record(page(SENTENCE).replace(b"200", b"2" * 5000, 1)),
        warc_record(http(b"-6\r\n" + body + b"\r\n0\r\n\r\n", headers=chunked)),
        warc_record(http(b"zz\r\n" + body + b"\r\n0\r\n\r\n", headers=chunked)),
    ]
    path = tmp_path / "numbers.warc"
    path.write_bytes(b"".join([warc_record(page(SENTENCE)), *bad, warc_record(page(SENTENCE))]))
    texts, reasons, rows = ingest(path)
    assert len(texts) == 2
    assert reasons == {
        "malformed_warc_record": 1,
        "malformed_http": 1,
        "corrupt_transfer_encoding": 2,
    }
    assert "bad chunk size line b'-6'" in rows[2]["reason_detail"]


def test_a_cut_compressed_or_chunked_body_is_kept_marked_and_counted(tmp_path: Path) -> None:
    """A page whose gzip stream or chunk stream stops early keeps what arrived, marked
    `truncated_body` in its meta and counted: never a silently partial page."""
    html = HTML.format(SENTENCE * 200).encode()
    gz = gzip.compress(html, mtime=0)
    cut_gzip = http(gz[: len(gz) // 2], headers="Content-Encoding: gzip\r\n")
    cut_chunks = http(b"%x\r\n" % len(html) + html[:5000], headers="Transfer-Encoding: chunked\r\n")
    whole = http(
        b"%x\r\n" % len(html) + html + b"\r\n0\r\n\r\n", headers="Transfer-Encoding: chunked\r\n"
    )
    path = tmp_path / "cut-bodies.warc"
    path.write_bytes(b"".join(warc_record(p) for p in (cut_gzip, cut_chunks, whole)))
    [out] = IngestStage(IngestConfig()).read_file(str(path))
    metas = [json.loads(m) for m in out.kept.column("meta").to_pylist()]
    assert [m.get("truncated_body", False) for m in metas] == [True, True, False]
    assert out.counters["truncated_body"] == 2


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("empty.jsonl", b""),
        ("blank.jsonl", b"\n  \n\r\n"),
        ("blank.warc", b"\r\n\r\n"),
        ("blank.jsonl.gz", gzip.compress(b"\n\n", mtime=0)),
    ],
)
def test_a_file_with_no_record_is_counted_as_empty(tmp_path: Path, name: str, data: bytes) -> None:
    (tmp_path / name).write_bytes(data)
    counters = Counter()
    for out in IngestStage(IngestConfig()).read_file(str(tmp_path / name)):
        counters.update(out.counters)
    assert counters == {"empty_file": 1}


def test_a_cut_or_damaged_zstd_file_keeps_what_came_before_and_says_why(tmp_path: Path) -> None:
    """zstandard's stream reader read a frame cut short as a clean end: the records after
    the cut were lost without a word, and a damaged frame in the first MiB lost the file."""

    def lines(first: int, last: int) -> bytes:
        return b"".join(
            json.dumps({"text": f"{SENTENCE} number {i}"}).encode() + b"\n"
            for i in range(first, last)
        )

    one, two = (zstandard.ZstdCompressor().compress(lines(a, a + 50)) for a in (0, 50))
    cases = {
        "cut.jsonl.zst": (one + two[: len(two) // 2], 50, "truncated_input"),
        # nothing decompresses before the cut: the file is named, with why
        "tail.jsonl.zst": (one[:-5], 0, "unreadable_file"),
        "bad.jsonl.zst": (one + two[:20] + b"\xff" * 20 + two[40:], 50, "corrupt_input"),
    }
    for name, (data, kept, reason) in cases.items():
        (tmp_path / name).write_bytes(data)
        texts, reasons, rows = ingest(tmp_path / name)
        assert (len(texts), reasons) == (kept, {reason: 1}), name
        if reason != "corrupt_input":
            assert "ended inside a zstd frame" in rows[0]["reason_detail"]


def test_parquet_values_python_cannot_hold_cost_one_row_or_one_field(tmp_path: Path) -> None:
    """Invalid UTF-8 (pyarrow does not check it on read), a timestamp past year 9999 and a
    time zone no database knows used to fail the whole file: now the row with an unreadable
    text is rejected, an unreadable other field is left out and named."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = [SENTENCE + "one", SENTENCE + "two", SENTENCE + "three"]
    raw = pa.array([b"ok", b"caf\xe9", b"ok"]).view(pa.string())
    tables = {
        "text.parquet": pa.table({"text": raw}),
        "src.parquet": pa.table({"text": texts, "src": raw}),
        "seen.parquet": pa.table(
            {"text": texts, "seen": pa.array([0, 10**17, 0], pa.timestamp("ms"))}
        ),
        "zone.parquet": pa.table(
            {"text": texts, "at": pa.array([0, 1, 2], pa.timestamp("us", tz="Not/AZone"))}
        ),
    }
    for name, table in tables.items():
        pq.write_table(table, tmp_path / name)
    texts_read, reasons, rows = ingest(tmp_path / "text.parquet")
    assert texts_read == ["ok", "ok"] and reasons == {"invalid_utf8": 1}
    assert "column text: UnicodeDecodeError" in rows[0]["reason_detail"]
    for name, column in (("src.parquet", "src"), ("seen.parquet", "seen")):
        [out] = IngestStage(IngestConfig()).read_file(str(tmp_path / name))
        assert out.kept.column("text").to_pylist() == texts, name
        metas = [json.loads(m or "{}") for m in out.kept.column("meta").to_pylist()]
        assert [m.get("unreadable_fields") for m in metas] == [None, [column], None], name
    texts_read, reasons, _ = ingest(tmp_path / "zone.parquet")
    assert texts_read == texts and not reasons


def test_an_arc_file_is_named_as_one_not_read_as_a_broken_warc(tmp_path: Path) -> None:
    header = b"filedesc://crawl.arc 0.0.0.0 20050614070159 text/plain 76\n1 0 Internet Archive\n"
    (tmp_path / "old.arc.gz").write_bytes(gzip.compress(header + b"URL IP-address Archive-date\n"))
    texts, reasons, rows = ingest(tmp_path / "old.arc.gz")
    assert texts == [] and reasons == {"unreadable_file": 1}
    assert "an ARC file" in rows[0]["reason_detail"]
