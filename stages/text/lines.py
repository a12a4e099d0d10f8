"""A document's lines and paragraphs as arrays, from one compiled pass over its code points:
each line's span and its span without surrounding whitespace, paragraph spans, and exact
duplicate counts. The rules that read lines count with these instead of a Python step per
line; the string definitions they replace are in the docstrings (tests/test_text_lines.py
checks them against each other on real text)."""

from __future__ import annotations

from functools import cached_property

import numba
import numpy as np

from stages.text.codepoints import DIGIT, NONSPACE, P_TOKEN, WORD
from stages.text.punctuation import BULLETS, TERMINAL_PUNCTUATION

_NEWLINE = 10


_BULLETS = np.array([ord(mark) for mark in BULLETS], dtype=np.uint32)
# Every terminal punctuation mark is one character: a line ends with one if its last is one.
_TERMINAL = np.array([ord(mark) for mark in TERMINAL_PUNCTUATION], dtype=np.uint32)
_DOT, _ELLIPSIS = ord("."), ord("…")


class LineTable:
    """Spans of `text.split("\\n")` (`starts`, `ends`) and of each line's `str.strip()`
    (`content_starts`, `content_ends`; equal for a blank line), as character offsets, and
    what the rules count over lines, each group computed on first use by one compiled call:

    - `leading_digits`: per line, is its first word character (re's `\\w`) a digit (`\\d`)?
    - `nonblank_lines`: lines with a non-space character (`line.strip()` is not empty);
    - `bullet_lines`: lines whose `lstrip()` starts with a `BULLETS` mark;
    - `ellipsis_lines`: lines whose `rstrip()` ends with "..." or "…";
    - `terminal_lines`: lines whose `rstrip()` ends with a `TERMINAL_PUNCTUATION` mark;
    - `duplicate_lines`, `duplicate_line_chars`: non-blank lines equal to an earlier one, and
      their characters;
    - `cells`, `terminal_cells`: the same as `nonblank_lines` and `terminal_lines` but with a
      table row (a line whose `strip()` starts and ends with "|", as trafilatura and Markdown
      write tables) read as its cells, each non-blank `cell.strip()` a line of its own (cells
      split at "|" not escaped as "\\|");
    - `paragraphs`, `duplicate_paragraphs`, `duplicate_paragraph_chars`: the same for the
      blocks of `re.split(r"\\n{2,}", text.strip())`.

    Equal lines are found by hash and confirmed code point by code point: the counts are exact.
    """

    def __init__(self, cp: np.ndarray, flags: np.ndarray) -> None:
        self._cp, self._flags = cp, flags
        self.starts, self.ends, self.content_starts, self.content_ends = _line_spans(cp, flags)

    @property
    def nonblank(self) -> np.ndarray:
        """Per line: has it a non-space character?"""
        return self.content_ends > self.content_starts

    @cached_property
    def leading_digits(self) -> np.ndarray:
        return _leading_digits(self._flags, self.content_starts, self.content_ends)

    @cached_property
    def _line_counts(self) -> list[int]:
        spans = (self.starts, self.ends, self.content_starts, self.content_ends)
        return _line_counts(self._cp, *spans, _BULLETS, _TERMINAL).tolist()

    @cached_property
    def _cell_counts(self) -> list[int]:
        spans = (self.content_starts, self.content_ends)
        return _cell_counts(self._cp, self._flags, *spans, _TERMINAL).tolist()

    @cached_property
    def _paragraph_counts(self) -> list[int]:
        return _paragraph_counts(self._cp, self._flags).tolist()

    nonblank_lines = property(lambda self: self._line_counts[0])
    bullet_lines = property(lambda self: self._line_counts[1])
    ellipsis_lines = property(lambda self: self._line_counts[2])
    terminal_lines = property(lambda self: self._line_counts[3])
    duplicate_lines = property(lambda self: self._line_counts[4])
    duplicate_line_chars = property(lambda self: self._line_counts[5])
    cells = property(lambda self: self._cell_counts[0])
    terminal_cells = property(lambda self: self._cell_counts[1])
    paragraphs = property(lambda self: self._paragraph_counts[0])
    duplicate_paragraphs = property(lambda self: self._paragraph_counts[1])
    duplicate_paragraph_chars = property(lambda self: self._paragraph_counts[2])


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
def _line_counts(
    cp: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    content_starts: np.ndarray,
    content_ends: np.ndarray,
    bullets: np.ndarray,
    terminal: np.ndarray,
) -> np.ndarray:
    counts = np.zeros(6, dtype=np.int64)
    for line in range(starts.shape[0]):
        first, last = content_starts[line], content_ends[line]
        if first == last:
            continue
        counts[0] += 1
        counts[1] += cp[first] in bullets
        dots = last - 3 >= starts[line] and cp[last - 1] == _DOT
        dots = dots and cp[last - 2] == _DOT and cp[last - 3] == _DOT
        counts[2] += dots or cp[last - 1] == _ELLIPSIS
        counts[3] += cp[last - 1] in terminal
    nonblank = content_ends > content_starts
    counts[4], counts[5] = _duplicates(cp, starts[nonblank], ends[nonblank])
    return counts


_BAR, _BACKSLASH = ord("|"), ord("\\")


@numba.njit(cache=True, nogil=True)
def _cell_counts(
    cp: np.ndarray,
    flags: np.ndarray,
    content_starts: np.ndarray,
    content_ends: np.ndarray,
    terminal: np.ndarray,
) -> np.ndarray:
    counts = np.zeros(2, dtype=np.int64)  # cells, cells ending in terminal punctuation
    for line in range(content_starts.shape[0]):
        first, last = content_starts[line], content_ends[line]
        if first == last:
            continue
        if last - first < 2 or cp[first] != _BAR or cp[last - 1] != _BAR:
            counts[0] += 1
            counts[1] += cp[last - 1] in terminal
            continue
        cell = first + 1
        for i in range(first + 1, last):
            if cp[i] == _BAR and (cp[i - 1] != _BACKSLASH or i == last - 1):
                end = i  # the cell is cp[cell:end]; its last non-space character decides
                while end > cell and not flags[end - 1] & NONSPACE:
                    end -= 1
                if end > cell:
                    counts[0] += 1
                    counts[1] += cp[end - 1] in terminal
                cell = i + 1
    return counts


@numba.njit(cache=True, nogil=True)
def _paragraph_counts(cp: np.ndarray, flags: np.ndarray) -> np.ndarray:
    starts, ends = _paragraph_spans(cp, flags)
    counts = np.zeros(3, dtype=np.int64)
    counts[0] = starts.shape[0]
    counts[1], counts[2] = _duplicates(cp, starts, ends)
    return counts


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
