"""A document as the rules and scorers see it: lines, paragraphs and words, computed once."""

from __future__ import annotations

import re
from functools import cached_property

from stages.text.punctuation import PUNCTUATION_CHARS, SENTENCE_END
from stages.text.scripts import count_han
from stages.text.words import tokenize

_PARAGRAPH_BREAK = re.compile(r"\n{2,}")


class DocView:
    """Derived views of one text; each is computed on first use and then shared by rules."""

    def __init__(self, text: str, lang: str | None) -> None:
        self.text = text
        self.lang = lang

    @cached_property
    def lines(self) -> list[str]:
        return self.text.split("\n")

    @cached_property
    def nonempty_lines(self) -> list[str]:
        return [line for line in self.lines if line.strip()]

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
        return len(SENTENCE_END.findall(self.text))

    @cached_property
    def han_chars(self) -> int:
        return count_han(self.text)
