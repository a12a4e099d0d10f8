"""Exact word n-gram statistics for the Gopher repetition rules, without a Python step per word.

Words get integer ids once per document; the ids of n-grams follow from the (n-1)-grams' by
ranking the pairs (previous n-gram id, next word id) packed into one int64, which is exact
(both are below the document's word count). The one sequential rule, datatrove's "skip the
n-gram's words after a duplicate", runs in a compiled loop over those ids.
"""

from __future__ import annotations

import numba
import numpy as np


class NgramIndex:
    """Ids of a document's word n-grams: two n-grams have the same id iff their words match."""

    def __init__(self, words: list[str]) -> None:
        vocabulary: dict[str, int] = {}
        ids = [vocabulary.setdefault(word, len(vocabulary)) for word in words]
        self.ends = np.zeros(len(words) + 1, dtype=np.int64)  # characters of words[:i]
        np.cumsum(np.fromiter(map(len, words), np.int64, len(words)), out=self.ends[1:])
        self._ids = {1: (np.asarray(ids, dtype=np.int64), len(vocabulary))}

    def ids(self, n: int) -> tuple[np.ndarray, int]:
        """(id of the n-gram at each position, number of distinct n-grams)."""
        if n not in self._ids:
            previous, _ = self.ids(n - 1)
            words, vocabulary = self._ids[1]
            packed = previous[:-1] * vocabulary + words[n - 1 :]
            self._ids[n] = _rank(packed) if len(packed) else (packed, 0)
        return self._ids[n]

    def chars(self, start: np.ndarray | int, n: int) -> np.ndarray | int:
        """Characters of the n words from `start`."""
        return self.ends[start + n] - self.ends[start]


def _rank(keys: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense ids of int64 keys (equal keys, equal ids) and how many there are."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    new = np.empty(len(keys), dtype=np.int64)
    new[0] = 0
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    ranks = np.empty(len(keys), dtype=np.int64)
    ranks[order] = np.cumsum(new)
    return ranks, int(ranks.max()) + 1


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
