"""What the topic model sees of a document, and the features its information density is made of.

Tokens (docs/topics.md): English and other space-separated text gives lower-cased letter runs
of 3+ letters (re's `[^\\W\\d_]`); Chinese text is segmented with jieba (rjieba) into words of
2+ characters (or, with `chinese="bigrams"`, overlapping character bigrams); stop words of
both languages (`lists/stopwords_*.txt`) are dropped.

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

import numpy as np
import rjieba
from numba import njit

from stages.text import HAN_RANGES, word_set

LISTS = Path(__file__).parent / "lists"
RICHNESS_WINDOW = 50
COMPRESSION_WINDOW = 1000
ChineseTokens = Literal["jieba", "bigrams"]

# Code point classes of the tokenizer: a letter of re's `[^\W\d_]` outside the Han ranges,
# a Han character, anything else; UNKNOWN until the code point is first seen.
OTHER, LETTER, HAN, UNKNOWN = 0, 1, 2, 255
_LETTER = re.compile(r"[^\W\d_]")
RUN_END = "\n"  # joins a document's Han runs for one jieba call; jieba returns it as a word
WORD_END = "\x00"  # ends each jieba word in `_jieba_words` (no text reaches jieba with one)
RUN_END_CODE, WORD_END_CODE = ord(RUN_END), ord(WORD_END)


@cache
def word_list(name: str) -> frozenset[str]:
    return word_set((LISTS / name).read_text(encoding="utf-8"))


@cache
def stop_words() -> frozenset[str]:
    return word_list("stopwords_en.txt") | word_list("stopwords_zh.txt")


@cache
def ad_words() -> frozenset[str]:
    return word_list("ad_lexicon_en.txt") | word_list("ad_lexicon_zh.txt")


@cache
def _class_table() -> np.ndarray:
    """The class of every code point, filled in as code points are met (`_scan` reports
    unknown ones): a text holds a few thousand distinct ones, classifying all 1.1 million
    takes a quarter second."""
    table = np.full(0x110000, UNKNOWN, np.uint8)
    for first, last in HAN_RANGES:
        table[first : last + 1] = HAN
    return table


def _learn_classes(codepoints: np.ndarray, table: np.ndarray) -> None:
    for code in np.unique(codepoints[table[codepoints] == UNKNOWN]).tolist():
        table[code] = LETTER if _LETTER.match(chr(code)) else OTHER


@njit(cache=True)
def _scan(codepoints: np.ndarray, table: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """The letter runs of 3+ (start, end), each Han run as (start, end, letter runs before
    it), and whether every code point's class was known (if not, nothing else is)."""
    n = codepoints.shape[0]
    latin = np.empty((n // 3 + 1, 2), np.int64)
    han = np.empty((n // 2 + 1, 3), np.int64)
    words = runs = i = 0
    while i < n:
        kind = table[codepoints[i]]
        if kind == UNKNOWN:
            return latin[:0], han[:0], False
        j = i + 1
        while j < n and table[codepoints[j]] == kind:
            j += 1
        if kind == LETTER and j - i >= 3:
            latin[words, 0], latin[words, 1] = i, j
            words += 1
        elif kind == HAN:
            han[runs, 0], han[runs, 1], han[runs, 2] = i, j, words
            runs += 1
        i = j
    return latin[:words], han[:runs], True


@njit(cache=True)
def _in_order(
    latin: np.ndarray, han: np.ndarray, jieba: np.ndarray, offset: int, bigrams: bool
) -> np.ndarray:
    """Every token's span, in order: the letter runs, and in its place each Han run's
    bigrams or jieba words. `jieba` holds the jieba words of all runs (code points, each word
    followed by WORD_END, a run's words by RUN_END's), at `offset` in the spans' text."""
    spans = np.empty(
        (latin.shape[0] + han[:, 1].sum() - han[:, 0].sum() + jieba.shape[0], 2), np.int64
    )
    n = done = position = 0
    for r in range(han.shape[0]):
        for w in range(done, han[r, 2]):
            spans[n] = latin[w]
            n += 1
        done = han[r, 2]
        if bigrams:
            for start in range(han[r, 0], han[r, 1] - 1):
                spans[n, 0], spans[n, 1] = start, start + 2
                n += 1
            continue
        while True:  # this run's words, up to the word RUN_END
            end = position
            while jieba[end] != WORD_END_CODE:
                end += 1
            if end - position == 1 and jieba[position] == RUN_END_CODE:
                position = end + 1
                break
            spans[n, 0], spans[n, 1] = offset + position, offset + end
            n += 1
            position = end + 1
    for w in range(done, latin.shape[0]):
        spans[n] = latin[w]
        n += 1
    return spans[:n]


@dataclass(frozen=True)
class Tokens:
    """A document's candidate tokens (`candidate_tokens`): spans of code points."""

    codepoints: np.ndarray  # uint32: the lower-cased text, then its jieba words
    spans: np.ndarray  # int64, tokens x (start, end), in order

    def strings(self) -> list[str]:
        text = self.codepoints.tobytes().decode("utf-32-le")
        return [text[start:end] for start, end in self.spans.tolist()]


def topic_tokens(text: str, chinese: ChineseTokens = "jieba") -> list[str]:
    """The document's tokens for the topic model, in order."""
    stop = stop_words()
    return [t for t in candidate_tokens(text, chinese).strings() if keeps(t, stop)]


def keeps(token: str, stop: frozenset[str]) -> bool:
    """Whether `topic_tokens` keeps a candidate token: jieba's 1-character words and stop
    words go (every other candidate has 2+ characters)."""
    return len(token) > 1 and token not in stop


def candidate_tokens(text: str, chinese: ChineseTokens = "jieba") -> Tokens:
    """`topic_tokens` before `keeps`, as spans of code points: the letter runs of 3+ and the
    Han runs are found by numba, the Han runs are segmented by one jieba call per document
    (its words joined into one string), and no Python string is made per token."""
    lowered = text.lower()
    codepoints = np.frombuffer(lowered.encode("utf-32-le"), np.uint32)
    table = _class_table()
    latin, han, known = _scan(codepoints, table)
    if not known:
        _learn_classes(codepoints, table)
        latin, han, _ = _scan(codepoints, table)
    if not len(han):
        return Tokens(codepoints, latin)
    jieba = _jieba_words(codepoints, han) if chinese == "jieba" else codepoints[:0]
    spans = _in_order(latin, han, jieba, len(codepoints), chinese == "bigrams")
    return Tokens(np.concatenate([codepoints, jieba]), spans)


def _jieba_words(codepoints: np.ndarray, runs: np.ndarray) -> np.ndarray:
    """The jieba words of the Han runs, as code points: each word followed by WORD_END, each
    run's words by the word RUN_END. jieba cuts text into blocks at every character outside
    its Han class first, so the runs joined by RUN_END are cut exactly as each run alone."""
    words = rjieba.cut(_joined_runs(codepoints, runs).tobytes().decode("utf-32-le"))
    return np.frombuffer((WORD_END.join(words) + WORD_END).encode("utf-32-le"), np.uint32)


@njit(cache=True, nogil=True)
def _joined_runs(codepoints: np.ndarray, runs: np.ndarray) -> np.ndarray:
    """The runs' code points, each run followed by RUN_END (one string for one jieba call,
    without a Python string per run)."""
    out = np.empty(runs[:, 1].sum() - runs[:, 0].sum() + runs.shape[0], np.uint32)
    n = 0
    for r in range(runs.shape[0]):
        for i in range(runs[r, 0], runs[r, 1]):
            out[n] = codepoints[i]
            n += 1
        out[n] = RUN_END_CODE
        n += 1
    return out


def compression(text: str) -> float:
    raw = text[:COMPRESSION_WINDOW].encode()[:COMPRESSION_WINDOW]  # the text's first bytes
    return len(zlib.compress(raw, 6)) / len(raw) if raw else 0.0


@njit(cache=True)
def token_features(
    tokens: np.ndarray, offsets: np.ndarray, is_ad: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(richness, ad_share) of each document of a CSR of token ids (document d's tokens are
    tokens[offsets[d]:offsets[d + 1]], ids into a vocabulary whose ad-lexicon words are
    `is_ad`). Windows start every RICHNESS_WINDOW / 2 tokens; sums run left to right."""
    docs = offsets.shape[0] - 1
    richness = np.zeros(docs)
    ad_share = np.zeros(docs)
    seen = np.zeros(is_ad.shape[0], np.int64)  # the window that last saw each id
    window = 0
    for d in range(docs):
        doc = tokens[offsets[d] : offsets[d + 1]]
        n = doc.shape[0]
        if n == 0:
            continue
        total, windows = 0.0, 0
        for start in range(0, max(n - RICHNESS_WINDOW, 0) + 1, RICHNESS_WINDOW // 2):
            end = min(start + RICHNESS_WINDOW, n)
            window += 1
            distinct = 0
            for t in doc[start:end]:
                if seen[t] != window:
                    seen[t] = window
                    distinct += 1
            total += distinct / (end - start)
            windows += 1
        richness[d] = total / windows
        ad_share[d] = is_ad[doc].sum() / n
    return richness, ad_share
