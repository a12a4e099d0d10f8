"""A streaming, fault-tolerant WARC/WET reader and HTTP response parser.

Why our own reader: a crawl file with one damaged record must still yield every other record,
and each damaged record must be reported with its offset. The parser reads one header block
at a time, bounds every read, and on a malformed header resynchronises at the next line that
starts with ``WARC/1.``. Independent readers (warcio, fastwarc) check its counts in the tests.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from core.streams import CountingReader

MAX_HEADER_LINE = 64 * 1024
MAX_HEADER_LINES = 512
# Records that carry a document; everything else (request, metadata, warcinfo...) is skipped.
DOCUMENT_RECORD_TYPES = frozenset({"response", "resource", "conversion"})


@dataclass
class WarcRecord:
    offset: int
    headers: dict[str, str]  # lower-cased names
    payload: bytes | None  # None when the payload exceeded the size cap and was skipped
    content_length: int

    @property
    def record_type(self) -> str:
        return self.headers.get("warc-type", "").lower()


@dataclass
class MalformedRecord:
    offset: int
    detail: str


def _parse_header_block(reader: CountingReader) -> tuple[dict[str, str], str | None]:
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADER_LINES):
        line = reader.readline(MAX_HEADER_LINE)
        if not line:
            return headers, "end of file inside WARC header"
        if line in (b"\r\n", b"\n"):
            return headers, None
        name, sep, value = line.decode("utf-8", "replace").partition(":")
        if not sep or not name.strip() or " " in name.strip():
            return headers, f"bad header line {line[:80]!r}"
        headers[name.strip().lower()] = value.strip()
    return headers, f"more than {MAX_HEADER_LINES} header lines"


def _resync(reader: CountingReader) -> bytes | None:
    """Skip to the next line that starts a WARC record; return it (None at end of file)."""
    while True:
        line = reader.readline(MAX_HEADER_LINE)
        if not line:
            return None
        if line.startswith(b"WARC/") and line[5:6].isdigit():  # 1.0, 1.1, and 0.17 (2008)
            return line


def iter_warc_records(
    reader: CountingReader, max_payload_bytes: int
) -> Iterator[WarcRecord | MalformedRecord]:
    """Yield records in file order; decompression errors propagate to the caller."""
    line = reader.readline(MAX_HEADER_LINE)
    while line:
        if line in (b"\r\n", b"\n"):
            line = reader.readline(MAX_HEADER_LINE)
            continue
        offset = reader.position - len(line)
        if not line.startswith(b"WARC/"):
            yield MalformedRecord(offset, f"expected a WARC version line, found {line[:40]!r}")
            line = _resync(reader) or b""
            continue
        headers, problem = _parse_header_block(reader)
        length_text = headers.get("content-length", "")
        # isascii: str.isdigit() is also true for digits int() rejects ('²'), which used to
        # raise ValueError here and fail the whole file instead of rejecting one record.
        # and at most 18 digits: int() refuses more than 4,300, and no record is that long.
        digits = length_text.isascii() and length_text.isdigit() and len(length_text) <= 18
        if problem is None and not digits:
            problem = f"bad Content-Length {length_text[:40]!r}"
        if problem is not None:
            yield MalformedRecord(offset, problem)
            line = _resync(reader) or b""
            continue
        length = int(length_text)
        if length > max_payload_bytes:
            payload, got = None, reader.skip(length)
        else:
            payload = reader.read(length)
            got = len(payload)
        if got < length:  # the file ends inside this record (a cut download)
            yield MalformedRecord(offset, f"payload ends after {got} of {length} bytes")
            return
        yield WarcRecord(offset, headers, payload, length)
        line = reader.readline(MAX_HEADER_LINE)


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]  # lower-cased names; repeated headers keep the last value
    body: bytes
    truncated: bool = False  # the chunked or compressed body stops before its end


class HttpError(ValueError):
    """The HTTP payload cannot be turned into a body; `reason` names the rejection."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def parse_http_response(payload: bytes, max_body_bytes: int) -> HttpResponse:
    head, sep, body = payload.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = payload.partition(b"\n\n")
    lines = head.decode("iso-8859-1").splitlines()
    if not sep or not lines or not lines[0].startswith("HTTP/"):
        raise HttpError("malformed_http", f"not an HTTP response: {payload[:40]!r}")
    parts = lines[0].split()
    # a status is three ASCII digits (str.isdigit() also takes '²', which int() refuses)
    if len(parts) < 2 or not (parts[1].isascii() and parts[1].isdigit() and len(parts[1]) == 3):
        raise HttpError("malformed_http", f"bad status line {lines[0][:60]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    complete = True
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body, complete = _dechunk(body)
    encoding = headers.get("content-encoding", "").lower()
    body, decoded = _decode_content(body, encoding, max_body_bytes)
    return HttpResponse(int(parts[1]), headers, body, truncated=not (complete and decoded))


_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
MAX_CHUNK_SIZE_DIGITS = 15  # 2**60 bytes: no chunk of a record is larger


def _dechunk(body: bytes) -> tuple[bytes, bool]:
    """Undo chunked transfer encoding: (the body, whether its last chunk was reached). A
    chunk stream damaged after its first chunk keeps what was readable; one whose first
    chunk line is not a size has nothing readable and is refused."""
    out = bytearray()
    pos = 0
    while pos < len(body):
        line_end = body.find(b"\r\n", pos)
        if line_end < 0:
            break
        size_text = body[pos:line_end].split(b";")[0].strip()
        # only hex digits: int(..., 16) also takes '-6' (a chunk that steps backwards
        # forever), '+', '0x' and '_'
        if not 0 < len(size_text) <= MAX_CHUNK_SIZE_DIGITS or not _HEX_DIGITS.issuperset(size_text):
            if pos == 0:
                detail = f"bad chunk size line {body[:line_end][:40]!r}"
                raise HttpError("corrupt_transfer_encoding", detail)
            break
        size = int(size_text, 16)
        if size == 0:
            return bytes(out), True
        out += body[line_end + 2 : line_end + 2 + size]
        pos = line_end + 2 + size + 2
    return bytes(out), False


def _decode_content(body: bytes, encoding: str, max_body_bytes: int) -> tuple[bytes, bool]:
    """(the decoded body, whether the compressed stream reached its end)."""
    if encoding in ("", "identity"):
        return body, True
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise HttpError("unsupported_content_encoding", f"Content-Encoding {encoding!r}")
    wbits = zlib.MAX_WBITS | 32 if encoding != "deflate" else zlib.MAX_WBITS
    decompressor = zlib.decompressobj(wbits)
    try:
        # max_length bounds the output: a compressed bomb cannot expand past the cap.
        out = decompressor.decompress(body, max_body_bytes + 1)
    except zlib.error as err:
        raise HttpError("corrupt_content_encoding", f"{encoding}: {err}") from err
    if len(out) > max_body_bytes:
        raise HttpError("record_too_large", f"{encoding} body expands past {max_body_bytes} bytes")
    return out, decompressor.eof
