"""Shards are Arrow IPC streams in the one document schema, loadable by Hugging Face datasets."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pyarrow as pa

from core.schema import DOCUMENT_SCHEMA, rejected_schema
from core.shards import list_shards, read_table
from pipeline.executor import LocalExecutor
from pipeline.runner import StageRun, run_stage
from stages.ingest.stage import IngestConfig


def ingest_shared(real_data: Path, out: Path) -> Path:
    run = StageRun("ingest", IngestConfig(), [str(real_data / "samples")], str(out))
    run_stage(run, LocalExecutor(), progress=False)
    return out


def test_shards_open_as_streams_and_load_with_datasets(tmp_path: Path, real_data: Path) -> None:
    out = ingest_shared(real_data, tmp_path / "ingest")
    shards = list_shards(out)
    with pa.memory_map(str(shards[0])) as source:
        assert pa.ipc.open_stream(source).schema == DOCUMENT_SCHEMA
    dataset = datasets.Dataset.from_file(str(shards[0]))
    assert dataset.column_names == DOCUMENT_SCHEMA.names
    assert dataset.num_rows == read_table(shards[:1]).num_rows > 0


def test_ids_are_unique_and_every_row_is_traceable(tmp_path: Path, real_data: Path) -> None:
    out = ingest_shared(real_data, tmp_path / "ingest")
    kept = read_table(list_shards(out))
    rejected = read_table(list_shards(out / "rejected"))
    assert rejected.schema == rejected_schema(DOCUMENT_SCHEMA)
    ids = kept.column("id").to_pylist() + rejected.column("id").to_pylist()
    assert len(ids) == len(set(ids)) == json.loads((out / "stats.json").read_text())["docs_in"]
    for row in kept.slice(0, 50).to_pylist():
        assert Path(row["input_file"]).exists() and row["input_offset"] >= 0
        assert row["source"] == "cc" and row["lang"] is None
    warc_rows = [r for r in kept.to_pylist() if ".warc" in r["input_file"]]
    assert all(r["warc_record_id"].startswith("<urn:uuid:") for r in warc_rows)
    assert all(r["url"] and r["crawl_date"] for r in warc_rows)
