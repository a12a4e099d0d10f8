"""PII anonymization: replace e-mail addresses, IP addresses, phone numbers and Chinese resident ID
numbers with placeholders (<EMAIL>, <IP_ADDRESS>, <PHONE_NUMBER>, <CN_ID_NUMBER>), as the Yi and
FineWeb pipelines do, rather than dropping documents.

Order is fixed: e-mails first (a phone number is often an e-mail's local part), then IPv6, then
the numeric kinds with priority IPv4 > Chinese ID > phone number, so a phone pattern never claims
part of an ID number. Placeholders hold no digits, "@" or ":", so no later pattern matches them.

Precision over recall, where the two conflict:

* E-mail: practical ASCII syntax (dotted local part with letters, digits, "_%+-"; dotted domain
  ending in an alphabetic or punycode TLD). A "TLD" that is a file extension ("icon@2x.png",
  "sprite@2x.min.css") is rejected; non-ASCII addresses are not matched; "git@github.com" is
  replaced (it is address-shaped and harmless to replace).
* IPv4: four dotted octets validated by `ipaddress` (no octet above 255, no leading zeros),
  replaced only if globally routable and not multicast: private (192.168.1.1, 10.x), loopback,
  link-local, shared, documentation and reserved ranges stay. Also kept: four octets all below
  10 ("1.2.3.4", "8.8.8.8": version and section numbers far more often than a person's
  address), dotted runs of five or more numbers, addresses glued to a letter ("v10.2.3.4"), and
  addresses right after "version", "release", "build", "ver" or "版本".
* IPv6: full, compressed and IPv4-suffixed forms validated by `ipaddress`, replaced only if global
  and in the unicast range 2000::/3 (so "std::", "add::", MAC addresses and times are safe).
* Phone numbers: international ("+" then 8-15 digits with single separators and bracketed
  groups: "+44 20 7946 0958", "+1 (555) 123-4567"); North American "(555) 123-4567",
  "555-123-4567", "555.123.4567", "1-800-555-1234" (one kind of separator); Chinese mobile
  1[3-9]x-xxxx-xxxx with optional +86/0086/86/(+86) and no, space or hyphen separators used
  consistently; Chinese landlines with an area code in brackets or before a separator
  ("010-12345678", "(0755)1234-5678", "（0755）12345678", "0571 8888 6666"). A bare digit run
  is a phone number only if it is exactly a Chinese mobile number, so years, dates, prices,
  ISBNs, order numbers and timestamps stay; digits glued to letters or "_" (hashes, SKUs, file
  names) never match. Costs: "+" followed by 8-15 digits is always a phone number; an 11-digit
  order number starting 13-19 is replaced; a digit group one separator after an international
  number is absorbed into it. Misses: full-width digits, bare 10-digit North American numbers,
  extensions ("ext. 12").
* Chinese ID: 18 characters, first 17 digits, with a real birth date (1900-2099) and a valid
  ISO 7064 MOD 11-2 check character; a random 18-digit number passes both about 1 time in 15,000.

Speed: all patterns are precompiled; e-mails are searched only from each "@", IPv6 only if
":hex:" occurs, and the numeric patterns only in short windows around IPv4-shaped runs or 7+
digits joined by at most two separators, which one C-speed regex scan finds. Throughput:
docs/benchmarks.md, "Filter steps: normalization and PII" (`bench/bench_filter_steps.py`).
"""

from __future__ import annotations

import bisect
import datetime
import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

PII_KINDS = ("email", "ip_address", "phone_number", "cn_id_number")
PLACEHOLDERS = {kind: f"<{kind.upper()}>" for kind in PII_KINDS}

# Patterns that scan whole documents start with a character class and check the preceding
# character with a lookbehind placed after it: the regex engine then jumps between candidate
# characters in C instead of trying every position (3-5x faster on prose).

Span = tuple[int, int]

# --- e-mail ----------------------------------------------------------------------------------

_AT = re.compile("@")
# Anchored at the "@": the local part is found backwards (at most 64 characters by RFC 5321).
# A local part right after another "@" is a fediverse handle (@user@host), public by design.
_EMAIL_LOCAL = re.compile(r"(?<![A-Za-z0-9_%+@-])[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*\Z")
_EMAIL_DOMAIN = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"([A-Za-z]{2,63}|xn--[A-Za-z0-9-]{2,59})"
    r"(?![A-Za-z0-9_-]|\.[A-Za-z0-9])"
)
# None of these is a top-level domain; all are common after "@2x." in asset names.
_FILE_EXTENSIONS = frozenset(
    {"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "tif", "tiff", "avif", "heic"}
    | {"css", "js", "json", "html", "htm", "php", "txt", "pdf", "xml", "yml", "yaml"}
)


def _find_emails(text: str) -> Iterator[Span]:
    for at in _AT.finditer(text):
        domain = _EMAIL_DOMAIN.match(text, at.end())
        if not domain or domain.group(1).lower() in _FILE_EXTENSIONS:
            continue
        local = _EMAIL_LOCAL.search(text, max(0, at.start() - 64), at.start())
        if local:
            yield local.start(), domain.end()


# --- IP addresses ----------------------------------------------------------------------------

_IPV4 = re.compile(
    r"[0-9](?<![0-9A-Za-z_.][0-9])[0-9]{0,2}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}"
    r"(?![0-9A-Za-z_]|\.[0-9])"
)
_IPV6 = re.compile(
    r"[0-9A-Fa-f:](?<![0-9A-Za-z_:.][0-9A-Fa-f:])"
    r"(?=[0-9A-Fa-f]{0,3}:)"  # a colon within the first group: cheap reject of hex words
    r"[0-9A-Fa-f:]{1,38}(?:(?<=:)[0-9]{1,3}(?:\.[0-9]{1,3}){3})?"
    r"(?![0-9A-Za-z_:]|\.[0-9])"
)
_IPV6_GATE = re.compile(r":[0-9A-Fa-f]{0,4}:")
_VERSION_BEFORE = re.compile(
    r"(?:(?<![A-Za-z])(?:version|release|build|ver\.?)|版本号?)\s*[:：]?\s*$", re.I
)
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")


def _is_public_ipv4(match: re.Match[str]) -> bool:
    try:
        address = ipaddress.IPv4Address(match.group())
    except ValueError:
        return False
    if not address.is_global or address.is_multicast:
        return False
    if max(address.packed) < 10:
        return False  # "1.2.3.4", "3.1.2.1": versions and section numbers
    before = match.string[max(0, match.start() - 16) : match.start()]
    return not _VERSION_BEFORE.search(before)


def _is_public_ipv6(match: re.Match[str]) -> bool:
    try:
        address = ipaddress.IPv6Address(match.group())
    except ValueError:
        return False
    return address.is_global and address in _GLOBAL_UNICAST


# --- Chinese resident ID numbers -------------------------------------------------------------

_CN_ID = re.compile(r"[1-9](?<![0-9A-Za-z_][1-9])[0-9]{16}[0-9Xx](?![0-9A-Za-z_])")
_CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_ID_CHECK = "10X98765432"  # indexed by the weighted sum mod 11 (ISO 7064 MOD 11-2)


def cn_id_check_char(first17: str) -> str:
    """The check character of a Chinese resident ID given its first 17 digits."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, _CN_ID_WEIGHTS, strict=True))
    return _CN_ID_CHECK[total % 11]


def is_valid_cn_id(number: str) -> bool:
    """18 characters, a plausible birth date at positions 7-14 and a correct check character."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    year, month, day = int(number[6:10]), int(number[10:12]), int(number[12:14])
    if not 1900 <= year <= 2099:
        return False
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return cn_id_check_char(number[:17]) == number[17].upper()


def _is_cn_id(match: re.Match[str]) -> bool:
    return is_valid_cn_id(match.group())


# --- phone numbers ---------------------------------------------------------------------------

_CN_AREA = r"0(?:10|2[0-9]|[3-9][0-9]{2})"  # 010, 02x, then four-digit codes
_CN_LOCAL = r"[1-9][0-9]{2,3}[ -]?[0-9]{4}"  # 7 or 8 digits: 1234-5678, 8888 6666, 12345678
_PHONE = re.compile(
    r"(?<![0-9A-Za-z_+])(?:"
    # Chinese mobile, optional country code; the separator, if any, is the same twice.
    r"(?:(?:\+|00)?86[ -]?|\(\+86\) ?)?1[3-9][0-9](?P<cn_sep>[ -]?)[0-9]{4}(?P=cn_sep)[0-9]{4}"
    # Chinese landline: area code in brackets or followed by a separator, 7-8 digit number.
    rf"|\({_CN_AREA}\) ?{_CN_LOCAL}|（{_CN_AREA}） ?{_CN_LOCAL}|{_CN_AREA}[ -]{_CN_LOCAL}"
    # International: "+", then digits, single separators and bracketed groups (8-15 digits,
    # checked in code). Every step consumes a digit or a separator before a digit, so there is
    # only one way to match and no backtracking blow-up.
    r"|(?P<intl>\+[1-9](?:[0-9]|[ .\-]?\((?=[0-9])|\)[ .\-]?(?=[0-9])|[ .\-](?=[0-9]))*)"
    # North American: (NXX) XXX-XXXX or NXX-XXX-XXXX with one kind of separator.
    r"|(?:1[ .\-])?\([2-9][0-9]{2}\) ?[0-9]{3}[ .\-][0-9]{4}"
    r"|(?:1[ .\-])?[2-9][0-9]{2}(?P<na_sep>[ .\-])[0-9]{3}(?P=na_sep)[0-9]{4}"
    r")(?![0-9A-Za-z_@]|[.\-][0-9])"
)


def _is_phone(match: re.Match[str]) -> bool:
    if match.group("intl") is None:
        return True
    digits = sum(char.isdigit() for char in match.group())
    return 8 <= digits <= 15  # E.164 allows at most 15; fewer than 8 is a score or an offset


# --- the anonymizer --------------------------------------------------------------------------

# Where numeric PII can be: an IPv4-shaped run, or 7+ digits joined by at most two separator
# characters (every phone number and ID number). Years, prices and dates do not qualify, so the
# full patterns run on a few short windows per document instead of the whole text.
_NUMERIC_CANDIDATE = re.compile(
    r"[0-9](?:[0-9]{0,2}(?:\.[0-9]{1,3}){3}|(?:[ .\-()（）]{0,2}[0-9]){6,})"
)
# A window starts this far before a candidate ("(+86) " and "+" precede the first digit) and
# ends this far after it (the patterns' lookaheads read two characters).
_MARGIN = 2

# In priority order: IP addresses, then ID numbers, then phone numbers, so a phone pattern never
# claims part of an ID number.
_NUMERIC_KINDS: tuple[tuple[str, re.Pattern[str], Callable[[re.Match[str]], bool]], ...] = (
    ("ip_address", _IPV4, _is_public_ipv4),
    ("cn_id_number", _CN_ID, _is_cn_id),
    ("phone_number", _PHONE, _is_phone),
)

Replacement = tuple[int, int, str]  # start, end, kind


class PiiAnonymizer:
    """Replaces PII of the chosen kinds with placeholders such as ``<EMAIL>``."""

    def __init__(self, kinds: Iterable[str] = PII_KINDS) -> None:
        chosen = set(kinds)
        unknown = chosen - set(PII_KINDS)
        if unknown:
            raise ValueError(f"unknown PII kinds {sorted(unknown)}; known: {list(PII_KINDS)}")
        self.kinds = tuple(kind for kind in PII_KINDS if kind in chosen)
        self._numeric = tuple(entry for entry in _NUMERIC_KINDS if entry[0] in chosen)

    def anonymize(self, text: str) -> tuple[str, Counter[str]]:
        """The text with PII replaced, and how many of each kind were replaced."""
        counts: Counter[str] = Counter()
        # E-mail first: "13800138000@163.com" is an address, not a phone number.
        if "email" in self.kinds and "@" in text:
            text = _splice(text, [(*span, "email") for span in _find_emails(text)], counts)
        if "ip_address" in self.kinds and _IPV6_GATE.search(text):
            text = _splice(text, [(*span, "ip_address") for span in _find_ipv6(text)], counts)
        if self._numeric:
            text = _splice(text, self._find_numeric(text), counts)
        return text, counts

    def _find_numeric(self, text: str) -> list[Replacement]:
        found: list[Replacement] = []
        floor = 0  # end of the last replacement: windows may overlap by a few characters
        for candidate in _NUMERIC_CANDIDATE.finditer(text):
            start = max(floor, candidate.start() - _MARGIN)
            window = self._find_in_window(text, start, candidate.end() + _MARGIN)
            if window:
                found += window
                floor = window[-1][1]
        return found

    def _find_in_window(self, text: str, start: int, end: int) -> list[Replacement]:
        """Each kind's matches that overlap no earlier kind's, in order. A window can hold a
        whole page of numbers (a phone listing joined by spaces is one candidate), so the
        overlap test is a binary search, not a scan of every match taken so far."""
        taken: list[Replacement] = []  # sorted, non-overlapping
        for kind, pattern, is_pii in self._numeric:
            starts = [left for left, _, _ in taken]
            added = [
                (*match.span(), kind)
                for match in pattern.finditer(text, start, end)
                if _overlaps_none(taken, starts, *match.span()) and is_pii(match)
            ]
            taken = sorted(taken + added)  # one pattern's matches never overlap each other
        return taken


def _overlaps_none(taken: list[Replacement], starts: list[int], left: int, right: int) -> bool:
    """Whether [left, right) overlaps none of `taken` (sorted, non-overlapping; `starts`
    their starts)."""
    i = bisect.bisect_left(starts, left)
    return (i == len(taken) or right <= taken[i][0]) and (i == 0 or taken[i - 1][1] <= left)


def _find_ipv6(text: str) -> Iterator[Span]:
    return (m.span() for m in _IPV6.finditer(text) if _is_public_ipv6(m))


def _splice(text: str, replacements: list[Replacement], counts: Counter[str]) -> str:
    """Replace non-overlapping spans, given in order, with their kind's placeholder."""
    if not replacements:
        return text
    parts: list[str] = []
    pos = 0
    for start, end, kind in replacements:
        parts.append(text[pos:start])
        parts.append(PLACEHOLDERS[kind])
        counts[kind] += 1
        pos = end
    parts.append(text[pos:])
    return "".join(parts)
