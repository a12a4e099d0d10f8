"""Coherence of every document of a batch at once: `coherence.coherence(text, lang).score`
from the batch's shared tokens, in compiled loops over arrays.

Content words are hashes of their lower-cased code points, segments are ranges of them and
Counters are count arrays; sums and divisions are the definition's, in its order, so the
scores are the same to the last bit (tests/test_score_batch.py). A document the arrays cannot
describe exactly (a character whose lower case is not one character, a content token across a
sentence end, counts beyond int64) is scored by `coherence` itself: the loops return NaN for it.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from functools import cache

import numba
import numpy as np

from stages.score.batch import (
    HASH_SEED,
    TextBatch,
    hash_finish,
    hash_step,
    string_hashes,
    token_kind,
)
from stages.score.chartable import LOWER_ALNUM, LOWER_NUMBER, NO_LOWER, SPACE
from stages.score.coherence import (
    ENDS_ANYWHERE,
    ENDS_BEFORE_SPACE,
    MIN_SEGMENTS,
    NEUTRAL,
    PARAGRAPH_MAX,
    PARAGRAPH_MIN,
    REFERENCE,
    SENTENCE_MAX,
    SENTENCE_MIN,
    SPLIT_SIDE,
    STOP_WORDS_EN,
    STOP_WORDS_ZH,
    coherence,
    token_lang,
)
from stages.score.keyindex import KeyIndex, find
from stages.text import JIEBA_LANGS

_NEWLINE = 10
_COMPENSATED_SUM = sys.version_info >= (3, 12)  # how `sum` adds floats
_INT64_MAX = np.iinfo(np.int64).max
# What each character below U+10000 ends (every sentence end is one): one load per character.
_BEFORE_SPACE, _ANYWHERE = 1, 2
_ENDS = np.zeros(0x10000, dtype=np.uint8)
_ENDS[[ord(c) for c in ENDS_BEFORE_SPACE]] |= _BEFORE_SPACE
_ENDS[[ord(c) for c in ENDS_ANYWHERE]] |= _ANYWHERE
_REFERENCES = np.array([REFERENCE["en"], REFERENCE["zh"]])


@cache
def _stop_words(words: frozenset[str]) -> tuple[np.ndarray, np.ndarray, np.uint64]:
    """The stop words' hashes as a `KeyIndex` (keys, starts, shift) for the kernels."""
    index = KeyIndex.of(np.sort(string_hashes(sorted(words))))
    return index.keys, index.starts, index.shift


def coherence_scores(batch: TextBatch, langs: Sequence[str | None]) -> list[float]:
    """`coherence(text, lang).score` of every text of the batch."""
    token_langs = [token_lang(batch.text(i), lang) for i, lang in enumerate(langs)]
    chinese = np.array([lang in JIEBA_LANGS for lang in token_langs], dtype=np.bool_)
    spans = batch.tokens([token_kind(lang) for lang in token_langs])
    flags, lower = batch.tables
    text = (batch.cp, flags, lower, batch.bounds)
    tokens = (spans.starts, spans.ends, spans.offsets)
    stop = (_stop_words(STOP_WORDS_EN), _stop_words(STOP_WORDS_ZH))
    scores = _batch_scores(*text, *tokens, chinese, *stop)
    return [
        coherence(batch.text(i), langs[i]).score if np.isnan(score) else score
        for i, score in enumerate(scores.tolist())
    ]


@numba.njit(cache=True, nogil=True)
def _batch_scores(
    cp: np.ndarray,
    flag_of: np.ndarray,
    lower_of: np.ndarray,
    bounds: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    offsets: np.ndarray,
    chinese: np.ndarray,
    stop_en: tuple,
    stop_zh: tuple,
) -> np.ndarray:
    """The score of each text, NaN where `coherence` itself must give it."""
    out = np.full(len(bounds) - 1, np.nan)
    for d in range(len(out)):
        t0, t1 = offsets[d], offsets[d + 1]
        stop = stop_zh if chinese[d] else stop_en
        words, content, ok = _content_words(cp, flag_of, lower_of, starts[t0:t1], ends[t0:t1], stop)
        if not ok:
            continue
        content_starts, content_ends = starts[t0:t1][content], ends[t0:t1][content]
        lo, hi = bounds[d], bounds[d + 1]
        sentences, lines, ok = _units(cp, flag_of, lo, hi, content_starts, content_ends)
        if ok:
            reference = _REFERENCES[1 if chinese[d] else 0]
            out[d] = _score(_dense_ids(words), sentences, lines, reference)
    return out


@numba.njit(cache=True, nogil=True)
def _content_words(
    cp: np.ndarray,
    flag_of: np.ndarray,
    lower_of: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    stop: tuple,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """(hash of each content word, which tokens are content words, ok) as `content_words`
    decides on each lower-cased token; not ok if a character's lower case is not one
    character (or depends on its neighbours)."""
    hashes = np.empty(len(starts), dtype=np.uint64)
    content = np.zeros(len(starts), dtype=np.bool_)
    n = 0
    for k in range(len(starts)):
        h = HASH_SEED
        alnum, number, ascii_only = False, True, True
        for i in range(starts[k], ends[k]):
            low = lower_of[cp[i]]
            if low == NO_LOWER:
                return hashes[:0], content, False
            f = flag_of[cp[i]]
            alnum |= (f & LOWER_ALNUM) != 0
            number &= (f & LOWER_NUMBER) != 0
            ascii_only &= low < 128
            h = hash_step(h, low)
        length = ends[k] - starts[k]
        h = hash_finish(h, length)
        if find(stop[0], stop[1], stop[2], h) >= 0:
            continue
        if not alnum or number or (length < 3 and ascii_only):
            continue
        hashes[n] = h
        content[k] = True
        n += 1
    return hashes[:n], content, True


@numba.njit(cache=True, nogil=True)
def _units(
    cp: np.ndarray, flag_of: np.ndarray, lo: int, hi: int, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray, bool]:
    """(ends of the sentence units, ends of the line units, ok) as indices into the content
    words `starts`/`ends` of text `cp[lo:hi]`: `_lines` splits lines at "\\n" and sentences
    at `_SENTENCE_END`, and a unit is the content words between two splits. Not ok if a split
    falls inside a content word (tokenizing the pieces apart would give other words)."""
    n = len(starts)
    sentence_ends = np.empty(n, dtype=np.int64)
    line_ends = np.empty(n, dtype=np.int64)
    n_sentences = n_lines = 0
    new_sentence = new_line = False
    k = 0
    for i in range(lo, hi + 1):
        if i > lo:  # a split between cp[i - 1] and cp[i]?
            before = cp[i - 1]
            line = before == _NEWLINE
            ending = _ENDS[before] if before < 0x10000 else 0
            sentence = ending & _ANYWHERE or (
                ending & _BEFORE_SPACE and i < hi and flag_of[cp[i]] & SPACE
            )
            if (line or sentence) and k > 0 and i < ends[k - 1]:
                return sentence_ends[:0], line_ends[:0], False
            new_line |= line
            new_sentence |= line or sentence
        while k < n and starts[k] == i:
            if k > 0 and new_sentence:
                sentence_ends[n_sentences] = k
                n_sentences += 1
            if k > 0 and new_line:
                line_ends[n_lines] = k
                n_lines += 1
            new_sentence = new_line = False
            k += 1
    if n:
        sentence_ends[n_sentences] = n
        line_ends[n_lines] = n
        n_sentences += 1
        n_lines += 1
    return sentence_ends[:n_sentences], line_ends[:n_lines], True


@numba.njit(cache=True, nogil=True)
def _dense_ids(hashes: np.ndarray) -> np.ndarray:
    """Ids 0, 1, ... of the words' hashes in order of first occurrence (an open-addressing
    table): count arrays indexed by them stand for Counters."""
    bits = 1
    while (1 << bits) < 2 * len(hashes):
        bits += 1
    mask = (1 << bits) - 1
    slot_hash = np.empty(1 << bits, dtype=np.uint64)
    slot_id = np.full(1 << bits, -1, dtype=np.int64)
    ids = np.empty(len(hashes), dtype=np.int64)
    distinct = 0
    for i in range(len(hashes)):
        slot = np.int64(hashes[i] >> np.uint64(64 - bits))
        while slot_id[slot] != -1 and slot_hash[slot] != hashes[i]:
            slot = (slot + 1) & mask
        if slot_id[slot] == -1:
            slot_hash[slot] = hashes[i]
            slot_id[slot] = distinct
            distinct += 1
        ids[i] = slot_id[slot]
    return ids


@numba.njit(cache=True, nogil=True)
def _segment_ends(unit_ends: np.ndarray, low: int, high: int) -> np.ndarray:
    """`_segments` as the end index of each segment (segments are consecutive ranges of the
    words, as units are)."""
    out = np.empty(unit_ends[-1] if len(unit_ends) else 0, np.int64)  # a word or more each
    n = current = start = 0
    for end in unit_ends:
        step = high if end - start <= high else high // 2
        for piece in range(start, end, step):
            current += min(piece + step, end) - piece
            if current >= low:
                out[n] = min(piece + step, end)
                n += 1
                current = 0
        start = end
    if current:
        if n and current < low / 2:
            out[n - 1] = start
        else:
            out[n] = start
            n += 1
    return out[:n]


@numba.njit(cache=True, nogil=True)
def _range_cosine(
    ids: np.ndarray, a0: int, a1: int, b0: int, b1: int, count_a: np.ndarray, count_b: np.ndarray
) -> float:
    """`_cosine` of the Counters of ids[a0:a1] and ids[b0:b1]; the count arrays are zero
    before and after."""
    for i in range(a0, a1):
        count_a[ids[i]] += 1
    for i in range(b0, b1):
        count_b[ids[i]] += 1
    dot = norm_a = norm_b = 0
    for i in range(a0, a1):
        c = count_a[ids[i]]
        if c:
            dot += c * count_b[ids[i]]
            norm_a += c * c
            count_a[ids[i]] = 0
    for i in range(b0, b1):
        c = count_b[ids[i]]
        if c:
            norm_b += c * c
            count_b[ids[i]] = 0
    if not dot:
        return 0.0
    return dot / math.sqrt(norm_a * norm_b)


@numba.njit(cache=True, nogil=True)
def _mean_adjacent(
    ids: np.ndarray, seg_ends: np.ndarray, count_a: np.ndarray, count_b: np.ndarray
) -> float:
    """Mean cosine of adjacent segments, summed as the builtin `sum` sums floats: in order,
    with Neumaier's compensation since Python 3.12."""
    total = compensation = 0.0
    for s in range(len(seg_ends) - 1):
        start = seg_ends[s - 1] if s else 0
        x = _range_cosine(ids, start, seg_ends[s], seg_ends[s], seg_ends[s + 1], count_a, count_b)
        t = total + x
        if _COMPENSATED_SUM and s > 0:  # from the second term on (the first replaces int 0)
            compensation += (total - t) + x if abs(total) >= abs(x) else (x - t) + total
        total = t
    if compensation and math.isfinite(compensation):
        total += compensation
    return total / (len(seg_ends) - 1)


@numba.njit(cache=True, nogil=True)
def _range_weakest_split(
    ids: np.ndarray, seg_ends: np.ndarray, before: np.ndarray, after: np.ndarray
) -> tuple[float, bool]:
    """`_weakest_split` of the segments: (lowest cosine or NaN if no boundary qualifies, and
    False if a norm product would overflow int64, which Python's integers do not)."""
    total = seg_ends[-1] if len(seg_ends) else 0
    for i in range(total):
        after[ids[i]] += 1
    norm_after = 0
    for i in range(total):
        c = after[ids[i]]
        if c > 0:  # each word once: marked by its sign until the loop below
            norm_after += c * c
            after[ids[i]] = -c
    for i in range(total):
        after[ids[i]] = abs(after[ids[i]])
    dot = norm_before = words_before = 0
    weakest = np.nan
    ok = True
    for s in range(len(seg_ends) - 1):
        for i in range(seg_ends[s - 1] if s else 0, seg_ends[s]):
            # one occurrence at a time: the same sums as a whole segment's counts at once
            w = ids[i]
            b, a = before[w], after[w]
            dot += a - b - 1
            norm_before += 2 * b + 1
            norm_after += 1 - 2 * a
            before[w] = b + 1
            after[w] = a - 1
        words_before = seg_ends[s]
        if words_before >= SPLIT_SIDE and total - words_before >= SPLIT_SIDE:
            if norm_before and norm_after > _INT64_MAX // norm_before:
                ok = False
                break
            similarity = dot / math.sqrt(norm_before * norm_after) if dot else 0.0
            if not similarity >= weakest:  # also the first (NaN)
                weakest = similarity
    for i in range(total):
        before[ids[i]] = 0
        after[ids[i]] = 0
    return weakest, ok


@numba.njit(cache=True, nogil=True)
def _score(
    ids: np.ndarray, sentence_units: np.ndarray, line_units: np.ndarray, reference: np.ndarray
) -> float:
    """`coherence(...).score` from the content word ids and their units; NaN where Python's
    integers would be needed."""
    sentences = _segment_ends(sentence_units, SENTENCE_MIN, SENTENCE_MAX)
    if len(sentences) < MIN_SEGMENTS:
        return NEUTRAL
    distinct = ids.max() + 1
    count_a = np.zeros(distinct, dtype=np.int64)
    count_b = np.zeros(distinct, dtype=np.int64)
    score = min(1.0, _mean_adjacent(ids, sentences, count_a, count_b) / reference[0])
    paragraphs = _segment_ends(line_units, PARAGRAPH_MIN, PARAGRAPH_MAX)
    if len(paragraphs) >= 2:
        score = min(score, _mean_adjacent(ids, paragraphs, count_a, count_b) / reference[1])
    split, ok = _range_weakest_split(ids, paragraphs, count_a, count_b)
    if not ok:
        return np.nan
    if not np.isnan(split):
        score = min(score, split / reference[2])
    return score
