"""Word n-gram statistics for the Gopher repetition rules, without a Python step per word.

Words get integer ids once per document (from the 64-bit hashes of their characters in the
document's analysis); the ids of n-grams follow from the (n-1)-grams' by numbering the pairs
(previous n-gram id, next word id) packed into one int64, which is exact (both are below the
document's word count), in a compiled hash table. The one sequential rule, datatrove's "skip the
n-gram's words after a duplicate", runs in a compiled loop over those ids.
"""

from __future__ import annotations

import numba
import numpy as np

from stages.text.analysis import TextAnalysis


class NgramIndex:
    """Ids of a document's word n-grams: two n-grams have the same id iff their words match."""

    def __init__(self, analysis: TextAnalysis) -> None:
        ids, distinct = _dense_ids(analysis.word_hashes.view(np.int64))
        self.ends = np.zeros(len(ids) + 1, dtype=np.int64)  # characters of the first i words
        np.cumsum(analysis.word_lengths, out=self.ends[1:])
        self._ids = {1: (ids, distinct)}

    def ids(self, n: int) -> tuple[np.ndarray, int]:
        """(id of the n-gram at each position, number of distinct n-grams)."""
        if n not in self._ids:
            previous, _ = self.ids(n - 1)
            words, vocabulary = self._ids[1]
            packed = previous[:-1] * vocabulary + words[n - 1 :]
            self._ids[n] = _dense_ids(packed) if len(packed) else (packed, 0)
        return self._ids[n]

    def chars(self, start: np.ndarray | int, n: int) -> np.ndarray | int:
        """Characters of the n words from `start`."""
        return self.ends[start + n] - self.ends[start]


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


def top_ngram_chars(index: NgramIndex, n: int) -> int:
    """Characters covered by the most frequent n-gram (its length times its count); of equally
    frequent ones, the first in the document (as `Counter.most_common`)."""
    ids, distinct = index.ids(n)
    if distinct == 0:
        return 0
    counts = np.bincount(ids, minlength=distinct)
    best = counts.max()
    first = int(np.argmax(counts[ids] == best))
    return int(index.chars(first, n)) * int(best)


def duplicated_ngram_chars(index: NgramIndex, n: int) -> int:
    """Characters in n-grams that repeat an earlier one, counting each word at most once."""
    ids, distinct = index.ids(n)
    return int(_duplicated_chars(ids, index.ends, n, distinct)) if distinct else 0


@numba.njit(cache=True, nogil=True)
def _duplicated_chars(ids: np.ndarray, ends: np.ndarray, n: int, distinct: int) -> int:
    seen = np.zeros(distinct, dtype=np.bool_)
    chars = 0
    i = 0
    while i < ids.shape[0]:
        if seen[ids[i]]:
            chars += ends[i + n] - ends[i]
            i += n  # the duplicate's words are not counted twice
        else:
            seen[ids[i]] = True
            i += 1
    return chars
