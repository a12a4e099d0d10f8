"""Exact verification of LSH candidates: what the signatures step saves per shard for random
access (ids, keeper scores, shingle-set digests and sorted shingle sets) and the pair verifier
the buckets step runs over it (docs/dedup.md)."""

from __future__ import annotations

import numpy as np

from core.exchange import Exchange
from stages.base import node_shard_row
from stages.minhash.lsh import exact_jaccard, unique_values
from stages.text import fmix64_np

# Comparisons a bucket member may make: bounds the work of a bucket of many mutually dissimilar
# documents (LSH false positives); a bucket that reaches it is counted in the stats.
MAX_COMPARISONS = 64
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
            blob, offsets = self.get(shard, "ids"), self.get(shard, "id_offsets")
            for i in np.flatnonzero(shards == shard).tolist():
                out[i] = blob[offsets[rows[i]] : offsets[rows[i] + 1]].tobytes()
        return out

    def shingle_set(self, node: int) -> np.ndarray:
        shard, row = node >> 32, node & 0xFFFFFFFF
        offsets = self.get(shard, "offsets")
        return self.get(shard, "shingles")[offsets[row] : offsets[row + 1]]


def shingle_sets(hashes: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each document's sorted unique shingle hashes, concatenated, and their counts."""
    doc = np.repeat(np.arange(len(counts), dtype=np.uint64), counts)
    keys = unique_values((doc << np.uint64(32)) | hashes.astype(np.uint64))  # one sort, by doc
    sizes = np.bincount((keys >> np.uint64(32)).astype(np.int64), minlength=len(counts))
    return (keys & np.uint64(0xFFFFFFFF)).astype(np.uint32), sizes


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


class PairVerifier:
    """Exact-Jaccard links within buckets; each pair is compared at most once per task."""

    def __init__(self, attributes: ShardAttributes, threshold: float) -> None:
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
