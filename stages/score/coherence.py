"""Coherence: flag documents stitched from unrelated sentences or pages.

Link farms, keyword lists and pages concatenated from snippets (Yi, arXiv 2403.04652, drops such
documents with a coherence scorer) lack what real text has: lexical cohesion, i.e. consecutive
passages about one topic reuse its content words. The score measures that, with no model:

1. Content words: `stages.text.tokenize` (jieba for Chinese), lower-cased, minus stop
   words, punctuation, numbers and 1-2 letter Latin tokens.
2. Segments at two scales. Sentence segments: sentences merged until each has SENTENCE_MIN
   content words. Paragraph segments: lines merged until PARAGRAPH_MIN. A unit with more than
   the maximum and no punctuation to split it (a keyword list) is cut into half-maximum pieces.
3. Three measurements (`measure`), each a bag-of-words cosine:
   - sentence: mean cosine of adjacent sentence segments (catches interleaved sentences),
   - paragraph: mean cosine of adjacent paragraph segments (interleaved paragraphs, snippets),
   - split: the weakest cosine between all text before a boundary and all text after it, over
     boundaries with SPLIT_SIDE content words each side (whole pages concatenated: one boundary
     in a long document, which a mean over adjacent pairs dilutes).
4. score = min(1, each measurement / its median on real text (REFERENCE, per language)).

Why not normalize by random segment pairs of the same document: a splice of blocks has low
random-pair similarity too, so the ratio stays high; on the spliced test sets it ranks real text
above spliced at chance (AUC 0.50 English, 0.56 Chinese) against 0.92 and 0.95 for this score.

Fewer than MIN_SEGMENTS sentence segments (about 4 sentences or 16 content words) is too little
evidence: the score is NEUTRAL (1.0) and never flagged. Flag below THRESHOLD. Separation on
documents spliced from Wikipedia and C4 (tests/test_score_coherence.py, docs/scorers.md): AUC
0.92 English, 0.95 Chinese; at THRESHOLD 0.3 it keeps 89% / 87% of real documents and flags
85% / 91% of spliced ones. Speed: docs/benchmarks.md, "Coherence scorer". The stage scores
whole batches with `coherence_batch.coherence_scores`: the same scores, from compiled loops.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from stages.text import (
    CJK_SENTENCE_ENDS,
    JIEBA_LANGS,
    LATIN_SENTENCE_ENDS,
    count_han,
    tokenize,
    word_set,
)

# Function words carry no topic, so two unrelated texts share them all the time; dropping them
# keeps the overlap between segments about content. Short lists on purpose: the signal only needs
# the most frequent ones gone.
STOP_WORDS_EN = word_set(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each even few for from
    further get got had has have having he her here hers herself him himself his how however if in
    into is it its itself just like made make many may me might more most much must my myself new
    no nor not now of off on once one only or other our ours ourselves out over own same she should
    since so some still such than that the their theirs them themselves then there these they this
    those though three through to too two under until up upon us use used using very was we well
    were what when where which while who whom why will with within without would you your yours
    yourself yourselves"""
)
STOP_WORDS_ZH = word_set(
    """的 了 是 在 和 与 及 或 也 都 而 但 就 并 又 还 被 把 对 从 到 由 于 以 为
    之 其 这 那 有 个 等 中 上 下 将 所 会 可 能 可以 一个 没有 不 我 你 他 她 它
    我们 他们 它们 自己 因为 所以 如果 虽然 但是 以及 其中 此 该 各 每 已 已经
    曾 后 前 时 年 月 日 第 一 二 三 多 最 更 很 及其 之后 之前 同时 由于 通过
    进行 成为 包括"""
)

# Sentence ends, Latin and CJK; a line break always ends a unit too.
# Clauses split at semicolons too: a coherent page keeps its vocabulary across them.
ENDS_BEFORE_SPACE = f"{LATIN_SENTENCE_ENDS}{CJK_SENTENCE_ENDS};；…"  # end where a space follows
ENDS_ANYWHERE = f"{CJK_SENTENCE_ENDS}；"  # end right after the character
_SENTENCE_END = re.compile(rf"(?<=[{ENDS_BEFORE_SPACE}])\s+|(?<=[{ENDS_ANYWHERE}])")
_NUMBER = re.compile(r"[\d.,:/%-]+")

# Segment sizes, in content words. Sentences are the unit that splicing shuffles; a sentence
# shorter than SENTENCE_MIN is merged with the next one so that one pair of segments has enough
# words to share, and a run longer than SENTENCE_MAX (a keyword list has no sentence ends) is cut.
SENTENCE_MIN, SENTENCE_MAX = 4, 40
# Paragraph segments are lines, merged or cut the same way; this scale sees pages concatenated
# paragraph by paragraph, which the sentence scale misses (most of their sentence pairs are fine).
PARAGRAPH_MIN, PARAGRAPH_MAX = 25, 120
# The split measurement only looks at boundaries with this many content words on each side:
# smaller blocks share few words even in real text.
SPLIT_SIDE = 50
# (sentence, paragraph, split) medians on real text: WikiText-2 and C4 for "en", CMRC 2018
# (Chinese Wikipedia) for "zh"; jieba words repeat more than English ones. A document as
# cohesive as the typical real one scores 1.
REFERENCE = {"en": (0.086, 0.18, 0.28), "zh": (0.116, 0.24, 0.28)}
# Fewer sentence segments than this is too little evidence: the score is NEUTRAL.
MIN_SEGMENTS = 4
NEUTRAL = 1.0
# Recommended cut: flag a document as incoherent when its score is below this.
THRESHOLD = 0.3


@dataclass(frozen=True)
class CoherenceResult:
    score: float  # [0, 1], higher = more coherent; NEUTRAL when segments < MIN_SEGMENTS
    segments: int  # sentence-scale segments
    min_adjacent: float  # lowest cosine between adjacent segments (paragraph scale if any)


def token_lang(text: str, lang: str | None) -> str | None:
    """The language to tokenize as: `lang`, or "zh" for mostly-Han text of unknown language."""
    if lang is not None:
        return lang
    # Without jieba a Chinese sentence would be one long "word" and share nothing.
    sample = text[:2000]
    return "zh" if count_han(sample) > 0.3 * len(sample.replace(" ", "")) else None


def content_words(text: str, lang: str | None) -> list[str]:
    """Lower-cased tokens minus stop words, punctuation, numbers and 1-2 letter Latin words."""
    stop = STOP_WORDS_ZH if lang in JIEBA_LANGS else STOP_WORDS_EN
    words = []
    for token in tokenize(text, lang):
        word = token.lower()
        if word in stop or not any(ch.isalnum() for ch in word) or _NUMBER.fullmatch(word):
            continue
        if len(word) < 3 and word.isascii():
            continue
        words.append(word)
    return words


def _lines(text: str, lang: str | None) -> list[list[list[str]]]:
    """Each non-empty line as its sentences, each sentence as its content words."""
    lines = []
    for line in text.split("\n"):
        sentences = [content_words(s, lang) for s in _SENTENCE_END.split(line)]
        sentences = [words for words in sentences if words]
        if sentences:
            lines.append(sentences)
    return lines


def _segments(units: Iterable[list[str]], low: int, high: int) -> list[Counter[str]]:
    """Cut units longer than `high`, then merge consecutive ones until each has `low` words."""
    segments: list[list[str]] = []
    current: list[str] = []
    for unit in units:
        # A unit over `high` words has no punctuation to follow (a keyword list, a run-on line):
        # cut it into pieces of `high / 2`, small enough to show that the pieces do not cohere.
        step = high if len(unit) <= high else high // 2
        for start in range(0, len(unit), step):
            current += unit[start : start + step]
            if len(current) >= low:
                segments.append(current)
                current = []
    if current:
        # A short tail would be a noisy segment of its own.
        if segments and len(current) < low / 2:
            segments[-1] += current
        else:
            segments.append(current)
    return [Counter(words) for words in segments]


def _cosine(a: Counter[str], b: Counter[str]) -> float:
    if len(a) > len(b):
        a, b = b, a
    dot = sum(count * b[word] for word, count in a.items() if word in b)
    if not dot:
        return 0.0
    norm = math.sqrt(sum(c * c for c in a.values()) * sum(c * c for c in b.values()))
    return dot / norm


def _adjacent(segments: list[Counter[str]]) -> list[float]:
    return [_cosine(segments[i], segments[i + 1]) for i in range(len(segments) - 1)]


def _weakest_split(segments: list[Counter[str]], side: int) -> float | None:
    """Lowest cosine between everything before a boundary and everything after it.

    Only boundaries with at least `side` words on each side count: small blocks are noisy.
    Running sums make this one pass over the words.
    """
    before: Counter[str] = Counter()
    after: Counter[str] = Counter()
    for segment in segments:
        after.update(segment)
    dot, norm_before = 0, 0
    norm_after = sum(c * c for c in after.values())
    words_before, words_total = 0, sum(after.values())
    weakest = None
    for segment in segments[:-1]:
        for word, count in segment.items():
            b, a = before[word], after[word]
            # (b + c)(a - c) - ba, and the squared norms' changes.
            dot += count * (a - b) - count * count
            norm_before += 2 * b * count + count * count
            norm_after += count * count - 2 * a * count
            before[word] = b + count
            after[word] = a - count
        words_before += segment.total()
        if words_before >= side and words_total - words_before >= side:
            similarity = dot / math.sqrt(norm_before * norm_after) if dot else 0.0
            weakest = similarity if weakest is None else min(weakest, similarity)
    return weakest


@dataclass(frozen=True)
class Cohesion:
    """The measurements behind a score, before normalization (see `measure`)."""

    sentence: float  # mean cosine of adjacent sentence segments
    paragraph: float | None  # mean cosine of adjacent paragraph segments; None if < 2 of them
    split: float | None  # weakest split into before/after; None without SPLIT_SIDE words a side
    segments: int  # sentence segments
    min_adjacent: float  # lowest adjacent cosine, paragraph scale if it has a pair; 1.0 if no pair


def measure(text: str, lang: str | None) -> Cohesion:
    lines = _lines(text, token_lang(text, lang))
    sentences = _segments((s for line in lines for s in line), SENTENCE_MIN, SENTENCE_MAX)
    paragraphs = _segments(
        ([w for s in line for w in s] for line in lines), PARAGRAPH_MIN, PARAGRAPH_MAX
    )
    sentence_links = _adjacent(sentences)
    paragraph_links = _adjacent(paragraphs)
    return Cohesion(
        sentence=sum(sentence_links) / len(sentence_links) if sentence_links else 0.0,
        paragraph=sum(paragraph_links) / len(paragraph_links) if paragraph_links else None,
        split=_weakest_split(paragraphs, SPLIT_SIDE),
        segments=len(sentences),
        min_adjacent=min(paragraph_links or sentence_links or [1.0]),
    )


def coherence(text: str, lang: str | None) -> CoherenceResult:
    """Score in [0, 1]: the weakest of the three cohesion measures relative to real text."""
    raw = measure(text, lang)
    if raw.segments < MIN_SEGMENTS:
        return CoherenceResult(NEUTRAL, raw.segments, raw.min_adjacent)
    chinese = token_lang(text, lang) in JIEBA_LANGS
    sentence_ref, paragraph_ref, split_ref = REFERENCE["zh" if chinese else "en"]
    ratios = [raw.sentence / sentence_ref]
    if raw.paragraph is not None:
        ratios.append(raw.paragraph / paragraph_ref)
    if raw.split is not None:
        ratios.append(raw.split / split_ref)
    # Any one scale can expose a splice, so the weakest decides; at or above the typical real
    # document there is nothing to flag, hence the cap.
    return CoherenceResult(min(1.0, *ratios), raw.segments, raw.min_adjacent)
