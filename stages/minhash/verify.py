"""Exact verification of LSH candidates: what the signatures step saves per shard for random
access (ids, keeper scores, shingle-set digests and sorted shingle sets) and the linking of
verified candidates the buckets step runs over it (docs/dedup.md; loops in kernels.py)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from core.exchange import Exchange
from stages.base import node_shard_row
from stages.minhash import kernels
from stages.minhash.lsh import unique_values
from stages.text import fmix64_np

# Comparisons a bucket member may make: bounds the work of a bucket of many mutually dissimilar
# documents (LSH false positives); a bucket that reaches it is counted in the stats.
MAX_COMPARISONS = 64
# Shingles of the sets one call of the verification loop reads (4 bytes each): its memory.
CHUNK_SHINGLES = 1 << 22
_STEP = "signatures"  # the step whose side arrays these are


def save_shard_attributes(
    exchange: Exchange,
    shard: int,
    ids: list[bytes],
    scores: np.ndarray,
    verification: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
) -> None:
    """Save one shard's attributes for `ShardAttributes`; `verification` (shingle-set digests,
    concatenated sorted sets and their sizes) only with verify."""
    prefix = f"{shard:05d}"
    exchange.save(_STEP, f"{prefix}.ids", np.frombuffer(b"".join(ids), np.uint8))
    id_offsets = np.r_[0, np.cumsum([len(i) for i in ids], dtype=np.int64)]
    exchange.save(_STEP, f"{prefix}.id_offsets", id_offsets)
    exchange.save(_STEP, f"{prefix}.score", scores)
    if verification is not None:
        digests, sets, sizes = verification
        exchange.save(_STEP, f"{prefix}.digest", digests)
        exchange.save(_STEP, f"{prefix}.offsets", np.r_[0, np.cumsum(sizes)])
        exchange.save(_STEP, f"{prefix}.shingles", sets)


class ShardAttributes:
    """Random access to what the signatures step saved per shard: ids (a UTF-8 blob with
    offsets), keeper scores, shingle-set digests and (with verify) sorted shingle sets."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange

    def get(self, shard: int, name: str) -> np.ndarray:
        return self.exchange.load(_STEP, f"{shard:05d}.{name}")

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
            at = np.flatnonzero(shards == shard)
            blob, offsets = self.get(shard, "ids"), self.get(shard, "id_offsets")
            # one slice of the blob, then bytes slices: a memory map slice per id is slow
            lo, hi = int(offsets[rows[at].min()]), int(offsets[rows[at].max() + 1])
            text = blob[lo:hi].tobytes()
            starts = (offsets[rows[at]] - lo).tolist()
            ends = (offsets[rows[at] + 1] - lo).tolist()
            for i, start, end in zip(at.tolist(), starts, ends, strict=True):
                out[i] = text[start:end]
        return out

    def set_ranges(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(starts, sizes): where each node's shingle set lies in its shard's `shingles`."""
        shards, rows = node_shard_row(nodes)
        starts = np.zeros(len(nodes), dtype=np.int64)
        sizes = np.zeros(len(nodes), dtype=np.int64)
        for shard in np.unique(shards).tolist():
            mask = shards == shard
            offsets = self.get(shard, "offsets")
            starts[mask] = offsets[rows[mask]]
            sizes[mask] = offsets[rows[mask] + 1] - starts[mask]
        return starts, sizes

    def shingle_sets(
        self, nodes: np.ndarray, starts: np.ndarray, sizes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(offsets, shingles): node i's sorted shingle set (at `starts[i]`, `sizes[i]`
        long: `set_ranges`) is `shingles[offsets[i]:offsets[i + 1]]`, all read into one
        array."""
        offsets = np.r_[0, np.cumsum(sizes)].astype(np.int64)
        out = np.empty(offsets[-1], dtype=np.uint32)
        shards = node_shard_row(nodes)[0]
        for shard in np.unique(shards).tolist():
            mask = np.flatnonzero(shards == shard)
            self.exchange.read_ranges(
                _STEP,
                f"{shard:05d}.shingles",
                starts[mask],
                starts[mask] + sizes[mask],
                out,
                offsets[mask],
            )
        return offsets, out


def set_digests(unique: np.ndarray, sizes: np.ndarray) -> np.ndarray:
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


@dataclass
class VerifiedEdges:
    edges: np.ndarray  # int64 (k, 2) node pairs
    passed: int  # pairs verified: exact copies, and pairs at Jaccard >= threshold
    failed: int  # pairs below the threshold
    limited: int  # buckets in which a member reached MAX_COMPARISONS


def verified_edges(
    attributes: ShardAttributes, keys: np.ndarray, nodes: np.ndarray, threshold: float
) -> VerifiedEdges:
    """Edges that connect every similar pair of each bucket's members (band rows `keys`,
    `nodes`); each Jaccard is computed (and counted) at most once.

    A bucket's members are taken in node order. The members so far form groups (connected by
    verified edges); a group keeps one member per distinct shingle set (by digest, confirmed
    exactly), in the order they joined. A new member is linked to an identical set of a group
    without a Jaccard computation, else compared with the group's distinct sets until one is
    similar; it joins (and merges) every group it links to, and the merged group goes last.
    So an exact-copy bucket of m costs m - 1 array comparisons, and no similar pair is missed
    unless a member reaches MAX_COMPARISONS Jaccard computations (then the bucket is counted).

    The compiled loop (`kernels.link_buckets`) reads the shingle sets of chunks of buckets
    gathered into one array: at most CHUNK_SHINGLES of them, so memory does not grow with
    the partition.
    """
    bounds, members = bucket_members(keys, nodes)
    candidates = unique_values(members)
    index = np.searchsorted(candidates, members)
    starts, sizes = attributes.set_ranges(candidates)
    digests = attributes.column(candidates, "digest").view(np.int64)
    chunks = kernels.chunk_starts(bounds, index, sizes, CHUNK_SHINGLES)
    edges, pair_keys, pair_similar, passed, limited = [], [], [], 0, 0
    for first, last in itertools.pairwise(chunks.tolist()):
        lo, hi = bounds[first], bounds[last]
        local = unique_values(index[lo:hi])  # the chunk's candidates
        offsets, shingles = attributes.shingle_sets(candidates[local], starts[local], sizes[local])
        found, keys_found, similar, same, over = kernels.link_buckets(
            bounds[first : last + 1] - lo,
            np.searchsorted(local, index[lo:hi]),
            local,
            len(candidates),
            digests[local],
            offsets,
            shingles,
            threshold,
            MAX_COMPARISONS,
        )
        edges.append(candidates[local[found]])
        pair_keys.append(keys_found)
        pair_similar.append(similar)
        passed, limited = passed + same, limited + over
    # a pair compared in several chunks is counted once, as within a chunk
    all_keys = np.concatenate(pair_keys) if pair_keys else np.zeros(0, np.int64)
    _, first_of_pair = np.unique(all_keys, return_index=True)
    verified = np.concatenate(pair_similar)[first_of_pair] if pair_keys else np.zeros(0, bool)
    passed += int(np.count_nonzero(verified))
    return VerifiedEdges(
        np.concatenate(edges) if edges else np.zeros((0, 2), np.int64),
        passed,
        len(verified) - int(np.count_nonzero(verified)),
        limited,
    )


def bucket_members(keys: np.ndarray, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bounds, members): the nodes of every bucket with more than one, each sorted, buckets
    in key order; bucket i is `members[bounds[i]:bounds[i + 1]]`."""
    order = np.lexsort((nodes, keys))
    keys, nodes = keys[order], nodes[order]
    if not len(keys):  # a partition with no band record (no documents, or no shingles)
        return np.zeros(1, np.int64), nodes
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    sizes = np.diff(np.r_[starts, len(keys)])
    shared = sizes > 1
    members = nodes[np.repeat(shared, sizes)]
    return np.r_[0, np.cumsum(sizes[shared])].astype(np.int64), members
