"""ingest: Common Crawl WARC (HTML), WET, JSONL and Parquet files into document batches, and
files read whole (source code, plain text) where the config names them.

Every document-bearing record leaves as a kept row or a rejected row with a reason:
response/resource/conversion records for WARC and WET, non-blank lines for JSONL, rows for
Parquet, the file itself for a file read whole. Other WARC record types (request, metadata,
warcinfo) carry no document and are counted as `skipped_record:<type>`.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic import Field, field_validator

from core import storage
from core.schema import DOCUMENT_SCHEMA, rejected_schema, rows_to_batch
from core.streams import (
    DECOMPRESSION_ERRORS,
    InputFormatError,
    format_from_name,
    open_decompressed,
    sniff_format,
    strip_compression,
)
from stages.base import BatchOutput, SourceStage, StageConfig
from stages.ingest.archives import is_archive, iter_archive
from stages.ingest.html import (
    HTML_CONTENT_TYPES,
    Extractor,
    decode_html,
    extract_text,
    looks_binary,
)
from stages.ingest.records import (
    JsonFields,
    Record,
    file_record,
    iter_jsonl,
    iter_parquet,
    meta_json,
    printable,
    rejected,
)
from stages.ingest.warc import (
    DOCUMENT_RECORD_TYPES,
    HttpError,
    MalformedRecord,
    WarcRecord,
    iter_warc_records,
    parse_http_response,
)

# Rejected rows keep at most this much text: enough to audit, not a second copy of a giant page.
AUDIT_TEXT_CHARS = 10_000
_JSON_DEFAULTS = JsonFields()


class IngestConfig(StageConfig):
    extractor: Extractor = Field(
        "resiliparse",
        description="HTML text extractor for WARC responses (resiliparse is ~20x faster; "
        "see docs/benchmarks.md).",
    )
    main_content: bool = Field(
        True, description="Keep only main content (drop navigation, footers) with resiliparse."
    )
    source: str = Field("cc", description="Mixture bucket written to the `source` column.")
    source_by_file: dict[str, str] = Field(
        default_factory=dict,
        description="Glob on the input file name -> source; first match wins over `source`.",
    )
    text_fields: tuple[str, ...] = Field(
        _JSON_DEFAULTS.text, description="JSON/Parquet text field paths (dotted), first found."
    )
    url_fields: tuple[str, ...] = Field(_JSON_DEFAULTS.url, description="JSON/Parquet url paths.")
    date_fields: tuple[str, ...] = Field(
        _JSON_DEFAULTS.date, description="JSON/Parquet crawl date paths."
    )
    whole_files: tuple[str, ...] = Field(
        (),
        description="Globs on input file names read whole, one document per file (source "
        "files, plain text: ['*.py', '*.txt']); with it, a tar archive (.tar, .tar.gz, .tgz) "
        "is read too, each member file a glob names a document (a source tree, whatever "
        "its file names).",
    )
    max_record_bytes: int = Field(
        16 * 2**20,
        gt=0,
        description="Largest raw record (WARC payload, JSON line, file read whole) read.",
    )
    max_text_bytes: int = Field(
        1_000_000, gt=0, description="Documents whose text is longer (UTF-8 bytes) are rejected."
    )
    batch_rows: int = Field(1000, gt=0, description="Rows per output record batch.")
    batch_bytes: int = Field(
        64 * 2**20, gt=0, description="Text per output record batch, at most about this much."
    )
    sample_share: float = Field(
        1.0,
        gt=0,
        le=1,
        description="share of the records read that become rows, taken by a hash of their "
        "id (the rest are counted as `sampled_out`, not extracted): `datapipe estimate "
        "--by documents` sets it; 1 reads everything",
    )

    @field_validator("whole_files", mode="before")
    @classmethod
    def _one_glob_or_a_list(cls, given: Any) -> Any:
        """`whole_files: "*.py"` means the list of that one glob."""
        return (given,) if isinstance(given, str) else given


def _matches(name: str, globs: Sequence[str]) -> bool:
    """Whether a glob matches the file name, with or without its .gz/.zst suffix."""
    names = {name, strip_compression(name)}
    return any(fnmatch.fnmatch(each, glob) for glob in globs for each in names)


def _is_input_file(relative: str, whole_files: Sequence[str]) -> bool:
    """Directory scans skip `_`/`.` names (Hadoop's convention: markers, labels, hidden files)
    and `.json`, which in a data directory is usually a manifest; name such files explicitly.
    `relative`: the file's path below the directory given, with `/` separators."""
    parts = relative.split("/")
    name = parts[-1]
    whole = bool(whole_files) and (is_archive(name) or _matches(name, whole_files))
    # a source file may be named `__init__.py`: only its directories follow the convention
    skipped = parts[:-1] if whole else parts
    if name.startswith(".") or any(part.startswith(("_", ".")) for part in skipped):
        return False
    if whole:
        return True
    if strip_compression(parts[-1]).endswith(".json"):
        return False
    return format_from_name(parts[-1]) is not None


def _scan(directory: str, whole_files: Sequence[str]) -> list[str]:
    """The input files under a directory, local or on object storage, in name order."""
    if storage.is_remote(directory):
        base = directory.rstrip("/") + "/"
        found = storage.list_files(directory, recursive=True)
        # sorted as a local scan sorts (by path components): the same task numbers anywhere
        found.sort(key=lambda f: f[len(base) :].split("/"))
        return [f for f in found if _is_input_file(f[len(base) :], whole_files)]
    root = Path(directory)
    files = [p for p in _walk(root) if p.is_file()]
    return [str(p) for p in files if _is_input_file(p.relative_to(root).as_posix(), whole_files)]


def _walk(root: Path) -> list[Path]:
    """Every file under `root`, sorted, symlinked directories followed once (a link loop
    or a second link to the same directory is not walked twice)."""
    files, seen = [], set()
    for directory, subdirs, names in os.walk(root, followlinks=True):
        real = os.path.realpath(directory)
        if real in seen:
            subdirs.clear()
            continue
        seen.add(real)
        files += [Path(directory) / name for name in names]
    return sorted(files)


def document_id(input_name: str, offset: int) -> str:
    """Stable across reruns and unique within a corpus whose input file names are unique."""
    # surrogateescape: a file name that is not UTF-8 (its bad bytes reach Python as lone
    # surrogates, PEP 383) hashes as its raw bytes instead of failing the task with
    # UnicodeEncodeError; a UTF-8 name encodes to the same bytes as before.
    key = f"{input_name}:{offset}".encode("utf-8", "surrogateescape")
    return hashlib.blake2b(key, digest_size=16).hexdigest()


def id_share(document: str) -> float:
    """Where a document id falls in [0, 1): uniform, so the ids under a share are a sample of
    that share, and a smaller share's sample lies within a larger one's."""
    return int(document[:16], 16) / 2**64


class IngestStage(SourceStage):
    name = "ingest"
    summary = (
        "Read WARC/WET/JSONL/Parquet files (plain, .gz, .zst), or files whole (`whole_files`), "
        "into document shards."
    )
    config_class = IngestConfig
    config: IngestConfig

    def output_schema(self, input_schema: pa.Schema | None = None) -> pa.Schema:
        return DOCUMENT_SCHEMA

    def list_inputs(self, paths: Sequence[str]) -> list[str]:
        files: list[str] = []
        for given in paths:
            if storage.is_dir(given):
                found = _scan(given, self.config.whole_files)
                if not found:
                    raise FileNotFoundError(
                        f"input directory {given!r} holds no input file (.warc, .wet, .jsonl, "
                        ".parquet, optionally .gz/.zst, or a name that `whole_files` matches; "
                        "names starting with _ or . skipped)"
                    )
                files += found
            elif storage.is_file(given):
                files.append(str(given))
            else:
                raise FileNotFoundError(f"input {given!r} does not exist")
        names = Counter(storage.name(f) for f in files)
        clashes = sorted(name for name, count in names.items() if count > 1)
        if clashes:
            first = [f for f in files if storage.name(f) == clashes[0]]
            raise ValueError(
                f"input file names must be unique (they seed document ids); repeated: "
                f"{clashes} ({clashes[0]}: {', '.join(first[:3])}); rename them, or give a "
                "tree of files as a tar archive, or JSONL or Parquet (docs/ingest.md)"
            )
        return files

    def read_file(self, path: str) -> Iterator[BatchOutput]:
        """Batches of at most `batch_rows` records and about `batch_bytes` of text: each record
        is size-checked as it is read, and a rejected one keeps only an audit excerpt, so
        memory is bounded by the config whatever the file holds."""
        counters: Counter[str] = Counter()
        chunk: list[Record] = []
        chunk_bytes = 0
        for record in self._records(path, counters):
            self._check_size(record)
            if record.reason is not None:
                record.text = record.text[:AUDIT_TEXT_CHARS]
            chunk.append(record)
            chunk_bytes += len(record.text)  # characters: bytes to within a factor of 4
            if len(chunk) >= self.config.batch_rows or chunk_bytes >= self.config.batch_bytes:
                yield self._to_batch(chunk, path, Counter(counters))
                counters.clear()
                chunk, chunk_bytes = [], 0
        if chunk or counters:  # counters: records skipped after the last document
            yield self._to_batch(chunk, path, counters)

    def _records(self, path: str, counters: Counter[str]) -> Iterator[Record]:
        taken = self._sample_test(path)
        if self.config.whole_files and is_archive(storage.name(path)):
            yield from self._archive_records(path, taken, counters)
            return
        if _matches(storage.name(path), self.config.whole_files):
            record = self._whole_file(path)
            size = len(record.text.encode("utf-8"))  # what an estimate weighs the file by
            yield from self._sampled([record], taken, counters, lambda: size)
            return
        try:
            kind = sniff_format(path)
        except InputFormatError as err:
            yield rejected(0, "unreadable_file", f"{path}: {err}")
            return
        if kind == "parquet":
            records = self._guarded(iter_parquet(path, self._json_fields(), 1024), path, None)
            yield from self._sampled(records, taken, counters, lambda: 0)
            return
        reader = open_decompressed(path)
        try:
            if kind == "warc":
                records = self._warc_documents(reader, taken, counters)
            else:
                records = self._sampled(
                    iter_jsonl(reader, self._json_fields(), self.config.max_record_bytes),
                    taken,
                    counters,
                    lambda: reader.position,
                )
            produced, counted = False, counters.total()
            for record in self._guarded(records, path, reader):
                produced = True
                yield record
            # A file with no record at all (no bytes, or only blank lines) has no document to
            # reject: count it, so that it is named in stats.json rather than silently empty.
            if not produced and counters.total() == counted:
                counters["empty_file"] += 1
        finally:
            reader.close()

    def _whole_file(self, path: str) -> Record:
        """The file (decompressed if .gz/.zst) as one document; `offset` 0, the only record."""
        limit = self.config.max_record_bytes
        try:
            reader = open_decompressed(path)
            try:
                body = reader.read(limit + 1)
            finally:
                reader.close()
        except (*DECOMPRESSION_ERRORS, OSError) as err:
            reason = "truncated_input" if isinstance(err, EOFError) else "corrupt_input"
            return rejected(0, reason, f"{path}: {type(err).__name__}: {err}")
        return file_record(0, body, limit)

    def _archive_records(
        self, path: str, taken: Callable[[int], bool] | None, counters: Counter[str]
    ) -> Iterator[Record]:
        """A tar archive's member files; why it ended early, if it did, is never sampled out."""
        ending: list[Record] = []
        reader = open_decompressed(path)
        try:
            wanted = functools.partial(_matches, globs=self.config.whole_files)
            members = iter_archive(reader, wanted, self.config.max_record_bytes, counters, ending)
            records = self._sampled(members, taken, counters, lambda: reader.position)
            yield from self._guarded(records, path, reader)
        finally:
            reader.close()
        yield from ending

    def _guarded(self, records: Iterable[Record], path: str, reader: Any) -> Iterator[Record]:
        """Turn a decompression or parse failure into one rejected record that ends the file."""
        try:
            yield from records
        except (*DECOMPRESSION_ERRORS, pa.ArrowException, OSError) as err:
            offset = reader.position if reader is not None else 0
            reason = "truncated_input" if isinstance(err, EOFError) else "corrupt_input"
            detail = f"{path}: {type(err).__name__}: {err} (decompressed offset {offset})"
            yield rejected(offset, reason, detail)

    def _json_fields(self) -> JsonFields:
        cfg = self.config
        return JsonFields(text=cfg.text_fields, url=cfg.url_fields, date=cfg.date_fields)

    def _sample_test(self, path: str) -> Callable[[int], bool] | None:
        """Whether the record at an offset of `path` is in the sample (`sample_share`); None
        when every record is."""
        share, input_name = self.config.sample_share, os.path.basename(path)
        if share >= 1:
            return None
        return lambda offset: id_share(document_id(input_name, offset)) < share

    @staticmethod
    def _sampled(
        records: Iterable[Record],
        taken: Callable[[int], bool] | None,
        counters: Counter[str],
        position: Callable[[], int],
    ) -> Iterator[Record]:
        """The records in the sample; the raw bytes of those taken and left (from one offset
        to the next; a Parquet row's offset is its index: rows then) are counted, so that an
        estimate can scale text by the bytes a sample holds, not only by its documents."""
        if taken is None:
            yield from records
            return
        previous: tuple[int, str] | None = None
        for record in records:
            if previous is not None:
                counters[previous[1]] += record.offset - previous[0]
            kind = "sampled_bytes" if taken(record.offset) else "sampled_out_bytes"
            previous = (record.offset, kind)
            if kind == "sampled_bytes":
                yield record
            else:
                counters["sampled_out"] += 1
        if previous is not None:
            counters[previous[1]] += max(position() - previous[0], 1)

    def _warc_documents(
        self, reader: Any, taken: Callable[[int], bool] | None, counters: Counter[str]
    ) -> Iterator[Record]:
        for item in iter_warc_records(reader, self.config.max_record_bytes):
            malformed = isinstance(item, MalformedRecord)
            if not malformed and item.record_type not in DOCUMENT_RECORD_TYPES:
                counters[f"skipped_record:{item.record_type or 'unknown'}"] += 1
            elif taken is not None and not taken(item.offset):
                counters["sampled_out"] += 1  # before its payload is parsed and extracted
                counters["sampled_out_bytes"] += 0 if malformed else item.content_length
            elif malformed:
                yield rejected(item.offset, "malformed_warc_record", item.detail)
            else:
                if taken is not None:
                    counters["sampled_bytes"] += item.content_length
                document = self._warc_document(item)
                if document.meta and document.meta.get("truncated_body"):
                    counters["truncated_body"] += 1
                yield document

    def _warc_document(self, record: WarcRecord) -> Record:
        headers = record.headers
        base = Record(
            offset=record.offset,
            url=_target_uri(headers.get("warc-target-uri")),
            warc_record_id=headers.get("warc-record-id"),
            crawl_date=headers.get("warc-date"),
        )
        if record.payload is None:
            return _reject(base, "record_too_large", f"payload of {record.content_length} bytes")
        if record.record_type == "conversion":
            return self._wet_text(base, record.payload)
        content_type = headers.get("content-type", "")
        if record.record_type == "resource":
            return self._html_text(base, record.payload, content_type)
        try:
            response = parse_http_response(record.payload, self.config.max_record_bytes)
        except HttpError as err:
            return _reject(base, err.reason, err.detail)
        if response.status != 200:
            return _reject(base, "http_status", f"HTTP {response.status}")
        document = self._html_text(base, response.body, response.headers.get("content-type", ""))
        if response.truncated and document.meta is not None:  # what arrived, marked as such
            document.meta["truncated_body"] = True
        return document

    def _wet_text(self, base: Record, payload: bytes) -> Record:
        try:
            base.text = payload.decode("utf-8").strip()
        except UnicodeDecodeError as err:
            base.text = payload.decode("utf-8", "replace")
            return _reject(base, "invalid_utf8", str(err))
        return base

    def _html_text(self, base: Record, body: bytes, content_type: str) -> Record:
        mime = content_type.split(";")[0].strip().lower()
        if mime and mime not in HTML_CONTENT_TYPES:
            return _reject(base, "non_html_content_type", mime)
        if looks_binary(body):
            return _reject(base, "binary_payload", f"{len(body)} bytes declared {mime or 'none'}")
        html, charset = decode_html(body, content_type)
        try:
            base.text = extract_text(html, self.config.extractor, self.config.main_content)
        except Exception as err:  # extractors raise assorted parser errors on hostile HTML
            return _reject(base, "extraction_failed", f"{type(err).__name__}: {err}")
        base.meta = {"charset": charset, "content_type": mime or None}
        return base

    def _to_batch(self, chunk: list[Record], path: str, counters: Counter[str]) -> BatchOutput:
        input_name = os.path.basename(path)
        source = self._source_for(input_name)
        shown_path = printable(path)
        kept: list[dict[str, Any]] = []
        dropped: list[dict[str, Any]] = []
        for record in chunk:
            row = {
                "id": document_id(input_name, record.offset),
                "text": record.text,
                "url": record.url,
                "source": source,
                "warc_record_id": record.warc_record_id,
                "crawl_date": record.crawl_date,
                "input_file": shown_path,
                "input_offset": record.offset,
                "meta": meta_json(record.meta),
            }
            if record.reason is None:
                kept.append(row)
            else:
                row["text"] = record.text[:AUDIT_TEXT_CHARS]
                detail = record.reason_detail and printable(record.reason_detail)
                row.update(reason=record.reason, reason_detail=detail)
                dropped.append(row)
        return BatchOutput(
            kept=rows_to_batch(kept, DOCUMENT_SCHEMA),
            rejected=rows_to_batch(dropped, rejected_schema(DOCUMENT_SCHEMA)),
            counters=counters,
        )

    def _check_size(self, record: Record) -> None:
        if record.reason is not None:
            return
        if not record.text.strip():
            record.reason, record.reason_detail = "empty_document", None
            return
        size = len(record.text.encode("utf-8"))
        if size > self.config.max_text_bytes:
            record.reason = "document_too_large"
            record.reason_detail = f"{size} bytes of text > {self.config.max_text_bytes}"

    def _source_for(self, input_name: str) -> str:
        for pattern, source in self.config.source_by_file.items():
            if fnmatch.fnmatch(input_name, pattern):
                return source
        return self.config.source


def _target_uri(value: str | None) -> str | None:
    """WARC 1.0 writers (wget among them) wrap the URI in angle brackets; 1.1 does not."""
    if value and value.startswith("<") and value.endswith(">"):
        return value[1:-1]
    return value


def _reject(base: Record, reason: str, detail: str) -> Record:
    base.reason, base.reason_detail = reason, detail
    return base
