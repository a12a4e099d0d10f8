"""The repeats step of the substring stage: one partition's units grouped by hash, each copy
compared byte for byte with its group's first occurrence in the input shards' text, and the
occurrences to remove written for their shards.

Byte-identical copies are one unit. A group whose copies differ in bytes (other whitespace, or
a 64-bit hash collision) is decided by the units' keys (`spans.span_key`, `normalized_line`)
in Python, as before the compiled path existed: so a collision never removes unique text, and
`hash_collisions` counts the groups that held more than one unit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import numpy as np

from core.exchange import Exchange
from stages.substring import kernels
from stages.substring.store import (
    ShardTexts,
    file_offsets,
    read_partition,
    release_freed_memory,
    shard_range,
)

# Peak memory of one unit in a repeats task, while sorting: its hash, location and length
# (8 + 8 + 4), its index and hash in the sorted order (4 + 8) and its bucket's bounds (about 4).
UNIT_BYTES = 36


def find_repeats(
    exchange: Exchange, partition: int, shards: int, keep_first: bool, key: Callable[[str], str]
) -> dict[str, int]:
    hashes, locs, lengths = read_partition(exchange, partition, shards)
    if len(hashes) >= int(kernels.NO_GROUP):  # unit indices are uint32
        raise ValueError(f"{len(hashes)} windows in a partition: set more partitions")
    order, ordered = kernels.hash_order(hashes)
    del hashes
    first = kernels.group_firsts(order, ordered)
    del order, ordered
    texts = ShardTexts(exchange)
    differs = _differing_groups(texts, locs, lengths, first, shards)
    removed, occurrences, undecided = kernels.decide(first, differs, keep_first)
    collisions = 0
    for members, raw in _undecided_groups(texts, locs, lengths, first, undecided):
        copies, collided = _copies(members, raw, key)
        collisions += collided
        for copy in copies:
            occurrences += len(copy)
            removed[copy[1:] if keep_first else copy] = True
    del first, differs, lengths
    kept = kernels.compact(locs, removed)  # in place: the locations stay sorted
    exchange.save("repeats", f"{partition:05d}", locs[:kept])
    release_freed_memory()
    return {
        "repeated_window_occurrences": occurrences,
        "windows_removed": kept,
        "hash_collisions": collisions,
    }


def _differing_groups(
    texts: ShardTexts, locs: np.ndarray, lengths: np.ndarray, first: np.ndarray, shards: int
) -> np.ndarray:
    """Per unit: True for the first of a group whose copies are not all byte-identical. The
    copies are compared shard by shard (their own, then their first's: two files mapped at a
    time), in corpus order."""
    differs = np.zeros(len(first), dtype=bool)
    for shard in range(shards):
        lo, hi = shard_range(locs, shard)
        if lo == hi:
            continue
        members, bounds = kernels.by_first_shard(locs, first, lo, hi, shards)
        for first_shard in np.flatnonzero(np.diff(bounds)).tolist():
            chosen = members[bounds[first_shard] : bounds[first_shard + 1]]
            text, first_text = texts[shard], texts[first_shard]
            kernels.verify(text, first_text, locs, lengths, first, chosen, differs)
    return differs


def _undecided_groups(
    texts: ShardTexts, locs: np.ndarray, lengths: np.ndarray, first: np.ndarray, units: np.ndarray
) -> list[tuple[list[int], list[bytes]]]:
    """(members in corpus order, their bytes) of the groups of `units`."""
    groups: dict[int, tuple[list[int], list[bytes]]] = defaultdict(lambda: ([], []))
    shards = (locs[units] >> np.uint64(kernels.OFFSET_BITS)).tolist()
    offsets = file_offsets(locs[units]).tolist()
    for i, shard, lo, n in zip(
        units.tolist(), shards, offsets, lengths[units].tolist(), strict=True
    ):
        members, raw = groups[int(first[i])]
        members.append(i)
        raw.append(texts[shard][lo : lo + n].tobytes())
    return list(groups.values())


def _copies(
    members: list[int], raw: list[bytes], key: Callable[[str], str]
) -> tuple[list[list[int]], bool]:
    """The sets of members (corpus order) that are copies of one unit, two or more each, and
    whether the group held more than one unit (a hash collision). Identical bytes are the same
    unit; byte variants are compared by their keys, computed once per variant."""
    variants: dict[bytes, list[int]] = defaultdict(list)
    for member, unit in zip(members, raw, strict=True):
        variants[unit].append(member)
    copies: dict[str, list[int]] = defaultdict(list)
    for unit, indices in variants.items():
        copies[key(unit.decode())] += indices
    return [sorted(c) for c in copies.values() if len(c) > 1], len(copies) > 1
