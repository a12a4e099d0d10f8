"""A document's lines and paragraphs as arrays, from one compiled pass over its code points:
each line's span and its span without surrounding whitespace, paragraph spans, and exact
duplicate counts. The rules that read lines count with these instead of a Python step per
line; the string definitions they replace are in the docstrings (tests/test_text_lines.py
checks them against each other on real text)."""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from stages.text.codepoints import DIGIT, NONSPACE, P_TOKEN, WORD

_NEWLINE = 10


@dataclass(frozen=True)
class LineTable:
    """Spans of `text.split("\\n")` (`starts`, `ends`) and of each line's `str.strip()`
    (`content_starts`, `content_ends`; equal for a blank line), as character offsets."""

    starts: np.ndarray
    ends: np.ndarray
    content_starts: np.ndarray
    content_ends: np.ndarray

    @classmethod
    def of(cls, cp: np.ndarray, flags: np.ndarray) -> LineTable:
        return cls(*_line_spans(cp, flags))

    @property
    def nonblank(self) -> np.ndarray:
        """Lines with a non-space character (`line.strip()` is not empty)."""
        return self.content_ends > self.content_starts

    def leading_digits(self, flags: np.ndarray) -> np.ndarray:
        """Per line: is its first word character (re's `\\w`) a digit (re's `\\d`)?"""
        return _leading_digits(flags, self.content_starts, self.content_ends)

    def duplicates(self, cp: np.ndarray, which: np.ndarray) -> tuple[int, int]:
        """(lines equal to an earlier one, characters in those) among the lines `which`
        selects: `rules.duplicates` of those lines."""
        return duplicate_spans(cp, self.starts[which], self.ends[which])


def count_members(cp: np.ndarray, positions: np.ndarray, members: np.ndarray) -> int:
    """How many of the characters at `positions` are in `members` (a few code points)."""
    return int(_count_members(cp, positions, members))


def paragraph_spans(cp: np.ndarray, flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spans of `re.split(r"\\n{2,}", text.strip())` (one empty span for a blank text)."""
    return _paragraph_spans(cp, flags)


def duplicate_spans(cp: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[int, int]:
    """(spans whose text equals an earlier span's, characters in those), exactly: equal
    hashes are confirmed code point by code point."""
    count, chars = _duplicates(cp, starts, ends)
    return int(count), int(chars)


@numba.njit(cache=True, nogil=True)
def _count_members(cp: np.ndarray, positions: np.ndarray, members: np.ndarray) -> int:
    count = 0
    for position in positions:
        count += cp[position] in members
    return count


@numba.njit(cache=True, nogil=True)
def _leading_digits(flags: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    digits = np.zeros(starts.shape[0], dtype=np.bool_)
    for line in range(starts.shape[0]):
        for i in range(starts[line], ends[line]):
            if flags[i] & WORD:
                digits[line] = (flags[i] & DIGIT) != 0
                break
    return digits


@numba.njit(cache=True, nogil=True)
def _line_spans(
    cp: np.ndarray, flags: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    lines = 1
    for c in cp:
        lines += c == _NEWLINE
    starts = np.empty(lines, dtype=np.int64)
    ends = np.empty(lines, dtype=np.int64)
    content_starts = np.empty(lines, dtype=np.int64)
    content_ends = np.empty(lines, dtype=np.int64)
    line = start = 0
    for i in range(cp.shape[0] + 1):
        if i < cp.shape[0] and cp[i] != _NEWLINE:
            continue
        first, last = start, i
        while first < i and not flags[first] & NONSPACE:
            first += 1
        while last > first and not flags[last - 1] & NONSPACE:
            last -= 1
        starts[line], ends[line] = start, i
        content_starts[line], content_ends[line] = first, last
        line += 1
        start = i + 1
    return starts, ends, content_starts, content_ends


@numba.njit(cache=True, nogil=True)
def _paragraph_spans(cp: np.ndarray, flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    first, last = 0, cp.shape[0]
    while first < last and not flags[first] & NONSPACE:
        first += 1
    while last > first and not flags[last - 1] & NONSPACE:
        last -= 1
    starts = np.empty(cp.shape[0] // 2 + 1, dtype=np.int64)
    ends = np.empty(cp.shape[0] // 2 + 1, dtype=np.int64)
    count = 0
    starts[0] = first
    i = first
    while i < last:
        if cp[i] != _NEWLINE:
            i += 1
            continue
        run = i
        while run < last and cp[run] == _NEWLINE:
            run += 1
        if run - i >= 2:
            ends[count] = i
            count += 1
            starts[count] = run
        i = run
    ends[count] = last
    return starts[: count + 1].copy(), ends[: count + 1].copy()


@numba.njit(cache=True, nogil=True)
def _span_hash(cp: np.ndarray, start: int, end: int) -> np.uint64:
    h = np.uint64(end - start)
    for j in range(start, end):
        h = h * np.uint64(P_TOKEN) + np.uint64(cp[j])
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    return h ^ (h >> np.uint64(33))


@numba.njit(cache=True, nogil=True)
def _same_span(cp: np.ndarray, a: int, b: int, length: int) -> bool:
    return bool((cp[a : a + length] == cp[b : b + length]).all())


@numba.njit(cache=True, nogil=True)
def _duplicates(cp: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[int, int]:
    """An open-addressing table of first occurrences keyed by span hash; a slot whose span
    differs (a collision) is probed past, so the result is exact."""
    bits = 1
    while (1 << bits) < 2 * starts.shape[0]:
        bits += 1
    mask = (1 << bits) - 1
    slot_item = np.full(1 << bits, -1, dtype=np.int64)
    hashes = np.empty(starts.shape[0], dtype=np.uint64)
    count = chars = 0
    for k in range(starts.shape[0]):
        start, length = starts[k], ends[k] - starts[k]
        h = _span_hash(cp, start, ends[k])
        hashes[k] = h
        slot = np.int64(h >> np.uint64(64 - bits))
        while True:
            other = slot_item[slot]
            if other == -1:
                slot_item[slot] = k
                break
            if (
                hashes[other] == h
                and ends[other] - starts[other] == length
                and _same_span(cp, starts[other], start, length)
            ):
                count += 1
                chars += length
                break
            slot = (slot + 1) & mask
    return count, chars
