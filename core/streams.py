"""Opening input files: compression and format sniffed from content, extension as a tie-breaker.

Everything is streamed; the only buffers are one record (bounded by the caller) and the
decompressor's window, so a worker's memory does not grow with file size.
"""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Literal

import zstandard
from isal import isal_zlib

from core import storage

Format = Literal["warc", "jsonl", "parquet"]

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
PARQUET_MAGIC = b"PAR1"
_CHUNK = 1 << 20
_ZSTD_FEED = 1 << 10  # compressed bytes per call: at most 32 MiB out, whatever the data

# Errors a decompressor raises on damaged input; readers turn them into counted rejections.
DECOMPRESSION_ERRORS: tuple[type[BaseException], ...] = (
    EOFError,
    zlib.error,
    isal_zlib.error,
    gzip.BadGzipFile,
    zstandard.ZstdError,
)

_FORMAT_SUFFIXES: dict[str, Format] = {
    ".warc": "warc",
    ".wet": "warc",
    ".wat": "warc",
    ".arc": "warc",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
}
_COMPRESSION_SUFFIXES = (".gz", ".zst", ".zstd")


class InputFormatError(Exception):
    """The whole file cannot be read (unknown format, not really compressed...)."""


def strip_compression(name: str) -> str:
    """File name without its compression suffix, lower-cased."""
    name = name.lower()
    for suffix in _COMPRESSION_SUFFIXES:
        name = name.removesuffix(suffix)
    return name


def format_from_name(path: str | Path) -> Format | None:
    """Format implied by the file name, ignoring a compression suffix."""
    return _FORMAT_SUFFIXES.get(Path(strip_compression(Path(path).name)).suffix)


class CountingReader:
    """A binary stream that knows its position in decompressed bytes (for `input_offset`)."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.position = 0

    def readline(self, limit: int) -> bytes:
        line = self._stream.readline(limit)
        self.position += len(line)
        return line

    def read(self, size: int) -> bytes:
        data = self._stream.read(size)
        self.position += len(data)
        return data

    def skip(self, size: int) -> int:
        """Discard up to `size` bytes in bounded chunks; return how many were discarded."""
        remaining = size
        while remaining > 0:
            chunk = self.read(min(remaining, _CHUNK))
            if not chunk:
                break
            remaining -= len(chunk)
        return size - remaining

    def skip_line(self, limit: int) -> None:
        """Discard the rest of an over-long line, `limit` bytes at a time."""
        while True:
            chunk = self.readline(limit)
            if not chunk or chunk.endswith(b"\n"):
                return

    def peek(self, size: int) -> bytes:
        peek = getattr(self._stream, "peek", None)
        return peek(size)[:size] if peek else b""

    def close(self) -> None:
        self._stream.close()


class GzipMembers(io.RawIOBase):
    """Multi-member gzip decoding entirely in C (header and CRC included) with ISA-L, which
    inflates about 1.4x faster than zlib; `gzip.GzipFile` is slower still, parsing each
    member's header in Python, and Common Crawl files have one member per record. Output per
    call is bounded by the caller's buffer, so no member can expand in memory. Raises like
    `gzip`: EOFError when the file ends inside a member, isal_zlib.error on corrupt data."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._inflater = isal_zlib.decompressobj(16 + isal_zlib.MAX_WBITS)
        self._pending = b""  # compressed bytes read but not yet given to the decompressor
        self._in_member = False  # a member has started and not yet ended

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while True:
            if not self._pending:
                self._pending = self._raw.read(_CHUNK)
                if not self._pending:
                    if self._in_member:
                        raise EOFError("compressed file ended before the end-of-stream marker")
                    return 0
            self._in_member = True
            out = self._inflater.decompress(self._pending, len(buffer))
            self._pending = self._inflater.unconsumed_tail
            if self._inflater.eof:
                # Zero padding between or after members is allowed, as `gzip` allows it.
                self._pending = self._inflater.unused_data.lstrip(b"\0")
                self._inflater = isal_zlib.decompressobj(16 + isal_zlib.MAX_WBITS)
                self._in_member = False
            if out:
                buffer[: len(out)] = out
                return len(out)

    def close(self) -> None:
        self._raw.close()
        super().close()


class ZstdFrames(io.RawIOBase):
    """Concatenated zstd frames, raising EOFError when the file ends inside one (zstandard's
    stream reader reads a cut frame as a clean end: records lost without a word). The input
    goes to the decompressor in pieces of _ZSTD_FEED bytes because its output is not bounded
    per call: a zstd block expands at most 32,768-fold, so one piece's output is bounded."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._context = zstandard.ZstdDecompressor()
        self._frame: Any = None  # the decompressor of the frame being read, if one started
        self._input = b""
        self._at = 0  # how much of _input the decompressor has taken
        self._output = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._output:
            if self._at == len(self._input):
                self._input, self._at = self._raw.read(_CHUNK), 0
                if not self._input:
                    if self._frame is not None:
                        raise EOFError("compressed file ended inside a zstd frame")
                    return 0
            if self._frame is None:
                self._frame = self._context.decompressobj()
            piece = memoryview(self._input)[self._at : self._at + _ZSTD_FEED]
            self._at += len(piece)
            self._output = memoryview(self._frame.decompress(piece))
            if self._frame.eof:  # the next frame starts in what this one left of the piece
                self._at -= len(self._frame.unused_data)
                self._frame = None
        size = min(len(buffer), len(self._output))
        buffer[:size] = self._output[:size]
        self._output = self._output[size:]
        return size

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_decompressed(path: str | Path) -> CountingReader:
    """Open `path` (local or on object storage) for reading, transparently decompressing
    gzip (multi-member) or zstd."""
    raw = storage.open_binary(path)  # ownership passes to the returned reader
    magic = raw.read(4)
    raw.seek(0)
    if magic.startswith(GZIP_MAGIC):
        stream: BinaryIO = io.BufferedReader(GzipMembers(raw), buffer_size=_CHUNK)
    elif magic == ZSTD_MAGIC:
        stream = io.BufferedReader(ZstdFrames(raw), buffer_size=_CHUNK)
    else:
        stream = io.BufferedReader(raw, buffer_size=_CHUNK)  # type: ignore[arg-type]
    return CountingReader(stream)


def sniff_format(path: str | Path) -> Format:
    """Decide the format from the first decompressed bytes, then from the file name."""
    with storage.open_binary(path) as raw:
        magic = raw.read(4)
    if magic == PARQUET_MAGIC:
        return "parquet"
    name = storage.name(path).lower()
    if name.endswith(".gz") and not magic.startswith(GZIP_MAGIC):
        raise InputFormatError("named .gz but not gzip data (a failed download?)")
    if name.endswith((".zst", ".zstd")) and magic != ZSTD_MAGIC:
        raise InputFormatError("named .zst but not zstd data (a failed download?)")
    reader = open_decompressed(path)
    try:
        head = reader.peek(64).lstrip()
    except DECOMPRESSION_ERRORS as err:
        raise InputFormatError(f"cannot decompress: {err}") from err
    finally:
        reader.close()
    if head.startswith(b"WARC/"):
        return "warc"
    if head.startswith(b"filedesc://"):  # read as WARC, its N documents were one bad record
        raise InputFormatError(
            "an ARC file (the Internet Archive's format before WARC): convert it to WARC "
            "first (warcio reads ARC)"
        )
    if head.startswith(b"{"):
        return "jsonl"
    by_name = format_from_name(path)
    if by_name is None or by_name == "parquet":
        shown = head[:16]
        raise InputFormatError(
            f"unrecognised content (starts with {shown!r}); expected WARC, WET, JSONL or Parquet"
        )
    return by_name
