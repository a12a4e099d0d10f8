"""Verification of LSH candidates (stages/minhash/verify.py, kernels.py): the compiled bucket
linking against a plain Python statement of the same rule, on random buckets with exact
copies, near-duplicates, digest collisions and members reaching the comparison limit; and the
chunked gather of shingle sets through the exchange."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np
import pytest

from core.exchange import Exchange
from stages.base import node_ids
from stages.minhash import kernels, verify
from stages.minhash.verify import MAX_COMPARISONS, ShardAttributes, save_shard_attributes

THRESHOLD = 0.85


class ReferenceLinker:
    """The rule of `verify.verified_edges`, one bucket at a time over Python sets."""

    def __init__(self, sets: list[frozenset[int]], digests: list[int], limit: int) -> None:
        self.sets, self.digests, self.limit = sets, digests, limit
        self.seen: dict[tuple[int, int], bool] = {}
        self.passed = self.failed = 0

    def similar(self, a: int, b: int) -> bool:
        if (a, b) not in self.seen:
            union = len(self.sets[a] | self.sets[b])
            jaccard = len(self.sets[a] & self.sets[b]) / union if union else 0.0
            self.seen[a, b] = ok = jaccard >= THRESHOLD
            self.passed, self.failed = self.passed + ok, self.failed + (not ok)
        return self.seen[a, b]

    def link(self, members: list[int]) -> tuple[list[tuple[int, int]], int]:
        groups: list[dict[int, int]] = []  # per group: digest -> a member
        edges, limited = [], 0
        for member in members:
            digest = self.digests[member]
            joined: list[int] = []
            compared = 0
            for g, distinct in enumerate(groups):
                copy = distinct.get(digest)
                if copy is not None and self.sets[copy] == self.sets[member]:
                    self.passed += 1
                    edges.append((copy, member))
                    joined.append(g)
                    continue
                for other in distinct.values():
                    if compared == self.limit:
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


def random_sets(rng: random.Random, count: int) -> list[frozenset[int]]:
    """Families of exact copies and near-duplicates around the threshold, and unrelated sets."""
    sets: list[frozenset[int]] = []
    while len(sets) < count:
        base = set(rng.sample(range(1 << 20), rng.randint(1, 60)))
        for _ in range(rng.randint(1, 6)):
            copy = set(base)
            if rng.random() < 0.6:  # an edited copy: some shingles dropped, some added
                for s in rng.sample(sorted(copy), rng.randint(0, max(1, len(copy) // 8))):
                    copy.discard(s)
                copy |= set(rng.sample(range(1 << 20), rng.randint(0, 4)))
            sets.append(frozenset(copy or base))
    return sets[:count]


def random_buckets(rng: random.Random, n_sets: int, count: int) -> list[list[int]]:
    """Buckets of sorted members: mostly from a window of consecutive sets (families, so
    groups form and merge), some from anywhere (false candidates)."""
    buckets = []
    for _ in range(count):
        size = rng.choice([2, 3, 5, 20, 120])
        start = rng.randrange(n_sets - size // 2)
        window = range(start, min(n_sets, start + size))
        members = set(rng.sample(window, (len(window) + 1) // 2))
        members |= set(rng.sample(range(n_sets), size - len(members)))
        buckets.append(sorted(members))
    return buckets


def kernel_arrays(sets: list[frozenset[int]]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.r_[0, np.cumsum([len(s) for s in sets])].astype(np.int64)
    shingles = np.concatenate([np.array(sorted(s), dtype=np.uint32) for s in sets])
    return offsets, shingles


@pytest.mark.parametrize("seed", range(6))
def test_compiled_linking_is_the_reference_rule(seed: int) -> None:
    """Same edges in the same order, same counts, on buckets of shuffled families; digests
    collide on purpose (a shared digest for different sets), and a small comparison limit is
    reached in the large buckets."""
    rng = random.Random(seed)
    sets = random_sets(rng, 300)
    digest_of: dict[frozenset[int], int] = {}
    digests = [digest_of.setdefault(s, rng.randrange(8 if seed % 2 else 1 << 62)) for s in sets]
    buckets = random_buckets(rng, len(sets), 80)
    limit = MAX_COMPARISONS if seed < 3 else 7
    reference = ReferenceLinker(sets, digests, limit)
    edges, limited = [], 0
    for members in buckets:
        found, over = reference.link(members)
        edges += found
        limited += over
    assert limited > 0 or limit == MAX_COMPARISONS
    offsets, shingles = kernel_arrays(sets)
    bounds = np.r_[0, np.cumsum([len(m) for m in buckets])].astype(np.int64)
    members = np.concatenate([np.array(m, dtype=np.int64) for m in buckets])
    keys = np.arange(len(sets), dtype=np.int64)
    found, pair_keys, similar, same, over = kernels.link_buckets(
        bounds,
        members,
        keys,
        len(sets),
        np.array(digests, dtype=np.int64),
        offsets,
        shingles,
        THRESHOLD,
        limit,
    )
    assert found.tolist() == [list(e) for e in edges]
    assert over == limited
    assert same + int(similar.sum()) == reference.passed
    assert int((~similar).sum()) == reference.failed
    assert sorted(pair_keys.tolist()) == sorted(a * len(sets) + b for a, b in reference.seen)


def test_jaccard_at_least_is_the_float_division() -> None:
    """Exactly at the threshold, just below it, and the size shortcut (min/max < threshold)."""
    a = np.arange(100, dtype=np.uint32)
    assert kernels.jaccard_at_least(a, a[:85], 0.85)  # 85 / 100
    assert not kernels.jaccard_at_least(a, a[:84], 0.85)
    assert kernels.jaccard_at_least(a[:17], a[:20], 0.85)  # 17 / 20 == 0.85 in float64
    assert not kernels.jaccard_at_least(a[:0], a[:0], 0.85)
    b = np.r_[a[:90], np.arange(200, 210, dtype=np.uint32)]  # 90 / 110
    assert not kernels.jaccard_at_least(a, b, 0.85)
    assert kernels.jaccard_at_least(a, b, 0.8)


def test_chunks_of_buckets_give_the_edges_and_counts_of_one_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shingle sets saved for two shards, read back through the exchange: a chunk budget of a
    few sets gives the same edges and counts as one chunk, and the counts are the reference
    rule's (a pair compared in two chunks is counted once)."""
    rng = random.Random(7)
    sets = random_sets(rng, 200)
    exchange = Exchange(tmp_path)
    nodes = []
    for shard, part in enumerate((sets[:120], sets[120:])):
        unique = np.concatenate([np.array(sorted(s), dtype=np.uint32) for s in part])
        sizes = np.array([len(s) for s in part], dtype=np.int64)
        digests = verify.set_digests(unique, sizes)
        ids = [f"{shard}-{i}".encode() for i in range(len(part))]
        save_shard_attributes(exchange, shard, ids, np.zeros(len(part)), (digests, unique, sizes))
        nodes.append(node_ids(shard, np.arange(len(part))))
    node_of = np.concatenate(nodes)
    buckets = random_buckets(rng, len(sets), 150)
    band_nodes = node_of[np.concatenate(buckets)]
    band_keys = np.repeat(
        np.arange(150, dtype=np.uint64) * np.uint64(7919), list(map(len, buckets))
    )
    whole = verify.verified_edges(ShardAttributes(exchange), band_keys, band_nodes, THRESHOLD)
    monkeypatch.setattr(verify, "CHUNK_SHINGLES", 100)
    chunked = verify.verified_edges(ShardAttributes(exchange), band_keys, band_nodes, THRESHOLD)
    assert whole.edges.tolist() == chunked.edges.tolist()
    assert (whole.passed, whole.failed, whole.limited) == (
        chunked.passed,
        chunked.failed,
        chunked.limited,
    )
    index = {int(n): i for i, n in enumerate(node_of)}
    digests = [int(d) for d in verify.set_digests(*kernel_sizes(sets))]
    reference = ReferenceLinker(sets, digests, MAX_COMPARISONS)
    bounds, members = verify.bucket_members(band_keys, band_nodes)
    edges = []
    for lo, hi in itertools.pairwise(bounds.tolist()):
        edges += reference.link([index[int(n)] for n in members[lo:hi]])[0]
    assert [[index[a], index[b]] for a, b in whole.edges.tolist()] == [list(e) for e in edges]
    assert (whole.passed, whole.failed) == (reference.passed, reference.failed)


def kernel_sizes(sets: list[frozenset[int]]) -> tuple[np.ndarray, np.ndarray]:
    offsets, shingles = kernel_arrays(sets)
    return shingles, np.diff(offsets)


def test_sorted_sets_are_each_documents_distinct_hashes_in_order() -> None:
    """Documents of every size around the switch from a comparison sort to the radix sort,
    empty ones, and many repeated hashes: each document's `np.unique`."""
    rng = np.random.default_rng(3)
    counts = rng.choice([0, 1, 5, kernels._RADIX_MIN - 1, kernels._RADIX_MIN, 700, 5000], 300)
    hashes = rng.integers(0, 1 << 32, counts.sum(), dtype=np.uint32)
    hashes[::7] = hashes[::7] % 50  # repeats within and across documents, small values
    unique, sizes = kernels.sorted_sets(hashes, counts)
    expected = [np.unique(part) for part in np.split(hashes, np.cumsum(counts)[:-1])]
    assert sizes.tolist() == [len(e) for e in expected]
    assert np.array_equal(unique, np.concatenate(expected))
