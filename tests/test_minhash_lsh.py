"""LSH kernels on planted near-duplicates of real documents: recall at high Jaccard."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

from stages.minhash.lsh import band_keys, components, star_edges
from stages.minhash.signatures import MinHasher, ShingleConfig, optimal_bands, shingles


def edited(text: str, share: float, rng: random.Random) -> str:
    words = text.split()
    for _ in range(int(len(words) * share)):
        words[rng.randrange(len(words))] = rng.choice(["lorem", "alpha", "beta", "gamma"])
    return " ".join(words)


def true_jaccard(a: str, b: str) -> float:
    sa, sb = set(shingles(a)), set(shingles(b))
    return len(sa & sb) / max(len(sa | sb), 1)


def test_planted_near_duplicates_are_found(shared: Path) -> None:
    with (shared / "samples/cc/llamafactory_c4_demo.jsonl").open() as lines:
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
