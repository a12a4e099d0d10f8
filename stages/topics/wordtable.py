"""Words (sequences of code points) to ids, in a hash table numba reads and writes.

Tokenizing a document yields spans of code points (`features.candidate_tokens`); turning them
into Python strings and looking each up in a dict cost more than finding them. A `WordTable`
gives each distinct word an id, in order of first appearance, from the spans directly; a
Python string is made once per distinct word (`words`), never per token.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
from numba import njit

FNV_OFFSET, FNV_PRIME = np.uint64(0xCBF29CE484222325), np.uint64(0x100000001B3)
EMPTY = -1


@njit(cache=True)
def _hash(codepoints: np.ndarray) -> np.uint64:
    """FNV-1a over the code points."""
    h = FNV_OFFSET
    for c in codepoints:
        h = (h ^ np.uint64(c)) * FNV_PRIME
    return h


@njit(cache=True)
def _find(slots: np.ndarray, chars: np.ndarray, starts: np.ndarray, word: np.ndarray) -> int:
    """The slot of `word`: where its id is, or the empty slot where it would go."""
    mask = slots.shape[0] - 1
    slot = np.int64(_hash(word) & np.uint64(mask))  # int64: uint64 + int64 is float64
    while True:
        known = slots[slot]
        if known == EMPTY:
            return slot
        if _equal(chars[starts[known] : starts[known + 1]], word):
            return slot
        slot = (slot + 1) & mask


@njit(cache=True)
def _equal(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape[0] != b.shape[0]:
        return False
    for i in range(a.shape[0]):  # noqa: SIM110 numba compiles this loop, not a generator
        if a[i] != b[i]:
            return False
    return True


@njit(cache=True)
def _ids(
    slots: np.ndarray,
    chars: np.ndarray,
    starts: np.ndarray,
    size: int,
    codepoints: np.ndarray,
    spans: np.ndarray,
    add: bool,
) -> tuple[np.ndarray, int]:
    """Each span's id; a new word gets the next id if `add`, else -1. The caller has made
    room for every span to be a new word."""
    ids = np.empty(spans.shape[0], np.int32)
    for i in range(spans.shape[0]):
        word = codepoints[spans[i, 0] : spans[i, 1]]
        slot = _find(slots, chars, starts, word)
        if slots[slot] != EMPTY:
            ids[i] = slots[slot]
        elif add:
            slots[slot] = size
            starts[size + 1] = starts[size] + word.shape[0]
            chars[starts[size] : starts[size + 1]] = word
            ids[i] = size
            size += 1
        else:
            ids[i] = EMPTY
    return ids, size


@njit(cache=True, nogil=True)
def _span_chars(spans: np.ndarray) -> int:
    """The code points of all spans (compiled: numpy's three calls cost more per document)."""
    total = 0
    for i in range(spans.shape[0]):
        total += spans[i, 1] - spans[i, 0]
    return total


@njit(cache=True)
def _rehash(slots: np.ndarray, chars: np.ndarray, starts: np.ndarray, size: int) -> None:
    for known in range(size):
        slots[_find(slots, chars, starts, chars[starts[known] : starts[known + 1]])] = known


class WordTable:
    """Distinct words and their ids (0, 1, ... in order of first appearance)."""

    def __init__(self) -> None:
        self.size = 0
        self._slots = np.full(1 << 10, EMPTY, np.int64)  # open addressing, at most half full
        self._chars = np.empty(1 << 12, np.uint32)  # word i: chars[starts[i]:starts[i + 1]]
        self._starts = np.zeros(1 << 9, np.int64)

    @classmethod
    def of(cls, words: list[str]) -> WordTable:
        """A table of `words` (distinct), word i with id i."""
        table = cls()
        codepoints = np.frombuffer("".join(words).encode("utf-32-le"), np.uint32)
        lengths = np.array([len(w) for w in words], np.int64)
        ends = np.cumsum(lengths)
        table.ids(codepoints, np.column_stack([ends - lengths, ends]))
        return table

    def ids(self, codepoints: np.ndarray, spans: np.ndarray, add: bool = True) -> np.ndarray:
        """The id (int32) of each word codepoints[start:end] of `spans` (n x 2); new words
        get new ids, or -1 when `add` is false."""
        self._make_room(len(spans), _span_chars(spans))
        ids, self.size = _ids(
            self._slots, self._chars, self._starts, self.size, codepoints, spans, add
        )
        return ids

    def words(self) -> list[str]:
        """Every word, by id."""
        starts = self._starts[: self.size + 1].tolist()
        text = self._chars[: starts[-1]].tobytes().decode("utf-32-le")  # one decode, then slices
        return [text[a:b] for a, b in pairwise(starts)]

    def _make_room(self, words: int, chars: int) -> None:
        """Room for `words` more words of `chars` code points in all."""
        words += self.size
        chars += int(self._starts[self.size])
        if words + 1 > len(self._starts):
            self._starts = np.resize(self._starts, max(2 * len(self._starts), words + 1))
        if chars > len(self._chars):
            self._chars = np.resize(self._chars, max(2 * len(self._chars), chars))
        if 2 * words > len(self._slots):
            capacity = len(self._slots)
            while 2 * words > capacity:
                capacity *= 2
            self._slots = np.full(capacity, EMPTY, np.int64)
            _rehash(self._slots, self._chars, self._starts, self.size)
