"""The one document schema every stage reads and writes (documented in docs/schema.md).

Stages may append typed columns (scores, cluster ids, topics) but never rename or drop these.
Rejected rows carry the same columns plus `reason` and `reason_detail`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

DOCUMENT_FIELDS: tuple[pa.Field, ...] = (
    pa.field("id", pa.string(), nullable=False),
    pa.field("text", pa.large_string(), nullable=False),
    pa.field("url", pa.string()),
    pa.field("source", pa.string(), nullable=False),
    pa.field("lang", pa.string()),
    # Provenance: where the document came from, so any row can be traced back to its bytes.
    pa.field("warc_record_id", pa.string()),
    pa.field("crawl_date", pa.string()),
    pa.field("input_file", pa.string(), nullable=False),
    pa.field("input_offset", pa.int64(), nullable=False),
    # Source metadata that has no typed column (cc_net perplexity, dolma attributes...), as JSON.
    pa.field("meta", pa.large_string()),
)
DOCUMENT_SCHEMA = pa.schema(DOCUMENT_FIELDS)

REASON_FIELDS: tuple[pa.Field, ...] = (
    pa.field("reason", pa.string(), nullable=False),
    pa.field("reason_detail", pa.string()),
)


def rejected_schema(kept_schema: pa.Schema) -> pa.Schema:
    """Schema of a stage's rejected rows: its kept schema plus the rejection reason."""
    return pa.schema([*kept_schema, *REASON_FIELDS])


def rows_to_batch(rows: Iterable[Mapping[str, Any]], schema: pa.Schema) -> pa.RecordBatch:
    """Build a record batch from row dicts; missing nullable columns become null."""
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    for row in rows:
        for name, values in columns.items():
            values.append(row.get(name))
    return pa.RecordBatch.from_pydict(columns, schema=schema)


def with_fields(schema: pa.Schema, fields: Iterable[pa.Field]) -> pa.Schema:
    """`schema` plus each of `fields` it does not have yet (a stage's added columns: rerunning
    the stage on its own output keeps one of each)."""
    for added in fields:
        if added.name not in schema.names:
            schema = schema.append(added)
    return schema


def with_columns(
    batch: pa.RecordBatch, schema: pa.Schema, values: Mapping[str, Any]
) -> pa.RecordBatch:
    """`batch` in `schema` (its columns plus added ones), with the columns in `values` set:
    arrays as given, lists converted to the schema's type."""
    columns = dict(zip(batch.schema.names, batch.columns, strict=True))
    for name, value in values.items():
        is_array = isinstance(value, pa.Array)
        columns[name] = value if is_array else pa.array(value, schema.field(name).type)
    return pa.RecordBatch.from_arrays([columns[name] for name in schema.names], schema=schema)
