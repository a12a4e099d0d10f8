"""Tar archives of files read whole (a source tree as `git archive` or a release ships it):
each member file a glob names is a document, read as a stream, never extracted to disk.

Python's tarfile reads an archive that stops early (at a member boundary, in a header) or
holds a damaged header as if it had ended there; `iter_archive` tells those apart from a
real end by the block where the next header should be: the end-of-archive blocks are zeros.
tarfile also reads a GNU long-name or PAX extended header's data whole, whatever size the
header declares: `_BoundedTarInfo` refuses one over MAX_EXTENDED_HEADER_BYTES first, so a
damaged or hostile archive costs no more memory than a normal one.
"""

from __future__ import annotations

import posixpath
import tarfile
from collections import Counter
from collections.abc import Callable, Iterator

from core.streams import strip_compression
from stages.ingest.records import Record, file_record, printable, rejected

# A member declaring more is a damaged header: skipping it would make tarfile read (or,
# past the end of the stream, spin) through that many bytes.
MAX_MEMBER_BYTES = 1 << 32
_RECENT_BYTES = 1 << 16  # more than tarfile reads ahead of the header it parses (10 KiB)
# A long name is at most a few KiB (PATH_MAX); PAX records carry names, times, xattrs, ACLs.
MAX_EXTENDED_HEADER_BYTES = 1 << 20
_EXTENDED_HEADERS = frozenset(
    {
        tarfile.GNUTYPE_LONGNAME,
        tarfile.GNUTYPE_LONGLINK,
        tarfile.XHDTYPE,
        tarfile.XGLTYPE,
        tarfile.SOLARIS_XHDTYPE,
    }
)


def is_archive(name: str) -> bool:
    """A tar archive, plain or compressed (.tar, .tar.gz, .tgz, .tar.zst)."""
    return strip_compression(name).endswith(".tar") or name.lower().endswith(".tgz")


class _BoundedTarInfo(tarfile.TarInfo):
    """A header whose extended data (read whole by tarfile) is refused when too large."""

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _EXTENDED_HEADERS and self.size > MAX_EXTENDED_HEADER_BYTES:
            raise tarfile.ReadError(
                f"the extended header at byte {self.offset:,} declares {self.size:,} bytes "
                f"(> {MAX_EXTENDED_HEADER_BYTES:,}); the members after it are lost"
            )
        return super()._proc_member(tarfile_)  # type: ignore[misc]


class _RecentBytes:
    """A stream that keeps the last bytes read from it, to look back at a header block."""

    def __init__(self, stream: object) -> None:
        self._stream = stream
        self.position = 0
        self._recent = bytearray()

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._stream.read(size)  # type: ignore[attr-defined]
        self.position += len(data)
        self._recent += data[-_RECENT_BYTES:]  # a member's body is not copied whole
        del self._recent[: max(len(self._recent) - _RECENT_BYTES, 0)]
        return data

    def block(self, offset: int) -> bytes | None:
        """The 512 bytes at `offset` if they were read and are still kept, else None."""
        start = offset - (self.position - len(self._recent))
        if start < 0 or start + tarfile.BLOCKSIZE > len(self._recent):
            return None
        return bytes(self._recent[start : start + tarfile.BLOCKSIZE])


def iter_archive(
    stream: object,
    wanted: Callable[[str], bool],
    limit: int,
    counters: Counter[str],
    ending: list[Record],
) -> Iterator[Record]:
    """The member files whose name `wanted` accepts, each a record at its header's offset
    (its path in `meta`); others are counted. Why the archive ended early, if it did, is
    put in `ending` (outside any sampling of the members)."""
    reader = _RecentBytes(stream)
    try:
        with tarfile.open(  # type: ignore[call-overload]
            fileobj=reader, mode="r|", tarinfo=_BoundedTarInfo
        ) as archive:
            for member in archive:
                archive.members = []  # a stream needs no index of the members passed
                if member.size > MAX_MEMBER_BYTES:
                    detail = f"member {printable(member.name)} declares {member.size:,} bytes"
                    ending.append(rejected(member.offset, "corrupt_input", detail))
                    return
                if not member.isfile() or not wanted(posixpath.basename(member.name)):
                    counters["skipped_archive_member"] += 1
                    continue
                yield _member_record(archive, member, limit)
            next_header = archive.offset
            if next_header == 0:
                counters["empty_archive"] += 1
    except (tarfile.TarError, ValueError) as err:  # a damaged header's fields
        cut = "unexpected end of data" in str(err)
        detail = f"{type(err).__name__}: {err} (byte {reader.position:,})"
        reason = "truncated_input" if cut else "corrupt_input"
        ending.append(rejected(reader.position, reason, detail))
        return
    if (problem := _end_problem(reader, next_header)) is not None:
        ending.append(problem)


def _member_record(archive: tarfile.TarFile, member: tarfile.TarInfo, limit: int) -> Record:
    meta = {"path": printable(member.name)}
    if member.size > limit:
        detail = f"{meta['path']}: {member.size:,} bytes > {limit:,}"
        return rejected(member.offset, "record_too_large", detail, meta=meta)
    found = archive.extractfile(member)
    record = file_record(member.offset, found.read() if found is not None else b"", limit)
    record.meta = meta
    return record


def _end_problem(reader: _RecentBytes, next_header: int) -> Record | None:
    """Why the archive's last header is not its end-of-archive blocks, if it is not."""
    block = reader.block(next_header)
    if block is None:  # the stream ended before a whole header
        detail = f"the archive stops at byte {reader.position:,}, without its end blocks"
        return rejected(reader.position, "truncated_input", detail)
    if block.count(0) != tarfile.BLOCKSIZE:
        detail = f"the header at byte {next_header:,} is damaged; the members after it are lost"
        return rejected(next_header, "corrupt_input", detail)
    return None
