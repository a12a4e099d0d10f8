"""The minhash stage: corpus-wide near-duplicate removal with MinHash LSH (docs/dedup.md).

This module is the plan and the apply; config.py holds the configuration, steps.py the step
kernels, verify.py the pair verifier and the per-shard attributes it reads.

Steps (each a set of tasks; files go through `core.exchange.Exchange`):

1. `signatures` (per shard): shingle hashes, MinHash signatures, one key per band. Band rows
   `(key, node)` go to partition `key mod P`; each document's id, keeper score and (with
   `verify`) its sorted shingle set are saved for random access.
2. `buckets` (per partition): documents sharing a band key are candidates. Without `verify`
   a bucket yields star edges (smallest node, other node); with it, every pair of members
   whose exact shingle Jaccard clears the threshold ends up connected
   (`verify.verified_edges`).
3. `star-NNN` (per partition, repeated): alternating large-star and small-star rounds over
   node-partitioned edges until every component is a star around its smallest node.
4. `clusters` (per partition): each star is a cluster; its keeper is the member with the
   highest keeper score, then the smallest document id. Assignments go to their shard.
5. apply (per shard): members that are not their cluster's keeper are rejected
   (`minhash_duplicate`, with the cluster id, keeper id and cluster size).

A node is `(shard index << 32) | row`: it depends only on the sorted input shards, never on
partition or worker count, and so does every step's output.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from core.exchange import Exchange
from stages.base import (
    BatchOutput,
    GlobalStage,
    Step,
    StepPlan,
    TaskResources,
    node_ids,
    split_by_rejections,
)
from stages.minhash import steps
from stages.minhash.config import MinhashConfig, candidate_probability
from stages.minhash.signatures import s_curve_threshold
from stages.minhash.summary import MinhashSummary
from stages.minhash.verify import ShardAttributes

REASON = "minhash_duplicate"
MAX_ROUNDS = 200  # large-star/small-star needs O(log^2 n) rounds; this is a bug guard


class MinhashStage(GlobalStage):
    name = "minhash"
    summary = "remove near-duplicate documents across the corpus (MinHash LSH, exact options)"
    config_class = MinhashConfig
    # A buckets task keeps every pair it verified (up to 64 per band record where buckets
    # hold near copies): bench/bench_scale.py measured 561 MiB for a 4 MB share of input
    # with 64 near-copies per document, more than the transforms' 512 MiB + 3 B/B.
    resources: ClassVar[TaskResources] = TaskResources(base_mb=768, bytes_per_input_byte=4)

    def __init__(self, config: MinhashConfig) -> None:
        super().__init__(config)
        self.config: MinhashConfig = config
        self.bands, self.rows = config.bands_rows()
        self._assignments: dict[int, np.ndarray] = {}

    def output_schema(self, input_schema: pa.Schema | None) -> pa.Schema:
        assert input_schema is not None  # noqa: S101 type narrowing: a global stage always has input
        return input_schema

    def describe(self) -> str:
        cfg = self.config
        recall = candidate_probability(cfg.threshold, self.bands, self.rows)
        verify = (
            f"verified at exact Jaccard >= {cfg.threshold}" if cfg.verify else "no verification"
        )
        return (
            f"{cfg.num_perm} permutations, {self.bands} bands x {self.rows} rows, S-curve "
            f"threshold {s_curve_threshold(self.bands, self.rows):.3f}, P(candidate) "
            f"{recall:.4f} at Jaccard {cfg.threshold}; {verify}"
        )

    # --- plan -------------------------------------------------------------------------------

    def plan(self, shards: Sequence[str]) -> StepPlan:
        partitions = self.config.partitions or max(len(shards), 1)
        signed = yield Step("signatures", len(shards), {"partitions": partitions}, over="shards")
        bucketed = yield Step("buckets", partitions, {"partitions": partitions})
        edges, rounds = "buckets", 0
        while True:
            large = rounds % 2 == 0
            step = Step(
                f"star-{rounds:03d}",
                partitions,
                {"partitions": partitions, "input": edges, "large": large},
            )
            results = yield step
            edges, rounds = step.name, rounds + 1
            if large and sum(r["not_star"] for r in results) == 0:
                break
            if rounds >= MAX_ROUNDS:
                raise RuntimeError(f"connected components did not converge in {MAX_ROUNDS} rounds")
        clustered = yield Step("clusters", partitions, {"input": edges, "shards": len(shards)})
        return self._summary(signed, bucketed, rounds, clustered)

    def _summary(
        self,
        signed: list[dict[str, Any]],
        bucketed: list[dict[str, Any]],
        rounds: int,
        clustered: list[dict[str, Any]],
    ) -> MinhashSummary:
        sizes: Counter[str] = Counter()
        for result in clustered:
            sizes.update(result["cluster_sizes"])

        def total(results: list[dict[str, Any]], key: str) -> int:
            return sum(r[key] for r in results)

        return {
            "num_perm": self.config.num_perm,
            "bands": self.bands,
            "rows": self.rows,
            "s_curve_threshold": round(s_curve_threshold(self.bands, self.rows), 4),
            "partitions": len(bucketed),
            "documents": total(signed, "documents"),
            "documents_without_shingles": total(signed, "empty"),
            "edges": total(bucketed, "edges"),
            "pairs_verified": total(bucketed, "verified"),
            "pairs_failing_verification": total(bucketed, "failed"),
            "buckets_over_comparison_limit": total(bucketed, "comparison_limit"),
            "component_rounds": rounds,
            "clusters": total(clustered, "clusters"),
            "documents_in_clusters": total(clustered, "members"),
            "cluster_sizes": dict(sorted(sizes.items(), key=lambda kv: int(kv[0].split("-")[0]))),
        }

    def run_step(
        self, exchange: Exchange, step: Step, index: int, shard: str | None
    ) -> dict[str, Any]:
        if step.name == "signatures":
            assert shard is not None  # noqa: S101 type narrowing: a step over shards gets one
            partitions = step.params["partitions"]
            return steps.signatures(
                exchange, self.config, self.bands, self.rows, index, shard, partitions
            )
        if step.name == "buckets":
            return steps.buckets(exchange, self.config, index, step.params["partitions"])
        if step.name.startswith("star-"):
            return steps.star_round(exchange, step, index)
        if step.name == "clusters":
            return steps.clusters(exchange, index, step.params["input"], step.params["shards"])
        raise ValueError(f"minhash has no step {step.name!r}")

    # --- apply ------------------------------------------------------------------------------

    def apply_batch(
        self, exchange: Exchange, shard: int, first_row: int, batch: pa.RecordBatch
    ) -> BatchOutput:
        if shard not in self._assignments:
            found = exchange.read_partition("clusters", shard, steps.CLUSTER_RECORD)
            self._assignments[shard] = np.sort(found, order="node")
        assigned = self._assignments[shard]
        nodes = node_ids(shard, np.arange(first_row, first_row + batch.num_rows))
        at = np.searchsorted(assigned["node"], nodes)
        hit = at < len(assigned)
        hit[hit] = assigned["node"][at[hit]] == nodes[hit]
        rejections: list[tuple[str, str | None] | None] = [None] * batch.num_rows
        duplicate = np.flatnonzero(hit)
        duplicate = duplicate[assigned["keeper"][at[duplicate]] != nodes[duplicate]]
        if len(duplicate):
            rows = assigned[at[duplicate]]
            attributes = ShardAttributes(exchange)
            keeper_ids = attributes.ids(rows["keeper"])
            root_ids = attributes.ids(rows["root"])
            for i, row, keeper, root in zip(duplicate, rows, keeper_ids, root_ids, strict=True):
                detail = {
                    "cluster_id": root.decode(),
                    "keeper_id": keeper.decode(),
                    "cluster_size": int(row["size"]),
                }
                rejections[i] = (REASON, json.dumps(detail))
        counters = Counter({"cluster_keepers": int(np.count_nonzero(hit)) - len(duplicate)})
        return split_by_rejections(batch, rejections, counters)
