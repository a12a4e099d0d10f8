"""What the minhash stage records under `steps` in its stats.json (`MinhashStage.plan`)."""

from __future__ import annotations

from typing import TypedDict


class MinhashSummary(TypedDict):
    num_perm: int
    bands: int
    rows: int
    s_curve_threshold: float  # rounded to 4 decimals
    partitions: int
    documents: int  # documents signed
    documents_without_shingles: int
    edges: int  # verified similar pairs passed to connected components
    pairs_verified: int
    pairs_failing_verification: int
    buckets_over_comparison_limit: int
    component_rounds: int
    clusters: int
    documents_in_clusters: int
    # Cluster size ("2" ... "9", then decades "10-99", "100-999"...) -> clusters, by size.
    cluster_sizes: dict[str, int]
