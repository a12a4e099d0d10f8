"""LSH banding and clustering kernels: the per-partition work of the minhash stage.

These are the pure functions the distributed steps of docs/dedup.md run inside each task:
band keys (signatures step), star edges from a partition's buckets (buckets step), one round
of large-star or small-star over the edges of a partition's nodes (components), and a
union-find over an edge list: the single-machine reference the distributed components are
tested against. The verification of candidates is verify.py's.

Edges are int64 arrays of shape (k, 2). The components steps exchange them as *directed
records* (`EDGE_RECORD`: node, neighbour), both directions of every edge, partitioned by
`node_partition(node)`, so a task sees every neighbour of each node it owns.
"""

from __future__ import annotations

import numpy as np

from stages.text import fmix64_np

# Mixed into each band's key so equal row values in different bands never share a bucket.
_BAND_SALT = np.uint64(0x9E3779B97F4A7C15)


# `np.unique` is many times slower than a sort and a mask on large arrays in numpy 2.x (its
# hash-based path, and its row-wise path through a structured view): these return the same.
def unique_values(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values of a 1-D array, as `np.unique(values)`."""
    ordered = np.sort(values)
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if len(ordered) else ordered


def unique_rows(pairs: np.ndarray) -> np.ndarray:
    """Sorted distinct rows of a (k, 2) array, as `np.unique(pairs, axis=0)`."""
    ordered = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
    if len(ordered) == 0:
        return ordered
    return ordered[np.r_[True, np.any(ordered[1:] != ordered[:-1], axis=1)]]


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
            keys = fmix64_np(keys ^ values[:, :, r])
    return keys


def star_edges(keys: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """int64[k, 2] edges (smallest doc of a bucket, other doc) for every bucket of >1 docs.

    A bucket of m documents yields m - 1 edges, not m(m-1)/2 pairs: enough to connect them.
    """
    if len(keys) == 0:
        return np.empty((0, 2), dtype=np.int64)
    order = np.lexsort((docs, keys))
    keys, docs = keys[order], docs[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    first = np.repeat(docs[starts], np.diff(np.r_[starts, len(keys)]))
    edges = np.stack([first, docs], axis=1)
    edges = edges[edges[:, 0] != edges[:, 1]]
    return unique_rows(edges)


EDGE_RECORD = np.dtype([("node", "<i8"), ("nbr", "<i8")])


def node_partition(nodes: np.ndarray, n_partitions: int) -> np.ndarray:
    """Partition of each node: a hash, so partitions stay balanced whatever the node ids."""
    with np.errstate(over="ignore"):
        return (fmix64_np(nodes.astype(np.uint64)) % np.uint64(n_partitions)).astype(np.int64)


def directed_records(edges: np.ndarray) -> np.ndarray:
    """Both directions of every edge as EDGE_RECORD rows."""
    records = np.empty(2 * len(edges), dtype=EDGE_RECORD)
    records["node"] = np.concatenate([edges[:, 0], edges[:, 1]])
    records["nbr"] = np.concatenate([edges[:, 1], edges[:, 0]])
    return records


def _grouped(node: np.ndarray, nbr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(node, nbr) pairs sorted and unique, and the start index of each node's group."""
    pairs = unique_rows(np.stack([node, nbr], axis=1))
    node, nbr = pairs[:, 0], pairs[:, 1]
    starts = np.flatnonzero(np.r_[True, node[1:] != node[:-1]]) if len(node) else np.r_[0:0]
    return node, nbr, starts


def large_star(node: np.ndarray, nbr: np.ndarray) -> tuple[np.ndarray, int]:
    """One large-star round over every neighbour of the given nodes (Kiveris et al. 2014).

    Each node u links each larger neighbour v to m(u), the smallest of u and its neighbours.
    Returns the new edges (v, m(u)) and how many nodes are not yet a leaf or a star centre (a
    node with a smaller neighbour and more than one neighbour): when no partition has any, the
    graph is a set of stars around each component's smallest node and the rounds stop.
    """
    node, nbr, starts = _grouped(node, nbr)
    if len(node) == 0:
        return np.empty((0, 2), dtype=np.int64), 0
    sizes = np.diff(np.r_[starts, len(node)])
    smallest = np.minimum(node[starts], nbr[starts])  # nbr sorted within a group
    not_star = int(np.count_nonzero((nbr[starts] < node[starts]) & (sizes > 1)))
    m = np.repeat(smallest, sizes)
    larger = nbr > node
    return unique_rows(np.stack([nbr[larger], m[larger]], axis=1)), not_star


def small_star(node: np.ndarray, nbr: np.ndarray) -> np.ndarray:
    """One small-star round: each node u links itself and its smaller neighbours to the
    smallest of them. Uses only the records whose neighbour is smaller than the node."""
    smaller = nbr < node
    node, nbr, starts = _grouped(node[smaller], nbr[smaller])
    if len(node) == 0:
        return np.empty((0, 2), dtype=np.int64)
    m = np.repeat(nbr[starts], np.diff(np.r_[starts, len(node)]))
    edges = np.concatenate(
        [np.stack([node[starts], nbr[starts]], axis=1), np.stack([nbr, m], axis=1)]
    )
    return unique_rows(edges[edges[:, 0] != edges[:, 1]])


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
