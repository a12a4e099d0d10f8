"""gzip members and WARC records, written byte for byte (no warcio) so that every byte is fixed."""

import base64
import hashlib
import random
import struct
import uuid
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from .constants import BASE_DATE, CRAWL
from .payloads import http_request

DOCUMENT_RECORD_TYPES = ("response", "resource", "conversion")
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # no name, mtime 0, OS unknown


def gzip_member(chunks: Iterable[bytes], level: int = 9) -> bytes:
    """One gzip member with a fixed header (no file name, mtime 0)."""
    comp = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, 9)
    crc, size, parts = 0, 0, [GZIP_HEADER]
    for chunk in chunks:
        crc = zlib.crc32(chunk, crc)
        size += len(chunk)
        parts.append(comp.compress(chunk))
    parts.append(comp.flush())
    parts.append(struct.pack("<II", crc, size & 0xFFFFFFFF))
    return b"".join(parts)


def gzip_bytes(data: bytes) -> bytes:
    return gzip_member([data])


def sha1_b32(data: bytes) -> str:
    digest = hashlib.sha1(data, usedforsecurity=False).digest()  # the format's content digest
    return "sha1:" + base64.b32encode(digest).decode()


def warc_date(index: int) -> datetime:
    return BASE_DATE + timedelta(seconds=17 * index)


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def ip_for(url: str) -> str:
    """A stable address in TEST-NET-1 (192.0.2.0/24, reserved for documentation)."""
    return f"192.0.2.{zlib.crc32(url.encode()) % 250 + 1}"


def warc_head(pairs: Sequence[tuple[str, str]]) -> bytes:
    lines = ["WARC/1.1", *(f"{k}: {v}" for k, v in pairs)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


class WarcWriter:
    """Builds a WARC file where every record is its own gzip member."""

    def __init__(self, filename: str, seed: int) -> None:
        self.filename = filename
        self.rng = random.Random(seed)  # noqa: S311 record ids derived from the seed, not secrets
        self.members: list[bytes] = []
        self.counts: Counter[str] = Counter()
        self.warcinfo_id = ""

    def new_id(self) -> str:
        return f"<urn:uuid:{uuid.UUID(int=self.rng.getrandbits(128), version=4)}>"

    def add(
        self,
        warc_type: str,
        payload: bytes,
        content_type: str,
        *,
        uri: str | None = None,
        extra: Sequence[tuple[str, str]] = (),
        record_id: str | None = None,
    ) -> str:
        record_id = record_id or self.new_id()
        pairs = [
            ("WARC-Type", warc_type),
            ("WARC-Record-ID", record_id),
            ("WARC-Date", iso(warc_date(len(self.members)))),
        ]
        if uri is not None:
            pairs.append(("WARC-Target-URI", uri))
        pairs += [
            *extra,
            ("WARC-Block-Digest", sha1_b32(payload)),
            ("Content-Type", content_type),
            ("Content-Length", str(len(payload))),
        ]
        self.add_raw(warc_head(pairs) + payload + b"\r\n\r\n", warc_type)
        return record_id

    def add_raw(self, record: bytes, warc_type: str) -> None:
        """Append a record written by hand (malformed ones included) as its own gzip member."""
        self.add_member(gzip_bytes(record), warc_type)

    def add_member(self, member: bytes, warc_type: str) -> None:
        """Append an already compressed record (a bomb, or a record from another writer)."""
        self.members.append(member)
        self.counts[warc_type] += 1

    def warcinfo(self, description: str) -> str:
        fields = {
            "software": "datapipe-fixture-generator/1.0",
            "format": "WARC File Format 1.1",
            "isPartOf": f"{CRAWL} (synthetic fixture)",
            "description": description,
            "operator": "datapipe tests",
        }
        payload = "".join(f"{k}: {v}\r\n" for k, v in fields.items()).encode()
        extra = [("WARC-Filename", self.filename)]
        self.warcinfo_id = self.add("warcinfo", payload, "application/warc-fields", extra=extra)
        return self.warcinfo_id

    def capture(self, url: str, http: bytes) -> str:
        """A request record followed by its response; returns the response id."""
        req_id = self.new_id()
        resp_id = self.new_id()
        common = [("WARC-Warcinfo-ID", self.warcinfo_id), ("WARC-IP-Address", ip_for(url))]
        self.add(
            "request",
            http_request(url),
            "application/http; msgtype=request",
            uri=url,
            extra=[*common, ("WARC-Concurrent-To", resp_id)],
            record_id=req_id,
        )
        self.add(
            "response",
            http,
            "application/http; msgtype=response",
            uri=url,
            extra=[*common, ("WARC-Concurrent-To", req_id)],
            record_id=resp_id,
        )
        return resp_id

    def metadata(self, url: str, refers_to: str, lang: str) -> str:
        fields = f"fetchTimeMs: 412\r\ncharset-detected: UTF-8\r\nlanguages-cld2: {lang}\r\n"
        payload = fields.encode()
        extra = [("WARC-Warcinfo-ID", self.warcinfo_id), ("WARC-Refers-To", refers_to)]
        return self.add("metadata", payload, "application/warc-fields", uri=url, extra=extra)

    def getvalue(self) -> bytes:
        return b"".join(self.members)

    @property
    def documents(self) -> int:
        return sum(self.counts[t] for t in DOCUMENT_RECORD_TYPES)
