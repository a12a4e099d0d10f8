"""One analysis of a batch of documents that every scorer reads: the code points of all its
texts in one array, their character flags, and token spans, instead of each scorer
tokenizing each document (and each line and sentence of it) again in Python.

Tokens are exactly those of `stages.text.tokenize` (tests check it on real text):

- space-separated languages: its regex, ``\\w+(?:['’]\\w+)*|[^\\w\\s]+``, as a compiled loop
  over code points;
- jieba languages: jieba's pieces of each run of its class (`stages.text.jieba_runs`: a run
  is cut as it is alone, and once per worker process however often it repeats), whitespace
  pieces dropped;
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

from stages.score.chartable import NO_LOWER, PUNCT, SPACE, WORD, codepoints, decode, learn
from stages.text import CHARACTER_LANGS, JIEBA_LANGS
from stages.text.jieba_runs import JiebaCuts, jieba_spans
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
        them; `cuts` holds jieba's pieces of runs cut before (default: the process's)."""
        cp.flags.writeable = False  # one compiled variant of each kernel, for read-only arrays
        self.cp = cp
        self.bounds = bounds
        self._texts = texts
        self.cuts = cuts
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
        space = (SPACE, True)
        return jieba_spans(self.cp, self.flags, space, lo, lo + lengths, self._joined, self.cuts)

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
