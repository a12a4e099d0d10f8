"""The minhash stage: corpus-wide near-duplicate removal with MinHash LSH (docs/dedup.md).

Steps (each a set of tasks; files go through `core.exchange.Exchange`):

1. `signatures` (per shard): shingle hashes, MinHash signatures, one key per band. Band rows
   `(key, node)` go to partition `key mod P`; each document's id, keeper score and (with
   `verify`) its sorted shingle set are saved for random access.
2. `buckets` (per partition): documents sharing a band key are candidates. Without `verify`
   a bucket yields star edges (smallest node, other node); with it, every pair of members
   whose exact shingle Jaccard clears the threshold ends up connected (`_PairVerifier.link`).
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
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from core.exchange import Exchange
from core.shards import read_shard
from stages.base import (
    BatchOutput,
    GlobalStage,
    StageConfig,
    Step,
    StepPlan,
    node_ids,
    node_shard_row,
    split_by_rejections,
)
from stages.codepoints import fmix64_np
from stages.minhash.lsh import (
    EDGE_RECORD,
    band_keys,
    directed_records,
    exact_jaccard,
    large_star,
    node_partition,
    small_star,
    star_edges,
)
from stages.minhash.signatures import (
    MinHasher,
    Scheme,
    ShingleConfig,
    batch_shingle_hashes,
    optimal_bands,
    s_curve_threshold,
    text_batches,
)

BAND_RECORD = np.dtype([("key", "<u8"), ("node", "<i8")])
CLUSTER_RECORD = np.dtype([("node", "<i8"), ("keeper", "<i8"), ("root", "<i8"), ("size", "<i8")])
REASON = "minhash_duplicate"
MAX_ROUNDS = 200  # large-star/small-star needs O(log^2 n) rounds; this is a bug guard
# Comparisons a bucket member may make: bounds the work of a bucket of many mutually dissimilar
# documents (LSH false positives); a bucket that reaches it is counted in the stats.
MAX_COMPARISONS = 64


class MinhashConfig(StageConfig):
    threshold: float = Field(
        0.85, gt=0, lt=1, description="Jaccard similarity at which two documents are duplicates"
    )
    lsh_threshold: float = Field(
        0.65,
        gt=0,
        lt=1,
        description="bands x rows minimize the false positive + negative area around this "
        "(below `threshold`, so recall at `threshold` is >= 0.99; verification restores "
        "precision)",
    )
    num_perm: int = Field(256, ge=1, description="MinHash permutations")
    bands: int | None = Field(
        None, ge=1, description="LSH bands; with rows, overrides the choice from lsh_threshold"
    )
    rows: int | None = Field(None, ge=1, description="rows per band; given with bands")
    seed: int = Field(1, description="seed of the permutations (datasketch's)")
    scheme: Scheme = Field(
        "affine32", description="datasketch's permutation scheme (affine32: >= 2.0; legacy)"
    )
    ngram: int = Field(5, ge=1, description="words per shingle")
    cjk_ngram: int = Field(5, ge=1, description="characters per shingle in CJK documents")
    lowercase: bool = Field(True, description="lower-case before shingling")
    fold_digits: bool = Field(True, description="every digit becomes 0 before shingling")
    strip_punctuation: bool = Field(True, description="tokens are runs of word characters")
    verify: bool = Field(
        True, description="keep a candidate pair only if its exact shingle Jaccard >= threshold"
    )
    keeper_score: str | None = Field(
        "quality_score",
        description="column whose highest value keeps a cluster's copy (then smallest id); "
        "ignored when the input has no such column",
    )
    partitions: int | None = Field(
        None, ge=1, description="partitions of band keys and edges; None: one per input shard"
    )

    @model_validator(mode="after")
    def _bands_and_rows(self) -> MinhashConfig:
        if (self.bands is None) != (self.rows is None):
            raise ValueError("give both bands and rows, or neither (then they are chosen)")
        if self.bands is not None and self.bands * (self.rows or 0) > self.num_perm:
            raise ValueError(f"bands x rows = {self.bands * (self.rows or 0)} > num_perm")
        return self

    def bands_rows(self) -> tuple[int, int]:
        if self.bands is not None and self.rows is not None:
            return self.bands, self.rows
        return optimal_bands(self.lsh_threshold, self.num_perm)

    def shingles(self) -> ShingleConfig:
        return ShingleConfig(
            self.ngram, self.cjk_ngram, self.lowercase, self.fold_digits, self.strip_punctuation
        )


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """Probability that a pair at this Jaccard shares at least one band: the S-curve."""
    return float(1 - (1 - similarity**rows) ** bands)


def size_bin(size: int) -> str:
    """Cluster sizes 2-9 exactly, then decades (10-99, 100-999, ...)."""
    if size < 10:
        return str(size)
    low = 10 ** (len(str(size)) - 1)
    return f"{low}-{10 * low - 1}"


class _ShardAttributes:
    """Random access to what the signatures step saved per shard: ids (a UTF-8 blob with
    offsets), keeper scores, shingle-set digests and (with verify) sorted shingle sets."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange

    def get(self, shard: int, name: str) -> np.ndarray:
        return self.exchange.load("signatures", f"{shard:05d}.{name}")

    def column(self, nodes: np.ndarray, name: str) -> np.ndarray:
        """A numeric attribute (`score`, `digest`) of every node, gathered shard by shard."""
        shards, rows = node_shard_row(nodes)
        out = np.empty(
            len(nodes), dtype=self.get(int(shards[0]), name).dtype if len(nodes) else float
        )
        for shard in np.unique(shards).tolist():
            mask = shards == shard
            out[mask] = self.get(shard, name)[rows[mask]]
        return out

    def ids(self, nodes: np.ndarray) -> list[bytes]:
        """The UTF-8 document id of every node."""
        shards, rows = node_shard_row(nodes)
        out: list[bytes] = [b""] * len(nodes)
        for shard in np.unique(shards).tolist():
            blob, offsets = self.get(shard, "ids"), self.get(shard, "id_offsets")
            for i in np.flatnonzero(shards == shard).tolist():
                out[i] = blob[offsets[rows[i]] : offsets[rows[i] + 1]].tobytes()
        return out

    def shingle_set(self, node: int) -> np.ndarray:
        shard, row = node >> 32, node & 0xFFFFFFFF
        offsets = self.get(shard, "offsets")
        return self.get(shard, "shingles")[offsets[row] : offsets[row + 1]]


class MinhashStage(GlobalStage):
    name = "minhash"
    summary = "remove near-duplicate documents across the corpus (MinHash LSH, exact options)"
    config_class = MinhashConfig

    def __init__(self, config: MinhashConfig) -> None:
        super().__init__(config)
        self.config: MinhashConfig = config
        self.bands, self.rows = config.bands_rows()
        self._assignments: dict[int, np.ndarray] = {}

    def output_schema(self, input_schema: pa.Schema | None) -> pa.Schema:
        assert input_schema is not None
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
    ) -> dict[str, Any]:
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
            assert shard is not None
            return self._signatures(exchange, index, shard, step.params["partitions"])
        if step.name == "buckets":
            return self._buckets(exchange, index, step.params["partitions"])
        if step.name.startswith("star-"):
            return self._star_round(exchange, step, index)
        if step.name == "clusters":
            return self._clusters(exchange, index, step.params["input"], step.params["shards"])
        raise ValueError(f"minhash has no step {step.name!r}")

    # --- steps ------------------------------------------------------------------------------

    def _signatures(self, exchange: Exchange, shard: int, path: str, partitions: int) -> dict:
        cfg = self.config
        hasher, shingle_cfg = MinHasher(cfg.num_perm, cfg.seed, cfg.scheme), cfg.shingles()
        keys, nodes, ids, scores, digests, sets, set_sizes = [], [], [], [], [], [], []
        first_row = empty = 0
        for batch in read_shard(path):
            texts = batch.column("text").to_pylist()
            ids += [i.encode() for i in batch.column("id").to_pylist()]
            scores.append(self._keeper_scores(batch))
            for lo, hi in text_batches(texts):
                hashes, counts = batch_shingle_hashes(texts[lo:hi], shingle_cfg)
                signatures = hasher.signatures_from_hashes(hashes, counts)
                rows = np.arange(first_row + lo, first_row + hi)[counts > 0]
                empty += int(np.count_nonzero(counts == 0))
                doc_keys = band_keys(signatures[counts > 0], self.bands, self.rows)
                keys.append(doc_keys.ravel())
                nodes.append(np.repeat(node_ids(shard, rows), self.bands))
                unique, sizes = _shingle_sets(hashes, counts)
                digests.append(_set_digests(unique, sizes))
                if cfg.verify:
                    sets.append(unique)
                    set_sizes.append(sizes)
            first_row += batch.num_rows
        records = np.empty(sum(map(len, keys)), dtype=BAND_RECORD)
        records["key"] = np.concatenate(keys) if keys else []
        records["node"] = np.concatenate(nodes) if nodes else []
        partition = (records["key"] % np.uint64(partitions)).astype(np.int64)
        exchange.write_partitioned("signatures", shard, records, partition, partitions)
        prefix = f"{shard:05d}"
        exchange.save("signatures", f"{prefix}.ids", np.frombuffer(b"".join(ids), np.uint8))
        id_offsets = np.r_[0, np.cumsum([len(i) for i in ids], dtype=np.int64)]
        exchange.save("signatures", f"{prefix}.id_offsets", id_offsets)
        exchange.save("signatures", f"{prefix}.score", np.concatenate(scores) if scores else [])
        exchange.save(
            "signatures",
            f"{prefix}.digest",
            np.concatenate(digests) if digests else np.zeros(0, np.uint64),
        )
        if cfg.verify:
            sizes = np.concatenate(set_sizes) if set_sizes else np.zeros(0, np.int64)
            exchange.save("signatures", f"{prefix}.offsets", np.r_[0, np.cumsum(sizes)])
            exchange.save(
                "signatures",
                f"{prefix}.shingles",
                np.concatenate(sets) if sets else np.zeros(0, np.uint32),
            )
        return {"documents": first_row, "empty": empty}

    def _keeper_scores(self, batch: pa.RecordBatch) -> np.ndarray:
        """Keeper score per row; NaN (never preferred) when the column or a value is missing."""
        column = self.config.keeper_score
        if column is None or column not in batch.schema.names:
            return np.full(batch.num_rows, np.nan)
        values = batch.column(column).to_numpy(zero_copy_only=False)
        return np.asarray(values, dtype=np.float64)

    def _buckets(self, exchange: Exchange, partition: int, partitions: int) -> dict:
        records = exchange.read_partition("signatures", partition, BAND_RECORD)
        if not self.config.verify:
            edges = star_edges(records["key"], records["node"])
            self._write_edges(exchange, "buckets", partition, edges, partitions)
            return {"edges": len(edges), "verified": 0, "failed": 0, "comparison_limit": 0}
        verifier = _PairVerifier(_ShardAttributes(exchange), self.config.threshold)
        edges, limited_buckets = [], 0
        attributes = verifier.attributes
        for members in bucket_members(records["key"], records["node"]):
            digests = attributes.column(np.array(members, dtype=np.int64), "digest").tolist()
            found, limited = verifier.link(members, digests)
            edges += found
            limited_buckets += limited
        edges_array = np.unique(np.array(edges, dtype=np.int64).reshape(-1, 2), axis=0)
        self._write_edges(exchange, "buckets", partition, edges_array, partitions)
        return {
            "edges": len(edges_array),
            "verified": verifier.passed,
            "failed": verifier.failed,
            "comparison_limit": limited_buckets,
        }

    def _write_edges(
        self, exchange: Exchange, step: str, task: int, edges: np.ndarray, partitions: int
    ) -> None:
        records = directed_records(edges)
        exchange.write_partitioned(
            step, task, records, node_partition(records["node"], partitions), partitions
        )

    def _star_round(self, exchange: Exchange, step: Step, partition: int) -> dict:
        records = exchange.read_partition(step.params["input"], partition, EDGE_RECORD)
        if step.params["large"]:
            edges, not_star = large_star(records["node"], records["nbr"])
        else:
            edges, not_star = small_star(records["node"], records["nbr"]), 0
        self._write_edges(exchange, step.name, partition, edges, step.params["partitions"])
        return {"edges": len(edges), "not_star": not_star}

    def _clusters(self, exchange: Exchange, partition: int, edges_step: str, shards: int) -> dict:
        records = exchange.read_partition(edges_step, partition, EDGE_RECORD)
        # In a star the centre (the component's smallest node) is the only node with a
        # larger neighbour: those records list each cluster's centre and its other members.
        centre = records[records["node"] < records["nbr"]]
        roots = np.unique(centre["node"])
        root = np.concatenate([roots, centre["node"]])
        member = np.concatenate([roots, centre["nbr"]])
        attributes = _ShardAttributes(exchange)
        score = attributes.column(member, "score")
        ids = attributes.ids(member)
        id_rank = np.empty(len(ids), dtype=np.int64)
        id_rank[sorted(range(len(ids)), key=ids.__getitem__)] = np.arange(len(ids))
        # Keeper first in each cluster: highest score (NaN last), then smallest id.
        order = np.lexsort((id_rank, np.nan_to_num(-score, nan=np.inf), root))
        root, member = root[order], member[order]
        starts = np.flatnonzero(np.r_[True, root[1:] != root[:-1]]) if len(root) else root
        sizes = np.diff(np.r_[starts, len(root)])
        out = np.empty(len(member), dtype=CLUSTER_RECORD)
        out["node"], out["root"] = member, root
        out["keeper"] = np.repeat(member[starts], sizes)
        out["size"] = np.repeat(sizes, sizes)
        exchange.write_partitioned("clusters", partition, out, member >> 32, shards)
        histogram = Counter(size_bin(int(s)) for s in sizes)
        return {"clusters": len(starts), "members": len(member), "cluster_sizes": histogram}

    # --- apply ------------------------------------------------------------------------------

    def apply_batch(
        self, exchange: Exchange, shard: int, first_row: int, batch: pa.RecordBatch
    ) -> BatchOutput:
        if shard not in self._assignments:
            found = exchange.read_partition("clusters", shard, CLUSTER_RECORD)
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
            attributes = _ShardAttributes(exchange)
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


def _shingle_sets(hashes: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each document's sorted unique shingle hashes, concatenated, and their counts."""
    doc = np.repeat(np.arange(len(counts), dtype=np.uint64), counts)
    keys = np.unique((doc << np.uint64(32)) | hashes.astype(np.uint64))  # one sort, by doc
    sizes = np.bincount((keys >> np.uint64(32)).astype(np.int64), minlength=len(counts))
    return (keys & np.uint64(0xFFFFFFFF)).astype(np.uint32), sizes


def _set_digests(unique: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """A 64-bit digest of each document's shingle set (XOR of mixed hashes: order-free), so
    verification compares a member with one copy of each distinct set, not with every copy."""
    digests = np.zeros(len(sizes), dtype=np.uint64)
    if len(unique):
        with np.errstate(over="ignore"):
            mixed = fmix64_np(unique.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15))
        filled = sizes > 0
        starts = np.r_[0, np.cumsum(sizes)[:-1]][filled]
        digests[filled] = np.bitwise_xor.reduceat(mixed, starts)
    return digests


def bucket_members(keys: np.ndarray, nodes: np.ndarray) -> Iterator[list[int]]:
    """The nodes of every bucket with more than one, each sorted, buckets in key order."""
    order = np.lexsort((nodes, keys))
    keys, nodes = keys[order], nodes[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else keys
    ends = np.r_[starts[1:], len(keys)]
    for lo, hi in zip(
        starts[ends - starts > 1].tolist(), ends[ends - starts > 1].tolist(), strict=True
    ):
        yield nodes[lo:hi].tolist()


class _PairVerifier:
    """Exact-Jaccard links within buckets; each pair is compared at most once per task."""

    def __init__(self, attributes: _ShardAttributes, threshold: float) -> None:
        self.attributes, self.threshold = attributes, threshold
        self._seen: dict[tuple[int, int], bool] = {}
        self.passed = self.failed = 0

    def similar(self, a: int, b: int) -> bool:
        if (a, b) not in self._seen:
            jac = exact_jaccard(self.attributes.shingle_set(a), self.attributes.shingle_set(b))
            self._seen[a, b] = ok = jac >= self.threshold
            self.passed, self.failed = self.passed + ok, self.failed + (not ok)
        return self._seen[a, b]

    def same_set(self, a: int, b: int) -> bool:
        """Exact copies (as shingle sets): verified without computing a Jaccard."""
        same = np.array_equal(self.attributes.shingle_set(a), self.attributes.shingle_set(b))
        self.passed += same
        return same

    def link(self, members: list[int], digests: list[int]) -> tuple[list[tuple[int, int]], int]:
        """Edges that connect every similar pair of the bucket's members.

        The bucket's members so far form groups (connected by verified edges); a group keeps
        one member per distinct shingle set (by digest, confirmed exactly). A new member is
        linked to an identical set of a group without a Jaccard computation, else compared
        with the group's distinct sets until one is similar; it joins (and merges) every group
        it links to. So an exact-copy bucket of m costs m - 1 array comparisons, and no
        similar pair is missed unless a member reaches MAX_COMPARISONS Jaccard computations
        (then the bucket is counted). Returns the edges and 1 if the limit was reached."""
        groups: list[dict[int, int]] = []  # per group: shingle-set digest -> a member
        edges, limited = [], 0
        for member, digest in zip(members, digests, strict=True):
            joined: list[int] = []
            compared = 0
            for g, distinct in enumerate(groups):
                copy = distinct.get(digest)
                if copy is not None and self.same_set(copy, member):
                    edges.append((copy, member))
                    joined.append(g)
                    continue
                for other in distinct.values():
                    if compared == MAX_COMPARISONS:
                        limited = 1
                        break
                    compared += 1
                    if self.similar(other, member):
                        edges.append((other, member))
                        joined.append(g)
                        break
            merged: dict[int, int] = {}
            for g in joined:
                merged.update({d: m for d, m in groups[g].items() if d not in merged})
            merged.setdefault(digest, member)
            groups = [grp for g, grp in enumerate(groups) if g not in joined] + [merged]
        return edges, limited
