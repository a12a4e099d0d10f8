"""jieba's segmentation of text, each distinct run cut once per worker process.

jieba (every version) first cuts a text into blocks of its Han class (CJK ideographs, ASCII
letters and digits, "+#&._%-") and makes each other character a piece of its own ("\\r\\n" one
piece: whitespace, dropped by every tokenizer). So each maximal run of characters of
`scripts.JIEBA_RUN_RANGES` (a superset of that class in every version) is cut as it is alone:
its pieces do not depend on the text around it. `JiebaCuts` keeps the pieces of the runs it has
cut, so a run that repeats (boilerplate, near-duplicate pages, the same page read by the filter,
then by score, then by topics in one worker) is cut once; `process_cuts()` is the one bounded
cache of a worker process that every stage shares.
"""

from __future__ import annotations

from functools import cache

import numba
import numpy as np
import rjieba

from stages.text.codepoints import P_TOKEN, fmix64
from stages.text.scripts import JIEBA_RUN_RANGES

# Characters of distinct runs whose pieces a worker keeps: at most some 40 bytes per character
# (code points, pieces, the hash table, arrays grown by doubling), some 40 MiB.
PROCESS_CACHE_CHARS = 1 << 20
_Found = tuple[np.ndarray, np.ndarray, np.ndarray]  # (starts, ends, pieces of each range)


@cache
def process_cuts() -> JiebaCuts:
    """The jieba pieces of the runs seen by this worker process, shared by every stage."""
    return JiebaCuts(max_chars=PROCESS_CACHE_CHARS)


def jieba_spans(
    cp: np.ndarray,
    flags: np.ndarray,
    space: tuple[int, bool],
    lo: np.ndarray,
    hi: np.ndarray,
    text: str,
    cuts: JiebaCuts | None = None,
) -> _Found:
    """jieba's pieces of each `cp[lo[d]:hi[d]]` that are not all whitespace (every tokenizer
    drops those): (starts, ends, pieces of each range). `space` (bit, is_set) says which
    characters are whitespace: those whose `flags & bit` is set (or not, if is_set is False).
    `text` is `cp` as str; `cuts` defaults to `process_cuts()`."""
    cuts = process_cuts() if cuts is None else cuts
    run_starts, run_ends, runs_per_range = jieba_runs(cp, lo, hi)
    ids = cuts.run_ids(cp, run_starts, run_ends, text)
    return _piece_spans(
        flags, *space, lo, hi, run_starts, runs_per_range, ids, cuts.piece_at, cuts.piece_lengths
    )


class JiebaCuts:
    """jieba's pieces of runs (`jieba_runs`), each distinct run cut once: the run of id r is
    cut into pieces of `piece_lengths[piece_at[r]:piece_at[r + 1]]` characters. Runs are
    found by the hash of their code points in an open-addressing table and compared code
    point by code point with the run of that id (`run_cp[run_at[r]:run_at[r + 1]]`), so
    equal runs share an id and different ones never do."""

    def __init__(self, max_chars: int | None = None) -> None:
        """`max_chars`: forget every run when the runs kept hold more characters (checked
        before each lookup, so the ids of one lookup stay valid until the next)."""
        self.max_chars = max_chars
        self._clear()

    def _clear(self) -> None:
        self._piece_at = _Growing(np.zeros(1, dtype=np.int64))
        self._piece_lengths = _Growing(np.zeros(0, dtype=np.int64))
        self._run_at = _Growing(np.zeros(1, dtype=np.int64))
        self._run_cp = _Growing(np.zeros(0, dtype=np.uint32))
        self._run_hash = _Growing(np.zeros(0, dtype=np.uint64))
        self._slots = np.zeros((0, 2), dtype=np.uint64)  # (hash, id + 1 or 0: empty) rows

    @property
    def piece_at(self) -> np.ndarray:
        return self._piece_at.values

    @property
    def piece_lengths(self) -> np.ndarray:
        return self._piece_lengths.values

    def run_ids(
        self, cp: np.ndarray, starts: np.ndarray, ends: np.ndarray, text: str
    ) -> np.ndarray:
        """The id of each run `cp[starts[k]:ends[k]]` (`text` is `cp` as str); the runs not
        seen before are cut, in one call."""
        if self.max_chars is not None and self._run_cp.size > self.max_chars:
            self._clear()
        known = self._run_hash.size
        if len(self._slots) < 2 * (known + len(starts)):  # at most half full
            self._slots = _table(self._run_hash.values, 2 * (known + len(starts)))
        hashes = _run_hashes(cp, starts, ends)
        run_cp, run_at = self._run_cp.values, self._run_at.values
        ids, new = _run_ids(cp, starts, ends, hashes, run_cp, run_at, self._slots)
        if len(new):
            a, b = starts[new].tolist(), ends[new].tolist()
            self._cut([text[i:j] for i, j in zip(a, b, strict=True)])
            new_cp, new_at = _gathered(cp, starts[new], ends[new])
            self._run_at.extend(self._run_cp.size + new_at[1:])
            self._run_cp.extend(new_cp)
            self._run_hash.extend(hashes[new])
        return ids

    def _cut(self, runs: list[str]) -> None:
        """One rjieba call for all runs, joined by "\\n" (outside jieba's class, so a piece of
        its own between two runs)."""
        pieces = rjieba.cut("\n".join(runs))
        lengths = np.fromiter(map(len, pieces), np.int64, len(pieces))
        run_lengths = np.fromiter(map(len, runs), np.int64, len(runs))
        counts, ok = _pieces_per_run(lengths, run_lengths)
        if not ok:
            raise ValueError("jieba's pieces do not cover the runs")
        self._piece_at.extend(self._piece_lengths.size + np.cumsum(counts))
        self._piece_lengths.extend(lengths[lengths > 0])


class _Growing:
    """An array appended to in place: its capacity doubles when full, so n appends copy O(n)
    values, not O(n) each."""

    def __init__(self, first: np.ndarray) -> None:
        self._data = first
        self.size = len(first)

    @property
    def values(self) -> np.ndarray:
        return self._data[: self.size]

    def extend(self, values: np.ndarray) -> None:
        end = self.size + len(values)
        if end > len(self._data):
            grown = np.empty(max(end, 2 * len(self._data)), dtype=self._data.dtype)
            grown[: self.size] = self.values
            self._data = grown
        self._data[self.size : end] = values
        self.size = end


@numba.njit(cache=True, nogil=True, inline="always")  # called per run
def _slot(h: np.uint64, slots: np.ndarray) -> int:
    return np.int64(h & np.uint64(slots.shape[0] - 1))


@numba.njit(cache=True, nogil=True)
def _table(hashes: np.ndarray, size: int) -> np.ndarray:
    """A table of at least `size` slots (a power of two) holding the runs of these hashes:
    row (hash, id + 1) at the hash's slot or the first free one after it; (0, 0) is free."""
    n = 1
    while n < size:
        n *= 2
    slots = np.zeros((n, 2), dtype=np.uint64)
    for r in range(len(hashes)):
        slot = _slot(hashes[r], slots)
        while slots[slot, 1] != 0:
            slot = (slot + 1) & (n - 1)
        slots[slot, 0] = hashes[r]
        slots[slot, 1] = r + 1
    return slots


@numba.njit(cache=True, nogil=True)
def _run_ids(
    cp: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    hashes: np.ndarray,
    run_cp: np.ndarray,
    run_at: np.ndarray,
    slots: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(id of each run, the runs that are new: the first of each distinct run not in the
    table, whose ids follow the known ones in order). New runs are entered in `slots`."""
    known = len(run_at) - 1
    ids = np.empty(len(starts), dtype=np.int64)
    new = np.empty(len(starts), dtype=np.int64)
    n_new = 0
    for k in range(len(starts)):
        slot = _slot(hashes[k], slots)
        found = -1
        while slots[slot, 1] != 0:
            r = np.int64(slots[slot, 1]) - 1
            if slots[slot, 0] != hashes[k]:
                same = False
            elif r < known:
                same = _same(cp, starts[k], ends[k], run_cp, run_at[r], run_at[r + 1])
            else:
                first = new[r - known]
                same = _same(cp, starts[k], ends[k], cp, starts[first], ends[first])
            if same:
                found = r
                break
            slot = (slot + 1) & (slots.shape[0] - 1)
        if found == -1:
            found = known + n_new
            slots[slot, 0] = hashes[k]
            slots[slot, 1] = found + 1
            new[n_new] = k
            n_new += 1
        ids[k] = found
    return ids, new[:n_new]


@numba.njit(cache=True, nogil=True, inline="always")  # called per run
def _same(a: np.ndarray, a0: int, a1: int, b: np.ndarray, b0: int, b1: int) -> bool:
    if a1 - a0 != b1 - b0:
        return False
    for i in range(a1 - a0):  # noqa: SIM110 (numba compiles loops, not generators)
        if a[a0 + i] != b[b0 + i]:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def _gathered(
    cp: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The runs' code points one after another, and where each begins (and the last ends)."""
    at = np.zeros(len(starts) + 1, dtype=np.int64)
    for k in range(len(starts)):
        at[k + 1] = at[k] + ends[k] - starts[k]
    out = np.empty(at[-1], dtype=np.uint32)
    for k in range(len(starts)):
        out[at[k] : at[k + 1]] = cp[starts[k] : ends[k]]
    return out, at


_JIEBA_RUN = np.array(JIEBA_RUN_RANGES, dtype=np.int64)  # (first, last) rows


@numba.njit(cache=True, nogil=True, inline="always")  # called per character
def _in_jieba_class(c: int) -> bool:
    """True of every character jieba keeps in one run (`scripts.JIEBA_RUN_RANGES`)."""
    inside = False
    for k in range(_JIEBA_RUN.shape[0]):  # a few ranges: no early exit, no branch
        inside |= _JIEBA_RUN[k, 0] <= c <= _JIEBA_RUN[k, 1]
    return inside


@numba.njit(cache=True, nogil=True)
def jieba_runs(
    cp: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The maximal runs of `_in_jieba_class` characters in each `cp[lo[d]:hi[d]]`: (starts,
    ends, number of runs of each range)."""
    size = 0
    for d in range(len(lo)):
        size += hi[d] - lo[d]
    starts = np.empty(size, dtype=np.int64)
    ends = np.empty(size, dtype=np.int64)
    counts = np.zeros(len(lo), dtype=np.int64)
    k = 0
    for d in range(len(lo)):
        i = lo[d]
        while i < hi[d]:
            if not _in_jieba_class(cp[i]):
                i += 1
                continue
            starts[k] = i
            while i < hi[d] and _in_jieba_class(cp[i]):
                i += 1
            ends[k] = i
            k += 1
            counts[d] += 1
    return starts[:k], ends[:k], counts


@numba.njit(cache=True, nogil=True)
def _pieces_per_run(lengths: np.ndarray, run_lengths: np.ndarray) -> tuple[np.ndarray, bool]:
    """How many of jieba's pieces (`lengths`, of the runs joined by one separator character)
    each run has; the separators' pieces are set to length 0. Not ok if a piece crosses a
    run's end."""
    counts = np.zeros(len(run_lengths), dtype=np.int64)
    p = 0
    for r in range(len(run_lengths)):
        if r > 0:
            if p == len(lengths) or lengths[p] != 1:
                return counts, False
            lengths[p] = 0
            p += 1
        left = run_lengths[r]
        while left > 0 and p < len(lengths):
            left -= lengths[p]
            counts[r] += 1
            p += 1
        if left != 0:
            return counts, False
    return counts, p == len(lengths)


@numba.njit(cache=True, nogil=True)
def _piece_spans(
    flags: np.ndarray,
    space_bit: int,
    space_is_set: bool,
    lo: np.ndarray,
    hi: np.ndarray,
    run_starts: np.ndarray,
    runs_per_doc: np.ndarray,
    run_ids: np.ndarray,
    piece_at: np.ndarray,
    piece_lengths: np.ndarray,
) -> _Found:
    """Spans of jieba's pieces of each `cp[lo[d]:hi[d]]` that are not all whitespace
    (`tokenize` drops those: str.isspace): the pieces of its runs, and each character between
    runs as a piece of its own."""
    size = 0
    for d in range(len(lo)):
        size += hi[d] - lo[d]  # at most one piece per character
    starts = np.empty(size, dtype=np.int64)
    ends = np.empty(size, dtype=np.int64)
    counts = np.zeros(len(lo), dtype=np.int64)
    k = 0
    r = 0
    for d in range(len(lo)):
        i = lo[d]
        last_run = r + runs_per_doc[d]
        while i < hi[d]:
            if r < last_run and run_starts[r] == i:
                run = run_ids[r]
                for p in range(piece_at[run], piece_at[run + 1]):
                    end = i + piece_lengths[p]
                    for j in range(i, end):
                        if ((flags[j] & space_bit) != 0) != space_is_set:
                            starts[k] = i
                            ends[k] = end
                            k += 1
                            counts[d] += 1
                            break
                    i = end
                r += 1
            else:
                if ((flags[i] & space_bit) != 0) != space_is_set:
                    starts[k] = i
                    ends[k] = i + 1
                    k += 1
                    counts[d] += 1
                i += 1
    return starts[:k], ends[:k], counts


@numba.njit(cache=True, nogil=True)
def _run_hashes(cp: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """A hash of each run's code points and length (equal runs, equal hashes)."""
    out = np.empty(starts.shape[0], dtype=np.uint64)
    for k in range(starts.shape[0]):
        h = np.uint64(ends[k] - starts[k])
        for i in range(starts[k], ends[k]):
            h = h * np.uint64(P_TOKEN) + np.uint64(cp[i])
        out[k] = fmix64(h)
    return out
