"""`Lexicon`'s term tries walked over code points in one compiled loop: what its two regexes find
in the lower-cased text, without `re` and without lower-casing the text.

The rules are the regexes' (`lexicon._trie_regex`, `lexicon._build_patterns`):

- terms are lower-case, and a run of whitespace in a term is one space, which matches any run of
  whitespace (re's ``\\s``) in the text;
- terms whose first character is a Latin word character (`WORD_RANGES`) and the others are two
  separate scans whose matches all count; a Latin term starts only where no Latin word character
  precedes it;
- a term whose last character is a Latin word character ends only where none follows;
- at each position the longest term wins and the scan resumes after it (`findall`). The regex
  tries a node's longer branches first, and only one branch can take the next character (terms
  hold no whitespace but single spaces between other characters), so its match is the walk's.

The text is read through `codepoints.lower_space_table`, a code point at a time. A text holding
a character whose lower case is not one code point or depends on its neighbours (İ, Σ) cannot be
read that way: the walk says so, and `Lexicon` asks its regexes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

from stages.text.codepoints import NO_LOWER, lower_space_table

# Latin word characters, a term edge that must not touch another one: 0-9, a-z, Latin-1 to
# Latin Extended-B and combining accents (lexicon.py builds its regex class from these).
WORD_RANGES = ((0x30, 0x39), (0x61, 0x7A), (0xC0, 0x24F), (0x300, 0x36F))
# The two scans, each a root of the tries: terms that start with a Latin word character, others.
LATIN, OTHER = 0, 1
_BMP = 0x10000
_SPACE = 0x20
# Bits of `TermTries.kinds`, what the walk asks of each character as read (of its lower case):
# a term of either scan starts with it, it is a Latin word character, it has no lower case of
# one code point (the walk cannot read it), it is a term of its own.
_LATIN_START, _OTHER_START, _WORD, _UNREADABLE, _SINGLE = 1, 2, 4, 8, 16
_GRAMS = 1 << 14  # size of `TermTries.grams`
_END = -2  # in `grams`: the term ends (no character is -2)


def _is_latin_word(char: str) -> bool:
    """Whether `char` is in WORD_RANGES."""
    return any(lo <= ord(char) <= hi for lo, hi in WORD_RANGES)


@dataclass(frozen=True)
class TermTries:
    """The terms' tries as arrays, root LATIN and root OTHER being nodes 0 and 1. Node k's
    children are `edges[child_at[k]:child_at[k + 1]]`, rows (lower-case character, child);
    `first[r * 0x10000 + c]` is the child of root r reached by a character c below U+10000
    (-1: none); `term[k]` is (index of the term that ends at node k or -1, whether that term
    ends in a Latin word character).

    Two filters keep the walk from most positions. `kinds` holds the bits that the walk asks of
    every character below U+10000 it reads, in one look-up: the lower case is read only where a
    term may start. There, unless the character is a term (_SINGLE), `grams[_gram(a, b, c)]`
    says whether a term may start with the three characters a, b, c, or (c = _END) is the two
    characters a, b (true for all terms, and for some other characters by chance).
    """

    first: np.ndarray
    child_at: np.ndarray
    edges: np.ndarray
    term: np.ndarray
    kinds: np.ndarray
    grams: np.ndarray

    @classmethod
    def of(cls, terms: Sequence[str]) -> TermTries:
        """Tries of `terms` (normalized: lower-case, single spaces), each known by its index."""
        children: list[dict[int, int]] = [{}, {}]
        term_at = [-1, -1]
        bounded = [False, False]
        for index, term in enumerate(terms):
            node = LATIN if _is_latin_word(term[0]) else OTHER
            for char in term:
                node = children[node].setdefault(ord(char), len(children))
                if node == len(children):
                    children.append({})
                    term_at.append(-1)
                    bounded.append(False)
            term_at[node] = index
            bounded[node] = _is_latin_word(term[-1])
        first = np.full(2 * _BMP, -1, dtype=np.int32)
        for root in (LATIN, OTHER):
            for char, node in children[root].items():
                if char < _BMP:
                    first[root * _BMP + char] = node
        edges = [edge for child in children for edge in sorted(child.items())]
        return cls(
            first=first,
            child_at=np.cumsum([0, *map(len, children)], dtype=np.int32),
            edges=np.array(edges, dtype=np.int32).reshape(-1, 2),
            term=np.array([term_at, bounded], dtype=np.int32).T.copy(),
            kinds=_kinds(first, terms),
            grams=_grams(terms),
        )

    def _tables(self) -> tuple[np.ndarray, ...]:
        """What the kernels read: the text's table by code point, then the tries."""
        return (
            lower_space_table(),
            self.first,
            self.child_at,
            self.edges,
            self.term,
            self.kinds,
            self.grams,
        )

    def find(self, cp: np.ndarray) -> np.ndarray | None:
        """Indices of the terms matched in the text of code points `cp` (`codepoints_of`), or
        None when the walk cannot be exact."""
        found, exact = _find(cp, *self._tables())
        return found if exact else None

    def first_match(self, cp: np.ndarray, root: int) -> int | None:
        """Index of the first term that `root`'s scan matches in `cp` (-1: none), or None when
        the walk cannot be exact."""
        found, exact = _first(cp, root, *self._tables())
        return found if exact else None

    def find_batch(
        self, cp: np.ndarray, bounds: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`find` of each text `cp[bounds[i]:bounds[i + 1]]` at once: (the term indices of all
        texts, text i's being `found[at[i]:at[i + 1]]`, whether each text's are exact)."""
        return _find_batch(cp, bounds, *self._tables())


def _kinds(first: np.ndarray, terms: Sequence[str]) -> np.ndarray:
    """`TermTries.kinds`: the bits of each character's lower case."""
    own = np.zeros(_BMP, dtype=np.uint8)  # the bits of each lower-case character
    for lo, hi in WORD_RANGES:
        own[lo : hi + 1] |= _WORD
    own[first[LATIN * _BMP : (LATIN + 1) * _BMP] >= 0] |= _LATIN_START
    own[first[OTHER * _BMP : (OTHER + 1) * _BMP] >= 0] |= _OTHER_START
    own[[ord(term) for term in terms if len(term) == 1 and ord(term) < _BMP]] |= _SINGLE
    lower = lower_space_table()[:_BMP]
    # A lower case above U+FFFF (none in Unicode 15) is looked up among the OTHER terms.
    kinds = np.where(lower < _BMP, own[np.clip(lower, 0, _BMP - 1)], _OTHER_START | _SINGLE)
    kinds[lower == NO_LOWER] = _UNREADABLE
    return kinds.astype(np.uint8)


def _grams(terms: Sequence[str]) -> np.ndarray:
    """`TermTries.grams`: the first three characters of each term, _END as the third of a term
    of two."""
    grams = np.zeros(_GRAMS, dtype=np.bool_)
    for term in terms:
        if len(term) > 1:
            third = ord(term[2]) if len(term) > 2 else _END
            grams[_gram(ord(term[0]), ord(term[1]), third)] = True
    return grams


@numba.njit(cache=True, nogil=True, inline="always")
def _gram(a: int, b: int, c: int) -> int:
    """A hash of three code points, below _GRAMS."""
    return ((a * 0x9E3779B1) ^ (b * 0x7FEB352D) ^ (c * 0x846CA68B)) >> 12 & (_GRAMS - 1)


def codepoints_of(text: str) -> np.ndarray:
    """The code points of `text`: uint16 when all are below U+10000 (UTF-16 then holds no
    surrogate pair, and is half the bytes to write and read), else uint32. surrogatepass: a str
    built in Python may hold a lone surrogate, which is a code point like any other here."""
    utf16 = text.encode("utf-16-le", "surrogatepass")
    if len(utf16) == 2 * len(text):
        return np.frombuffer(utf16, dtype=np.uint16)
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def text_of(cp: np.ndarray) -> str:
    """The text of code points `cp` (of any unsigned integer type)."""
    return cp.astype(np.uint32, copy=False).tobytes().decode("utf-32-le", "surrogatepass")


# The kernels take the arrays one by one: a call from Python costs per array, a tuple more.


@numba.njit(cache=True, nogil=True)
def _find(
    cp: np.ndarray,
    table: np.ndarray,
    first: np.ndarray,
    child_at: np.ndarray,
    edges: np.ndarray,
    term: np.ndarray,
    kinds: np.ndarray,
    grams: np.ndarray,
) -> tuple[np.ndarray, bool]:
    found = numba.typed.List.empty_list(numba.int32)
    tries = (first, child_at, edges, term, kinds, grams)
    exact = _scan(cp, 0, len(cp), LATIN, OTHER, False, found, table, tries)
    return np.asarray(found), exact


@numba.njit(cache=True, nogil=True)
def _first(
    cp: np.ndarray,
    root: int,
    table: np.ndarray,
    first: np.ndarray,
    child_at: np.ndarray,
    edges: np.ndarray,
    term: np.ndarray,
    kinds: np.ndarray,
    grams: np.ndarray,
) -> tuple[int, bool]:
    found = numba.typed.List.empty_list(numba.int32)
    tries = (first, child_at, edges, term, kinds, grams)
    exact = _scan(cp, 0, len(cp), root, root, True, found, table, tries)
    return found[0] if len(found) else -1, exact


@numba.njit(cache=True, nogil=True)
def _find_batch(
    cp: np.ndarray,
    bounds: np.ndarray,
    table: np.ndarray,
    first: np.ndarray,
    child_at: np.ndarray,
    edges: np.ndarray,
    term: np.ndarray,
    kinds: np.ndarray,
    grams: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    found = numba.typed.List.empty_list(numba.int32)
    tries = (first, child_at, edges, term, kinds, grams)
    at = np.zeros(len(bounds), dtype=np.int64)
    exact = np.zeros(len(bounds) - 1, dtype=np.bool_)
    for d in range(len(bounds) - 1):
        exact[d] = _scan(cp, bounds[d], bounds[d + 1], LATIN, OTHER, False, found, table, tries)
        if not exact[d]:
            del found[at[d] :]
        at[d + 1] = len(found)
    return np.asarray(found), at, exact


@numba.njit(cache=True, nogil=True)
def _scan(
    cp: np.ndarray,
    lo: int,
    hi: int,
    first_root: int,
    last_root: int,
    stop: bool,
    found: numba.typed.List,
    table: np.ndarray,
    tries: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> bool:
    """Appends to `found` the terms that the scans of roots first_root to last_root match in
    `cp[lo:hi]`, in one pass, each scan resuming after its own last match; with `stop`, only
    the first match. False when the walk cannot be exact (a character whose lower case is not
    one code point): `found` is then incomplete.

    One loop that calls nothing taking an array: such a call, even inlined, costs reference
    counting, which took most of the time."""
    first, child_at, edges, term, kinds, grams = tries
    resume = np.full(2, lo)
    kind = 0  # of the character before i
    for i in range(lo, hi):
        # What may start at i (a Latin term only where no word character precedes it), and
        # what stops the walk: looked at in one branch, rarely taken.
        starts = _OTHER_START | _UNREADABLE | (0 if kind & _WORD else _LATIN_START)
        x = cp[i]
        kind = kinds[x] if x < _BMP else _OTHER_START | _SINGLE  # (no row: looked up below)
        if not kind & starts:
            continue
        if kind & _UNREADABLE:
            return False
        c = table[x]
        if not kind & _SINGLE:  # the next two characters as a walk reads them
            j = i + 1
            c2 = table[cp[j]] if j < hi else _END
            j += 1
            while c2 == _SPACE and j < hi and table[cp[j]] == _SPACE:
                j += 1
            c3 = table[cp[j]] if j < hi else _END
            if not (grams[_gram(c, c2, c3)] or grams[_gram(c, c2, _END)]):
                continue
        for root in range(first_root, last_root + 1):
            if i < resume[root] or not starts & (_OTHER_START if root else _LATIN_START):
                continue
            # The walk: from `node`, take the character `step`, which ends before j.
            node, step, j, end, matched = root, c, i + 1, i, -1
            while True:
                if node == root and step < _BMP:
                    node = first[root * _BMP + step]
                else:
                    parent, node = node, -1
                    for k in range(child_at[parent], child_at[parent + 1]):
                        if edges[k, 0] == step:
                            node = edges[k, 1]
                            break
                if node < 0:
                    break
                if term[node, 0] >= 0 and not (
                    term[node, 1] and j < hi and cp[j] < _BMP and kinds[cp[j]] & _WORD
                ):
                    end, matched = j, term[node, 0]  # a longer term may follow
                if j == hi:
                    break
                step = table[cp[j]]
                j += 1
                while step == _SPACE and j < hi and table[cp[j]] == _SPACE:
                    j += 1  # a space in a term: any run of whitespace
            if matched >= 0:
                found.append(np.int32(matched))
                resume[root] = end
                if stop:  # the match is exact if the text is: read the rest for İ, Σ
                    return _lowerable(cp, end, hi, table)
    return True


@numba.njit(cache=True, nogil=True)
def _lowerable(cp: np.ndarray, lo: int, hi: int, table: np.ndarray) -> bool:
    """Whether every character of `cp[lo:hi]` lower-cases to one code point."""
    for i in range(lo, hi):  # noqa: SIM110 (numba compiles loops, not generators)
        if table[cp[i]] == NO_LOWER:
            return False
    return True
