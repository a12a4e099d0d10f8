"""Domain blocklist, URL words and word lexicons for the filter stage.

The shipped lists live in ``lists/`` next to this module (see ``lists/README.md``); user files
are added by path. Everything here is pure Python on the standard library.

- ``DomainBlocklist``: host or any parent domain in the list, plus ``*.tld`` suffixes and
  ``re:`` rules for generated gambling names (``5566cp.com``).
- ``UrlWords``: adult/gambling words in the percent-decoded URL; ASCII words match whole URL
  tokens (``essex`` is not ``sex``), CJK words match anywhere.
- ``Lexicon``: counts terms (or their categories) in text. Latin-script terms match on word
  boundaries, CJK terms as substrings. The terms are compiled into two regexes shaped as tries
  (CJK-initial and Latin-initial terms), so ``re`` follows only the branch of the next
  character, and positions that cannot start a term are skipped cheaply (see _build_patterns).
  No Aho-Corasick package is needed at these list sizes.

Throughput of ``Lexicon.find`` with the shipped lists (one core of the 2-core dev machine,
Python 3.11), on the reference texts in shared/reference: wikitext2-valid.txt (1.1 MB English
Wikipedia) and cmrc2018_zh_wikipedia.jsonl (1.6 MB UTF-8 Chinese Wikipedia, field "text").
MB are bytes of UTF-8 input; "per doc" calls once per wikitext paragraph (2,461, ~460 B) or
cmrc record (1,104, ~1.4 kB), "whole" once on all of it:

    ======================  ===============  ===============
    lexicon                 English          Chinese
                            per doc / whole  per doc / whole
    ======================  ===============  ===============
    bad words (110 terms)   42 / 48 MB/s     95 / 112 MB/s
    safety (377 terms)      36 / 42 MB/s     55 / 63 MB/s
    ======================  ===============  ===============

``Lexicon.first`` (stop at the first hit, enough for the C4 rule) is a few percent faster.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

LISTS_DIR = Path(__file__).resolve().with_name("lists")
CATEGORIES = frozenset({"adult", "gambling", "violence", "drugs"})
DEFAULT_FILES: dict[str, tuple[str, ...]] = {
    "domains": ("blocked_domains.txt",),
    "url_words": ("url_words.txt",),
    "bad_words": ("bad_words_en.txt", "bad_words_zh.txt"),
    "safety": ("safety_en.txt", "safety_zh.txt"),
}

# Characters that continue a Latin-script word. A term edge made of one of these must not touch
# another one: 'cunt' must not hit 'Scunthorpe'. CJK next to a Latin term is a boundary, so
# '色情porn网站' still hits 'porn'. Includes Latin-1/Extended letters and combining accents
# so that 'pornó' or a decomposed 'é' does not end a word early.
_WORD_CHARS = "0-9a-z\u00c0-\u024f\u0300-\u036f"
_WORD_CHAR = re.compile(f"[{_WORD_CHARS}]")
_INLINE_COMMENT = re.compile(r"\s+#.*$")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_IDEOGRAPHIC_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
_URL_TOKEN = re.compile(r"[a-z]+|[0-9]+")
_PUNYCODE_LABEL = re.compile(r"xn--[a-z0-9-]+")


# --------------------------------------------------------------------------- list files


def _resolve(path: str | Path) -> Path:
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
        text = _resolve(path).read_text(encoding="utf-8")
        for line in text.splitlines():
            if entry := _clean_line(line):
                entries.setdefault(entry, None)
    return list(entries)


# --------------------------------------------------------------------------- hosts and URLs


def _with_scheme(url: str) -> str:
    """Prefix '//' when there is no scheme: urlsplit reads 'a.com:80/x' as scheme 'a.com'."""
    if _SCHEME.match(url) or url.startswith("//"):
        return url
    return "//" + url


def _label_to_ascii(label: str) -> str:
    if label.isascii():
        return label
    try:
        return label.encode("idna").decode("ascii")
    except UnicodeError:  # not valid IDNA: keep it, it can still equal a unicode list entry
        return label


def normalize_host(host: str) -> str:
    """Lower-case ASCII (punycode) form of a host name or list entry; '' if there is none."""
    host = host.strip().translate(_IDEOGRAPHIC_DOTS).lower().strip(".")
    if "%" in host:
        host = unquote_to_bytes(host).decode("utf-8", "replace")
    return ".".join(_label_to_ascii(label) for label in host.split(".") if label)


def url_host(url: str | None) -> str | None:
    """Normalized host of a URL (scheme optional; userinfo, port, trailing dot removed)."""
    if not url or not (url := url.strip()):
        return None
    try:
        host = urlsplit(_with_scheme(url)).hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None
    if not host:
        return None
    return normalize_host(host) or None


def _decode_url(url: str) -> str:
    """Lower-cased URL with %-escapes and punycode host labels decoded to text."""
    raw = unquote_to_bytes(url)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:  # Chinese sites still %-encode GBK paths
        text = raw.decode("gb18030", "replace")
    text = text.lower()
    if "xn--" in text:
        text = _PUNYCODE_LABEL.sub(_decode_punycode, text)
    return text


def _decode_punycode(match: re.Match[str]) -> str:
    try:
        return match.group().encode("ascii").decode("idna")
    except UnicodeError:
        return match.group()


# --------------------------------------------------------------------------- domains


def _entry_domain(entry: str) -> str:
    """'*.bet' and '.bet' name the suffix 'bet'; a pasted URL names its host."""
    if "/" in entry:
        return url_host(entry) or ""
    return normalize_host(entry.removeprefix("*."))


class DomainBlocklist:
    """Blocked registrable domains, whole suffixes (``*.xxx``) and ``re:`` host rules."""

    def __init__(self, entries: Iterable[str]) -> None:
        self._domains: dict[str, str] = {}  # normalized -> entry as written, for reporting
        rules: list[str] = []
        for entry in entries:
            if entry.startswith("re:"):
                rules.append(entry[3:])
            elif domain := _entry_domain(entry):
                self._domains.setdefault(domain, entry)
        self._rules = re.compile("|".join(f"(?:{rule})" for rule in rules)) if rules else None
        self._rule_count = len(rules)

    @classmethod
    def from_files(
        cls, paths: Iterable[str | Path] = (), *, defaults: bool = False
    ) -> DomainBlocklist:
        """The listed files, after the shipped blocked_domains.txt if ``defaults``; cached."""
        return _cached(cls, _with_defaults("domains", paths, defaults))

    def __len__(self) -> int:
        return len(self._domains) + self._rule_count

    def match(self, url: str | None) -> str | None:
        """The list entry that blocks this URL's host, or None."""
        host = url_host(url)
        if host is None:
            return None
        parents = _parent_domains(host)
        for domain in parents:
            if domain in self._domains:
                return self._domains[domain]
        if self._rules is not None:
            for domain in parents:
                if self._rules.fullmatch(domain):
                    return domain
        return None


# --------------------------------------------------------------------------- URL words


class UrlWords:
    """Adult/gambling words in a URL's host and path.

    Entry kinds (see lists/url_words.txt): ``word`` equals a whole token, ``two words`` are
    consecutive tokens, ``*word*`` is a substring, and any non-ASCII entry is a substring of the
    decoded URL. Tokens are runs of ASCII letters or runs of digits.
    """

    def __init__(self, entries: Iterable[str]) -> None:
        self._tokens: set[str] = set()
        self._phrases: list[str] = []
        self._substrings: list[str] = []
        for entry in entries:
            self._add(entry)

    def _add(self, entry: str) -> None:
        if not entry.isascii():
            self._substrings.append(entry)
        elif entry.startswith("*") or entry.endswith("*"):
            self._substrings.append(entry.strip("*"))
        else:
            tokens = _URL_TOKEN.findall(entry)
            if len(tokens) == 1:
                self._tokens.add(tokens[0])
            elif tokens:
                self._phrases.append(" ".join(tokens))

    @classmethod
    def from_files(cls, paths: Iterable[str | Path] = (), *, defaults: bool = False) -> UrlWords:
        """The listed files, after the shipped url_words.txt if ``defaults``; cached."""
        return _cached(cls, _with_defaults("url_words", paths, defaults))

    def __len__(self) -> int:
        return len(self._tokens) + len(self._phrases) + len(self._substrings)

    def match(self, url: str | None) -> str | None:
        """The first list word found in the URL, or None."""
        if not url:
            return None
        text = _decode_url(url)
        for word in self._substrings:
            if word in text:
                return word
        tokens = _URL_TOKEN.findall(text)
        if hit := self._tokens.intersection(tokens):
            return min(hit)  # deterministic when several words hit
        joined = f" {' '.join(tokens)} "
        for phrase in self._phrases:
            if f" {phrase} " in joined:
                return phrase
        return None


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
        self._patterns = _build_patterns(self._key)

    @classmethod
    def from_files(cls, paths: Iterable[str | Path], with_categories: bool) -> Lexicon:
        """Lexicon of the listed files (cached); with_categories: lines are term<TAB>category."""
        return _cached(cls, tuple(map(str, paths)), with_categories)

    @classmethod
    def bad_words(cls, paths: Iterable[str | Path] = (), *, defaults: bool = True) -> Lexicon:
        """C4 bad words (counted per term): shipped en+zh lists if ``defaults``, plus ``paths``."""
        return cls.from_files(_with_defaults("bad_words", paths, defaults), with_categories=False)

    @classmethod
    def safety(cls, paths: Iterable[str | Path] = (), *, defaults: bool = True) -> Lexicon:
        """Safety lexicon (counted per category): shipped en+zh if ``defaults``, plus ``paths``."""
        return cls.from_files(_with_defaults("safety", paths, defaults), with_categories=True)

    def __len__(self) -> int:
        return len(self._key)

    @property
    def keys(self) -> frozenset[str]:
        """What ``find`` counts: the categories, or the terms."""
        return frozenset(self._key.values())

    def _key_of(self, matched: str) -> str:
        key = self._key.get(matched)
        return key if key is not None else self._key[" ".join(matched.split())]

    def find(self, text: str) -> Counter[str]:
        """Number of matches per category (or per term); empty when nothing matches."""
        found: Counter[str] = Counter()
        if not text:
            return found
        lowered = text.lower()
        for pattern in self._patterns:
            for matched, count in Counter(pattern.findall(lowered)).items():
                found[self._key_of(matched)] += count
        return found

    def first(self, text: str) -> str | None:
        """A term found in the text (CJK terms are tried first), or None.

        Enough for the C4 rule, and faster than ``find`` on rejected documents because it stops
        at the first hit.
        """
        if not text:
            return None
        lowered = text.lower()
        for pattern in self._patterns:
            if match := pattern.search(lowered):
                return " ".join(match.group().split())
        return None


# --------------------------------------------------------------------------- defaults


@dataclass(frozen=True)
class Lists:
    """The four list objects the filter stage uses."""

    domains: DomainBlocklist
    url_words: UrlWords
    bad_words: Lexicon
    safety: Lexicon


def default_lists(
    extra_domains: Iterable[str | Path] = (),
    extra_url_words: Iterable[str | Path] = (),
    extra_bad_words: Iterable[str | Path] = (),
    extra_safety: Iterable[str | Path] = (),
    *,
    shipped: bool = True,
) -> Lists:
    """The shipped lists (unless `shipped` is False) plus the given extra files; cached, so
    built once per process and file set.

    Call it inside the worker, not in the driver, so each Ray worker builds the lists once
    instead of receiving pickled copies.
    """
    return Lists(
        domains=DomainBlocklist.from_files(extra_domains, defaults=shipped),
        url_words=UrlWords.from_files(extra_url_words, defaults=shipped),
        bad_words=Lexicon.bad_words(extra_bad_words, defaults=shipped),
        safety=Lexicon.safety(extra_safety, defaults=shipped),
    )


def _with_defaults(kind: str, paths: Iterable[str | Path], defaults: bool) -> tuple[str, ...]:
    extra = tuple(map(str, paths))
    return DEFAULT_FILES[kind] + extra if defaults else extra


@functools.cache
def _cached(cls: type, files: tuple[str, ...], *args: bool) -> Any:
    """One object per class and file list per process: the stage asks for its lists per worker."""
    if cls is Lexicon:
        return Lexicon(_parse_lexicon(load_list(files), *args))
    return cls(load_list(files))


# DNS names are at most 253 characters, so no listed domain is longer: a longer suffix of a
# (hostile) host cannot match, and skipping it keeps matching linear in the host's length.
MAX_DOMAIN_CHARS = 253


def _parent_domains(host: str) -> list[str]:
    """`host` and each parent domain of at most MAX_DOMAIN_CHARS, most specific first."""
    parents: list[str] = []
    suffix = ""
    for label in reversed(host.split(".")):
        suffix = f"{label}.{suffix}" if suffix else label
        if len(suffix) > MAX_DOMAIN_CHARS:
            break
        parents.append(suffix)
    return parents[::-1]
