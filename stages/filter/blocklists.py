"""Domain blocklist and URL words for the filter stage, and the lists it loads.

The list files and their format belong to the text toolkit (``stages/text/lists/README.md``);
the bad-word and safety lexicons are ``stages.text.Lexicon``, shared with the score stage.

- ``DomainBlocklist``: host or any parent domain in the list, plus ``*.tld`` suffixes and
  ``re:`` rules for generated gambling names (``5566cp.com``).
- ``UrlWords``: adult/gambling words in the percent-decoded URL; ASCII words match whole URL
  tokens (``essex`` is not ``sex``), CJK words match anywhere.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from stages.text import Lexicon, load_list, with_shipped

DOMAIN_FILES = ("blocked_domains.txt",)
URL_WORD_FILES = ("url_words.txt",)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_IDEOGRAPHIC_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
_URL_TOKEN = re.compile(r"[a-z]+|[0-9]+")
_PUNYCODE_LABEL = re.compile(r"xn--[a-z0-9-]+")


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
        return _cached(cls, with_shipped(DOMAIN_FILES, paths, defaults))

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
        return _cached(cls, with_shipped(URL_WORD_FILES, paths, defaults))

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


@functools.cache
def _cached(cls: type, files: tuple[str, ...]) -> Any:
    """One object per class and file list per process: the stage asks for its lists per worker."""
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
