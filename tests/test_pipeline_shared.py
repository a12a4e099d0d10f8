"""The whole pipeline on all of data_samples/samples (configs/shared-samples.yaml): every document
accounted for by id across all stages, a verified export, and the same bytes in-process and
on embedded Ray."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from core.manifest import verify_export
from core.shards import list_shards
from pipeline.executor import RayExecutor
from pipeline.runner import run_pipeline
from tests.conftest import shared_samples_config
from tests.pipeline_runs import output_files

DOCUMENT_STAGES = ("ingest", "filter", "minhash", "substring", "topics", "export")


def ids(paths: list[Path]) -> list[str]:
    found: list[str] = []
    for path in paths:
        with pa.memory_map(str(path)) as source:
            found += pa.ipc.open_stream(source).read_all().column("id").to_pylist()
    return found


def test_every_document_is_exported_or_rejected_by_exactly_one_stage(
    shared_samples_run: Path,
) -> None:
    ingested = ids(list_shards(shared_samples_run / "ingest")) + ids(
        list_shards(shared_samples_run / "ingest/rejected")
    )
    assert len(ingested) == len(set(ingested)) > 1000
    rejected_by: Counter[str] = Counter()
    for stage in DOCUMENT_STAGES:
        rejected = ids(list_shards(shared_samples_run / stage / "rejected"))
        rejected_by.update(rejected)
    exported = ids(sorted((shared_samples_run / "export/shards").rglob("*.arrow")))
    assert len(exported) > 300
    # The set equation, with multiplicity: every ingested document exactly once.
    assert Counter(exported) + rejected_by == Counter(ingested)


def test_each_stage_reads_exactly_what_the_previous_one_kept(shared_samples_run: Path) -> None:
    previous = set(ids(list_shards(shared_samples_run / "ingest")))
    for stage in DOCUMENT_STAGES[1:]:
        kept = (
            ids(list_shards(shared_samples_run / stage))
            if stage != "export"
            else ids(sorted((shared_samples_run / "export/shards").rglob("*.arrow")))
        )
        rejected = ids(list_shards(shared_samples_run / stage / "rejected"))
        assert sorted(kept + rejected) == sorted(previous), stage
        previous = set(kept)


def test_the_export_verifies_and_the_report_of_counts_reconciles(shared_samples_run: Path) -> None:
    problems, checked = verify_export(shared_samples_run / "export")
    assert problems == []
    assert checked["documents"] == len(
        ids(sorted((shared_samples_run / "export/shards").rglob("*.arrow")))
    )


@pytest.mark.ray
def test_embedded_ray_gives_the_same_bytes_as_in_process(
    real_data: Path, shared_samples_run: Path, ray_executor: RayExecutor, tmp_path: Path
) -> None:
    run_pipeline(shared_samples_config(real_data, tmp_path / "ray"), ray_executor, progress=False)
    assert output_files(tmp_path / "ray") == output_files(shared_samples_run)


def test_the_summaries_stages_write_have_the_keys_their_types_declare(
    shared_samples_run: Path,
) -> None:
    """The report reads each stage's summary through its TypedDict: the keys must match."""
    from stages.export.summary import ExportSummary
    from stages.minhash.summary import MinhashSummary
    from stages.substring.summary import SubstringSummary
    from stages.topics.summary import TopicsSummary

    declared = {
        "minhash": MinhashSummary,
        "substring": SubstringSummary,
        "topics": TopicsSummary,
        "export": ExportSummary,
    }
    for stage, summary in declared.items():
        steps = json.loads((shared_samples_run / stage / "stats.json").read_text())["steps"]
        assert set(steps) == set(summary.__annotations__), stage
