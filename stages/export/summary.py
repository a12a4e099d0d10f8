"""What the export stage records under `steps` in its stats.json (the manifest step's result;
the manifest itself is `core.manifest.Manifest`)."""

from __future__ import annotations

from typing import TypedDict


class ExportedSource(TypedDict):
    ratio: float
    documents: int
    tokens: int
    epochs: float | None  # None: the source has no documents
    shards: int


class ExportSummary(TypedDict):
    documents: int
    tokens: int
    token_budget: int
    sources: dict[str, ExportedSource]  # by source name
    warnings: list[str]
