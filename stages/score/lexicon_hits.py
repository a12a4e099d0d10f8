"""Safety-lexicon hits of every text of a batch in one compiled loop: the count that
`sum(Lexicon.safety().find(text).values())` gives.

`Lexicon.find` runs two trie-shaped regexes over each lower-cased text; here the same tries are
walked over the batch's code points. The rules are `stages.text.lexicon`'s:

- terms are lower-case, a run of whitespace in a term is one space, and matches any run of
  whitespace in the text;
- terms whose first character is a Latin word character (`_WORD_CHARS` there) and the others
  are two separate scans (two regexes) whose matches are all counted; a Latin term starts only
  where no Latin word character precedes it;
- a term whose last character is a Latin word character ends only where none follows;
- at each position the longest term that matches wins (the regex tries longer branches first)
  and the scan resumes after it (`findall`).

A text holding a character whose lower case is not one code point (İ, Σ) is counted by
`Lexicon.find` itself. tests/test_score_batch.py checks the counts against `Lexicon.find`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numba
import numpy as np

from stages.score.batch import TextBatch
from stages.score.chartable import LOWER_SPACE, NO_LOWER
from stages.text import Lexicon, load_list
from stages.text.lexicon import SAFETY_FILES

_BMP = 0x10000
_SPACE_CP = 0x20
# What a node of a trie means: no term ends there, one does, or one does unless a Latin word
# character follows.
_NO_END, _END, _END_BEFORE_NON_WORD = 0, 1, 2


@dataclass(frozen=True)
class _Tries:
    """Tries of terms as arrays, root r's (0, 1, ...) node being node r. Node k's children are
    `child_node[child_at[k]:child_at[k + 1]]`, reached by the characters `child_char`;
    `first[r * _BMP + c]` is the child of root r reached by character c below U+10000 (-1:
    none); `ends` is each node's _NO_END, _END or _END_BEFORE_NON_WORD."""

    first: np.ndarray
    child_at: np.ndarray
    child_char: np.ndarray
    child_node: np.ndarray
    ends: np.ndarray

    @classmethod
    def of(cls, term_sets: list[list[str]]) -> _Tries:
        """One trie (root) per list of terms."""
        children: list[dict[int, int]] = [{} for _ in term_sets]
        ends = [_NO_END] * len(term_sets)
        for root, terms in enumerate(term_sets):
            for term in terms:
                node = root
                for char in term:
                    node = children[node].setdefault(ord(char), len(children))
                    if node == len(children):
                        children.append({})
                        ends.append(_NO_END)
                ends[node] = _END_BEFORE_NON_WORD if _is_latin_word(ord(term[-1])) else _END
        first = np.full(len(term_sets) * _BMP, -1, dtype=np.int32)
        for root in range(len(term_sets)):
            for char, node in children[root].items():
                if char < _BMP:
                    first[root * _BMP + char] = node
        pairs = [sorted(c.items()) for c in children]
        return cls(
            first=first,
            child_at=np.cumsum([0, *map(len, pairs)]).astype(np.int64),
            child_char=np.array([c for p in pairs for c, _ in p], dtype=np.int64),
            child_node=np.array([n for p in pairs for _, n in p], dtype=np.int64),
            ends=np.array(ends, dtype=np.int8),
        )


@numba.njit(cache=True, nogil=True, inline="always")  # called per character
def _is_latin_word(c: int) -> bool:
    """`stages.text.lexicon._WORD_CHARS`: 0-9, a-z, Latin-1 to Latin Extended-B, combining
    accents."""
    return 48 <= c <= 57 or 97 <= c <= 122 or 0xC0 <= c <= 0x24F or 0x300 <= c <= 0x36F


@cache
def _safety_tries() -> _Tries:
    """The shipped safety lexicon's terms as `Lexicon.safety()` reads them (each line
    `term<TAB>category`, the term lower-cased, whitespace runs as one space): root 0 holds the
    terms that start with a Latin word character, root 1 the others."""
    terms = {" ".join(e.partition("\t")[0].lower().split()) for e in load_list(SAFETY_FILES)}
    terms.discard("")
    latin = sorted(t for t in terms if _is_latin_word(ord(t[0])))
    return _Tries.of([latin, sorted(terms - set(latin))])


def safety_hits(batch: TextBatch, lexicon: Lexicon) -> list[int]:
    """Hits of the shipped safety lexicon in each text of the batch; `lexicon` is that
    lexicon (`Lexicon.safety()`), which counts the texts left to Python."""
    flag_of, lower_of = batch.tables
    tries = _safety_tries()
    arrays = (tries.first, tries.child_at, tries.child_char, tries.child_node, tries.ends)
    hits, redo = _hits(batch.cp, flag_of, lower_of, batch.bounds, *arrays)
    for i in np.flatnonzero(redo).tolist():
        hits[i] = sum(lexicon.find(batch.text(i)).values())
    return hits.tolist()


@numba.njit(cache=True, nogil=True)
def _hits(
    cp: np.ndarray,
    flag_of: np.ndarray,
    lower_of: np.ndarray,
    bounds: np.ndarray,
    first: np.ndarray,
    child_at: np.ndarray,
    child_char: np.ndarray,
    child_node: np.ndarray,
    ends: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(matches of both tries in each lower-cased text, which texts to leave to Python). The
    two scans (root 0: Latin terms, root 1: the others) run in one pass, each resuming after
    its own last match; nothing is called per character (a call that takes arrays costs
    reference counting)."""
    hits = np.zeros(len(bounds) - 1, dtype=np.int64)
    redo = np.zeros(len(bounds) - 1, dtype=np.bool_)
    resume = np.zeros(2, dtype=np.int64)
    for d in range(len(hits)):
        lo, hi = bounds[d], bounds[d + 1]
        resume[:] = lo
        after_word = False  # whether the character before i is a Latin word character
        for i in range(lo, hi):
            c = lower_of[cp[i]]
            if c == NO_LOWER:
                redo[d] = True
                break
            for root in range(2):
                if i < resume[root] or (root == 0 and after_word):
                    continue
                node = first[root * _BMP + c] if c < _BMP else -1
                if c >= _BMP:  # no table row: look among the root's children
                    for k in range(child_at[root], child_at[root + 1]):
                        if child_char[k] == c:
                            node = child_node[k]
                end = -1
                j = i + 1
                while node >= 0:
                    kind = ends[node]
                    if kind == _END or (
                        kind == _END_BEFORE_NON_WORD
                        and (j == hi or not _is_latin_word(lower_of[cp[j]]))
                    ):
                        end = j  # the longest term so far; a longer one may follow
                    if j == hi:
                        break
                    space = flag_of[cp[j]] & LOWER_SPACE  # in a term: any run of whitespace
                    step = _SPACE_CP if space else lower_of[cp[j]]
                    j += 1
                    while space and j < hi and flag_of[cp[j]] & LOWER_SPACE:
                        j += 1
                    parent, node = node, -1
                    for k in range(child_at[parent], child_at[parent + 1]):
                        if child_char[k] == step:
                            node = child_node[k]
                if end >= 0:
                    hits[d] += 1
                    resume[root] = end
            after_word = _is_latin_word(c)
    return hits, redo
