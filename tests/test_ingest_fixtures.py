"""The generated fixtures in tests/fixtures/ ingest as their MANIFEST says, and each bad-input
fixture is rejected for the intended reason while its good records are kept."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from stages.ingest.stage import IngestConfig, IngestStage
from tests.conftest import GENERATED

MANIFEST = json.loads((GENERATED / "MANIFEST.json").read_text())["files"]
# The fixtures' giant document is ~3 MB; the cap is lowered so the test stays about intent.
CONFIG = IngestConfig(max_text_bytes=1_000_000, max_record_bytes=8 * 2**20)

EXPECTED_REJECTIONS = {
    "bad/truncated.warc.gz": {"truncated_input": 1},
    "bad/malformed_header.warc.gz": {"malformed_warc_record": 2},
    "bad/binary_payload.warc.gz": {"binary_payload": 1},
    "bad/invalid_utf8.jsonl": {
        "invalid_utf8": 1,
        "invalid_json": 1,
        "empty_document": 1,
        "missing_text_field": 1,
    },
    "bad/giant_doc.jsonl.gz": {"document_too_large": 1},
    "bad/not_gzip.jsonl.gz": {"unreadable_file": 1},
    "bad/gzip_bomb.warc.gz": {"record_too_large": 2},
    "cc_pages.warc.gz": {"http_status": 1, "non_html_content_type": 2, "empty_document": 1},
    "cc_pages.warc.wet.gz": {"empty_document": 1},
}


def ingest(name: str) -> tuple[int, Counter[str]]:
    kept = 0
    reasons: Counter[str] = Counter()
    for out in IngestStage(CONFIG).read_file(str(GENERATED / name)):
        kept += out.kept.num_rows
        reasons.update(out.rejected.column("reason").to_pylist())
    return kept, reasons


@pytest.mark.parametrize("name", sorted(n for n in MANIFEST if not n.startswith("_")))
def test_fixture_ingests_as_its_manifest_says(name: str) -> None:
    kept, reasons = ingest(name)
    assert dict(reasons) == EXPECTED_REJECTIONS.get(name, {})
    assert kept == MANIFEST[name]["text_documents"] - reasons["document_too_large"]
    if name != "bad/not_gzip.jsonl.gz":  # unreadable as a whole: one row stands for the file
        assert kept + sum(reasons.values()) == MANIFEST[name]["documents"]


def test_directory_scan_skips_labels_and_manifest() -> None:
    files = IngestStage(CONFIG).list_inputs([str(GENERATED)])
    names = {f.removeprefix(str(GENERATED) + "/") for f in files}
    assert names == {n for n in MANIFEST if not n.startswith("_")} - {"MANIFEST.json"}
