"""Punctuation sets, Latin and CJK alike, shared by the rules and scorers that read sentences."""

from __future__ import annotations

import re

# Characters that count as punctuation, not word content (shared by several rules).
PUNCTUATION = frozenset(
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~“”‘’«»„‹›–—―…·•●■□▪▶►→←、。，；：？！（）《》〈〉【】「」『』〔〕｛｝［］～｜＿＠＃％＆＊＋－／＝＼＾｀"
)
# The same characters as one string, for `str.strip` (a token of them alone is no word).
PUNCTUATION_CHARS = "".join(sorted(PUNCTUATION))
# What starts a bulleted line (Gopher's bullet marks).
BULLETS = ("•", "-", "*", "·", "●")
# What a line or sentence ends with when it is complete.
TERMINAL_PUNCTUATION = (".", "!", "?", '"', "'", "”", "’", "。", "！", "？", "…", "」", "』", "；")
# The characters that end a sentence (for use inside a regex character class).
LATIN_SENTENCE_ENDS = ".!?"
CJK_SENTENCE_ENDS = "。！？"
# What may close a sentence after its end mark: quotes and a parenthesis.
SENTENCE_CLOSERS = "\"'”’」』)"
# One match per sentence end: Latin ends need a following space or the end of the text (so
# "3.5" and "e.g" do not end one), CJK full stops end a sentence anywhere. The definition;
# `analysis.sentence_ends` counts its matches in a compiled pass.
SENTENCE_END = re.compile(
    rf"[{LATIN_SENTENCE_ENDS}{CJK_SENTENCE_ENDS}…]+[{SENTENCE_CLOSERS}]*(?=\s|$)"
    rf"|[{CJK_SENTENCE_ENDS}]+"
)
