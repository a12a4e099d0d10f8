"""What the topic model sees of a document, and the features its information density is made of.

Tokens (docs/topics.md): English and other space-separated text gives lower-cased letter runs
of 3+ letters; Chinese text is segmented with jieba (rjieba) into words of 2+ characters (or,
with `chinese="bigrams"`, overlapping character bigrams); stop words of both languages
(`lists/stopwords_*.txt`) are dropped.

Per-document density features, each larger for more informative text:

* `compression`: zlib-compressed size / UTF-8 size of the first `COMPRESSION_WINDOW` bytes
  (a fixed window: whole long articles compress better than short pages for reasons of
  length alone). Boilerplate, listings and keyword spam repeat themselves.
* `richness`: moving-average type-token ratio, the mean of distinct/total tokens over
  windows of `RICHNESS_WINDOW` tokens (length-neutral).
* `ad_share`: share of topic tokens in the commercial lexicon (`lists/ad_lexicon_*.txt`);
  enters the density with a minus sign.
* `quality`: the score stage's `quality_score` when present.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import rjieba

from stages.text import HAN_CLASS, word_set

LISTS = Path(__file__).parent / "lists"
RICHNESS_WINDOW = 50
COMPRESSION_WINDOW = 1000
ChineseTokens = Literal["jieba", "bigrams"]

_LATIN = re.compile(r"[^\W\d_]{3,}")
_HAN_RUN = re.compile(f"[{HAN_CLASS}]+")
_HAN_WORD = re.compile(f"[{HAN_CLASS}]{{2,}}")


@cache
def word_list(name: str) -> frozenset[str]:
    return word_set((LISTS / name).read_text(encoding="utf-8"))


def stop_words() -> frozenset[str]:
    return word_list("stopwords_en.txt") | word_list("stopwords_zh.txt")


def ad_words() -> frozenset[str]:
    return word_list("ad_lexicon_en.txt") | word_list("ad_lexicon_zh.txt")


def topic_tokens(text: str, chinese: ChineseTokens = "jieba") -> list[str]:
    """The document's tokens for the topic model, in order."""
    stop = stop_words()
    tokens: list[str] = []
    last = 0
    for run in _HAN_RUN.finditer(text):
        tokens += _LATIN.findall(text[last : run.start()].lower())
        han = run.group()
        if chinese == "jieba":
            tokens += [w for w in rjieba.cut(han) if _HAN_WORD.fullmatch(w)]
        else:
            tokens += [han[i : i + 2] for i in range(len(han) - 1)]
        last = run.end()
    tokens += _LATIN.findall(text[last:].lower())
    return [t for t in tokens if t not in stop]


@dataclass(frozen=True)
class DensityFeatures:
    compression: float
    richness: float
    ad_share: float

    @classmethod
    def of(cls, text: str, tokens: list[str]) -> DensityFeatures:
        raw = text.encode()[:COMPRESSION_WINDOW]
        compression = len(zlib.compress(raw, 6)) / len(raw) if raw else 0.0
        windows = [
            tokens[i : i + RICHNESS_WINDOW]
            for i in range(0, max(len(tokens) - RICHNESS_WINDOW, 0) + 1, RICHNESS_WINDOW // 2)
        ]
        ratios = [len(set(w)) / len(w) for w in windows if w]
        richness = sum(ratios) / len(ratios) if ratios else 0.0
        ads = ad_words()
        ad_share = sum(t in ads for t in tokens) / len(tokens) if tokens else 0.0
        return cls(compression, richness, ad_share)
