"""A document as the rules and scorers see it: lines, paragraphs, words and the arrays of its
analysis, each computed once."""

from __future__ import annotations

import re
from functools import cached_property

import numpy as np

from stages.text.analysis import TextAnalysis, code_points, sentence_ends
from stages.text.codepoints import class_table
from stages.text.lines import LineTable
from stages.text.punctuation import PUNCTUATION_CHARS
from stages.text.words import tokenize

_PARAGRAPH_BREAK = re.compile(r"\n{2,}")


class DocView:
    """Derived views of one text; each is computed on first use and then shared by rules."""

    def __init__(self, text: str, lang: str | None, line_words: list[int] | None = None) -> None:
        """`line_words`: the words in each line, when a rule that edited lines knows them
        (the text need not be analysed again for them)."""
        self.text = text
        self.lang = lang
        if line_words is not None:
            self.line_words = line_words

    @cached_property
    def lines(self) -> list[str]:
        return self.text.split("\n")

    @cached_property
    def nonempty_lines(self) -> list[str]:
        return [line for line in self.lines if line.strip()]

    @cached_property
    def code_points(self) -> tuple[np.ndarray, np.ndarray]:
        """(UTF-32 code points, their `class_table` bits): what the compiled kernels read."""
        cp = code_points(self.text)
        return cp, class_table()[cp]

    @cached_property
    def line_table(self) -> LineTable:
        """Each line's span and stripped span, and what the rules count over lines and
        paragraphs (the counting form of `lines` and `paragraphs`)."""
        return LineTable(*self.code_points)

    @cached_property
    def paragraphs(self) -> list[str]:
        """Blocks separated by blank lines (two or more line breaks)."""
        return _PARAGRAPH_BREAK.split(self.text.strip())

    @cached_property
    def tokens(self) -> list[str]:
        """Words and punctuation runs, in order (n-gram rules use these)."""
        return tokenize(self.text, self.lang)

    @cached_property
    def words(self) -> list[str]:
        """Tokens that are words, not punctuation."""
        # A word has a character that is not punctuation (str.strip tests it at C speed).
        return [token for token in self.tokens if token.strip(PUNCTUATION_CHARS)]

    @cached_property
    def sentences(self) -> int:
        return sentence_ends(*self.code_points)

    @cached_property
    def analysis(self) -> TextAnalysis:
        """Tokens, lines and character classes as arrays (what the rules count with)."""
        return TextAnalysis(self.text, self.lang, *self.code_points)

    @cached_property
    def line_words(self) -> list[int]:
        """Words in each line of `lines`."""
        return self.analysis.line_words.tolist()

    @cached_property
    def n_words(self) -> int:
        return sum(self.line_words)

    @property
    def han_chars(self) -> int:
        return self.analysis.han_chars


# An English and a Chinese document that pass every default filter rule: what a stage's
# `setup` runs through its code once per worker process (tests/test_filter_stage.py).
WARM_UP_DOCUMENTS = {
    "en": (
        "The river runs through the old town and past the mill, where the miller still grinds "
        "wheat for the bakers of the valley.\nIn the spring the water rises and the meadows "
        "turn green, and children watch the boats that carry timber to the coast.\n\n"
        "Visitors come to see the bridge, which was built of stone more than two hundred years "
        "ago and has survived every flood since then. The town keeps a small museum about it."
    ),
    "zh": (
        "这条河从古城中间流过，经过一座老磨坊，磨坊主人至今仍为山谷里的面包师磨小麦。"
        "春天河水上涨，草地变绿，孩子们看着运木材的船驶向海岸。\n\n"
        "游客们来看那座石桥，它建于两百多年前，经历了此后的每一次洪水。"
        "镇上有一个关于这座桥的小博物馆，里面保存着当年的图纸和工具。"
    ),
}
