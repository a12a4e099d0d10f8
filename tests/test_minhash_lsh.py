"""LSH kernels on planted near-duplicates of real documents: recall at high Jaccard."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from stages.minhash.lsh import (
    band_keys,
    components,
    directed_records,
    large_star,
    node_partition,
    small_star,
    star_edges,
    unique_rows,
    unique_values,
)
from stages.minhash.signatures import MinHasher, ShingleConfig, optimal_bands, shingles


def edited(text: str, share: float, rng: random.Random) -> str:
    words = text.split()
    for _ in range(int(len(words) * share)):
        words[rng.randrange(len(words))] = rng.choice(["lorem", "alpha", "beta", "gamma"])
    return " ".join(words)


def true_jaccard(a: str, b: str) -> float:
    sa, sb = set(shingles(a)), set(shingles(b))
    return len(sa & sb) / max(len(sa | sb), 1)


def test_planted_near_duplicates_are_found(real_data: Path) -> None:
    with (real_data / "samples/cc/llamafactory_c4_demo.jsonl").open() as lines:
        originals = [json.loads(line)["text"] for line in lines][:150]
    originals = [t for t in originals if len(t.split()) >= 200]
    rng = random.Random(7)
    copies = [edited(t, 0.01, rng) for t in originals]
    docs = originals + copies
    # The LSH threshold sits below the Jaccard target (0.85): 28 x 9 bands of 256 permutations
    # find a 0.85 pair with probability 0.9994; verification is what restores precision.
    signatures = MinHasher(num_perm=256, seed=1).signatures(docs, ShingleConfig())
    bands, rows = optimal_bands(0.65, 256)
    keys = band_keys(signatures, bands, rows)
    ids = np.arange(len(docs), dtype=np.int64)
    edges = np.concatenate([star_edges(keys[:, b], ids) for b in range(bands)])
    labels = components(np.unique(edges, axis=0))
    planted = [(i, i + len(originals)) for i in range(len(originals))]
    high = [(a, b) for a, b in planted if true_jaccard(docs[a], docs[b]) >= 0.85]
    assert len(high) >= 30
    found = sum(labels.get(a, a) == labels.get(b, b) for a, b in high)
    assert found / len(high) >= 0.99
    # Unrelated originals are not merged with each other.
    roots = {labels.get(i, i) for i in range(len(originals))}
    assert len(roots) >= 0.98 * len(originals)


def test_star_edges_and_components() -> None:
    keys = np.array([5, 5, 5, 9, 9, 1], dtype=np.uint64)
    docs = np.array([30, 10, 20, 40, 41, 50], dtype=np.int64)
    assert star_edges(keys, docs).tolist() == [[10, 20], [10, 30], [40, 41]]
    labels = components(np.array([[3, 4], [4, 5], [7, 5], [8, 9]]))
    assert labels == {3: 3, 4: 3, 5: 3, 7: 3, 8: 8, 9: 8}


def test_band_keys_are_deterministic_and_band_specific() -> None:
    sig = np.tile(np.arange(4, dtype=np.uint32), (2, 2))  # two identical docs, 8 values
    keys = band_keys(sig, bands=2, rows=4)
    assert (keys[0] == keys[1]).all()
    assert keys[0, 0] != keys[0, 1]  # same row values, different band: different key


# --- connected components: large-star / small-star rounds against union-find -----------------


def star_rounds(edges: np.ndarray, partitions: int) -> tuple[dict[int, int], int]:
    """Labels (smallest node of each component) by alternating large-star and small-star
    rounds over node-partitioned directed records, as the minhash stage's `star-NNN` steps run
    them (stop after a large-star round whose input had no node left to fix), then reading
    each star's centre from the records whose node is smaller than its neighbour."""
    records = directed_records(edges)
    rounds = 0
    while True:
        large = rounds % 2 == 0
        owner = node_partition(records["node"], partitions)
        outputs, not_star = [], 0
        for p in range(partitions):
            mine = records[owner == p]
            if large:
                out, open_nodes = large_star(mine["node"], mine["nbr"])
                not_star += open_nodes
            else:
                out = small_star(mine["node"], mine["nbr"])
            outputs.append(out)
        records = directed_records(np.concatenate(outputs).reshape(-1, 2))
        rounds += 1
        if large and not_star == 0:
            break
        assert rounds < 200, "no convergence"
    centre = records[records["node"] < records["nbr"]]
    labels = {int(n): int(n) for n in np.unique(centre["node"])}
    for root, member in zip(centre["node"].tolist(), centre["nbr"].tolist(), strict=True):
        assert labels.setdefault(member, root) == root, "a node in two stars"
    return labels, rounds


def random_graph(rng: np.random.Generator) -> np.ndarray:
    """Edges (a < b) of a random graph on sparse int64 node ids (shard << 32 | row): random
    edges, paths and stars in random id order, duplicates and both orientations included."""
    n = int(rng.integers(2, 80))
    shards = rng.integers(0, 4, n).astype(np.int64)
    ids = np.unique((shards << 32) | rng.integers(0, 1 << 20, n))
    rng.shuffle(ids)
    n = len(ids)
    kind = rng.integers(4)
    if kind == 0:  # sparse random graph: many small components
        m = int(rng.integers(1, 2 * n))
        pairs = rng.integers(0, n, (m, 2))
    elif kind == 1:  # one long path in random id order: the slowest case for the rounds
        pairs = np.stack([np.arange(n - 1), np.arange(1, n)], axis=1)
    elif kind == 2:  # stars and paths glued together
        hub = rng.integers(0, n, n)
        pairs = np.concatenate([np.stack([np.arange(n), hub], axis=1), [[0, n - 1]]])
    else:  # dense
        m = int(rng.integers(n, n * n // 2 + 2))
        pairs = rng.integers(0, n, (m, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    edges = ids[pairs]
    if len(edges) == 0:
        edges = ids[[[0, 1]]]
    flip = rng.random(len(edges)) < 0.5
    edges[flip] = edges[flip][:, ::-1]
    return np.concatenate([edges, edges[: len(edges) // 4]])  # some duplicates


def test_star_rounds_match_union_find_on_random_graphs() -> None:
    rng = np.random.default_rng(2024)
    worst = 0
    for _ in range(300):
        edges = random_graph(rng)
        expected = components(edges)
        results = [star_rounds(edges, partitions) for partitions in (1, 3, 7)]
        for labels, rounds in results:
            assert labels == expected
            worst = max(worst, rounds)
        # partitioning never changes the number of rounds (it is a property of the graph)
        assert len({rounds for _, rounds in results}) == 1
    assert worst <= 25  # O(log^2 n) rounds; n < 80 here


def test_large_and_small_star_rounds_by_hand() -> None:
    # path 1 - 3 - 2 - 4: node 3 has a smaller neighbour and two neighbours, so not a star
    edges = np.array([[1, 3], [2, 3], [2, 4]])
    records = directed_records(edges)
    out, not_star = large_star(records["node"], records["nbr"])
    assert not_star == 1  # 3 (neighbours 1, 2); 2 and 1 have no smaller neighbour
    # 1 links 3 to 1; 2 links 3 and 4 to min(2, 3, 4) = 2; 3, 4 have no larger neighbour
    assert out.tolist() == [[3, 1], [3, 2], [4, 2]]
    records = directed_records(out)
    # small star: each node links itself and its smaller neighbours to its smallest one
    assert small_star(records["node"], records["nbr"]).tolist() == [[2, 1], [3, 1], [4, 2]]
    assert star_rounds(edges, 1) == ({1: 1, 2: 1, 3: 1, 4: 1}, 5)
    empty = np.empty(0, dtype=np.int64)
    assert large_star(empty, empty)[0].shape == (0, 2)
    assert small_star(empty, empty).shape == (0, 2)


@pytest.mark.parametrize("size", [0, 1, 7, 5000])
def test_the_fast_unique_helpers_equal_numpy_unique(size: int) -> None:
    """Sort-and-mask stand-ins for np.unique on the hot paths: the same values, same order."""
    rng = np.random.default_rng(size)
    values = rng.integers(0, max(size // 3, 1), size).astype(np.uint64) << np.uint64(33)
    assert np.array_equal(unique_values(values), np.unique(values))
    rows = rng.integers(-3, max(size // 4, 1), (size, 2)).astype(np.int64)
    found, expected = unique_rows(rows), np.unique(rows, axis=0)
    assert found.shape == expected.shape and np.array_equal(found, expected)
