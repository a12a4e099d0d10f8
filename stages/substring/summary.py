"""What the substring stage records in its stats.json: the plan's totals under `steps`
(`SubstringStage.plan`) and the counters its `apply_batch` adds up."""

from __future__ import annotations

from typing import TypedDict


class SubstringSummary(TypedDict):
    partitions: int
    documents: int
    windows: int  # windows of min_length tokens hashed
    repeated_window_occurrences: int
    windows_removed: int
    hash_collisions: int


class SubstringCounters(TypedDict, total=False):
    """Absent when no document was cut."""

    documents_cut: int
    tokens_removed: int
    bytes_removed: int
