"""Word lists: the shipped list files, their format, and `Lexicon`, which counts list terms in text.

The shipped lists live in ``lists/`` next to this module (see ``lists/README.md``): the filter's
domain and URL lists, and the bad-word and safety lexicons that the filter and the score stage
both use. User files are added by path.

``Lexicon`` matches Latin-script terms on word boundaries and CJK terms as substrings. Its
definition is two regexes shaped as tries (CJK-initial and Latin-initial terms), so ``re``
follows only the branch of the next character, and positions that cannot start a term are
skipped cheaply (see _build_patterns). ``find`` and ``first`` walk the same tries over the
text's code points in a compiled loop (``lexicon_kernel``), 5-6x faster per document, and ask
the regexes only about a text the walk cannot lower-case exactly (İ, Σ).

Throughput: docs/benchmarks.md, "Text toolkit".
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from stages.text.lexicon_kernel import (
    LATIN,
    OTHER,
    WORD_RANGES,
    TermTries,
    codepoints_of,
    text_of,
)

LISTS_DIR = Path(__file__).resolve().with_name("lists")
CATEGORIES = frozenset({"adult", "gambling", "violence", "drugs"})
BAD_WORD_FILES = ("bad_words_en.txt", "bad_words_zh.txt")
SAFETY_FILES = ("safety_en.txt", "safety_zh.txt")

# Characters that continue a Latin-script word. A term edge made of one of these must not touch
# another one: 'cunt' must not hit 'Scunthorpe'. CJK next to a Latin term is a boundary, so
# '色情porn网站' still hits 'porn'. Includes Latin-1/Extended letters and combining accents
# so that 'pornó' or a decomposed 'é' does not end a word early.
_WORD_CHARS = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in WORD_RANGES)
_WORD_CHAR = re.compile(f"[{_WORD_CHARS}]")
_INLINE_COMMENT = re.compile(r"\s+#.*$")


# --------------------------------------------------------------------------- list files


def resolve_list_path(path: str | Path) -> Path:
    """A bare file name that exists in lists/ means the shipped list; anything else is a path."""
    path = Path(path)
    if len(path.parts) == 1 and (LISTS_DIR / path).is_file():
        return LISTS_DIR / path
    return path


def _clean_line(line: str) -> str:
    if line.lstrip().startswith("#"):
        return ""
    line = _INLINE_COMMENT.sub("", line).strip()
    # Regex rules keep their case: lower-casing would turn \D into \d.
    return line if line.startswith("re:") else line.lower()


def load_list(paths: Iterable[str | Path]) -> list[str]:
    """Entries of the given list files, in order, without comments, blanks and duplicates.

    A bare name such as ``"bad_words_en.txt"`` refers to the shipped list in ``lists/``; other
    paths are read as given (use ``./name.txt`` for a local file with a shipped name).
    Entries are lower-cased, except ``re:`` rules.
    """
    entries: dict[str, None] = {}
    for path in paths:
        text = resolve_list_path(path).read_text(encoding="utf-8")
        for line in text.splitlines():
            if entry := _clean_line(line):
                entries.setdefault(entry, None)
    return list(entries)


def with_shipped(
    shipped: tuple[str, ...], paths: Iterable[str | Path], defaults: bool
) -> tuple[str, ...]:
    """The list files to load: the `shipped` ones first if `defaults`, then `paths`."""
    extra = tuple(map(str, paths))
    return shipped + extra if defaults else extra


def word_set(text: str) -> frozenset[str]:
    """The whitespace-separated words of `text`, minus lines that start with '#' (a stage's
    own stop-word or vocabulary list, several words to a line)."""
    return frozenset(
        word for line in text.splitlines() if not line.startswith("#") for word in line.split()
    )


# --------------------------------------------------------------------------- lexicons


def _normalize_term(term: str) -> str:
    return " ".join(term.lower().split())


def _parse_lexicon(entries: Iterable[str], with_categories: bool) -> dict[str, str]:
    """term -> category; without categories each term is its own key (and a TAB part is ignored)."""
    lexicon: dict[str, str] = {}
    for entry in entries:
        term, _, category = entry.partition("\t")
        term, category = _normalize_term(term), category.strip()
        if not term:
            continue
        if not with_categories:
            category = term
        elif category not in CATEGORIES:
            raise ValueError(
                f"lexicon entry {entry!r}: category must be one of {sorted(CATEGORIES)}"
            )
        lexicon.setdefault(term, category)
    return lexicon


def _trie(terms: Iterable[str]) -> dict[str, dict]:
    root: dict[str, dict] = {}
    for term in terms:
        node = root
        for char in term:
            node = node.setdefault(char, {})
        node[""] = {}  # end of a term
    return root


def _trie_regex(node: dict[str, dict], char: str = "") -> str:
    """Regex for the trie node reached by ``char``: one branch per next character.

    Branches for longer terms come first so 'blow jobs' wins over 'blow job'. A term that ends
    in a word character gets a look-ahead so it cannot end mid-word ('fuck' in 'fuckwit' is not
    a hit unless listed).
    """
    branches = [
        (r"\s+" if next_char == " " else re.escape(next_char)) + _trie_regex(child, next_char)
        for next_char, child in sorted(node.items())
        if next_char
    ]
    if "" in node:
        branches.append(f"(?![{_WORD_CHARS}])" if _WORD_CHAR.fullmatch(char) else "")
    if len(branches) == 1:
        return branches[0]
    return "(?:" + "|".join(branches) + ")"


def _build_patterns(terms: Iterable[str]) -> tuple[re.Pattern[str], ...]:
    """One pattern for terms that start with a CJK (non-word) character, one for the rest.

    They must stay separate: the CJK pattern opens with plain characters, so re jumps straight
    to candidate positions; the Latin pattern opens with a look-behind that rejects mid-word
    positions at once. Joined by '|' they lose both shortcuts and run ~10x slower.
    """
    terms = list(terms)
    latin = [t for t in terms if _WORD_CHAR.match(t[0])]
    other = [t for t in terms if not _WORD_CHAR.match(t[0])]
    patterns = []
    if other:
        patterns.append(re.compile(_trie_regex(_trie(other))))
    if latin:
        patterns.append(re.compile(f"(?<![{_WORD_CHARS}])" + _trie_regex(_trie(latin))))
    return tuple(patterns)


class Lexicon:
    """Counts list terms in text, by category (safety lexicons) or by term (bad-word lists).

    Matching is case-insensitive. Latin-script term edges must be word boundaries, so
    'Scunthorpe' contains no 'cunt'; CJK terms match anywhere; a space in a term matches any run
    of whitespace. Overlapping terms count once, the longest at the leftmost position ('重庆时时彩'
    is one hit, not two).
    """

    def __init__(self, terms: Mapping[str, str]) -> None:
        """``terms`` maps each term to the key it is counted under (its category, or itself)."""
        self._key = {_normalize_term(term): key for term, key in terms.items()}
        self._terms = list(self._key)  # the walk knows a term by its index here
        self._keys = list(self._key.values())
        self._tries = TermTries.of(self._terms)

    @classmethod
    def from_files(cls, paths: Iterable[str | Path], with_categories: bool) -> Lexicon:
        """Lexicon of the listed files (cached); with_categories: lines are term<TAB>category."""
        return _cached_lexicon(tuple(map(str, paths)), with_categories)

    @classmethod
    def bad_words(cls, paths: Iterable[str | Path] = (), *, defaults: bool = True) -> Lexicon:
        """C4 bad words (counted per term): shipped en+zh lists if ``defaults``, plus ``paths``."""
        return cls.from_files(with_shipped(BAD_WORD_FILES, paths, defaults), with_categories=False)

    @classmethod
    def safety(cls, paths: Iterable[str | Path] = (), *, defaults: bool = True) -> Lexicon:
        """Safety lexicon (counted per category): shipped en+zh if ``defaults``, plus ``paths``."""
        return cls.from_files(with_shipped(SAFETY_FILES, paths, defaults), with_categories=True)

    def __len__(self) -> int:
        return len(self._key)

    @property
    def keys(self) -> frozenset[str]:
        """What ``find`` counts: the categories, or the terms."""
        return frozenset(self._key.values())

    def find(self, text: str) -> Counter[str]:
        """Number of matches per category (or per term); empty when nothing matches."""
        if not text:
            return Counter()
        found = self._tries.find(codepoints_of(text))
        if found is None:
            return self.regex_find(text)
        return self._count(found)

    def first(self, text: str) -> str | None:
        """A term found in the text (CJK terms are tried first), or None.

        Enough for the C4 rule, and faster than ``find`` on rejected documents because it stops
        at the first hit.
        """
        if not text:
            return None
        cp = codepoints_of(text)
        for root in (OTHER, LATIN):
            found = self._tries.first_match(cp, root)
            if found is None:
                return self.regex_first(text)
            if found >= 0:
                return self._terms[found]
        return None

    def find_batch(self, cp: np.ndarray, bounds: np.ndarray) -> list[Counter[str]]:
        """``find`` of each text ``cp[bounds[i]:bounds[i + 1]]`` of a batch, given as its code
        points (uint16 or uint32) and the texts' bounds in them, in one compiled call."""
        found, at, exact = self._tries.find_batch(cp, bounds)
        return [
            self._count(found[at[i] : at[i + 1]])
            if exact[i]
            else self.regex_find(text_of(cp[bounds[i] : bounds[i + 1]]))
            for i in range(len(exact))
        ]

    def _count(self, found: np.ndarray) -> Counter[str]:
        """Matches per key of the terms `found` (indices); most texts have none."""
        if not len(found):
            return Counter()
        return Counter(map(self._keys.__getitem__, found.tolist()))

    def regex_find(self, text: str) -> Counter[str]:
        """``find`` by the regexes: the definition, and the fall-back of the compiled walk."""
        found: Counter[str] = Counter()
        lowered = text.lower()
        for pattern in self._patterns:
            for matched, count in Counter(pattern.findall(lowered)).items():
                found[self._key_of(matched)] += count
        return found

    def regex_first(self, text: str) -> str | None:
        """``first`` by the regexes."""
        lowered = text.lower()
        for pattern in self._patterns:
            if match := pattern.search(lowered):
                return " ".join(match.group().split())
        return None

    @functools.cached_property
    def _patterns(self) -> tuple[re.Pattern[str], ...]:
        """The regexes, compiled when first needed: most processes never need them."""
        return _build_patterns(self._key)

    def _key_of(self, matched: str) -> str:
        key = self._key.get(matched)
        return key if key is not None else self._key[" ".join(matched.split())]


@functools.cache
def _cached_lexicon(files: tuple[str, ...], with_categories: bool) -> Lexicon:
    """One lexicon per file list per process: the stages ask for theirs per worker."""
    return Lexicon(_parse_lexicon(load_list(files), with_categories))
