"""What the synthetic crawler sent and received: HTTP messages and tiny PNG and PDF bodies."""

import struct
import zlib
from collections.abc import Sequence
from email.utils import format_datetime

from .constants import BASE_DATE


def http_request(url: str) -> bytes:
    host, _, path = url.removeprefix("https://").removeprefix("http://").partition("/")
    lines = [
        f"GET /{path} HTTP/1.1",
        f"Host: {host}",
        "User-Agent: datapipe-fixture-bot/1.0 (+https://example.com/bot)",
        "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "Accept-Language: en-US,en;q=0.5",
        "Accept-Encoding: br,gzip",
        "Connection: Keep-Alive",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def http_message(
    status: str, headers: Sequence[tuple[str, str]], body: bytes, *, length: bool = True
) -> bytes:
    """A response; `length=False` leaves Content-Length to the caller (chunked, bombs)."""
    pairs = [
        ("Date", format_datetime(BASE_DATE, usegmt=True)),
        ("Server", "nginx/1.24.0"),
        *headers,
    ]
    if length:
        pairs.append(("Content-Length", str(len(body))))
    head = "\r\n".join([f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in pairs)])
    return head.encode("latin-1") + b"\r\n\r\n" + body


def http_ok(body: bytes, content_type: str, *extra: tuple[str, str]) -> bytes:
    return http_message(
        "200 OK", [("Content-Type", content_type), *extra, ("Connection", "close")], body
    )


def chunked(body: bytes, size: int = 700) -> bytes:
    """`body` in HTTP/1.1 chunked transfer encoding."""
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


def png_bytes(width: int = 16, height: int = 16) -> bytes:
    """A valid RGB gradient PNG."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in (x * 16, y * 16, 128))
        for y in range(height)
    )
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def pdf_bytes(text: str) -> bytes:
    """A one-page PDF showing `text` (latin-1) in Helvetica, with a correct xref table."""
    stream = f"BT /F1 14 Tf 20 100 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 420 144] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)
