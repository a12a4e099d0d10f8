"""tests/fixtures/: the generated fixtures are reproducible, readable and counted correctly,
and the broken ones are broken the intended way."""

import base64
import gzip
import hashlib
import importlib.util
import io
import json
import re
import subprocess
import sys
import zlib
from collections import Counter
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import zstandard
from warcio.archiveiterator import ArchiveIterator

FIXTURES = Path(__file__).resolve().parent / "fixtures"
GENERATED = FIXTURES / "generated"
MiB = 1 << 20
GB_CHARSET = re.compile(rb'charset="?(gbk|gb2312)', re.IGNORECASE)


def _load_generator() -> str:
    """Import tests/fixtures/generator/ as package fixtures_generator (tests/fixtures/ holds a
    script and its package, and is not on sys.path); its name."""
    package = FIXTURES / "generator"
    spec = importlib.util.spec_from_file_location(
        "fixtures_generator", package / "__init__.py", submodule_search_locations=[str(package)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return spec.name


SITES = importlib.import_module(f"{_load_generator()}.sites").SITES


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return json.loads((GENERATED / "MANIFEST.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def files(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return manifest["files"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): _sha256(p) for p in root.rglob("*") if p.is_file()}


def _members(data: bytes) -> list[bytes]:
    """Decompressed gzip members; raises like gzip does if the last one is cut short."""
    out = []
    while data:
        inflater = zlib.decompressobj(31)
        out.append(inflater.decompress(data))
        if not inflater.eof:
            raise EOFError("gzip member is truncated")
        data = inflater.unused_data
    return out


def _raw_members(data: bytes) -> list[bytes]:
    """The compressed gzip members, found by streaming through each (bounded memory)."""
    out = []
    while data:
        inflater = zlib.decompressobj(31)
        inflater.decompress(data, MiB)
        while not inflater.eof:
            inflater.decompress(inflater.unconsumed_tail, MiB)
        out.append(data[: len(data) - len(inflater.unused_data)])
        data = inflater.unused_data
    return out


def _inflated_size(data: bytes, wbits: int = 31) -> tuple[int, bytes]:
    """Size of the first gzip member's output (streamed) and its first 4 KiB."""
    inflater = zlib.decompressobj(wbits)
    head = inflater.decompress(data, 4096)
    total = len(head)
    while not inflater.eof:
        total += len(inflater.decompress(inflater.unconsumed_tail, MiB))
    return total, head


def _records(path: Path, **kwargs: Any) -> Iterator[Any]:
    with path.open("rb") as fh:
        yield from ArchiveIterator(fh, **kwargs)


def _responses(name: str) -> dict[str, tuple[Any, bytes]]:
    """url -> (record, decoded body) for every response record."""
    out = {}
    for record in _records(GENERATED / name):
        if record.rec_type == "response":
            url = record.rec_headers.get_header("WARC-Target-URI")
            out[url] = (record, record.content_stream().read())
    return out


def _lines(name: str) -> list[bytes]:
    data = (GENERATED / name).read_bytes()
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    elif name.endswith(".zst"):
        data = zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return [line for line in data.splitlines() if line.strip()]


# --- (a) reproducibility and manifest ---------------------------------------------------------


def test_generator_output_is_byte_identical_to_committed(tmp_path: Path) -> None:
    script = FIXTURES / "generate.py"
    subprocess.run([sys.executable, str(script), "--output", str(tmp_path)], check=True)
    assert _tree(tmp_path) == _tree(GENERATED)


def test_manifest_lists_every_file_with_its_hash(files: dict[str, dict[str, Any]]) -> None:
    on_disk = _tree(GENERATED)
    on_disk.pop("MANIFEST.json")
    assert {name: entry["sha256"] for name, entry in files.items()} == on_disk
    for name, entry in files.items():
        assert (GENERATED / name).stat().st_size == entry["bytes"]
        assert 0 <= entry["text_documents"] <= entry["documents"]


def test_fixtures_are_small(files: dict[str, dict[str, Any]]) -> None:
    assert sum(entry["bytes"] for entry in files.values()) < 1_500_000


# --- (b) well-formed fixtures -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["cc_pages.warc.gz", "cc_pages.warc.wet.gz", "bad/binary_payload.warc.gz"]
)
def test_warcio_counts_match_manifest(name: str, files: dict[str, dict[str, Any]]) -> None:
    counts = Counter(r.rec_type for r in _records(GENERATED / name, check_digests="raise"))
    assert dict(counts) == files[name]["records"]
    documents = sum(counts[t] for t in ("response", "resource", "conversion"))
    assert documents == files[name]["documents"]


@pytest.mark.parametrize("name", ["cc_pages.warc.gz", "cc_pages.warc.wet.gz"])
def test_fastwarc_counts_match_manifest(name: str, files: dict[str, dict[str, Any]]) -> None:
    warc = pytest.importorskip("fastwarc.warc")
    counts: Counter[str] = Counter()
    with (GENERATED / name).open("rb") as fh:
        for record in warc.ArchiveIterator(
            fh, record_types=warc.WarcRecordType.any_type, parse_http=False
        ):
            counts[record.headers["WARC-Type"]] += 1
            assert record.verify_block_digest()
    assert dict(counts) == files[name]["records"]


def test_every_warc_record_is_its_own_gzip_member(files: dict[str, dict[str, Any]]) -> None:
    for name in ("cc_pages.warc.gz", "cc_pages.warc.wet.gz"):
        members = _members((GENERATED / name).read_bytes())
        assert len(members) == sum(files[name]["records"].values())
        assert all(m.startswith(b"WARC/1.1\r\n") and m.endswith(b"\r\n\r\n") for m in members)


def test_jsonl_counts_match_manifest(files: dict[str, dict[str, Any]]) -> None:
    for name in ("docs.jsonl", "docs_dolma.jsonl.gz", "docs_ccnet.jsonl.zst"):
        lines = _lines(name)
        assert len(lines) == files[name]["documents"] == files[name]["text_documents"]
        assert all(json.loads(line) for line in lines)


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = 0
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.hidden += tag in ("script", "style", "title")

    def handle_endtag(self, tag: str) -> None:
        self.hidden -= tag in ("script", "style", "title")

    def handle_data(self, data: str) -> None:
        if not self.hidden and data.strip():
            self.text.append(data.strip())


def _content_type(record: Any) -> str:
    return record.http_headers.get_header("Content-Type") or ""


def test_cc_pages_chinese_legacy_encodings() -> None:
    pages = [
        (r, body) for r, body in _responses("cc_pages.warc.gz").values() if GB_CHARSET.search(body)
    ]
    assert len(pages) >= 3
    meta_only = [r for r, _ in pages if "charset" not in _content_type(r)]
    assert len(meta_only) == 1
    for _, body in pages:
        match = GB_CHARSET.search(body)
        assert match is not None
        codec = match.group(1).decode().lower()
        with pytest.raises(UnicodeDecodeError):
            body.decode("utf-8")
        assert "。" in body.decode(codec)


def test_cc_pages_transfer_edge_cases() -> None:
    responses = _responses("cc_pages.warc.gz")
    by_header = {
        name: [(r, b) for r, b in responses.values() if r.http_headers.get_header(name)]
        for name in ("Transfer-Encoding", "Content-Encoding")
    }
    # warcio undoes chunking and gzip: the decoded bodies are plain HTML.
    assert [b[:15] for _, b in by_header["Transfer-Encoding"]] == [b"<!DOCTYPE html>"]
    assert [b[:15] for _, b in by_header["Content-Encoding"]] == [b"<!DOCTYPE html>"]
    statuses = Counter(r.http_headers.get_statuscode() for r, _ in responses.values())
    assert statuses["301"] == 1
    redirect = next(b for r, b in responses.values() if r.http_headers.get_statuscode() == "301")
    assert redirect == b""
    types = Counter(_content_type(r).split(";")[0] for r, _ in responses.values())
    assert types["image/png"] == 1 and types["application/pdf"] == 1
    png = next(b for r, b in responses.values() if _content_type(r) == "image/png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_cc_pages_raw_chunked_body_is_really_chunked() -> None:
    members = _members((GENERATED / "cc_pages.warc.gz").read_bytes())
    chunked = [m for m in members if b"\r\nTransfer-Encoding: chunked\r\n" in m]
    assert len(chunked) == 1
    body = chunked[0].split(b"\r\n\r\n", 2)[2]
    assert body.startswith(b"2bc\r\n<!DOCTYPE html>") and body.endswith(b"\r\n0\r\n\r\n\r\n\r\n")


def test_cc_pages_has_one_page_without_visible_text() -> None:
    empty = []
    for record, body in _responses("cc_pages.warc.gz").values():
        if "text/html" in _content_type(record) and body:
            parser = _VisibleText()
            parser.feed(body.decode("utf-8", "replace"))
            empty += [] if parser.text else [body]
    assert len(empty) == 1
    assert b"<script" in empty[0]


def test_cc_pages_metadata_refers_to_a_response() -> None:
    ids = set()
    refers = []
    for record in _records(GENERATED / "cc_pages.warc.gz"):
        if record.rec_type == "response":
            ids.add(record.rec_headers.get_header("WARC-Record-ID"))
        if record.rec_type == "metadata":
            refers.append(record.rec_headers.get_header("WARC-Refers-To"))
    assert len(refers) == 1 and refers[0] in ids


def test_repeated_boilerplate_spans_many_pages() -> None:
    harbor, qingshan = SITES["harbor"], SITES["qingshan"]
    assert len(harbor.boilerplate) == 2 and len(qingshan.boilerplate) == 1
    assert all(len(notice.split()) >= 60 for notice in harbor.boilerplate)
    bodies = [b for _, b in _responses("cc_pages.warc.gz").values()]
    for notice in (*harbor.boilerplate, *qingshan.boilerplate):
        assert sum(notice.encode() in b for b in bodies) >= 10


def test_labels_cover_every_document(files: dict[str, dict[str, Any]]) -> None:
    labels = [json.loads(line) for line in _lines("_labels.jsonl")]
    per_file = Counter(label["file"] for label in labels)
    assert all(per_file[name] == files[name]["documents"] for name in per_file)
    kinds = Counter(label["kind"] for label in labels if label["file"] == "cc_pages.warc.gz")
    for kind in ("article", "near_dup", "exact_dup", "ad_listing", "ad_spam", "seo_spam"):
        assert kinds[kind] >= 1, kind
    assert kinds["gambling_spam"] >= 2 and kinds["navigation"] >= 3
    urls = {label["url"] for label in labels if label["file"] == "cc_pages.warc.gz"}
    assert urls == set(_responses("cc_pages.warc.gz"))
    dups = [label for label in labels if label["file"] == "cc_pages.warc.gz" and label["dup_of"]]
    assert dups and all(label["dup_of"] in urls for label in dups)


def test_wet_records() -> None:
    texts, langs = [], Counter()
    for record in _records(GENERATED / "cc_pages.warc.wet.gz"):
        if record.rec_type != "conversion":
            continue
        assert record.rec_headers.get_header("Content-Type") == "text/plain"
        assert record.rec_headers.get_header("WARC-Refers-To").startswith("<urn:uuid:")
        assert record.rec_headers.get_header("WARC-Target-URI").startswith("https://")
        langs[record.rec_headers.get_header("WARC-Identified-Content-Language")] += 1
        texts.append(record.content_stream().read().decode("utf-8"))
    assert len(texts) == 40 and texts.count("") == 1
    assert langs["eng"] >= 15 and langs["zho"] >= 15


def test_docs_jsonl_has_duplicates_and_both_languages() -> None:
    lines = _lines("docs.jsonl")
    assert all(list(json.loads(line)) == ["text"] for line in lines)
    assert sum(n - 1 for n in Counter(lines).values()) >= 3
    texts = [json.loads(line)["text"] for line in lines]
    assert sum(any("\u4e00" <= c <= "\u9fff" for c in t) for t in texts) >= 20


def test_dolma_layout() -> None:
    for line in _lines("docs_dolma.jsonl.gz"):
        doc = json.loads(line)
        assert set(doc) == {"id", "text", "source", "added", "created", "metadata"}
        assert doc["metadata"]["url"].startswith("https://")
        assert doc["metadata"]["warc_url"].endswith(".warc.gz")


def test_ccnet_layout() -> None:
    fields = {"url", "date_download", "digest", "raw_content", "title", "language"}
    fields |= {"language_score", "perplexity", "bucket", "nlines", "length", "source_domain"}
    for line in _lines("docs_ccnet.jsonl.zst"):
        doc = json.loads(line)
        assert set(doc) == fields
        raw = doc["raw_content"]
        sha1 = hashlib.sha1(raw.encode(), usedforsecurity=False)
        digest = base64.b32encode(sha1.digest()).decode()
        assert doc["digest"] == f"sha1:{digest}"
        assert doc["nlines"] == raw.count("\n") + 1 and doc["length"] == len(raw)
        assert doc["bucket"] in ("head", "middle", "tail")


# --- (b) deliberately broken fixtures ---------------------------------------------------------


def test_truncated_warc(files: dict[str, dict[str, Any]]) -> None:
    data = (GENERATED / "bad/truncated.warc.gz").read_bytes()
    with pytest.raises(EOFError):
        gzip.decompress(data)
    with pytest.raises(EOFError):
        _members(data)
    intact = []
    try:
        for record in _records(GENERATED / "bad/truncated.warc.gz", no_record_parse=True):
            payload = record.raw_stream.read()
            if record.rec_type == "response" and len(payload) == record.length:
                intact.append(payload)
    except Exception:  # noqa: S110 any reader error after the intact records is acceptable
        pass
    assert len(intact) == files["bad/truncated.warc.gz"]["text_documents"] == 3


def test_malformed_header_warc() -> None:
    data = (GENERATED / "bad/malformed_header.warc.gz").read_bytes()
    members = _members(data)
    assert len(members) == 5
    heads = [m.split(b"\r\n\r\n", 1)[0].split(b"\r\n") for m in members]
    assert b"this line is not a header at all" in heads[2]
    assert b"Content-Length: twelve hundred" in heads[3]
    for good in (members[1], members[4]):  # each good member is a complete record on its own
        records = list(ArchiveIterator(io.BytesIO(gzip.compress(good))))
        assert [r.rec_type for r in records] == ["response"]


def test_binary_payload_warc() -> None:
    responses = list(_responses("bad/binary_payload.warc.gz").values())
    record, body = responses[-1]
    assert _content_type(record).startswith("text/html")
    assert b"\x00" in body and len(body) >= 1000
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")


def test_invalid_utf8_jsonl(files: dict[str, dict[str, Any]]) -> None:
    lines = (GENERATED / "bad/invalid_utf8.jsonl").read_bytes().splitlines()
    good = 0
    problems = []
    for line in lines:
        try:
            doc = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            problems.append("utf8")
            continue
        except json.JSONDecodeError:
            problems.append("json")
            continue
        if "text" not in doc:
            problems.append("no_text")
        elif not doc["text"]:
            problems.append("empty")
        else:
            good += 1
    assert problems == ["utf8", "json", "empty", "no_text"]
    assert good == files["bad/invalid_utf8.jsonl"]["text_documents"] == 4


def test_giant_doc(files: dict[str, dict[str, Any]]) -> None:
    assert files["bad/giant_doc.jsonl.gz"]["bytes"] < 64_000
    docs = [json.loads(line) for line in _lines("bad/giant_doc.jsonl.gz")]
    sizes = [len(doc["text"].encode()) for doc in docs]
    assert len(docs) == 3 and sizes[1] > 2_900_000 and max(sizes[0], sizes[2]) < 10_000


def test_not_gzip() -> None:
    with pytest.raises(gzip.BadGzipFile), gzip.open(GENERATED / "bad/not_gzip.jsonl.gz") as fh:
        fh.read()


def test_gzip_bomb_is_small_on_disk_and_huge_inflated(files: dict[str, dict[str, Any]]) -> None:
    data = (GENERATED / "bad/gzip_bomb.warc.gz").read_bytes()
    assert len(data) < 300_000
    members = _raw_members(data)
    assert len(members) == 1 + files["bad/gzip_bomb.warc.gz"]["documents"]
    # Response 1 declares a ~200 MiB payload, and really inflates to it.
    size, head = _inflated_size(members[1])
    declared = int(head.split(b"\r\nContent-Length: ")[1].split(b"\r\n")[0])
    assert declared >= 200 * 10**6 and size > declared
    # Response 2 is small in the WARC, but its gzip Content-Encoding body is a bomb.
    record = gzip.decompress(members[2])
    assert b"\r\nContent-Encoding: gzip\r\n" in record and len(record) < MiB
    body = record.split(b"\r\n\r\n", 2)[2]
    assert _inflated_size(body)[0] >= 200 * 10**6
    # Response 3 is an ordinary page.
    assert b"<!DOCTYPE html>" in gzip.decompress(members[3])
