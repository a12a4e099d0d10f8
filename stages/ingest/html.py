"""HTML bytes to main-content text: charset detection, then a real extractor.

Charset order: the HTTP Content-Type header, then a ``<meta charset>`` in the first bytes,
then resiliparse's statistical detector. Decoding never fails: undecodable bytes are dropped
(after trying UTF-8 and Windows-1252), which is what browsers do for mislabelled pages.
"""

from __future__ import annotations

import codecs
import re
from typing import Literal

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import bytes_to_str, detect_encoding

Extractor = Literal["resiliparse", "trafilatura"]

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.I)
HTML_CONTENT_TYPES = ("text/html", "application/xhtml+xml")


# Text codecs Python knows that no browser decodes a page with: they turn bytes into lone
# surrogates or escapes (a declared `charset=utf-7` used to fail the extractor), so such a
# label is ignored and the page's encoding detected as if none were declared.
_NOT_WEB_ENCODINGS = frozenset(
    {"utf-7", "unicode-escape", "raw-unicode-escape", "punycode", "idna", "undefined"}
)


def _known_codec(label: str | None) -> str | None:
    if not label:
        return None
    try:
        codec = codecs.lookup(label)
    except LookupError:
        return None
    # A page may declare any codec name Python knows, including bytes-to-bytes ones (zlib,
    # base64, hex): only text encodings can decode a page.
    if not codec._is_text_encoding or codec.name in _NOT_WEB_ENCODINGS:  # type: ignore[attr-defined]
        return None
    name = codec.name
    # gb2312 pages routinely use GBK characters; decoding with the superset loses nothing.
    return "gb18030" if name in ("gb2312", "gbk") else name


def detect_charset(body: bytes, content_type: str) -> str:
    header = _HEADER_CHARSET.search(content_type)
    meta = _META_CHARSET.search(body[:4096])
    for label in (header and header.group(1), meta and meta.group(1).decode("ascii")):
        codec = _known_codec(label)
        if codec:
            return codec
    return _known_codec(detect_encoding(body)) or "utf-8"


def decode_html(body: bytes, content_type: str) -> tuple[str, str]:
    charset = detect_charset(body, content_type)
    try:
        return bytes_to_str(body, charset), charset
    except UnicodeError:  # a codec that rejects arbitrary bytes whatever `errors` says (punycode)
        return bytes_to_str(body, "utf-8"), "utf-8"


# Control bytes that never occur in text (tab, newline, form feed and carriage return do).
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13))


def looks_binary(body: bytes) -> bool:
    """NUL bytes or a high share of control characters mean the payload is not text."""
    sample = body[:4096]
    if b"\x00" in sample:
        return True
    text_bytes = len(sample.translate(None, _CONTROL_BYTES))  # C speed, no Python loop
    return len(sample) - text_bytes > len(sample) * 0.1


def extract_text(html: str, extractor: Extractor, main_content: bool) -> str:
    if extractor == "trafilatura":
        import trafilatura  # imported on demand: slow to import and only used when chosen

        text = trafilatura.extract(html, include_comments=False, include_tables=True)
        return (text or "").strip()
    return extract_plain_text(
        html, preserve_formatting=True, main_content=main_content, alt_texts=False, links=False
    ).strip()
