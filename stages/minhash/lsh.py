"""LSH banding and clustering kernels: the per-partition work of the minhash stage.

These are the pure functions the distributed steps of docs/dedup.md run inside each task:
band keys (map), star edges from a partition's buckets (bucket), and a union-find over an
edge list (the single-partition reference the distributed components step is tested against).
"""

from __future__ import annotations

import numpy as np

from stages.minhash.signatures import _fmix64_np

# Mixed into each band's key so equal row values in different bands never share a bucket.
_BAND_SALT = np.uint64(0x9E3779B97F4A7C15)


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """uint64[n_docs, bands]: one hash per band of each signature (rows values + band index)."""
    n_docs, num_perm = signatures.shape
    if bands * rows > num_perm:
        raise ValueError(f"bands x rows = {bands * rows} exceeds num_perm = {num_perm}")
    values = signatures[:, : bands * rows].astype(np.uint64).reshape(n_docs, bands, rows)
    keys = np.broadcast_to(np.arange(bands, dtype=np.uint64) * _BAND_SALT, (n_docs, bands))
    keys = keys.copy()
    with np.errstate(over="ignore"):
        for r in range(rows):  # rows is small (a few dozen): the loop is over columns
            keys = _fmix64_np(keys ^ values[:, :, r])
    return keys


def star_edges(keys: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """int64[k, 2] edges (smallest doc of a bucket, other doc) for every bucket of >1 docs.

    A bucket of m documents yields m - 1 edges, not m(m-1)/2 pairs: enough to connect them.
    """
    order = np.lexsort((docs, keys))
    keys, docs = keys[order], docs[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    first = np.repeat(docs[starts], np.diff(np.r_[starts, len(keys)]))
    edges = np.stack([first, docs], axis=1)
    edges = edges[edges[:, 0] != edges[:, 1]]
    return np.unique(edges, axis=0)


def components(edges: np.ndarray) -> dict[int, int]:
    """Label of every node in `edges`: the smallest node of its connected component."""
    parent: dict[int, int] = {}

    def find(node: int) -> int:
        root = node
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while parent[node] != root:  # path compression
            parent[node], node = root, parent[node]
        return root

    for a, b in edges.tolist():
        root_a, root_b = find(a), find(b)
        if root_a != root_b:
            parent[max(root_a, root_b)] = min(root_a, root_b)
    return {node: find(node) for node in parent}
