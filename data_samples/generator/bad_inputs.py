"""The deliberately broken fixtures under ``bad/``: each breaks one thing, the way real inputs
do, with good records around it where that matters (the note of each says which)."""

import random
from collections.abc import Iterator

from .constants import SEED
from .corpus import Corpus
from .fixture import Fixture, jsonl
from .payloads import http_message, http_ok
from .sites import SITES, html_page
from .texts import ARTICLES, TOPICS
from .warc import WarcWriter, gzip_bytes, gzip_member, iso, warc_date, warc_head

BOMB_BYTES = 200 * 1024 * 1024
RESPONSE = "application/http; msgtype=response"


def _small_warc(name: str, seed: int, docs: int) -> WarcWriter:
    """A warcinfo record and `docs` well-formed responses (en and zh articles alternating)."""
    corpus = Corpus(seed)
    writer = WarcWriter(name, seed)
    writer.warcinfo(f"Deliberately broken fixture {name}.")
    for i in range(docs):
        doc = corpus.article("en" if i % 2 == 0 else "zh")
        site = SITES["field" if doc.lang == "en" else "xiaolu"]
        page = html_page(f"https://{site.domain}/{name.split('.')[0]}/{i}.html", doc, site)
        writer.add("response", page.http, RESPONSE, uri=page.url)
    return writer


def build_truncated() -> Fixture:
    writer = _small_warc("truncated.warc.gz", SEED + 10, 4)
    last = writer.members[-1]
    data = b"".join(writer.members[:-1]) + last[: len(last) // 2]
    note = "The last gzip member (4th response) is cut in half; the first 3 responses are intact."
    return Fixture("bad/truncated.warc.gz", data, "warc", 4, 3, note, dict(writer.counts))


def malformed_record(writer: WarcWriter, garbage: str, length: str | None) -> None:
    """A response with a header line that has no colon, or a non-numeric Content-Length."""
    body = http_ok(b"<html><body><p>malformed record body</p></body></html>", "text/html")
    length = length or str(len(body))
    lines = [
        "WARC/1.1",
        "WARC-Type: response",
        f"WARC-Record-ID: {writer.new_id()}",
        "WARC-Date: 2024-05-20T00:00:00Z",
        "WARC-Target-URI: https://bad.example.com/x",
        *([garbage] if garbage else []),
        f"Content-Type: {RESPONSE}",
        f"Content-Length: {length}",
    ]
    writer.add_raw(("\r\n".join(lines) + "\r\n\r\n").encode() + body + b"\r\n\r\n", "response")


def build_malformed() -> Fixture:
    writer = _small_warc("malformed_header.warc.gz", SEED + 11, 1)
    malformed_record(writer, "this line is not a header at all", None)
    malformed_record(writer, "", "twelve hundred")
    good = _small_warc("malformed_header.warc.gz", SEED + 12, 2).members[-1]  # a zh page
    writer.add_member(good, "response")
    note = (
        "Records 2 and 3 are malformed (a header line without a colon; Content-Length "
        "'twelve hundred'); records 1 and 4 are good. Each record is its own gzip member."
    )
    return Fixture(
        "bad/malformed_header.warc.gz", writer.getvalue(), "warc", 4, 2, note, dict(writer.counts)
    )


def build_binary() -> Fixture:
    rng = random.Random(SEED + 13)  # noqa: S311 seeded on purpose: reproducible bytes
    writer = _small_warc("binary_payload.warc.gz", SEED + 13, 1)
    blob = bytearray(rng.randbytes(3000))
    blob[::37] = bytes(len(blob[::37]))  # plenty of NUL bytes
    http = http_ok(bytes(blob), "text/html; charset=utf-8")
    writer.add("response", http, RESPONSE, uri="https://files.example.net/download/page.html")
    note = "Second response claims text/html but its body is random binary with NUL bytes."
    return Fixture(
        "bad/binary_payload.warc.gz", writer.getvalue(), "warc", 2, 1, note, dict(writer.counts)
    )


def build_invalid_utf8() -> Fixture:
    corpus = Corpus(SEED + 14)
    good = [jsonl([{"text": corpus.article(lang).text}]) for lang in ("en", "zh", "en", "zh")]
    lines = [
        good[0],
        good[1],
        b'{"text": "caf\xe9 au lait, cr\xe8me br\xfbl\xe9e \xff\xfe broken bytes"}\n',
        b'{"text": "this line is not valid JSON because it never ends\n',
        b'{"text": ""}\n',
        b'{"id": "no-text-field", "body": "the text lives under the wrong key"}\n',
        good[2],
        good[3],
    ]
    note = (
        "Lines 3-6 (1-based): invalid UTF-8, invalid JSON, empty text, no text field; "
        "lines 1, 2, 7, 8 are good."
    )
    return Fixture("bad/invalid_utf8.jsonl", b"".join(lines), "jsonl", 8, 4, note)


def build_giant() -> Fixture:
    corpus = Corpus(SEED + 15)
    sentences = ARTICLES["en"].sentences
    cycle = " ".join(s for topic in TOPICS for s in sentences[topic][:3]) + " "
    giant = cycle * (3_000_000 // len(cycle) + 1)
    rows = [
        {"text": corpus.article("en").text},
        {"text": giant},
        {"text": corpus.article("zh").text},
    ]
    note = f"Line 2 is one {len(giant.encode()):,} byte document of repeated sentences."
    return Fixture("bad/giant_doc.jsonl.gz", gzip_bytes(jsonl(rows)), "jsonl", 3, 3, note)


def build_not_gzip() -> Fixture:
    data = b'this file is named .jsonl.gz but it is plain text, not gzip\n{"text": "x"}\n'
    note = "Plain text with a .gz name: opening it as gzip must fail cleanly."
    return Fixture("bad/not_gzip.jsonl.gz", data, "jsonl", 0, 0, note)


def spaces(total: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    """`total` spaces in 1 MiB pieces, so a bomb is compressed without holding it in memory."""
    block = b" " * chunk
    for start in range(0, total, chunk):
        yield block[: min(chunk, total - start)]


def bomb_member(writer: WarcWriter, url: str) -> bytes:
    """A response whose WARC Content-Length is ~200 MiB of spaces; on disk ~200 KB."""
    head = http_message(
        "200 OK",
        [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(BOMB_BYTES))],
        b"",
        length=False,
    )
    pairs = [
        ("WARC-Type", "response"),
        ("WARC-Record-ID", writer.new_id()),
        ("WARC-Date", iso(warc_date(1))),
        ("WARC-Target-URI", url),
        ("Content-Type", RESPONSE),
        ("Content-Length", str(len(head) + BOMB_BYTES)),
    ]
    return gzip_member([warc_head(pairs) + head, *spaces(BOMB_BYTES), b"\r\n\r\n"])


def build_bomb() -> Fixture:
    writer = WarcWriter("gzip_bomb.warc.gz", SEED + 16)
    writer.warcinfo("Deliberately hostile fixture: decompression bombs.")
    writer.add_member(bomb_member(writer, "https://bomb.example.com/huge.html"), "response")
    inner = gzip_member(spaces(BOMB_BYTES))
    http = http_ok(inner, "text/html; charset=utf-8", ("Content-Encoding", "gzip"))
    writer.add("response", http, RESPONSE, uri="https://bomb.example.com/encoded.html")
    writer.add_member(_small_warc("gzip_bomb.warc.gz", SEED + 17, 1).members[-1], "response")
    note = (
        f"Response 1 declares a {BOMB_BYTES:,} byte payload (spaces) in one gzip member; "
        f"response 2 has a small gzip Content-Encoding body that inflates to {BOMB_BYTES:,} "
        "bytes; response 3 is a normal page."
    )
    return Fixture(
        "bad/gzip_bomb.warc.gz", writer.getvalue(), "warc", 3, 1, note, dict(writer.counts)
    )
