"""The minhash stage's step kernels: what one task of each step reads, computes and writes
through the exchange (the order of the steps is `MinhashStage.plan`, stage.py)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa

from core.exchange import Exchange
from core.shards import read_shard
from stages.base import Step, node_ids
from stages.minhash.config import MinhashConfig
from stages.minhash.kernels import sorted_sets
from stages.minhash.lsh import (
    EDGE_RECORD,
    band_keys,
    directed_records,
    large_star,
    node_partition,
    small_star,
    star_edges,
    unique_rows,
    unique_values,
)
from stages.minhash.signatures import MinHasher, batch_shingle_hashes, text_batches
from stages.minhash.verify import (
    ShardAttributes,
    save_shard_attributes,
    set_digests,
    verified_edges,
)

BAND_RECORD = np.dtype([("key", "<u8"), ("node", "<i8")])
CLUSTER_RECORD = np.dtype([("node", "<i8"), ("keeper", "<i8"), ("root", "<i8"), ("size", "<i8")])


def signatures(
    exchange: Exchange,
    config: MinhashConfig,
    bands: int,
    rows: int,
    shard: int,
    path: str,
    partitions: int,
) -> dict[str, Any]:
    """Band rows `(key, node)` of one input shard to partition `key mod partitions`, and the
    shard's attributes (verify.py) for random access by the later steps."""
    hasher, shingle_cfg = MinHasher(config.num_perm, config.seed, config.scheme), config.shingles()
    keys, nodes, ids, scores, digests, sets, set_sizes = [], [], [], [], [], [], []
    first_row = empty = 0
    for batch in read_shard(path):
        texts = batch.column("text").to_pylist()
        ids += [i.encode() for i in batch.column("id").to_pylist()]
        scores.append(keeper_scores(batch, config.keeper_score))
        for lo, hi in text_batches(texts):
            hashes, counts = batch_shingle_hashes(texts[lo:hi], shingle_cfg)
            if config.verify:  # shingle sets and their digests serve verification only
                hashes, counts = sorted_sets(hashes, counts)  # the same minima: fewer hashes
                digests.append(set_digests(hashes, counts))
                sets.append(hashes)
                set_sizes.append(counts)
            signed = hasher.signatures_from_hashes(hashes, counts)
            doc_rows = np.arange(first_row + lo, first_row + hi)[counts > 0]
            empty += int(np.count_nonzero(counts == 0))
            keys.append(band_keys(signed[counts > 0], bands, rows).ravel())
            nodes.append(np.repeat(node_ids(shard, doc_rows), bands))
        first_row += batch.num_rows
    records = np.empty(sum(map(len, keys)), dtype=BAND_RECORD)
    records["key"] = np.concatenate(keys) if keys else []
    records["node"] = np.concatenate(nodes) if nodes else []
    partition = (records["key"] % np.uint64(partitions)).astype(np.int64)
    exchange.write_partitioned("signatures", shard, records, partition, partitions)
    verification = None
    if config.verify:
        verification = (
            np.concatenate(digests) if digests else np.zeros(0, np.uint64),
            np.concatenate(sets) if sets else np.zeros(0, np.uint32),
            np.concatenate(set_sizes) if set_sizes else np.zeros(0, np.int64),
        )
    scores_array = np.concatenate(scores) if scores else np.zeros(0)
    save_shard_attributes(exchange, shard, ids, scores_array, verification)
    return {"documents": first_row, "empty": empty}


def keeper_scores(batch: pa.RecordBatch, column: str | None) -> np.ndarray:
    """Keeper score per row; NaN (never preferred) when the column or a value is missing."""
    if column is None or column not in batch.schema.names:
        return np.full(batch.num_rows, np.nan)
    values = batch.column(column).to_numpy(zero_copy_only=False)
    return np.asarray(values, dtype=np.float64)


def buckets(
    exchange: Exchange, config: MinhashConfig, partition: int, partitions: int
) -> dict[str, Any]:
    """Edges between the documents that share a band key: star edges without verify, else
    the verified links of every bucket (`verify.verified_edges`)."""
    records = exchange.read_partition("signatures", partition, BAND_RECORD)
    if not config.verify:
        edges = star_edges(records["key"], records["node"])
        write_edges(exchange, "buckets", partition, edges, partitions)
        return {"edges": len(edges), "verified": 0, "failed": 0, "comparison_limit": 0}
    verified = verified_edges(
        ShardAttributes(exchange), records["key"], records["node"], config.threshold
    )
    edges = unique_rows(verified.edges)
    write_edges(exchange, "buckets", partition, edges, partitions)
    return {
        "edges": len(edges),
        "verified": verified.passed,
        "failed": verified.failed,
        "comparison_limit": verified.limited,
    }


def write_edges(
    exchange: Exchange, step: str, task: int, edges: np.ndarray, partitions: int
) -> None:
    """Both directions of every edge, to the partition of their first node."""
    records = directed_records(edges)
    exchange.write_partitioned(
        step, task, records, node_partition(records["node"], partitions), partitions
    )


def star_round(exchange: Exchange, step: Step, partition: int) -> dict[str, Any]:
    """One large-star or small-star round over a partition's edges."""
    records = exchange.read_partition(step.params["input"], partition, EDGE_RECORD)
    if step.params["large"]:
        edges, not_star = large_star(records["node"], records["nbr"])
    else:
        edges, not_star = small_star(records["node"], records["nbr"]), 0
    write_edges(exchange, step.name, partition, edges, step.params["partitions"])
    return {"edges": len(edges), "not_star": not_star}


def clusters(exchange: Exchange, partition: int, edges_step: str, shards: int) -> dict[str, Any]:
    """Each star is a cluster: every member's keeper, root and cluster size, to its shard."""
    records = exchange.read_partition(edges_step, partition, EDGE_RECORD)
    # In a star the centre (the component's smallest node) is the only node with a
    # larger neighbour: those records list each cluster's centre and its other members.
    centre = records[records["node"] < records["nbr"]]
    roots = unique_values(centre["node"])
    root = np.concatenate([roots, centre["node"]])
    member = np.concatenate([roots, centre["nbr"]])
    attributes = ShardAttributes(exchange)
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


def size_bin(size: int) -> str:
    """Cluster sizes 2-9 exactly, then decades (10-99, 100-999, ...)."""
    if size < 10:
        return str(size)
    low = 10 ** (len(str(size)) - 1)
    return f"{low}-{10 * low - 1}"
