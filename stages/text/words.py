"""Words, language-aware.

Chinese has no spaces, so splitting on whitespace would make a whole paragraph "one word";
Chinese text is segmented with jieba's dictionary model (rjieba, the Rust port: many times
Python jieba's speed, and real words where one token per character gives none). Japanese and
the other scripts written without spaces that jieba does not know (Thai, Lao, Tibetan,
Myanmar, Khmer) fall back to one token per character. Other languages use a regex that splits
words from punctuation runs, like NLTK's word tokenizer but at C speed. Throughput:
docs/benchmarks.md, "Text toolkit".
"""

from __future__ import annotations

import re

import rjieba

from stages.text.punctuation import PUNCTUATION_CHARS
from stages.text.scripts import CJK_RANGES, char_class

JIEBA_LANGS = frozenset({"zh", "yue", "wuu", "gan", "lzh"})
CHARACTER_LANGS = frozenset({"ja", "th", "lo", "km", "my", "bo"})

# Scripts besides CJK whose words are not separated by spaces.
_UNSPACED_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x0F00, 0x0FFF),  # Tibetan
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
)
_WORDS = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]+")
CHARACTER_TOKEN = re.compile(rf"[{char_class(CJK_RANGES + _UNSPACED_RANGES)}]|\w+|[^\w\s]+")


def tokenize(text: str, lang: str | None) -> list[str]:
    """Words and punctuation runs of `text`, in order, as language `lang` splits them."""
    if lang in JIEBA_LANGS:
        return [token for token in rjieba.cut(text) if not token.isspace()]
    if lang in CHARACTER_LANGS:
        return CHARACTER_TOKEN.findall(text)
    return _WORDS.findall(text)


def count_words(text: str, lang: str | None) -> int:
    """Tokens with a character that is not punctuation (what stripping punctuation leaves)."""
    return sum(1 for token in tokenize(text, lang) if token.strip(PUNCTUATION_CHARS))
