"""Word n-gram statistics for the Gopher repetition rules, in one compiled call per document.

Words get integer ids (from the 64-bit hashes of their characters in the document's
analysis); the ids of n-grams follow from the (n-1)-grams' by numbering the pairs (previous
n-gram id, next word id) packed into one int64, which is exact (both are below the document's
word count), in a compiled hash table. An n-gram whose (n-1)-gram prefix occurs once occurs
once too and cannot count: each level keeps only the positions of repeated n-grams, so in
running text the work after n = 2 or 3 is small. The one sequential rule, datatrove's "skip
the n-gram's words after a duplicate", is a compiled loop over those positions."""

from __future__ import annotations

import functools

import numba
import numpy as np

from stages.text.analysis import TextAnalysis


def repetition_chars(
    analysis: TextAnalysis, top_ns: tuple[int, ...], duplicated_ns: tuple[int, ...]
) -> tuple[list[int], list[int]]:
    """Characters of the document that each n in `top_ns` puts in its most frequent n-gram,
    and that each n in `duplicated_ns` puts in n-grams repeating an earlier one."""
    wanted = _wanted(top_ns, duplicated_ns)
    chars = _ngram_chars(analysis.word_hashes.view(np.int64), analysis.word_lengths, wanted)
    top, duplicated = chars.T.tolist()
    return [top[n] for n in top_ns], [duplicated[n] for n in duplicated_ns]


@functools.cache
def _wanted(top_ns: tuple[int, ...], duplicated_ns: tuple[int, ...]) -> np.ndarray:
    """wanted[n, 0]: the top n-gram is asked for; wanted[n, 1]: the duplicated n-grams."""
    wanted = np.zeros((max([1, *top_ns, *duplicated_ns]) + 1, 2), dtype=np.bool_)
    wanted[list(top_ns), 0] = True
    wanted[list(duplicated_ns), 1] = True
    wanted.flags.writeable = False
    return wanted


@numba.njit(cache=True, nogil=True)
def _ngram_chars(hashes: np.ndarray, lengths: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """chars[n, 0]: the top n-gram's characters times its count (of equally frequent ones,
    the first in the document, as `Counter.most_common`); chars[n, 1]: characters in n-grams
    that repeat an earlier one, each word counted once. Only where `wanted[n]` says."""
    chars = np.zeros(wanted.shape, dtype=np.int64)
    n_words = hashes.shape[0]
    ends = np.zeros(n_words + 1, dtype=np.int64)  # characters of the first i words
    ends[1:] = np.cumsum(lengths)
    words, vocabulary = _dense_ids(hashes)
    positions = np.arange(n_words)  # where the repeated (n-1)-grams start
    ids = words
    for n in range(1, min(wanted.shape[0], n_words + 1)):
        if n > 1:
            positions, ids = _extended(positions, ids, words, vocabulary, n)
            ids, _ = _dense_ids(ids)
        counts = np.bincount(ids, minlength=1)
        repeated = counts[ids] > 1
        positions, ids = positions[repeated], ids[repeated]
        if wanted[n, 0]:
            chars[n, 0] = _top_chars(positions, ids, counts, ends, n)
        if wanted[n, 1]:
            chars[n, 1] = _duplicated_chars(positions, ids, ends, n, counts.shape[0])
    return chars


@numba.njit(cache=True, nogil=True)
def _extended(
    positions: np.ndarray, ids: np.ndarray, words: np.ndarray, vocabulary: int, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """The n-grams at the positions of repeated (n-1)-grams, as packed (prefix id, last word
    id) keys; positions too near the end for n words drop out."""
    fits = positions + n <= words.shape[0]
    positions = positions[fits]
    return positions, ids[fits] * vocabulary + words[positions + n - 1]


@numba.njit(cache=True, nogil=True)
def _dense_ids(keys: np.ndarray) -> tuple[np.ndarray, int]:
    """Ids of int64 keys in order of first occurrence (equal keys, equal ids) and how many
    there are: an open-addressing hash table, no sort."""
    bits = 1
    while (1 << bits) < 2 * keys.shape[0]:
        bits += 1
    mask = (1 << bits) - 1
    slot_key = np.empty(1 << bits, dtype=np.int64)
    slot_id = np.full(1 << bits, -1, dtype=np.int64)
    ids = np.empty(keys.shape[0], dtype=np.int64)
    distinct = 0
    for i in range(keys.shape[0]):
        key = keys[i]
        # Fibonacci hashing: the top bits of key * 2^64/phi (wrapping) index the table.
        slot = np.int64((np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - bits))
        while slot_id[slot] != -1 and slot_key[slot] != key:
            slot = (slot + 1) & mask
        if slot_id[slot] == -1:
            slot_key[slot] = key
            slot_id[slot] = distinct
            distinct += 1
        ids[i] = slot_id[slot]
    return ids, distinct


@numba.njit(cache=True, nogil=True)
def _top_chars(
    positions: np.ndarray, ids: np.ndarray, counts: np.ndarray, ends: np.ndarray, n: int
) -> int:
    """`positions` and `ids`: the repeated n-grams only (the text has at least n words)."""
    if positions.shape[0] == 0:  # every n-gram occurs once: the first one wins
        return ends[n] - ends[0]
    best = counts.max()
    first = 0
    while counts[ids[first]] != best:
        first += 1
    start = positions[first]
    return (ends[start + n] - ends[start]) * best


@numba.njit(cache=True, nogil=True)
def _duplicated_chars(
    positions: np.ndarray, ids: np.ndarray, ends: np.ndarray, n: int, distinct: int
) -> int:
    """Over the repeated n-grams in order (an n-gram occurring once is never a duplicate):
    a position inside the words of a counted duplicate is skipped, not even remembered."""
    seen = np.zeros(distinct, dtype=np.bool_)
    chars = 0
    skip_until = 0
    for k in range(positions.shape[0]):
        start = positions[k]
        if start < skip_until:
            continue
        if seen[ids[k]]:
            chars += ends[start + n] - ends[start]
            skip_until = start + n
        else:
            seen[ids[k]] = True
    return chars
