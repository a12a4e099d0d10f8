"""The one table of CJK code point ranges, and every script set the stages derive from it.

CJK here means the scripts written without spaces between words: Han ideographs and Japanese
kana. Hangul is written with spaces and is left out. Stages ask different questions of the same
table: minhash, substring and the tokenizer report want all of CJK (`CJK_RANGES`); the filter's
CJK-ratio rule, the coherence and quality scorers and the topic tokens want Han only
(`HAN_RANGES`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

CodeRange = tuple[int, int]  # first and last code point, inclusive


@dataclass(frozen=True)
class CjkBlock:
    first: int
    last: int
    script: Literal["han", "kana"]


CJK_BLOCKS: tuple[CjkBlock, ...] = (
    CjkBlock(0x3040, 0x30FF, "kana"),  # Hiragana, Katakana
    CjkBlock(0x31F0, 0x31FF, "kana"),  # Katakana Phonetic Extensions
    CjkBlock(0x3400, 0x4DBF, "han"),  # CJK Unified Ideographs Extension A
    CjkBlock(0x4E00, 0x9FFF, "han"),  # CJK Unified Ideographs
    CjkBlock(0xF900, 0xFAFF, "han"),  # CJK Compatibility Ideographs
    CjkBlock(0xFF66, 0xFF9F, "kana"),  # Halfwidth Katakana
    CjkBlock(0x20000, 0x2FA1F, "han"),  # Extensions B-F, Compatibility Ideographs Supplement
)

CJK_RANGES: tuple[CodeRange, ...] = tuple((b.first, b.last) for b in CJK_BLOCKS)
HAN_RANGES: tuple[CodeRange, ...] = tuple(
    (b.first, b.last) for b in CJK_BLOCKS if b.script == "han"
)

# A superset of the characters jieba keeps together (its Han class in every version: CJK
# ideographs, ASCII letters and digits, "+#&._%-"; plus U+4DC0-U+4DFF and planes 2-3): jieba
# first cuts a text at every other character, so each run of these can be segmented alone.
JIEBA_RUN_RANGES: tuple[CodeRange, ...] = (
    (0x3400, 0x9FFF),
    (0xF900, 0xFAFF),
    (0x20000, 0x3FFFF),
    (ord("0"), ord("9")),
    (ord("A"), ord("Z")),
    (ord("a"), ord("z")),
    *((ord(c), ord(c)) for c in "+#&._%-"),
)


def char_class(ranges: Iterable[CodeRange]) -> str:
    """The inside of a regex character class (no brackets) matching the code point ranges.

    The characters are written as themselves: none of the ranges holds a class metacharacter.
    """
    return "".join(f"{chr(first)}-{chr(last)}" for first, last in ranges)


CJK_CLASS = char_class(CJK_RANGES)
HAN_CLASS = char_class(HAN_RANGES)
CJK_CHAR = re.compile(f"[{CJK_CLASS}]")
HAN_CHAR = re.compile(f"[{HAN_CLASS}]")


def is_cjk(char: str) -> bool:
    return CJK_CHAR.match(char) is not None


def count_han(text: str) -> int:
    """Number of Han characters in `text`."""
    return len(HAN_CHAR.findall(text))
