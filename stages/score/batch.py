"""One analysis of a batch of documents that every scorer reads: the code points of all its
texts in one array, their character flags, and token spans, instead of each scorer
tokenizing each document (and each line and sentence of it) again in Python.

Tokens are exactly those of `stages.text.tokenize` (tests check it on real text):

- space-separated languages: its regex, ``\\w+(?:['’]\\w+)*|[^\\w\\s]+``, as a compiled loop
  over code points;
- jieba languages: rjieba's pieces of the whole text, placed by their lengths, whitespace
  pieces dropped. jieba (every version) first cuts a text into blocks of its Han class (CJK
  ideographs, ASCII letters and digits, "+#&._%-") and makes each other character a piece of
  its own ("\\r\\n" one piece: whitespace, dropped either way). So each run of characters of
  `_in_jieba_class` (a superset of that class in every version) is cut as it is alone, and
  each distinct run is cut once per batch: a run that `perplexity.normalized` leaves alone
  (most of them) or that repeats across documents is not cut again;
- the per-character languages: `CHARACTER_TOKEN`'s matches.

A scorer that tokenizes each line or sentence separately gets the same tokens by splitting the
text's tokens at those ends: no regex token spans whitespace, and jieba segments each run of
Han and ASCII word characters on its own, which a line or sentence end never belongs to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numba
import numpy as np
import rjieba

from stages.score.chartable import NO_LOWER, PUNCT, SPACE, WORD, codepoints, decode, learn
from stages.text import CHARACTER_LANGS, JIEBA_LANGS
from stages.text.scripts import JIEBA_RUN_RANGES
from stages.text.words import CHARACTER_TOKEN

# How a language is tokenized (`stages.text.tokenize`).
REGEX, JIEBA, CHARACTERS = 0, 1, 2
_APOSTROPHES = (0x27, 0x2019)  # ' and ’ join two word runs into one token (don't, l’eau)
_SPACE_CP = 0x20
_Found = tuple[np.ndarray, np.ndarray, np.ndarray]  # (starts, ends, tokens of each text)


def token_kind(lang: str | None) -> int:
    if lang in JIEBA_LANGS:
        return JIEBA
    return CHARACTERS if lang in CHARACTER_LANGS else REGEX


@dataclass(frozen=True)
class Spans:
    """Tokens of every document of a batch: token k is `cp[starts[k]:ends[k]]` and document
    i's tokens are `offsets[i]:offsets[i + 1]`."""

    starts: np.ndarray
    ends: np.ndarray
    offsets: np.ndarray


@numba.njit(cache=True, nogil=True)
def _regex_spans(
    cp: np.ndarray, flags: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Matches of ``\\w+(?:['’]\\w+)*|[^\\w\\s]+`` in each `cp[lo[d]:hi[d]]`, left to right:
    (starts, ends, number of tokens of each range)."""
    size = 0
    for d in range(lo.shape[0]):
        size += hi[d] - lo[d]
    starts = np.empty(size, dtype=np.int64)
    ends = np.empty(size, dtype=np.int64)
    counts = np.zeros(lo.shape[0], dtype=np.int64)
    k = 0
    for d in range(lo.shape[0]):
        i, end = lo[d], hi[d]
        first = k
        while i < end:
            if flags[i] & SPACE:
                i += 1
                continue
            starts[k] = i
            if flags[i] & WORD:
                i += 1
                while True:
                    while i < end and flags[i] & WORD:
                        i += 1
                    apostrophe = i < end and (cp[i] == _APOSTROPHES[0] or cp[i] == _APOSTROPHES[1])
                    if not (apostrophe and i + 1 < end and flags[i + 1] & WORD):
                        break
                    i += 1
            else:
                while i < end and not flags[i] & (SPACE | WORD):
                    i += 1
            ends[k] = i
            k += 1
        counts[d] = k - first
    return starts[:k], ends[:k], counts


class TextBatch:
    """Code points, flags and tokens of a batch of texts; each view is computed once."""

    def __init__(
        self,
        cp: np.ndarray,
        bounds: np.ndarray,
        texts: Sequence[str] | None = None,
        cuts: JiebaCuts | None = None,
    ) -> None:
        """Text i is `cp[bounds[i]:bounds[i + 1]]`; `texts` (the same as str) saves decoding
        them; `cuts` shares jieba's pieces of equal runs with another batch."""
        cp.flags.writeable = False  # one compiled variant of each kernel, for read-only arrays
        self.cp = cp
        self.bounds = bounds
        self._texts = texts
        self.cuts = JiebaCuts() if cuts is None else cuts
        self._spans: dict[tuple[bytes, int | None], Spans] = {}

    @classmethod
    def of(cls, texts: Sequence[str], cuts: JiebaCuts | None = None) -> TextBatch:
        cp, bounds = codepoints(texts)
        return cls(cp, bounds, texts, cuts)

    def __len__(self) -> int:
        return len(self.bounds) - 1

    @cached_property
    def tables(self) -> tuple[np.ndarray, np.ndarray]:
        """`chartable`'s (flags, lower) tables by code point, complete for this batch."""
        return learn(self.cp)

    @cached_property
    def flags(self) -> np.ndarray:
        """Flags of each code point."""
        return self.tables[0][self.cp]

    def text(self, i: int) -> str:
        if self._texts is not None:
            return self._texts[i]
        return decode(self.cp[self.bounds[i] : self.bounds[i + 1]])

    def tokens(self, kinds: Sequence[int], limit: int | None = None) -> Spans:
        """Tokens of each text (of its first `limit` characters), text i split as `kinds[i]`
        says (REGEX, JIEBA or CHARACTERS); computed once per kinds and limit."""
        kinds = np.asarray(kinds, dtype=np.int64)
        key = (kinds.tobytes(), limit)
        if key not in self._spans:
            self._spans[key] = self._tokens(kinds, limit)
        return self._spans[key]

    def _tokens(self, kinds: np.ndarray, limit: int | None) -> Spans:
        lengths = np.diff(self.bounds) if limit is None else np.minimum(np.diff(self.bounds), limit)
        sources = []
        for kind, spans_of in (
            (REGEX, self._regex_spans),
            (JIEBA, self._jieba_spans),
            (CHARACTERS, self._character_spans),
        ):
            docs = np.flatnonzero(kinds == kind)
            if len(docs):
                sources.append((docs, *spans_of(docs, lengths[docs])))
        return _merged(len(kinds), sources)

    def _regex_spans(self, docs: np.ndarray, lengths: np.ndarray) -> _Found:
        lo = self.bounds[docs]
        return _regex_spans(self.cp, self.flags, lo, lo + lengths)

    def _jieba_spans(self, docs: np.ndarray, lengths: np.ndarray) -> _Found:
        lo = self.bounds[docs]
        run_starts, run_ends, runs_per_doc = _jieba_runs(self.cp, lo, lo + lengths)
        ids = self.cuts.run_ids(self.cp, run_starts, run_ends, self._joined)
        cuts = (ids, self.cuts.piece_at, self.cuts.piece_lengths)
        return _jieba_piece_spans(self.flags, lo, lo + lengths, run_starts, runs_per_doc, *cuts)

    @cached_property
    def _joined(self) -> str:
        """All texts as one str, indexed as `cp` is."""
        return "".join(self._texts) if self._texts is not None else decode(self.cp)

    def _character_spans(self, docs: np.ndarray, lengths: np.ndarray) -> _Found:
        spans = [
            np.array(
                [m.span() for m in CHARACTER_TOKEN.finditer(self.text(i)[:n])], dtype=np.int64
            ).reshape(-1, 2)
            + self.bounds[i]
            for i, n in zip(docs.tolist(), lengths.tolist(), strict=True)
        ]
        joined = np.concatenate(spans)
        return joined[:, 0], joined[:, 1], np.fromiter(map(len, spans), np.int64, len(spans))


def _merged(n: int, sources: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]) -> Spans:
    """One `Spans` of n texts from the spans found for some of them by each source."""
    if len(sources) == 1 and len(sources[0][0]) == n:
        _, starts, ends, counts = sources[0]
        return Spans(starts, ends, _offsets(counts))
    counts = np.zeros(n, dtype=np.int64)
    for docs, _, _, found in sources:
        counts[docs] = found
    offsets = _offsets(counts)
    starts = np.empty(offsets[-1], dtype=np.int64)
    ends = np.empty(offsets[-1], dtype=np.int64)
    for docs, found_starts, found_ends, found in sources:
        _place(starts, ends, offsets, docs, found_starts, found_ends, found)
    return Spans(starts, ends, offsets)


@numba.njit(cache=True, nogil=True)
def _place(
    starts: np.ndarray,
    ends: np.ndarray,
    offsets: np.ndarray,
    docs: np.ndarray,
    found_starts: np.ndarray,
    found_ends: np.ndarray,
    found: np.ndarray,
) -> None:
    """Copy text docs[j]'s `found[j]` spans (consecutive in `found_*`) to its place."""
    k = 0
    for j in range(len(docs)):
        at = offsets[docs[j]]
        for t in range(found[j]):
            starts[at + t] = found_starts[k]
            ends[at + t] = found_ends[k]
            k += 1


class JiebaCuts:
    """jieba's pieces of runs (`_jieba_runs`), each distinct run cut once: the run of id r is
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
        hashes = span_hashes(cp, starts, ends)
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
def _jieba_runs(
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
def _jieba_piece_spans(
    flags: np.ndarray,
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
                        if not flags[j] & SPACE:
                            starts[k] = i
                            ends[k] = end
                            k += 1
                            counts[d] += 1
                            break
                    i = end
                r += 1
            else:
                if not flags[i] & SPACE:
                    starts[k] = i
                    ends[k] = i + 1
                    k += 1
                    counts[d] += 1
                i += 1
    return starts[:k], ends[:k], counts


# --- token hashes: equal strings, equal hashes (a collision of two different strings of one
# batch and vocabulary has probability ~ n^2 / 2^64) ---------------------------------------------

HASH_SEED = np.uint64(0xCBF29CE484222325)
_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@numba.njit(cache=True, nogil=True)
def hash_step(h: np.uint64, code: np.int64) -> np.uint64:
    """The hash of a string so far, extended by one code point."""
    h = (h ^ np.uint64(code)) * _HASH_MUL
    return h ^ (h >> np.uint64(29))


@numba.njit(cache=True, nogil=True)
def hash_finish(h: np.uint64, length: np.int64) -> np.uint64:
    """splitmix64's finalizer over the running hash and the length."""
    h = h ^ np.uint64(length)
    h = (h ^ (h >> np.uint64(30))) * _MIX1
    h = (h ^ (h >> np.uint64(27))) * _MIX2
    return h ^ (h >> np.uint64(31))


@numba.njit(cache=True, nogil=True)
def span_hashes(cp: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Hash of each `cp[starts[k]:ends[k]]`."""
    out = np.empty(starts.shape[0], dtype=np.uint64)
    for k in range(starts.shape[0]):
        h = HASH_SEED
        for i in range(starts[k], ends[k]):
            h = hash_step(h, cp[i])
        out[k] = hash_finish(h, ends[k] - starts[k])
    return out


def string_hashes(strings: Sequence[str]) -> np.ndarray:
    """`span_hashes` of Python strings (a vocabulary, a stop-word list)."""
    cp, bounds = codepoints(strings)
    return span_hashes(cp, bounds[:-1], bounds[1:])


def prefix_counts(batch: TextBatch, size: int, bits: int) -> np.ndarray:
    """How many of each text's first `size` code points have one of the flag `bits`."""
    return _prefix_counts(batch.flags, batch.bounds, size, bits)


@numba.njit(cache=True, nogil=True)
def _prefix_counts(flags: np.ndarray, bounds: np.ndarray, size: int, bits: int) -> np.ndarray:
    out = np.zeros(len(bounds) - 1, dtype=np.int64)
    for d in range(len(out)):
        for i in range(bounds[d], min(bounds[d + 1], bounds[d] + size)):
            out[d] += (flags[i] & bits) != 0
    return out


@numba.njit(cache=True, nogil=True)
def count_words(
    flags: np.ndarray, starts: np.ndarray, ends: np.ndarray, offsets: np.ndarray
) -> np.ndarray:
    """Tokens of each text with a character that is not punctuation (`DocView.words`)."""
    out = np.zeros(len(offsets) - 1, dtype=np.int64)
    for d in range(len(out)):
        for k in range(offsets[d], offsets[d + 1]):
            for i in range(starts[k], ends[k]):
                if not flags[i] & PUNCT:
                    out[d] += 1
                    break
    return out


@numba.njit(cache=True, nogil=True)
def lowered_tokens(
    cp: np.ndarray, lower_of: np.ndarray, starts: np.ndarray, ends: np.ndarray, offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each text's tokens lower-cased and joined by single spaces, the texts one after another
    with a space between: (code points, (2, texts) start and end of each text's part, which
    texts hold a character whose lower case is not one code point of its own: their parts
    are left as they are, for Python to lower-case)."""
    size = len(offsets)
    for k in range(len(starts)):
        size += ends[k] - starts[k] + 1
    out = np.empty(size, dtype=np.uint32)
    parts = np.zeros((2, len(offsets) - 1), dtype=np.int64)
    redo = np.zeros(len(offsets) - 1, dtype=np.bool_)
    j = 0
    for d in range(len(offsets) - 1):
        parts[0, d] = j
        for k in range(offsets[d], offsets[d + 1]):
            if k > offsets[d]:
                out[j] = _SPACE_CP
                j += 1
            for i in range(starts[k], ends[k]):
                low = lower_of[cp[i]]
                redo[d] |= low == NO_LOWER
                out[j] = low
                j += 1
        if redo[d]:
            j = parts[0, d]
            for k in range(offsets[d], offsets[d + 1]):
                if k > offsets[d]:
                    j += 1
                for i in range(starts[k], ends[k]):
                    out[j] = cp[i]
                    j += 1
        parts[1, d] = j
        out[j] = _SPACE_CP  # between texts
        j += 1
    return out[:j], parts, redo


def _offsets(counts: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets
