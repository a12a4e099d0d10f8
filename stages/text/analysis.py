"""One analysis of a document, shared by every rule that reads it: its code points with their
classes, its tokens as its language splits them, and its lines, as numpy arrays and counts.

A rule asks the analysis for counts (words per line, letters per line, words with a letter,
word hashes...) instead of walking the text in Python character by character or word by
word. Tokens are exactly those of `words.tokenize` (a test checks it on real text): the regex
tokenizer of space-separated languages is re-implemented as a compiled loop over code points,
jieba's segmentation (each distinct run cut once per process: `jieba_runs`) and the
per-character tokenizer give their tokens' positions. Every count is the one the string-based
definition gives: a word is a token with a character outside `PUNCTUATION`, a letter is what
`str.isalpha` says, an upper-case letter also `str.isupper`.
"""

from __future__ import annotations

import numba
import numpy as np

from stages.text.codepoints import (
    ALNUM,
    ALPHA,
    HAN,
    NONSPACE,
    P_TOKEN,
    PUNCT,
    UPPER,
    WORD,
    class_table,
    fmix64,
)
from stages.text.jieba_runs import jieba_spans
from stages.text.punctuation import CJK_SENTENCE_ENDS, LATIN_SENTENCE_ENDS, SENTENCE_CLOSERS
from stages.text.words import CHARACTER_LANGS, CHARACTER_TOKEN, JIEBA_LANGS

_NEWLINE = 10
_APOSTROPHES = (0x27, 0x2019)  # ' and ’ join two word runs into one token (don't, l’eau)


def code_points(text: str) -> np.ndarray:
    """The text as a numpy array of UTF-32 code points."""
    # surrogatepass: a str may hold lone surrogates (not from Arrow, but from a user rule)
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


@numba.njit(cache=True, nogil=True)
def _regex_tokens(cp: np.ndarray, flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spans of `words._WORDS` (``\\w+(?:['’]\\w+)*|[^\\w\\s]+``) matched left to right."""
    n = cp.shape[0]
    starts = np.empty(n, dtype=np.int64)
    ends = np.empty(n, dtype=np.int64)
    count = 0
    i = 0
    while i < n:
        if not flags[i] & NONSPACE:
            i += 1
            continue
        starts[count] = i
        if flags[i] & WORD:
            i += 1
            while True:
                while i < n and flags[i] & WORD:
                    i += 1
                joins = i + 1 < n and (cp[i] == _APOSTROPHES[0] or cp[i] == _APOSTROPHES[1])
                if not (joins and flags[i + 1] & WORD):
                    break
                i += 1
        else:
            while i < n and flags[i] & NONSPACE and not flags[i] & WORD:
                i += 1
        ends[count] = i
        count += 1
    return starts[:count], ends[:count]


def _token_spans(
    text: str, lang: str | None, cp: np.ndarray, flags: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends): character offsets of the tokens."""
    if lang in JIEBA_LANGS:
        whole = (np.zeros(1, dtype=np.int64), np.full(1, len(cp), dtype=np.int64))
        starts, ends, _ = jieba_spans(cp, flags, (NONSPACE, False), *whole, text)
        return starts, ends
    if lang in CHARACTER_LANGS:
        spans = np.array(
            [m.span() for m in CHARACTER_TOKEN.finditer(text)], dtype=np.int64
        ).reshape(-1, 2)
        return spans[:, 0].copy(), spans[:, 1].copy()
    return _regex_tokens(cp, flags)


@numba.njit(cache=True, nogil=True)
def _count_lines(cp: np.ndarray, flags: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(letters per line, upper-case letters per line, [alnum, han, special, garbled]
    characters); garbled: U+FFFD, private use U+E000-U+F8FF and C0 controls other than tab,
    line feed and carriage return."""
    lines = 1
    for c in cp:
        lines += c == _NEWLINE
    letters = np.zeros(lines, dtype=np.int64)
    upper = np.zeros(lines, dtype=np.int64)
    counts = np.zeros(4, dtype=np.int64)
    line = 0
    for i in range(cp.shape[0]):
        f = flags[i]
        line += cp[i] == _NEWLINE
        if f & ALPHA:
            letters[line] += 1
            upper[line] += (f & UPPER) != 0
        counts[0] += (f & ALNUM) != 0
        counts[1] += (f & HAN) != 0
        counts[2] += (f & (WORD | PUNCT | NONSPACE)) == NONSPACE  # symbols, emoji...
        c = cp[i]
        counts[3] += c == 0xFFFD or 0xE000 <= c <= 0xF8FF or (c < 0x20 and c not in (9, 10, 13))
    return letters, upper, counts


@numba.njit(cache=True, nogil=True)
def _measure_words(
    cp: np.ndarray, flags: np.ndarray, starts: np.ndarray, ends: np.ndarray, lines: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int]:
    """(word starts, word ends, word hashes, words per line, tokens, words with a letter).

    A token is a span with a non-space character; a word a token with a character outside
    PUNCTUATION. A word's hash is MurmurHash3's finalizer of the polynomial of its code
    points (equal words, equal hashes). No token holds a line break (whitespace pieces may)."""
    word_starts = np.empty(starts.shape[0], dtype=np.int64)
    word_ends = np.empty(starts.shape[0], dtype=np.int64)
    hashes = np.empty(starts.shape[0], dtype=np.uint64)
    line_words = np.zeros(lines, dtype=np.int64)
    tokens = words = alpha_words = 0
    line = position = 0
    for k in range(starts.shape[0]):
        start, end = starts[k], ends[k]
        while position < start:  # line breaks between the last token and this one
            line += cp[position] == _NEWLINE
            position += 1
        content = alpha = 0
        punct_only = 1
        h = np.uint64(0)
        for j in range(start, end):
            f = flags[j]
            content |= (f & NONSPACE) != 0
            alpha |= (f & ALPHA) != 0
            punct_only &= (f & PUNCT) != 0
            h = h * np.uint64(P_TOKEN) + np.uint64(cp[j])
        if not content:  # a whitespace piece: its line breaks are counted above
            continue
        tokens += 1
        position = end
        if punct_only:
            continue
        word_starts[words], word_ends[words] = start, end
        hashes[words] = fmix64(h)
        line_words[line] += 1
        alpha_words += alpha
        words += 1
    return (
        word_starts[:words],
        word_ends[:words],
        hashes[:words],
        line_words,
        tokens,
        alpha_words,
    )


class TextAnalysis:
    """The arrays of one text, from two compiled passes over its code points."""

    def __init__(
        self,
        text: str,
        lang: str | None,
        cp: np.ndarray | None = None,
        flags: np.ndarray | None = None,
    ) -> None:
        """`cp` and `flags`: the text's code points and their class bits, if the caller has
        them already."""
        self.text = text
        self.lang = lang
        if cp is None or flags is None:
            cp = code_points(text)
            flags = class_table()[cp]
        self.line_letters, self.line_upper_letters, counts = _count_lines(cp, flags)
        self.alnum_chars, self.han_chars, self.special_chars, self.garbled_chars = counts.tolist()
        starts, ends = _token_spans(text, lang, cp, flags)
        (
            self.word_starts,
            self.word_ends,
            self.word_hashes,
            self.line_words,
            self.n_tokens,
            self.alpha_words,
        ) = _measure_words(cp, flags, starts, ends, len(self.line_letters))

    @property
    def n_words(self) -> int:
        return len(self.word_starts)

    @property
    def word_lengths(self) -> np.ndarray:
        return self.word_ends - self.word_starts


_ENDS = np.array([ord(c) for c in LATIN_SENTENCE_ENDS + CJK_SENTENCE_ENDS + "…"], np.uint32)
_CJK_ENDS = np.array([ord(c) for c in CJK_SENTENCE_ENDS], np.uint32)
_CLOSERS = np.array([ord(c) for c in SENTENCE_CLOSERS], np.uint32)


def sentence_ends(cp: np.ndarray, flags: np.ndarray) -> int:
    """``len(punctuation.SENTENCE_END.findall(text))`` of the text of code points `cp` with
    class bits `flags`, in one compiled pass."""
    return int(_count_sentence_ends(cp, flags, _ENDS, _CJK_ENDS, _CLOSERS))


@numba.njit(cache=True, nogil=True)
def _count_sentence_ends(
    cp: np.ndarray, flags: np.ndarray, ends: np.ndarray, cjk_ends: np.ndarray, closers: np.ndarray
) -> int:
    """What the regex matches: a run of sentence ends and closing quotes followed by a space or
    the text's end; failing that, each run of CJK ends within the run (they end a sentence
    anywhere). Every one of these characters is punctuation (PUNCT): others are skipped fast."""
    n = cp.shape[0]
    count = i = 0
    while i < n:
        if not (flags[i] & PUNCT and cp[i] in ends):
            i += 1
            continue
        run_end = i
        while run_end < n and cp[run_end] in ends:
            run_end += 1
        after = run_end
        while after < n and cp[after] in closers:
            after += 1
        if after == n or not flags[after] & NONSPACE:
            count += 1
            i = after
            continue
        while i < run_end:  # no Latin end here: only the CJK runs inside count
            if cp[i] in cjk_ends:
                count += 1
                while i < run_end and cp[i] in cjk_ends:
                    i += 1
            else:
                i += 1
    return count
