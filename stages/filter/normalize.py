"""Text normalization that runs before the heuristic rules: broken Unicode, controls, line breaks.

`normalize_text` repairs mojibake with ftfy, configured to leave legitimate text alone, strips
control and noise zero-width characters, unifies line breaks and applies NFC.
`to_simplified` is the optional traditional-to-simplified Chinese conversion (OpenCC t2s).

Choices worth knowing:

* ftfy does not fold full-width forms (CJK punctuation "，。！" survives), does not uncurl
  quotes, does not split Latin ligatures and does not unescape HTML entities: text reaching
  this stage has already been through an HTML extractor, so a remaining "&amp;" is the page's
  literal content (or a double escape we cannot tell apart from it).
* U+FFFD is kept: it marks real damage, and a garbled-text rule counts it. ftfy itself may
  introduce it for byte sequences it knows were lost.
* U+FEFF is removed everywhere, including a leading BOM: decoders should have consumed it and it
  is never content. U+200B is removed; U+200C/U+200D (joiners, needed by Indic scripts and
  emoji sequences), bidi marks and tag characters (flag emoji) are kept.
* Vertical tab, form feed, U+2028 and U+2029 become "\\n" rather than vanishing, so the words
  they separated stay separated (Word exports manual line breaks as vertical tabs).

Speed: ftfy runs only on lines holding a character that its mojibake detector requires (the
set is derived from ftfy's own regex at import time, and the detector then runs only on a few
characters around each one), a C1 control, an escape or a lone surrogate. Other text costs a
few C-speed scans; pure-ASCII text without controls is returned after two. Throughput:
docs/benchmarks.md, "Filter steps".
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import TYPE_CHECKING, Any

import ftfy
from ftfy.badness import BADNESS_RE, is_bad

if TYPE_CHECKING:
    import opencc

_FTFY_CONFIG = ftfy.TextFixerConfig(
    unescape_html=False,
    remove_terminal_escapes=True,
    fix_encoding=True,
    restore_byte_a0=True,
    replace_lossy_sequences=True,
    decode_inconsistent_utf8=True,
    fix_c1_controls=True,  # C1 bytes are almost always Windows-1252 punctuation: "\x93" is "“"
    fix_latin_ligatures=False,
    fix_character_width=False,
    uncurl_quotes=False,
    fix_line_breaks=True,
    fix_surrogates=True,
    remove_control_chars=True,
    normalization="NFC",
    explain=False,
)

# C0 controls other than tab and newline: their absence lets pure-ASCII text skip everything.
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

# Converted before ftfy sees the text, so every line is split the same way whichever path it
# takes (ftfy would delete a vertical tab rather than break the line).
_LINE_BREAK = re.compile("\r\n?|[\x0b\x0c\u2028\u2029]")

# Deleted before the mojibake check, because they can sit inside mojibake and hide it from ftfy.
_NOISE = (
    "".join(chr(c) for c in range(0x20) if chr(c) not in "\t\n\x1b")  # ftfy drops ESC sequences
    + "\x7f"
    + "\u200b\ufeff"
    + "\u206a\u206b\u206c\u206d\u206e\u206f"  # deprecated format controls (ftfy removes them too)
    + "\ufff9\ufffa\ufffb\ufffc"  # interlinear annotation, object replacement
)
_NOISE_TABLE: dict[int, None] = dict.fromkeys(map(ord, _NOISE))
# Deleted after ftfy: C1 controls it could not map to Windows-1252, plus noise it decoded into.
_DELETE_TABLE: dict[int, None] = _NOISE_TABLE | dict.fromkeys(range(0x80, 0xA0))
# One scan tells whether line breaks or noise need work; most documents need neither.
_CLEANUP = re.compile("[" + re.escape(_NOISE) + "\u2028\u2029]")


# How often a character shows up in clean English or Chinese text; used only to choose which
# class of a mojibake pattern to look for, so these weights affect speed, never correctness.
_VERY_COMMON = "\xa0“”‘’«»„°"
_COMMON = "£€¥×±©®™•·²³µ½"


def _clean_text_weight(chars: set[int]) -> int:
    weight = 0
    for code in chars:
        char = chr(code)
        if char in _VERY_COMMON:
            weight += 1000
        elif char in _COMMON:
            weight += 100
        else:
            weight += 5 if unicodedata.category(char).startswith("L") else 1
    return weight


def _required_chars(alternative: list[tuple[Any, Any]]) -> set[int] | None:
    """The rarest all-non-ASCII character class that every match of the alternative contains."""
    import re._constants as C

    best: set[int] | None = None
    best_weight = 0
    for op, arg in alternative:
        if op is C.LITERAL:
            chars = {arg}
        elif op is C.IN and all(kind in (C.LITERAL, C.RANGE) for kind, _ in arg):
            chars = set()
            for kind, value in arg:
                chars |= {value} if kind is C.LITERAL else set(range(value[0], value[1] + 1))
        else:
            continue  # repeats, anchors, categories: skipping one is always safe
        if min(chars) >= 0x80 and (best is None or _clean_text_weight(chars) < best_weight):
            best, best_weight = chars, _clean_text_weight(chars)
    return best


def _parse_badness() -> tuple[str, int] | None:
    """Hint characters and longest match of ftfy's `is_bad` regex; None if it cannot be analysed.

    Picking one required class per alternative of BADNESS_RE means every match contains a hint
    character, so a line without one cannot be flagged and ftfy would leave its encoding alone;
    and a match containing the hint at position p lies within the longest match length of p.
    Where an alternative offers a choice, the class least frequent in clean text wins, so curly
    quotes, "°", "—", "…" and "·" do not send English or Chinese lines to ftfy.
    """
    try:
        import re._constants as C
        import re._parser as parser

        if BADNESS_RE.flags & re.IGNORECASE:
            return None  # literal classes would not be the whole story
        parsed = parser.parse(BADNESS_RE.pattern, BADNESS_RE.flags)
        if len(parsed.data) != 1 or parsed.data[0][0] is not C.BRANCH:
            return None
        hint: set[int] = set()
        for alternative in parsed.data[0][1][1]:
            required = _required_chars(list(alternative))
            if required is None:
                return None
            hint |= required
        longest = parsed.getwidth()[1]
    except Exception:  # a future Python or ftfy changed the internals: check every line instead
        return None
    return "".join(chr(c) for c in sorted(hint)), longest


# C1 controls (cp1252 fix), escapes (terminal codes) and surrogates need ftfy regardless.
_ALWAYS = r"\x80-\x9f\x1b\ud800-\udfff"
_NEEDS_FTFY_ALWAYS = re.compile(f"[{_ALWAYS}]")
_BADNESS = _parse_badness()
if _BADNESS is None:
    _HINT = re.compile(rf"[^\x00-\x7f]|[{_ALWAYS}]")
    _WINDOW = 0
else:
    _HINT = re.compile(f"[{re.escape(_BADNESS[0])}{_ALWAYS}]")
    _WINDOW = _BADNESS[1]


def _line_needs_ftfy(line: str) -> bool:
    if _NEEDS_FTFY_ALWAYS.search(line):
        return True
    if not _WINDOW:
        return is_bad(line)
    # is_bad(line) is slow on Latin text; only the few characters around each hint can match.
    for hint in _HINT.finditer(line):
        start, end = hint.span()
        if BADNESS_RE.search(line, max(0, start - _WINDOW), end + _WINDOW):
            return True
    return False


def _fix_line(line: str) -> str:
    # ftfy's output is stable under ftfy, but deleting what it leaves (C1 controls it could not
    # map) or decoded into (a zero-width space) can expose more mojibake: then go again.
    while True:
        fixed = ftfy.fix_text(line, _FTFY_CONFIG)
        cleaned = fixed.translate(_DELETE_TABLE)
        if cleaned == fixed:
            return fixed
        line = cleaned


def _fix_mojibake(text: str) -> str:
    """Run ftfy on each line it would change; ftfy itself works line by line as well."""
    parts: list[str] = []
    pos = 0
    match = _HINT.search(text)
    while match:
        start = text.rfind("\n", 0, match.start()) + 1
        end = text.find("\n", match.end())
        end = len(text) if end < 0 else end
        line = text[start:end]
        if _line_needs_ftfy(line):
            parts.append(text[pos:start])
            parts.append(_fix_line(line))
            pos = end
        match = _HINT.search(text, end)
    if not parts:
        return text
    parts.append(text[pos:])
    return "".join(parts)


def normalize_text(text: str) -> str:
    """Repair mojibake, drop controls and noise zero-width characters, use "\\n" and NFC."""
    if text.isascii() and not _ASCII_CONTROL.search(text):
        return text  # nothing below can change it: the common case, kept to two C-speed scans
    if _CLEANUP.search(text):
        text = _LINE_BREAK.sub("\n", text).translate(_NOISE_TABLE)
    # NFC before the mojibake check, as ftfy sees it: "e" + U+0301 can compose into mojibake.
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    if _HINT.search(text):
        text = _fix_mojibake(text)
    return text


@functools.cache
def _t2s() -> opencc.OpenCC:
    import opencc

    # Built on first use: loading the dictionaries costs milliseconds and most runs never need it.
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional to simplified Chinese with OpenCC "t2s".

    Characters only (phrases are used just to pick the right character, e.g. 乾燥 -> 干燥 but
    乾隆 stays); no regional vocabulary, so 軟體 becomes 软体, not 软件.
    """
    if text.isascii():
        return text
    return _t2s().convert(text)
