"""The units of the substring stage as string definitions (docs/dedup.md): the reference that
`kernels.py` implements over UTF-8 bytes, and the identity that exact verification compares.

A *token* is a maximal run of non-whitespace characters, except that every CJK character (Han,
kana: `stages.text.CJK_RANGES`) is a token of its own: so `min_length` counts words in
English and characters in Chinese. Two spans of k tokens are equal when their tokens are
equal, whatever whitespace separates them (a footer re-wrapped with other line breaks is the
same footer); `span_key` is that identity, exactly. In lines mode a unit is a line with content
and its identity `normalized_line`.
"""

from __future__ import annotations

import re

from stages.text import CJK_CLASS

# Multiplier of the polynomial over token hashes that hashes a window (odd, so invertible).
WINDOW_BASE = 0xC2B2AE3D27D4EB4F

TOKEN = re.compile(f"[{CJK_CLASS}]|[^\\s{CJK_CLASS}]+")


def span_key(span: str) -> str:
    """What makes two spans equal: their tokens (joined by a newline, never inside one)."""
    return "\n".join(TOKEN.findall(span))


def normalized_line(line: str) -> str:
    """A line's identity in lines mode: its tokens separated by single spaces."""
    return " ".join(line.split())
