"""Input records, before they become rows: what every reader yields, kept or rejected."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from core import storage
from core.streams import CountingReader
from stages.ingest.html import looks_binary


@dataclass
class Record:
    offset: int  # decompressed byte offset (WARC, WET, JSONL) or row index (Parquet)
    text: str = ""
    url: str | None = None
    warc_record_id: str | None = None
    crawl_date: str | None = None
    meta: dict[str, Any] | None = None
    reason: str | None = None  # set when the record is rejected
    reason_detail: str | None = None


def rejected(offset: int, reason: str, detail: str, **fields: Any) -> Record:
    return Record(offset=offset, reason=reason, reason_detail=detail, **fields)


@dataclass(frozen=True)
class JsonFields:
    """Where a JSON object keeps its text, url and date; dotted paths reach nested keys.

    The defaults cover plain ``{"text"}``, dolma (``metadata.url``) and cc_net
    (``raw_content``, ``date_download``) layouts; the first path present wins.
    """

    text: tuple[str, ...] = ("text", "raw_content", "content")
    url: tuple[str, ...] = ("url", "metadata.url", "metadata.warc_url", "warc_url")
    date: tuple[str, ...] = ("date_download", "created", "metadata.warc_date", "date")


def _lookup(obj: Mapping[str, Any], path: str) -> Any:
    value: Any = obj
    for key in path.split("."):
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def _first(obj: Mapping[str, Any], paths: tuple[str, ...]) -> tuple[str | None, Any]:
    for path in paths:
        value = _lookup(obj, path)
        if value is not None:
            return path, value
    return None, None


def object_to_record(obj: Any, offset: int, fields: JsonFields) -> Record:
    if not isinstance(obj, Mapping):
        return rejected(offset, "invalid_json", f"expected a JSON object, got {type(obj).__name__}")
    text_path, text = _first(obj, fields.text)
    if not isinstance(text, str):
        shown = ", ".join(fields.text)
        return rejected(offset, "missing_text_field", f"no string field among: {shown}")
    _, url = _first(obj, fields.url)
    _, date = _first(obj, fields.date)
    # Everything but the text is provenance worth keeping; the text is in its own column.
    meta = {key: value for key, value in obj.items() if key != text_path}
    return Record(
        offset=offset,
        text=text,
        url=url if isinstance(url, str) else None,
        crawl_date=str(date) if date is not None else None,
        meta=meta or None,
    )


def iter_jsonl(reader: CountingReader, fields: JsonFields, max_line_bytes: int) -> Iterator[Record]:
    while True:
        offset = reader.position
        line = reader.readline(max_line_bytes + 1)
        if not line:
            return
        if len(line) > max_line_bytes and not line.endswith(b"\n"):
            reader.skip_line(max_line_bytes)
            size = reader.position - offset
            yield rejected(offset, "record_too_large", f"JSON line of {size} bytes")
            continue
        if not line.strip():
            continue
        try:
            decoded = line.decode("utf-8")
        except UnicodeDecodeError as err:
            text = line.decode("utf-8", "replace")
            yield rejected(offset, "invalid_utf8", str(err), text=text)
            continue
        try:
            obj = json.loads(decoded)
        # ValueError covers JSONDecodeError and an integer longer than Python converts (4,300
        # digits); RecursionError, nesting deeper than the interpreter allows (100,000 `[`):
        # each is one invalid line, not a failed file.
        except (ValueError, RecursionError) as err:
            yield rejected(offset, "invalid_json", str(err), text=decoded)
            continue
        if problem := _lone_surrogate(obj, decoded):
            yield rejected(offset, "invalid_utf8", problem, text=decoded)
            continue
        yield object_to_record(obj, offset, fields)


# A \uXXXX escape of a surrogate (U+D800-U+DFFF), the only way valid UTF-8 JSON can put one
# into a Python str.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def _lone_surrogate(obj: Any, line: str) -> str | None:
    """Why `obj` cannot be written as UTF-8, or None. An unpaired surrogate escape
    (`"\\ud800"`) is valid JSON but decodes to a str that UTF-8 cannot encode: before this
    check it failed the whole file (UnicodeEncodeError in the size check or in pyarrow).
    Only lines with a surrogate escape pay for the check (paired escapes, as JSON writers
    encode emoji, are fine)."""
    if not _SURROGATE_ESCAPE.search(line):
        return None
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as err:
        return f"unpaired surrogate escape in a JSON string: {err}"
    return None


# What converting a Parquet value to Python raises on data another writer let through:
# invalid UTF-8 in a string column (pyarrow does not check it when reading), dates and
# timestamps out of Python's range, a time zone no database knows.
_CONVERSION_ERRORS = (UnicodeDecodeError, OverflowError, ValueError, KeyError, pa.ArrowException)


def iter_parquet(path: str, fields: JsonFields, batch_rows: int) -> Iterator[Record]:
    import pyarrow.parquet as pq

    row_index = 0
    for batch in pq.ParquetFile(storage.open_input(path)).iter_batches(batch_size=batch_rows):
        for obj, unreadable in _parquet_rows(batch):
            yield _parquet_record(obj, unreadable, row_index, fields)
            row_index += 1


def _parquet_rows(batch: pa.RecordBatch) -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
    """Each row as a dict, and the columns of it that could not be converted (name -> why):
    the whole batch at once, or, when a value fails, row by row and column by column."""
    try:
        yield from ((obj, {}) for obj in batch.to_pylist())
        return
    except _CONVERSION_ERRORS:
        pass
    for i in range(batch.num_rows):
        obj, unreadable = {}, {}
        for name, column in zip(batch.schema.names, batch.slice(i, 1).columns, strict=True):
            try:
                obj[name] = column.to_pylist()[0]
            except _CONVERSION_ERRORS as err:
                unreadable[name] = f"{type(err).__name__}: {err}"
        yield obj, unreadable


def _parquet_record(
    obj: dict[str, Any], unreadable: dict[str, str], row: int, fields: JsonFields
) -> Record:
    """A row's record; a text column that cannot be read rejects the row, another column is
    left out and named in `meta` (`unreadable_fields`)."""
    if bad := [name for name in unreadable if name in {p.split(".")[0] for p in fields.text}]:
        why = unreadable[bad[0]]
        reason = "invalid_utf8" if why.startswith("UnicodeDecodeError") else "corrupt_input"
        return rejected(row, reason, f"column {printable(bad[0])}: {why}")
    record = object_to_record(obj, row, fields)
    if unreadable and record.reason is None:
        record.meta = {**(record.meta or {}), "unreadable_fields": sorted(unreadable)}
    return record


def meta_json(meta: Mapping[str, Any] | None) -> str | None:
    """Deterministic JSON (sorted keys); values JSON cannot hold are written as strings."""
    if not meta:
        return None
    return json.dumps(meta, sort_keys=True, ensure_ascii=False, default=str)


def file_record(offset: int, body: bytes, limit: int) -> Record:
    """A file's bytes (at most `limit` + 1 read) as a document, or why it is not one."""
    if len(body) > limit:
        return rejected(offset, "record_too_large", f"file read whole is over {limit} bytes")
    if looks_binary(body):
        return rejected(offset, "binary_payload", f"{len(body)} bytes of a file read whole")
    try:
        return Record(offset=offset, text=body.decode("utf-8"))
    except UnicodeDecodeError as err:
        return rejected(offset, "invalid_utf8", str(err), text=body.decode("utf-8", "replace"))


def printable(value: str) -> str:
    """`value` with a non-UTF-8 name's escaped bytes (lone surrogates) as U+FFFD: Arrow
    string columns hold UTF-8 only, so such a path in `input_file`, `meta` or a rejection's
    detail used to fail the whole file."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
