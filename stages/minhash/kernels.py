"""Compiled loops of the minhash stage: shingle hashes and the per-permutation minima of
MinHash signatures (signatures.py), and verification (verify.py): each document's sorted
shingle set, exact Jaccard of two, the bucket linking of `verify.verified_edges`, the split of
a partition's buckets into chunks of bounded shingle memory.

`link_buckets` is the linking rule documented in `verify.verified_edges`, member by member and
group by group in the same order, so it makes the same comparisons and finds the same edges
and counts as a plain Python loop over the same groups would.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.typed import Dict

from stages.text import ALPHA, CJK, DIGIT, P_TOKEN
from stages.text.codepoints import fmix64

_NONE = -1  # no entry / no group
_MAX_HASH = 0xFFFFFFFF  # datasketch's max_hash: the signature value of no shingle
_MERSENNE_PRIME = np.uint64((1 << 61) - 1)
_P = np.uint64(P_TOKEN)
_ZERO = np.uint64(48)  # "0": what fold_digits makes of every digit


@numba.njit(cache=True, nogil=True)
def shingle_hashes(
    cp: np.ndarray,
    lengths: np.ndarray,
    table: np.ndarray,
    inside: int,
    fold_digits: bool,
    ngram: int,
    cjk_ngram: int,
    q_powers: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(uint32 shingle hashes in document order, count per document) of documents whose code
    points `cp` are consecutive (`lengths[d]` each, ending with a separator that is in no
    token), as signatures.py
    defines them: tokens are runs of characters of class `inside` (one character each in a
    CJK document), a token hashes to `fmix64(sum_i c_i * P**i)`, a shingle of tokens
    `t_0 .. t_{k-1}` to `fmix64(sum_j t_j * Q**j) >> 32` (`q_powers[j] = Q**j`)."""
    hashes = np.empty(len(cp), dtype=np.uint32)  # a shingle starts at a token, in a character
    counts = np.zeros(len(lengths), dtype=np.int64)
    tokens = np.empty(len(cp), dtype=np.uint64)
    n_hashes = end = 0
    for doc in range(len(lengths)):
        start, end = end, end + lengths[doc]
        alpha = cjk = 0
        for c in cp[start:end]:
            alpha += (table[c] & ALPHA) != 0
            cjk += (table[c] & CJK) != 0
        per_char = 2 * cjk > alpha
        n_tokens = 0
        acc, power, in_token = np.uint64(0), np.uint64(1), False
        for c in cp[start:end]:
            cls = table[c]
            if cls & inside:
                if in_token and per_char:
                    tokens[n_tokens] = fmix64(acc)
                    n_tokens += 1
                    acc, power = np.uint64(0), np.uint64(1)
                value = _ZERO if fold_digits and cls & DIGIT else np.uint64(c)
                acc += value * power
                power *= _P
                in_token = True
            elif in_token:
                tokens[n_tokens] = fmix64(acc)
                n_tokens += 1
                acc, power, in_token = np.uint64(0), np.uint64(1), False
        width = min(cjk_ngram if per_char else ngram, n_tokens)  # fewer tokens: one shingle
        counts[doc] = n_tokens - width + 1 if n_tokens else 0
        for first in range(counts[doc]):
            total = np.uint64(0)
            for j in range(width):
                total += tokens[first + j] * q_powers[j]
            hashes[n_hashes] = np.uint32(fmix64(total) >> np.uint64(32))
            n_hashes += 1
    return hashes[:n_hashes], counts


@numba.njit(cache=True, nogil=True)
def affine32_minima(
    values: np.ndarray, counts: np.ndarray, a: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """uint32 (n_docs, num_perm): per document (`counts[d]` consecutive `values`, its shingle
    hashes after fmix32), the minimum of `a * value + b mod 2**32` per permutation."""
    out = np.full((len(counts), len(a)), _MAX_HASH, dtype=np.uint32)
    end = 0
    for doc in range(len(counts)):
        row = out[doc]
        start, end = end, end + counts[doc]
        for value in values[start:end]:
            for k in range(len(a)):  # the contiguous loop over permutations vectorizes
                row[k] = min(row[k], np.uint32(a[k] * value + b[k]))
    return out


@numba.njit(cache=True, nogil=True)
def legacy_minima(
    values: np.ndarray, counts: np.ndarray, a: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """uint64 (n_docs, num_perm): as `affine32_minima` with datasketch < 2.0's permutations,
    `((a * value + b) mod 2**64) mod (2**61 - 1)`, then the low 32 bits."""
    out = np.full((len(counts), len(a)), _MAX_HASH, dtype=np.uint64)
    end = 0
    for doc in range(len(counts)):
        row = out[doc]
        start, end = end, end + counts[doc]
        for value in values[start:end]:
            for k in range(len(a)):
                permuted = ((a[k] * value + b[k]) % _MERSENNE_PRIME) & np.uint64(_MAX_HASH)
                row[k] = min(row[k], permuted)
    return out


_RADIX_MIN = 128  # a document with fewer shingles is sorted by comparisons


@numba.njit(cache=True, nogil=True)
def sorted_sets(hashes: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each document's sorted distinct shingle hashes (`counts[d]` consecutive uint32 `hashes`
    each), concatenated, and their counts: one small sort per document."""
    unique = np.empty_like(hashes)
    sizes = np.zeros(len(counts), dtype=np.int64)
    widest = int(counts.max()) if len(counts) else 0
    scratch = np.empty((2, widest), dtype=hashes.dtype)
    n_unique = end = 0
    for doc in range(len(counts)):
        start, end = end, end + counts[doc]
        if end - start < _RADIX_MIN:
            ordered = np.sort(hashes[start:end])
        else:
            ordered = _radix_sort(hashes[start:end], scratch)
        first = n_unique
        for value in ordered:
            if n_unique == first or unique[n_unique - 1] != value:
                unique[n_unique] = value
                n_unique += 1
        sizes[doc] = n_unique - first
    return unique[:n_unique], sizes


@numba.njit(cache=True, nogil=True)
def _radix_sort(values: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """uint32 `values` sorted, a byte at a time from the lowest (a view of `scratch`): linear
    time, where a comparison sort of hashes is ~10 passes."""
    n = len(values)
    histogram = np.zeros((4, 257), dtype=np.int64)  # per byte: the start of each value
    for value in values:
        for byte in range(4):
            histogram[byte, ((np.int64(value) >> (8 * byte)) & 255) + 1] += 1
    source, target = scratch[0, :n], scratch[1, :n]
    source[:] = values
    for byte in range(4):
        at = np.cumsum(histogram[byte, :256])
        for value in source:
            digit = (np.int64(value) >> (8 * byte)) & 255
            target[at[digit]] = value
            at[digit] += 1
        source, target = target, source
    return source


@numba.njit(cache=True, nogil=True)
def jaccard_at_least(a: np.ndarray, b: np.ndarray, threshold: float) -> bool:
    """Whether two sorted arrays of unique shingle hashes have Jaccard >= threshold, with the
    Jaccard computed as `shared / union` in float64 (the value Python's int division gives)."""
    na, nb = len(a), len(b)
    if na == 0 or nb == 0:  # Jaccard 0.0 (also when both are empty: no union)
        return threshold <= 0.0
    # Jaccard <= min/max, and a correctly rounded division is monotone: no merge needed
    if min(na, nb) / max(na, nb) < threshold:
        return False
    i = j = shared = 0
    while i < na and j < nb:
        x, y = a[i], b[j]
        if x < y:
            i += 1
        elif y < x:
            j += 1
        else:
            shared += 1
            i += 1
            j += 1
    return shared / (na + nb - shared) >= threshold


@numba.njit(cache=True, nogil=True)
def _same_set(shingles: np.ndarray, offsets: np.ndarray, a: int, b: int) -> bool:
    lo_a, lo_b = offsets[a], offsets[b]
    size = offsets[a + 1] - lo_a
    if offsets[b + 1] - lo_b != size:
        return False
    return np.array_equal(shingles[lo_a : lo_a + size], shingles[lo_b : lo_b + size])


@numba.njit(cache=True, nogil=True)
def _append_edge(edges: np.ndarray, count: int, a: int, b: int) -> np.ndarray:
    """`edges` with row `count` set to (a, b), reallocated twice as large when full."""
    if count == len(edges):
        grown = np.empty((2 * len(edges), 2), dtype=np.int64)
        grown[:count] = edges
        edges = grown
    edges[count, 0], edges[count, 1] = a, b
    return edges


# Columns of an entry (one member per distinct set of a group) and of a digest-index slot.
_DIGEST, _MEMBER, _NEXT, _GROUP, _SAME = 0, 1, 2, 3, 4  # _NEXT in its group, _SAME digest
_KEY, _STAMP, _FIRST = 0, 1, 2  # the digest, the bucket that uses the slot, its first entry


@numba.njit(cache=True, nogil=True)
def link_buckets(
    bounds: np.ndarray,
    members: np.ndarray,
    keys: np.ndarray,
    n_keys: int,
    digests: np.ndarray,
    offsets: np.ndarray,
    shingles: np.ndarray,
    threshold: float,
    max_comparisons: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """The verified edges of buckets `members[bounds[i]:bounds[i + 1]]` (candidate indices,
    in node order; candidate c's set is `shingles[offsets[c]:offsets[c + 1]]`, its digest
    `digests[c]`, as int64).

    A group is a linked list of entries in insertion order: the dict of the rule in
    `verify.verified_edges`; a hash index of the bucket's digests chains the entries of each
    digest, so finding a digest in a group is one probe. Returns the edges (as candidate
    index pairs), the key `keys[a] * n_keys + keys[b]` and outcome of every Jaccard
    computation (each pair once), how many exact-copy checks passed and how many buckets
    reached `max_comparisons`.
    """
    widest = int(np.max(bounds[1:] - bounds[:-1])) if len(bounds) > 1 else 0
    entries = np.empty((widest, 5), dtype=np.int64)
    head = np.empty(widest, dtype=np.int64)  # per group id: its first and last entry
    tail = np.empty(widest, dtype=np.int64)
    slots = np.full((_power_of_two(2 * widest), 3), _NONE, dtype=np.int64)
    joined_at = np.full(widest, _NONE, dtype=np.int64)  # the member position a group joined
    order = np.empty(widest, dtype=np.int64)  # the bucket's groups, in order
    joined = np.empty(widest, dtype=np.int64)
    has_copy = np.empty(widest, dtype=np.bool_)
    memo = Dict.empty(key_type=types.int64, value_type=types.boolean)
    edges = np.empty((max(16, len(members)), 2), dtype=np.int64)
    n_edges = same_passed = limited_buckets = 0
    for bucket in range(len(bounds) - 1):
        n_entries = n_group_ids = n_groups = 0
        limited = False
        for position in range(bounds[bucket], bounds[bucket + 1]):
            member, digest = members[position], digests[members[position]]
            n_joined = compared = 0
            same_digest = _first(slots, bucket, digest)  # no entry is added while it is used
            for g in order[:n_groups]:
                copy = _of_group(entries, same_digest, g)
                if copy != _NONE and _same_set(shingles, offsets, entries[copy, _MEMBER], member):
                    same_passed += 1
                    edges = _append_edge(edges, n_edges, entries[copy, _MEMBER], member)
                    n_edges += 1
                    joined[n_joined], has_copy[n_joined] = g, True
                    n_joined += 1
                    continue
                entry = head[g]
                while entry != _NONE:
                    if compared == max_comparisons:
                        limited = True
                        break
                    compared += 1
                    other = entries[entry, _MEMBER]
                    pair = keys[other] * n_keys + keys[member]
                    if pair in memo:
                        similar = memo[pair]
                    else:
                        a = shingles[offsets[other] : offsets[other + 1]]
                        b = shingles[offsets[member] : offsets[member + 1]]
                        similar = memo[pair] = jaccard_at_least(a, b, threshold)
                    if similar:
                        edges = _append_edge(edges, n_edges, other, member)
                        n_edges += 1
                        joined[n_joined], has_copy[n_joined] = g, copy != _NONE
                        n_joined += 1
                        break
                    entry = entries[entry, _NEXT]
            # the merged group: the joined groups' entries (first of each digest), in order
            if n_joined == 1:  # a group's digests are distinct: it is the merged group as is
                merged, present = joined[0], has_copy[0]
            else:
                merged = n_group_ids
                n_group_ids += 1
                head[merged] = tail[merged] = _NONE
                for g in joined[:n_joined]:
                    _merge_into(entries, head, tail, slots, bucket, g, merged)
                present = _find(entries, slots, bucket, digest, merged) != _NONE
            if not present:
                entries[n_entries, _DIGEST], entries[n_entries, _MEMBER] = digest, member
                entries[n_entries, _GROUP] = merged
                _link(entries, head, tail, merged, n_entries)
                _index(entries, slots, bucket, n_entries)
                n_entries += 1
            for g in joined[:n_joined]:
                joined_at[g] = position
            kept = 0
            for g in order[:n_groups]:
                if joined_at[g] != position:
                    order[kept] = g
                    kept += 1
            order[kept] = merged
            n_groups = kept + 1
        limited_buckets += limited
    pair_keys = np.empty(len(memo), dtype=np.int64)
    pair_similar = np.empty(len(memo), dtype=np.bool_)
    for i, (pair, similar) in enumerate(memo.items()):
        pair_keys[i], pair_similar[i] = pair, similar
    return edges[:n_edges], pair_keys, pair_similar, same_passed, limited_buckets


@numba.njit(cache=True, nogil=True)
def _power_of_two(n: int) -> int:
    size = 1
    while size < n:
        size *= 2
    return size


@numba.njit(cache=True, nogil=True)
def _slot(slots: np.ndarray, bucket: int, digest: int) -> int:
    """The slot of `digest` in the bucket's index, or the free slot it would take."""
    mask = len(slots) - 1
    at = int(fmix64(np.uint64(digest)) >> np.uint64(1)) & mask
    while slots[at, _STAMP] == bucket and slots[at, _KEY] != digest:
        at = (at + 1) & mask
    return at


@numba.njit(cache=True, nogil=True)
def _first(slots: np.ndarray, bucket: int, digest: int) -> int:
    """The first of the bucket's entries with `digest` (the others follow by _SAME), or _NONE."""
    at = _slot(slots, bucket, digest)
    return slots[at, _FIRST] if slots[at, _STAMP] == bucket else _NONE


@numba.njit(cache=True, nogil=True)
def _of_group(entries: np.ndarray, entry: int, group: int) -> int:
    """The entry of `group` among `entry` and those of the same digest after it, or _NONE."""
    while entry != _NONE and entries[entry, _GROUP] != group:
        entry = entries[entry, _SAME]
    return entry


@numba.njit(cache=True, nogil=True)
def _find(entries: np.ndarray, slots: np.ndarray, bucket: int, digest: int, group: int) -> int:
    """The entry of `group` with `digest`, or _NONE."""
    return _of_group(entries, _first(slots, bucket, digest), group)


@numba.njit(cache=True, nogil=True)
def _index(entries: np.ndarray, slots: np.ndarray, bucket: int, entry: int) -> None:
    """Chain `entry` to the entries of its digest (a slot of an earlier bucket is reused)."""
    at = _slot(slots, bucket, entries[entry, _DIGEST])
    if slots[at, _STAMP] != bucket:
        slots[at, _KEY], slots[at, _STAMP] = entries[entry, _DIGEST], bucket
        slots[at, _FIRST] = _NONE
    entries[entry, _SAME] = slots[at, _FIRST]
    slots[at, _FIRST] = entry


@numba.njit(cache=True, nogil=True)
def _merge_into(
    entries: np.ndarray,
    head: np.ndarray,
    tail: np.ndarray,
    slots: np.ndarray,
    bucket: int,
    group: int,
    merged: int,
) -> None:
    """Move `group`'s entries to the end of `merged`, but those of a digest it already has
    (groups share a digest only when different sets collide): they are dropped."""
    entry = head[group]
    while entry != _NONE:
        after = entries[entry, _NEXT]
        if _find(entries, slots, bucket, entries[entry, _DIGEST], merged) == _NONE:
            entries[entry, _GROUP] = merged
            _link(entries, head, tail, merged, entry)
        else:
            entries[entry, _GROUP] = _NONE
        entry = after


@numba.njit(cache=True, nogil=True)
def _link(entries: np.ndarray, head: np.ndarray, tail: np.ndarray, group: int, entry: int) -> None:
    """Append `entry` to the end of `group`'s list."""
    entries[entry, _NEXT] = _NONE
    if head[group] == _NONE:
        head[group] = entry
    else:
        entries[tail[group], _NEXT] = entry
    tail[group] = entry


@numba.njit(cache=True, nogil=True)
def chunk_starts(
    bounds: np.ndarray, members: np.ndarray, sizes: np.ndarray, budget: int
) -> np.ndarray:
    """Bucket indices where chunks start (then the bucket count): consecutive buckets whose
    distinct members' shingles total at most `budget` (a larger bucket is a chunk alone)."""
    if len(bounds) == 1:  # no bucket, no chunk
        return np.zeros(1, dtype=np.int64)
    chunk_of = np.full(len(sizes), _NONE, dtype=np.int64)  # the chunk a member is counted in
    counted = np.full(len(sizes), _NONE, dtype=np.int64)  # the bucket it was last costed in
    starts = [0]
    used = 0
    for bucket in range(len(bounds) - 1):
        lo, hi = bounds[bucket], bounds[bucket + 1]
        cost = _new_cost(members[lo:hi], sizes, chunk_of, counted, len(starts) - 1, 2 * bucket)
        if used > 0 and used + cost > budget:
            starts.append(bucket)
            used = 0
            cost = _new_cost(
                members[lo:hi], sizes, chunk_of, counted, len(starts) - 1, 2 * bucket + 1
            )
        for member in members[lo:hi]:
            chunk_of[member] = len(starts) - 1
        used += cost
    starts.append(len(bounds) - 1)
    return np.array(starts, dtype=np.int64)


@numba.njit(cache=True, nogil=True)
def _new_cost(
    bucket: np.ndarray,
    sizes: np.ndarray,
    chunk_of: np.ndarray,
    counted: np.ndarray,
    chunk: int,
    stamp: int,
) -> int:
    """Shingles of the bucket's distinct members that are not yet in `chunk`."""
    cost = 0
    for member in bucket:
        if chunk_of[member] != chunk and counted[member] != stamp:
            counted[member] = stamp
            cost += sizes[member]
    return cost
