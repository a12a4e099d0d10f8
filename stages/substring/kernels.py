"""Compiled loops of the substring stage (numba): units and their hashes, grouping, exact
verification, cuts. Each is a loop that numpy cannot express without a Python loop per token,
per occurrence or per document; `spans.py` holds the string definitions they implement.

Text is UTF-8 bytes (an input shard's memory-mapped file, or one record batch's text buffer)
and positions are byte offsets into it. `classes` (`unit_classes`) says of every code point
whether it is inside a token (not whitespace) and whether it is a token alone (CJK).
"""

from __future__ import annotations

import re
from functools import lru_cache

import numba
import numpy as np

from stages.text import CJK_RANGES

INSIDE, ALONE = 1, 2  # bits of `unit_classes`
NO_GROUP = np.uint32(0xFFFFFFFF)  # `group_firsts` of a unit whose hash occurs once
# A unit's location: `shard << OFFSET_BITS | byte offset in the shard's file`, so that locations
# sort in corpus order (shard, row, position).
OFFSET_BITS = 40
_SHARD_SHIFT, _OFFSET_MASK = np.uint64(OFFSET_BITS), np.uint64((1 << OFFSET_BITS) - 1)
_NEWLINE = 10
_FMIX1, _FMIX2 = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53)
_BITS_SET = np.array([bin(b).count("1") for b in range(256)], dtype=np.int64)
_LOWEST_BIT = np.array([(b & -b).bit_length() - 1 for b in range(256)], dtype=np.int64)
_SMALL_BUCKET = 32  # insertion sort below, merge sort above (many units with one hash prefix)


@lru_cache(maxsize=1)
def unit_classes() -> np.ndarray:
    """uint8 bits for every code point: INSIDE unless re's `\\s` (str.isspace), ALONE for
    `CJK_RANGES`. Built from one string of all code points (no object per code point)."""
    everything = np.arange(0x110000, dtype=np.uint32).tobytes().decode("utf-32-le", "surrogatepass")
    table = np.full(0x110000, INSIDE, dtype=np.uint8)
    table[[m.start() for m in re.finditer(r"\s", everything)]] = 0
    for lo, hi in CJK_RANGES:
        table[lo : hi + 1] |= ALONE
    return table


@numba.njit(cache=True, inline="always")
def _fmix64(h: np.uint64) -> np.uint64:
    h ^= h >> np.uint64(33)
    h *= _FMIX1
    h ^= h >> np.uint64(33)
    h *= _FMIX2
    return h ^ (h >> np.uint64(33))


@numba.njit(cache=True, inline="always")
def _decode(text: np.ndarray, p: int) -> tuple[int, int]:
    """(code point, bytes) of the valid UTF-8 character at `text[p]`."""
    b0 = np.int64(text[p])
    if b0 < 0x80:
        return b0, 1
    b1 = np.int64(text[p + 1]) & 0x3F
    if b0 < 0xE0:
        return ((b0 & 0x1F) << 6) | b1, 2
    b2 = np.int64(text[p + 2]) & 0x3F
    if b0 < 0xF0:
        return ((b0 & 0x0F) << 12) | (b1 << 6) | b2, 3
    return ((b0 & 0x07) << 18) | (b1 << 12) | (b2 << 6) | (np.int64(text[p + 3]) & 0x3F), 4


# --- units: k-token windows (spans mode) and lines with content (lines mode) -----------------


@numba.njit(cache=True)
def span_units(
    text: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    classes: np.ndarray,
    width: int,
    token_base: np.uint64,
    window_base: np.uint64,
    origin: int,
    hashes: np.ndarray,
    offsets: np.ndarray,
    lengths: np.ndarray,
) -> int:
    """Every window of `width` tokens of the documents `text[starts[d]:ends[d]]`: its hash,
    start - `origin` and byte length, written from index 0; returns how many.

    A token hashes to ``fmix64(sum c_i * token_base**i)`` over its code points, a window to
    ``fmix64(sum h_j * window_base**j)`` over its tokens' hashes (mod 2**64, as the numpy
    hashes of `stages.text` did), kept rolling from one window to the next (both bases odd, so
    invertible)."""
    base_inverse = np.uint64(1)  # window_base**-1 mod 2**64 by Newton's iteration
    for _ in range(6):
        base_inverse *= np.uint64(2) - window_base * base_inverse
    top = np.uint64(1)  # window_base**(width - 1)
    for _ in range(width - 1):
        top *= window_base
    ring_hash = np.empty(width, dtype=np.uint64)  # the last `width` tokens
    ring_start = np.empty(width, dtype=np.int64)
    out = 0
    for d in range(len(starts)):
        tokens, window, power = 0, np.uint64(0), np.uint64(1)
        in_token, after_alone = False, False
        token_start, token_hash, token_power = 0, np.uint64(0), np.uint64(1)
        p, end = starts[d], ends[d]
        while p <= end:  # one step past the end closes the last token
            cp, size, cls = 0, 1, 0
            if p < end:
                cp, size = _decode(text, p)
                cls = classes[cp]
            inside, alone = (cls & INSIDE) != 0, (cls & ALONE) != 0
            if in_token and (not inside or alone or after_alone):
                h = _fmix64(token_hash)
                slot = tokens % width
                if tokens < width:
                    window += h * power
                    power *= window_base
                else:
                    window = (window - ring_hash[slot]) * base_inverse + h * top
                ring_hash[slot], ring_start[slot] = h, token_start
                tokens += 1
                in_token = False
                if tokens >= width:
                    first = ring_start[tokens % width]
                    hashes[out], offsets[out] = _fmix64(window), first - origin
                    lengths[out] = p - first
                    out += 1
            if inside and not in_token:
                in_token, token_start = True, p
                token_hash, token_power = np.uint64(0), np.uint64(1)
            if in_token:
                token_hash += np.uint64(cp) * token_power
                token_power *= token_base
            after_alone = alone
            p += size
    return out


@numba.njit(cache=True)
def line_units(
    text: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    classes: np.ndarray,
    token_base: np.uint64,
    line_base: np.uint64,
    origin: int,
    hashes: np.ndarray,
    offsets: np.ndarray,
    lengths: np.ndarray,
) -> int:
    """Every line with content (a non-whitespace character) of the documents: the hash of its
    whitespace-separated words (`spans.normalized_line`: a polynomial over the words' hashes),
    start - `origin` and byte length without the newline; returns how many."""
    out = 0
    for d in range(len(starts)):
        p, end = starts[d], ends[d]
        line_start, line_hash, power, words = p, np.uint64(0), np.uint64(1), 0
        in_word, word_hash, word_power = False, np.uint64(0), np.uint64(1)
        while p <= end:
            cp, size, inside = _NEWLINE, 1, False
            if p < end:
                cp, size = _decode(text, p)
                inside = (classes[cp] & INSIDE) != 0
            if in_word and not inside:
                line_hash += _fmix64(word_hash) * power
                power *= line_base
                in_word, words = False, words + 1
            if inside and not in_word:
                in_word, word_hash, word_power = True, np.uint64(0), np.uint64(1)
            if in_word:
                word_hash += np.uint64(cp) * word_power
                word_power *= token_base
            if cp == _NEWLINE:
                if words:
                    hashes[out], offsets[out] = _fmix64(line_hash), line_start - origin
                    lengths[out] = p - line_start
                    out += 1
                line_start, line_hash, power, words = p + 1, np.uint64(0), np.uint64(1), 0
            p += size
    return out


@numba.njit(cache=True)
def partition_records(
    hashes: np.ndarray, offsets: np.ndarray, lengths: np.ndarray, partitions: int, out: np.ndarray
) -> np.ndarray:
    """Write the units into the records `out` sorted by partition `hash mod partitions`, stably
    (each partition stays in corpus order); returns where each partition starts (P + 1)."""
    bounds = np.zeros(partitions + 1, dtype=np.int64)
    for h in hashes:
        bounds[np.int64(h % np.uint64(partitions)) + 1] += 1
    bounds = np.cumsum(bounds)
    fill = bounds[:-1].copy()
    for i in range(len(hashes)):
        q = np.int64(hashes[i] % np.uint64(partitions))
        record = out[fill[q]]
        record.hash, record.offset, record.length = hashes[i], offsets[i], lengths[i]
        fill[q] += 1
    return bounds


@numba.njit(cache=True)
def mark(bits: np.ndarray, locs: np.ndarray) -> None:
    """Set the bit of each location's byte offset in the bitmap `bits` (little-endian bits)."""
    for loc in locs:
        offset = loc & _OFFSET_MASK
        bits[offset >> np.uint64(3)] |= np.uint8(1) << np.uint8(offset & np.uint64(7))


@numba.njit(cache=True)
def marked(bits: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """The offsets in `lo:hi` whose bit is set in `bits`, in order."""
    first, last = lo >> 3, (hi + 7) >> 3
    most = 0
    for byte in bits[first:last]:
        most += _BITS_SET[byte]
    out = np.empty(most, dtype=np.int64)
    count = 0
    for i in range(first, last):
        byte = np.int64(bits[i])
        while byte:
            p = (i << 3) + _LOWEST_BIT[byte]
            if lo <= p < hi:
                out[count] = p
                count += 1
            byte &= byte - 1
    return out[:count]


# --- repeats: group by hash, verify byte for byte -----------------------------------------------


@numba.njit(cache=True)
def hash_order(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, sorted hashes): uint32 indices sorting `hashes` stably, by a counting sort on
    the top bits (the hashes are uniform), then each bucket sorted (equal hashes keep index
    order). The hashes move with the indices, so the buckets are sorted in contiguous memory."""
    n = len(hashes)
    bits = 1
    while (1 << bits) < n // 4 and bits < 26:
        bits += 1
    shift = np.uint64(64 - bits)
    bounds = np.zeros((1 << bits) + 1, dtype=np.int64)
    for h in hashes:
        bounds[np.int64(h >> shift) + 1] += 1
    bounds = np.cumsum(bounds)
    fill = bounds[:-1].copy()
    order = np.empty(n, dtype=np.uint32)
    ordered = np.empty(n, dtype=np.uint64)
    for i in range(n):
        bucket = np.int64(hashes[i] >> shift)
        order[fill[bucket]], ordered[fill[bucket]] = i, hashes[i]
        fill[bucket] += 1
    for b in range(1 << bits):
        lo, hi = bounds[b], bounds[b + 1]
        if hi - lo > _SMALL_BUCKET:
            moved = np.argsort(ordered[lo:hi], kind="mergesort") + lo
            order[lo:hi], ordered[lo:hi] = order[moved], ordered[moved]
        else:
            for j in range(lo + 1, hi):
                x, h = order[j], ordered[j]
                q = j - 1
                while q >= lo and ordered[q] > h:
                    order[q + 1], ordered[q + 1] = order[q], ordered[q]
                    q -= 1
                order[q + 1], ordered[q + 1] = x, h
    return order, ordered


@numba.njit(cache=True)
def group_firsts(order: np.ndarray, ordered: np.ndarray) -> np.ndarray:
    """Per unit, the index of the first unit with its hash (itself for the first) if the hash
    occurs twice or more, else NO_GROUP; from `hash_order`."""
    n = len(order)
    first = np.full(n, NO_GROUP, dtype=np.uint32)
    i = 0
    while i < n:
        j = i + 1
        while j < n and ordered[j] == ordered[i]:
            j += 1
        if j - i > 1:
            for q in range(i, j):
                first[order[q]] = order[i]
        i = j
    return first


@numba.njit(cache=True)
def by_first_shard(
    locs: np.ndarray, first: np.ndarray, lo: int, hi: int, shards: int
) -> tuple[np.ndarray, np.ndarray]:
    """The grouped units among `lo:hi` (one shard's, in corpus order) that are not their group's
    first, ordered stably by the shard of their group's first: (indices, bounds per shard)."""
    bounds = np.zeros(shards + 1, dtype=np.int64)
    for i in range(lo, hi):
        if first[i] != NO_GROUP and first[i] != i:
            bounds[np.int64(locs[first[i]] >> _SHARD_SHIFT) + 1] += 1
    bounds = np.cumsum(bounds)
    fill = bounds[:-1].copy()
    members = np.empty(bounds[-1], dtype=np.uint32)
    for i in range(lo, hi):
        if first[i] != NO_GROUP and first[i] != i:
            s = np.int64(locs[first[i]] >> _SHARD_SHIFT)
            members[fill[s]] = i
            fill[s] += 1
    return members, bounds


@numba.njit(cache=True)
def verify(
    text: np.ndarray,
    first_text: np.ndarray,
    locs: np.ndarray,
    lengths: np.ndarray,
    first: np.ndarray,
    members: np.ndarray,
    differs: np.ndarray,
) -> None:
    """Compare each unit `members[i]` (in `text`) with its group's first (in `first_text`) byte
    for byte; mark the first in `differs` when they are not identical.

    The members must come in corpus order (increasing offsets): then consecutive ones overlap
    (windows of one document) and their firsts usually do too, at the same distance. The bytes
    before `known_end`, from an earlier member's start on, are known equal to those `distance`
    further in `first_text`; only the bytes past them are compared, so each byte of text is
    read about once."""
    known_end, distance = np.int64(-1), np.int64(0)
    for i in members:
        f = first[i]
        a, b = np.int64(locs[i] & _OFFSET_MASK), np.int64(locs[f] & _OFFSET_MASK)
        n = np.int64(lengths[i])
        if np.int64(lengths[f]) != n:
            differs[f] = True
            continue
        continues = b - a == distance and a <= known_end
        diff = np.uint8(0)
        for p in range(max(a, known_end) if continues else a, a + n):
            diff |= text[p] ^ first_text[p + b - a]
        if diff:
            differs[f] = True
            known_end = -1
        elif continues:
            known_end = max(known_end, a + n)
        else:
            distance, known_end = b - a, a + n


@numba.njit(cache=True)
def decide(
    first: np.ndarray, differs: np.ndarray, keep_first: bool
) -> tuple[np.ndarray, int, np.ndarray]:
    """(removed per unit, occurrences) for the groups whose copies are byte-identical: every
    copy is removed, or all but the first; and the units of the other groups, in corpus order,
    left to the exact path."""
    removed = np.zeros(len(first), dtype=np.bool_)
    occurrences, undecided = 0, 0
    for i in range(len(first)):
        f = first[i]
        if f != NO_GROUP and differs[f]:
            undecided += 1
        elif f != NO_GROUP:
            occurrences += 1
            removed[i] = not (keep_first and f == i)
    exact = np.empty(undecided, dtype=np.int64)
    undecided = 0
    for i in range(len(first)):
        if first[i] != NO_GROUP and differs[first[i]]:
            exact[undecided] = i
            undecided += 1
    return removed, occurrences, exact


@numba.njit(cache=True)
def compact(values: np.ndarray, chosen: np.ndarray) -> int:
    """Move the chosen values to the front of `values`, in order; returns how many."""
    n = 0
    for i in range(len(values)):
        if chosen[i]:
            values[n] = values[i]
            n += 1
    return n


# --- apply: cut ranges, token counts, the new texts ---------------------------------------------


@numba.njit(cache=True)
def span_cuts(
    text: np.ndarray, offsets: np.ndarray, removed: np.ndarray, classes: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Byte ranges (document-relative, shape (n, 2)) to cut from each document
    `text[offsets[d]:offsets[d + 1]]`, and where each document's ranges start (documents + 1),
    given the sorted `removed` window starts (positions in `text`): the tokens they cover,
    each run from its first token to the next kept token or the end of the document."""
    docs = len(offsets) - 1
    ranges = np.empty((len(removed), 2), dtype=np.int64)
    bounds = np.zeros(docs + 1, dtype=np.int64)
    r, out = 0, 0
    for d in range(docs):
        lo, end = offsets[d], offsets[d + 1]
        if r == len(removed) or removed[r] >= end:
            bounds[d + 1] = out
            continue
        tokens, cover, run_start = 0, 0, -1
        in_token, after_alone = False, False
        p = lo
        while p < end:
            cp, size = _decode(text, p)
            cls = classes[cp]
            inside, alone = (cls & INSIDE) != 0, (cls & ALONE) != 0
            if inside and (not in_token or alone or after_alone):  # a token starts at p
                while r < len(removed) and removed[r] == p:
                    cover = max(cover, tokens + width)
                    r += 1
                if tokens < cover and run_start < 0:
                    run_start = p
                elif tokens >= cover and run_start >= 0:
                    ranges[out, 0], ranges[out, 1] = run_start - lo, p - lo
                    out, run_start = out + 1, -1
                tokens += 1
            in_token, after_alone = inside, alone
            p += size
        if run_start >= 0:
            ranges[out, 0], ranges[out, 1] = run_start - lo, end - lo
            out += 1
        if r < len(removed) and removed[r] < end:
            raise ValueError("a removed window does not start at a token")
        bounds[d + 1] = out
    return ranges[:out], bounds


@numba.njit(cache=True)
def line_cuts(
    text: np.ndarray, offsets: np.ndarray, removed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """As `span_cuts`, given the sorted starts of removed lines: each line with its newline
    (the last line: the line break before it, "\\r\\n" included), merged where they touch."""
    docs = len(offsets) - 1
    ranges = np.empty((len(removed), 2), dtype=np.int64)
    bounds = np.zeros(docs + 1, dtype=np.int64)
    r, out = 0, 0
    for d in range(docs):
        start, end = offsets[d], offsets[d + 1]
        first_out = out
        while r < len(removed) and removed[r] < end:
            lo = hi = removed[r]
            while hi < end and text[hi] != _NEWLINE:
                hi += 1
            if hi < end:
                hi += 1  # the line's newline
            elif lo > start and text[lo - 1] == _NEWLINE:
                crlf = lo - 2 >= start and text[lo - 2] == 13
                lo -= 2 if crlf else 1
            if out > first_out and ranges[out - 1, 1] >= lo - start:
                ranges[out - 1, 1] = max(ranges[out - 1, 1], hi - start)
            else:
                ranges[out, 0], ranges[out, 1] = lo - start, hi - start
                out += 1
            r += 1
        bounds[d + 1] = out
    return ranges[:out], bounds


@numba.njit(cache=True)
def _count_tokens(
    text: np.ndarray, lo: int, hi: int, classes: np.ndarray, state: np.ndarray
) -> int:
    """Tokens starting in `text[lo:hi]`, continuing the text before it: `state` holds
    (in a token, after a CJK character) and is updated."""
    in_token, after_alone = state[0] != 0, state[1] != 0
    count = 0
    p = lo
    while p < hi:
        cp, size = _decode(text, p)
        cls = classes[cp]
        inside, alone = (cls & INSIDE) != 0, (cls & ALONE) != 0
        if inside and (not in_token or alone or after_alone):
            count += 1
        in_token, after_alone = inside, alone
        p += size
    state[0], state[1] = in_token, after_alone
    return count


@numba.njit(cache=True)
def cut_texts(
    text: np.ndarray,
    offsets: np.ndarray,
    ranges: np.ndarray,
    bounds: np.ndarray,
    classes: np.ndarray,
    min_remaining: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The new texts of the documents (UTF-8 and offsets from 0) and, per document, tokens
    before and after the cut (-1 if nothing is cut) and whether it is rejected: left with fewer
    than `min_remaining` tokens, when it keeps its text."""
    docs = len(offsets) - 1
    out = np.empty(offsets[-1] - offsets[0], dtype=np.uint8)
    out_offsets = np.zeros(docs + 1, dtype=np.int64)
    counts = np.full((docs, 2), -1, dtype=np.int64)
    rejected = np.zeros(docs, dtype=np.bool_)
    state = np.zeros(2, dtype=np.uint8)
    w = 0
    for d in range(docs):
        lo, hi = offsets[d], offsets[d + 1]
        whole = True  # the text unchanged: nothing cut, or rejected
        if bounds[d + 1] > bounds[d]:
            state[:] = 0
            before = _count_tokens(text, lo, hi, classes, state)
            state[:] = 0
            left, last = 0, lo
            for j in range(bounds[d], bounds[d + 1]):
                left += _count_tokens(text, last, lo + ranges[j, 0], classes, state)
                last = lo + ranges[j, 1]
            left += _count_tokens(text, last, hi, classes, state)
            counts[d, 0], counts[d, 1] = before, left
            rejected[d] = left < min_remaining
            whole = rejected[d]
        if whole:
            out[w : w + hi - lo] = text[lo:hi]
            w += hi - lo
        else:
            last = lo
            for j in range(bounds[d], bounds[d + 1]):
                piece = lo + ranges[j, 0] - last
                out[w : w + piece] = text[last : lo + ranges[j, 0]]
                w += piece
                last = lo + ranges[j, 1]
            out[w : w + hi - last] = text[last:hi]
            w += hi - last
        out_offsets[d + 1] = w
    return out[:w], out_offsets, counts, rejected
