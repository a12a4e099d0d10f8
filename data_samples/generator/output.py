"""Runs every fixture builder and writes the files, ``_labels.jsonl`` and ``MANIFEST.json``."""

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from .bad_inputs import (
    build_binary,
    build_bomb,
    build_giant,
    build_invalid_utf8,
    build_malformed,
    build_not_gzip,
    build_truncated,
)
from .constants import CRAWL, SEED
from .crawl import build_cc_pages, build_wet
from .fixture import Fixture, Label, jsonl
from .jsonl_docs import build_ccnet, build_docs_jsonl, build_dolma

BUILDERS: tuple[Callable[[], Fixture], ...] = (
    build_cc_pages,
    build_wet,
    build_docs_jsonl,
    build_dolma,
    build_ccnet,
    build_truncated,
    build_malformed,
    build_binary,
    build_invalid_utf8,
    build_giant,
    build_not_gzip,
    build_bomb,
)

MANIFEST_FIELDS = {
    "documents": "document-bearing records as written: WARC response/resource/conversion "
    "records, or non-blank JSONL lines",
    "text_documents": "of those, the ones a tolerant reader turns into non-empty text: a JSONL "
    "line that is UTF-8 JSON with a non-empty 'text'; a complete, well-formed "
    "WARC/WET record of sane size whose payload has text (not a redirect, "
    "image, PDF, script-only page, binary blob or empty conversion)",
    "records": "WARC records by WARC-Type",
}


def write_file(out: Path, relative: str, data: bytes) -> dict[str, object]:
    target = out / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def _manifest_entry(out: Path, fixture: Fixture) -> dict[str, object]:
    entry = write_file(out, fixture.path, fixture.data)
    entry |= {
        "format": fixture.format,
        "documents": fixture.documents,
        "text_documents": fixture.text_documents,
        "note": fixture.note,
    }
    if fixture.records:
        entry["records"] = dict(sorted(fixture.records.items()))
    return entry


def generate(out: Path) -> dict[str, dict[str, object]]:
    """Write every fixture, _labels.jsonl and MANIFEST.json into `out`; return the file table."""
    files: dict[str, dict[str, object]] = {}
    labels: list[Label] = []
    for builder in BUILDERS:
        fixture = builder()
        files[fixture.path] = _manifest_entry(out, fixture)
        labels += fixture.labels
    files["_labels.jsonl"] = write_file(out, "_labels.jsonl", jsonl(labels)) | {
        "format": "jsonl",
        "documents": len(labels),
        "text_documents": len(labels),
        "note": "Ground truth per document of the well-formed fixtures (not pipeline input).",
    }
    manifest = {
        "generator": "data_samples/generate.py",
        "seed": SEED,
        "crawl": CRAWL,
        "fields": MANIFEST_FIELDS,
        "files": dict(sorted(files.items())),
    }
    (out / "MANIFEST.json").write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return files
