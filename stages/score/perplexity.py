"""Per-language n-gram language model for cc_net-style perplexity scores and buckets.

cc_net scores each paragraph with a KenLM 5-gram over SentencePiece units trained on Wikipedia,
reports 10 ** (-sum log10 p / units) per document, and splits each language's crawl into
head/middle/tail at the 33rd/66th perplexity percentiles. KenLM's trainer (lmplz) is not
installable here, so this module is a compact re-implementation of what lmplz builds, in numpy,
over the project's word units rather than SentencePiece pieces:

- Model: interpolated modified Kneser-Ney (Chen & Goodman; three discounts per order from
  counts of counts, lower orders on continuation counts, n-grams starting with <s> on raw
  counts, unigrams interpolated with the uniform distribution), order 3 by default, up to 5.
  Stored in backoff (ARPA) form: per seen n-gram its interpolated log10 p, per context its
  log10 backoff; a test checks every probability against a direct implementation of the
  formulas and that each conditional distribution sums to 1.
- Units: the filter's `tokenize` words (regex for English, rjieba for Chinese) after cc_net's
  cheap normalization (lower case, digits to 0), each non-blank line between <s> and </s>.
  Units seen fewer than `min_count` (2) times in training become <unk>; when scoring, an
  unknown unit gets p(<unk> | context) / (number of types folded into <unk>), the share of one
  rare type. Without that share a small training set rates text full of unknown words as fluent.
- Storage: one .npz (zip of .npy arrays, loaded with allow_pickle=False, fixed timestamps:
  the same training input gives a byte-identical file): JSON metadata (lang, order, units,
  training description, documents, lines, tokens, vocabulary, discounts, bucket cut-offs), the
  vocabulary, dense unigram arrays, and per higher order sorted 64-bit n-gram hashes with
  float32 log10 p and backoff. Hash collisions are checked at training (a collision raises);
  at lookup a false hit has probability ~ table size / 2**64.
- Scoring (`batch_perplexities`, on a `batch.TextBatch` the other scorers share): the texts are
  normalized and tokenized as arrays of code points, each token's id found by the hash of its
  code points, and every position's n-grams looked up in compiled loops (`lm_kernels`), with
  the same float operations in the same order as the backoff evaluation they implement, so a
  text's score is the same to the last bit alone or in any batch. No Python work per token.

Choices backed by measurements on the real samples (figures, with speed and model sizes:
docs/benchmarks.md, "Perplexity model"): word units rather than characters (they rank held-out
Wikipedia below web text as well in English, better in Chinese, and score faster); the <unk>
share; order 3 (orders 2-4 and min_count 1-3 rank alike at this training size). Perplexities
are per word, so their scale is not cc_net's (per SentencePiece piece). Training counts
n-grams in Python dicts, so one process's memory bounds the training set (a few tens of
millions of tokens).
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise
from pathlib import Path
from typing import Any

import numba
import numpy as np

from core.integrity import CorruptModel, check_sealed, local_model, once_per_version
from core.shards import temporary_path
from stages.score.batch import REGEX, TextBatch, string_hashes, token_kind
from stages.score.chartable import LOWER_ALNUM, LOWER_DECIMAL, NO_LOWER, WORD, codepoints
from stages.score.keyindex import KeyIndex
from stages.score.lm_kernels import (
    BOS,
    EOS,
    UNK,
    ScoringTables,
    gram_keys,
    log10_sums,
    position_log10,
    unit_ids,
)
from stages.text import char_batches, tokenize

SPECIALS = ("<unk>", "<s>", "</s>")
MAX_ORDER = 5
UNITS = ("words", "chars")
FORMAT = "datapipe-ngram-kn/1"

_ZERO = ord("0")
_PIECE_CHARS = 1 << 20  # characters scored at once by `perplexities`
_DIGIT = re.compile(r"\d")  # cc_net's digit rule; 4x faster than str.translate here
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps: identical models, identical bytes
_NO_PROB = -99.0  # log10 p stored for <s>, which is never predicted (as in ARPA files)


# --- n-gram keys (`lm_kernels.gram_keys`, shared with scoring) in sorted arrays ----------------


def _find(keys: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index, found) of each query in a sorted key array."""
    if not len(keys):  # an order without n-grams (training lines all shorter than it)
        return np.zeros(len(queries), dtype=np.int64), np.zeros(len(queries), dtype=bool)
    idx = np.minimum(np.searchsorted(keys, queries), len(keys) - 1)
    return idx, keys[idx] == queries


# --- text to units ----------------------------------------------------------------------------


def normalize(text: str) -> str:
    """cc_net's normalization, the cheap part: lower case, every digit as 0."""
    return _DIGIT.sub("0", text.lower())


def text_units(text: str, lang: str, units: str) -> list[list[str]]:
    """Units of each non-blank line of a normalized text; lines are scored like cc_net's
    paragraphs, each between <s> and </s>."""
    lines = (line for line in text.split("\n") if line and not line.isspace())
    if units == "chars":
        return [list(" ".join(line.split())) for line in lines]
    return [tokens for line in lines if (tokens := tokenize(line, lang))]


def normalized(batch: TextBatch, docs: np.ndarray) -> TextBatch:
    """The texts `docs` of `batch` after `normalize`, as a batch sharing jieba's pieces with it
    (a run of Chinese text that normalization leaves alone is not cut twice). Code point by
    code point through the tables, except for a text holding a character whose lower case is
    not one code point of its own (İ, Σ): Python's `normalize` writes that one."""
    flag_of, lower_of = batch.tables
    cp, bounds, redo = _normalize(batch.cp, batch.bounds, docs, flag_of, lower_of)
    if redo.any():  # rare
        pieces = [cp[bounds[j] : bounds[j + 1]] for j in range(len(docs))]
        for j in np.flatnonzero(redo).tolist():
            pieces[j] = codepoints([normalize(batch.text(int(docs[j])))])[0]
        cp = np.concatenate(pieces)
        np.cumsum([len(piece) for piece in pieces], out=bounds[1:])
    return TextBatch(cp, bounds, cuts=batch.cuts)


@numba.njit(cache=True, nogil=True)
def _normalize(
    cp: np.ndarray, bounds: np.ndarray, docs: np.ndarray, flag_of: np.ndarray, lower_of: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(code points of texts `docs` lower-cased with digits as 0, their bounds, which texts
    hold a character without a one-code-point lower case: those are left to Python)."""
    size = 0
    for d in docs:
        size += bounds[d + 1] - bounds[d]
    out = np.empty(size, dtype=np.uint32)
    out_bounds = np.zeros(len(docs) + 1, dtype=np.int64)
    redo = np.zeros(len(docs), dtype=np.bool_)
    j = 0
    for k in range(len(docs)):
        for i in range(bounds[docs[k]], bounds[docs[k] + 1]):
            low = lower_of[cp[i]]
            redo[k] |= low == NO_LOWER
            out[j] = _ZERO if flag_of[cp[i]] & LOWER_DECIMAL else low
            j += 1
        out_bounds[k + 1] = j
    return out, out_bounds, redo


@numba.njit(cache=True, nogil=True)
def _moved_spans(
    cp: np.ndarray,
    flag_of: np.ndarray,
    lower_of: np.ndarray,
    bounds: np.ndarray,
    docs: np.ndarray,
    new_bounds: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    offsets: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """(starts, ends, tokens of each text) of texts `docs`' tokens moved from `bounds[d]` to
    `new_bounds[k]` (their normalized texts), and whether `_normalize` keeps every
    character's \\w, \\s and apostrophe (all the regex tokenizer reads) in those texts."""
    size = 0
    for d in docs:
        size += offsets[d + 1] - offsets[d]
    out_starts = np.empty(size, dtype=np.int64)
    out_ends = np.empty(size, dtype=np.int64)
    counts = np.zeros(len(docs), dtype=np.int64)
    j = 0
    for k in range(len(docs)):
        d = docs[k]
        for i in range(bounds[d], bounds[d + 1]):
            if not _class_kept(cp[i], flag_of[cp[i]], lower_of[cp[i]]):
                return out_starts, out_ends, counts, False
        shift = new_bounds[k] - bounds[d]
        for t in range(offsets[d], offsets[d + 1]):
            out_starts[j] = starts[t] + shift
            out_ends[j] = ends[t] + shift
            j += 1
        counts[k] = offsets[d + 1] - offsets[d]
    return out_starts, out_ends, counts, True


@numba.njit(cache=True, nogil=True, inline="always")  # called per character
def _class_kept(code: int, flags: int, low: int) -> bool:
    """Whether the character `_normalize` writes for `code` (a 0 for a digit, else its lower
    case) is surely \\w, \\s and an apostrophe exactly when `code` is: it is `code` itself,
    or both are \\w (a letter or digit is neither \\s nor an apostrophe)."""
    if low == NO_LOWER:
        return False
    if low == code and not flags & LOWER_DECIMAL:
        return True
    return (flags & (LOWER_DECIMAL | LOWER_ALNUM)) != 0 and (flags & WORD) != 0


# --- training ---------------------------------------------------------------------------------


class _Counts:
    """Raw n-gram counts of orders 1..order over provisional ids (ids in order of first sight);
    the texts themselves are not kept."""

    def __init__(self, lang: str, order: int, units: str) -> None:
        self.lang, self.order, self.units = lang, order, units
        self.vocab: dict[str, int] = {}
        self.grams: list[Counter[Any]] = [Counter() for _ in range(order)]
        self.documents = self.lines = 0

    def add(self, text: str) -> None:
        self.documents += 1
        vocab = self.vocab
        for tokens in text_units(normalize(text), self.lang, self.units):
            ids = [BOS, *[vocab.setdefault(t, len(vocab) + 3) for t in tokens], EOS]
            self.lines += 1
            self.grams[0].update(ids)
            for n in range(2, self.order + 1):
                self.grams[n - 1].update(zip(*(ids[k:] for k in range(n)), strict=False))


def _final_vocab(counts: _Counts, min_count: int) -> tuple[list[str], np.ndarray]:
    """Vocabulary (specials, then units by falling count, ties by text) and the map from
    provisional ids to final ids; units seen fewer than min_count times become <unk>."""
    unigrams = counts.grams[0]
    kept = sorted(
        (t for t, i in counts.vocab.items() if unigrams[i] >= min_count),
        key=lambda t: (-unigrams[counts.vocab[t]], t),
    )
    remap = np.full(len(counts.vocab) + 3, UNK, dtype=np.int64)
    remap[[UNK, BOS, EOS]] = [UNK, BOS, EOS]
    for new_id, token in enumerate(kept, 3):
        remap[counts.vocab[token]] = new_id
    return [*SPECIALS, *kept], remap


@dataclass
class _Level:
    """One order's n-grams sorted by key: keys, unit id rows (m, n) and raw counts."""

    keys: np.ndarray
    grams: np.ndarray
    raw: np.ndarray


def _merged(counter: Counter[Any], remap: np.ndarray, n: int) -> _Level:
    """One order's counts after mapping rare units to <unk> (which merges n-grams)."""
    rows = remap[np.array(list(counter), dtype=np.int64).reshape(-1, n)]
    raw = np.fromiter(counter.values(), dtype=np.int64, count=len(counter))
    keys, first, inverse = np.unique(gram_keys(rows), return_index=True, return_inverse=True)
    if not np.array_equal(rows, rows[first][inverse]):
        raise RuntimeError(f"64-bit key collision among {n}-grams; report this corpus")
    return _Level(keys, rows[first], np.bincount(inverse, weights=raw).astype(np.int64))


def _levels(counts: _Counts, remap: np.ndarray, vocab_size: int) -> list[_Level]:
    """Orders 1..order; unigrams are dense (key = id) so scoring indexes them directly."""
    unigrams = counts.grams[0]
    raw = np.bincount(
        remap[np.fromiter(unigrams, np.int64)],
        weights=np.fromiter(unigrams.values(), np.int64),
        minlength=vocab_size,
    ).astype(np.int64)
    ids = np.arange(vocab_size)
    first = _Level(ids.astype(np.uint64), ids[:, None], raw)
    return [first] + [_merged(counts.grams[n - 1], remap, n) for n in range(2, counts.order + 1)]


def _adjusted(level: _Level, longer: _Level) -> np.ndarray:
    """Kneser-Ney counts of a lower order: how many distinct units precede each n-gram, except
    for n-grams starting with <s>, which nothing can precede (they keep their raw count)."""
    suffix = _find(level.keys, gram_keys(longer.grams[:, 1:]))[0]
    extensions = np.bincount(suffix, minlength=len(level.keys))
    return np.where(level.grams[:, 0] == BOS, level.raw, extensions)


def _discounts(adjusted: np.ndarray) -> np.ndarray:
    """Modified Kneser-Ney discounts [0, D1, D2, D3+] from counts of counts (Chen & Goodman).
    Tiny corpora can lack some count of counts; then one absolute discount serves all."""
    t1, t2, t3, t4 = (int(np.count_nonzero(adjusted == k)) for k in (1, 2, 3, 4))
    y = t1 / (t1 + 2 * t2) if t1 + 2 * t2 else 0.5
    if min(t1, t2, t3, t4) > 0:
        d = np.array([0.0, 1 - 2 * y * t2 / t1, 2 - 3 * y * t3 / t2, 3 - 4 * y * t4 / t3])
        if all(0 < d[k] <= k for k in (1, 2, 3)):
            return d
    y = min(max(y, 0.05), 0.95)
    return np.array([0.0, y, y, y])


def _unigram_probs(adjusted: np.ndarray, discount: np.ndarray) -> np.ndarray:
    """Discounted unigrams interpolated with the uniform distribution, which is what gives an
    unseen <unk> its share; <s> is never predicted and is left out."""
    a = adjusted.astype(np.float64)
    a[BOS] = 0
    d = discount[np.minimum(adjusted, 3)]
    d[BOS] = 0
    total = a.sum()
    probs = (a - d) / total + d.sum() / total / (len(a) - 1)
    probs[BOS] = 0
    return probs


def _interpolate(
    grams: np.ndarray,
    adjusted: np.ndarray,
    discount: np.ndarray,
    lower_keys: np.ndarray,
    lower_probs: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Interpolated probabilities of one order's n-grams, and the backoff weight (the mass
    left for the lower order) of every (n-1)-gram as a context."""
    context = _find(lower_keys, gram_keys(grams[:, :-1]))[0]
    suffix = _find(lower_keys, gram_keys(grams[:, 1:]))[0]
    d = discount[np.minimum(adjusted, 3)]
    totals = np.bincount(context, weights=adjusted, minlength=len(lower_keys))
    left = np.bincount(context, weights=d, minlength=len(lower_keys))
    gamma = np.divide(left, totals, out=np.ones(len(left)), where=totals > 0)
    probs = (adjusted - d) / totals[context] + gamma[context] * lower_probs[suffix]
    return probs, gamma


def _kneser_ney(levels: list[_Level]) -> tuple[list[np.ndarray], ...]:
    """(probabilities of each order's n-grams, backoff weights of orders 1..order-1 as
    contexts, discounts of each order)."""
    pairs = list(pairwise(levels))
    adjusted = [_adjusted(low, high) for low, high in pairs] + [levels[-1].raw]
    discounts = [_discounts(np.delete(adjusted[0], BOS))] + [_discounts(a) for a in adjusted[1:]]
    probs = [_unigram_probs(adjusted[0], discounts[0])]
    backoffs = []
    for (low, high), a, d in zip(pairs, adjusted[1:], discounts[1:], strict=True):
        p, gamma = _interpolate(high.grams, a, d, low.keys, probs[-1])
        probs.append(p)
        backoffs.append(gamma)
    return probs, backoffs, discounts


def _log10(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.maximum(np.log10(values), _NO_PROB).astype(np.float32)


# --- the model --------------------------------------------------------------------------------


class NgramLM:
    """Interpolated modified Kneser-Ney n-gram model, stored in backoff (ARPA) form: for each
    seen n-gram its interpolated log10 probability and, as a context, its log10 backoff."""

    def __init__(
        self,
        meta: dict[str, Any],
        vocab: list[str],
        logprobs: list[np.ndarray],
        backoffs: list[np.ndarray],
        keys: list[np.ndarray],
    ) -> None:
        self.meta = meta
        self.order: int = meta["order"]
        self.lang: str = meta["lang"]
        self.units: str = meta["units"]
        self.vocab = vocab
        self._ids = {token: i for i, token in enumerate(vocab) if i >= len(SPECIALS)}
        # The arrays once, as the scoring loops read them; the per-order lists are views:
        # log10 p [order 1 (dense by id), order 2, ...], backoffs (orders 1..order-1) and
        # sorted uint64 keys of orders 2..order ([] for order 1).
        self._tables = ScoringTables.of(logprobs, backoffs, keys)
        self._logprobs, self._backoffs, self._keys = self._tables.per_order()
        # An out-of-vocabulary unit is one of the rare types folded into <unk> at training, not
        # the whole class: without this share, text full of unknown words scores as fluent.
        self._unk_penalty = float(np.log10(max(meta["unk_types"], 1)))
        cut = meta.get("cutoffs")
        self.cutoffs: tuple[float, float] | None = (
            (cut["head_max"], cut["middle_max"]) if cut else None
        )

    # -- training --

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        lang: str,
        order: int = 3,
        min_count: int = 2,
        *,
        units: str = "words",
        description: str = "",
    ) -> NgramLM:
        """Count n-grams over `texts` in one pass (only the counts are kept), then estimate."""
        if not 1 <= order <= MAX_ORDER:
            raise ValueError(f"order must be 1..{MAX_ORDER}, got {order}")
        if units not in UNITS:
            raise ValueError(f"units must be one of {UNITS}, got {units!r}")
        counts = _Counts(lang, order, units)
        for text in texts:
            counts.add(text)
        if not counts.lines:
            raise ValueError("no training text: every document was empty")
        return cls._estimate(counts, min_count, description)

    @classmethod
    def _estimate(cls, counts: _Counts, min_count: int, description: str) -> NgramLM:
        vocab, remap = _final_vocab(counts, min_count)
        levels = _levels(counts, remap, len(vocab))
        probs, backoffs, discounts = _kneser_ney(levels)
        unigram_raw = levels[0].raw
        meta = {
            "format": FORMAT,
            "lang": counts.lang,
            "order": counts.order,
            "units": counts.units,
            "min_count": min_count,
            "description": description,
            "documents": counts.documents,
            "lines": counts.lines,
            "tokens": int(unigram_raw.sum() - unigram_raw[BOS]),  # units and </s>, as scored
            "vocab_size": len(vocab),
            "unk_types": int(np.count_nonzero(remap[len(SPECIALS) :] == UNK)),
            "ngrams": [len(level.keys) for level in levels],
            "discounts": [[round(float(x), 6) for x in d[1:]] for d in discounts],
            "cutoffs": None,
        }
        logprobs = [_log10(p) for p in probs]
        return cls(
            meta, vocab, logprobs, [_log10(g) for g in backoffs], [lv.keys for lv in levels[1:]]
        )

    # -- scoring --

    @cached_property
    def _vocab_index(self) -> tuple[tuple[np.ndarray, np.ndarray, np.uint64], np.ndarray]:
        """((keys, starts, shift) of the hashes of the units' code points, the unit id of each
        key): how the scoring loop finds a token's id."""
        units = self.vocab[len(SPECIALS) :]
        hashes = string_hashes(units)
        order = np.argsort(hashes)
        index = KeyIndex.of(hashes[order])
        if len(units) and np.any(index.keys[1:] == index.keys[:-1]):
            raise RuntimeError("64-bit hash collision in the vocabulary; report this model")
        return (index.keys, index.starts, index.shift), order + len(SPECIALS)

    def _encode_chars(self, texts: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """Unit ids of all texts, each line as <s> ... </s>, and the number of ids per text
        (character units)."""
        get = self._ids.get
        ids: list[int] = []
        lengths: list[int] = []
        for text in texts:
            start = len(ids)
            for tokens in text_units(normalize(text), self.lang, self.units):
                ids.append(BOS)
                ids.extend(get(token, UNK) for token in tokens)
                ids.append(EOS)
            lengths.append(len(ids) - start)
        return np.array(ids, dtype=np.int64), np.array(lengths, dtype=np.int64)

    def _encode_words(
        self, batch: TextBatch, docs: np.ndarray, kinds: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The same for word units, from the tokens of the normalized texts `docs`."""
        texts = normalized(batch, docs)
        tokens = self._regex_tokens_kept(batch, docs, kinds, texts)
        if tokens is None:
            spans = texts.tokens(np.full(len(texts), token_kind(self.lang)))
            tokens = (spans.starts, spans.ends, spans.offsets)
        vocab, vocab_ids = self._vocab_index
        return unit_ids(texts.cp, texts.bounds, *tokens, vocab, vocab_ids)

    def _regex_tokens_kept(
        self, batch: TextBatch, docs: np.ndarray, kinds: np.ndarray, texts: TextBatch
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The regex tokens of the normalized `texts`, as the batch's own tokens (`kinds`, which
        the other scorers read too) moved to their places, when normalization changes no
        character's class (\\w, \\s, apostrophe): the regex then splits both alike. None for
        a language not split by the regex, or a text whose class changes."""
        if token_kind(self.lang) != REGEX or np.any(kinds[docs] != REGEX):
            return None
        spans = batch.tokens(kinds)
        flag_of, lower_of = batch.tables
        text = (batch.cp, flag_of, lower_of, batch.bounds, docs, texts.bounds)
        starts, ends, counts, kept = _moved_spans(*text, spans.starts, spans.ends, spans.offsets)
        if not kept:
            return None
        offsets = np.zeros(len(docs) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return starts, ends, offsets

    def perplexities(self, texts: Iterable[str]) -> np.ndarray:
        """Per-unit perplexity of each document, 10 ** (-sum log10 p / units), where units
        include each line's </s> (as cc_net counts them); inf for a text without units."""
        texts = list(texts)
        pieces = char_batches(texts, _PIECE_CHARS)  # bounds the arrays' memory
        return np.concatenate(
            [self.batch_perplexities(TextBatch.of(texts[lo:hi])) for lo, hi in pieces]
        )

    def batch_perplexities(
        self, batch: TextBatch, docs: np.ndarray | None = None, kinds: np.ndarray | None = None
    ) -> np.ndarray:
        """`perplexities` of the batch's texts `docs` (all by default). Each text's terms are
        added in order: a text gets the same score alone or in any batch. `kinds`: how the
        caller tokenizes each text of the batch (`batch.tokens`), to share those tokens."""
        docs = np.arange(len(batch)) if docs is None else docs
        if kinds is None:
            kinds = np.full(len(batch), token_kind(self.lang))
        if self.units == "chars":
            ids, lengths = self._encode_chars(batch.text(i) for i in docs.tolist())
        else:
            ids, lengths = self._encode_words(batch, docs, kinds)
        total, n = log10_sums(ids, lengths, self._tables.astuple(), self._unk_penalty)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(n > 0, 10.0 ** (-total / np.maximum(n, 1)), np.inf)

    def perplexity(self, text: str) -> float:
        return float(self.perplexities([text])[0])

    def log10_prob(self, unit: str, context: Sequence[str] = ()) -> float:
        """log10 p(unit | context) for units as stored (already normalized); "<s>", "</s>" and
        "<unk>" name the special units ("<unk>" is the whole class of unknown units, any other
        unknown unit one of them). A context not starting with <s> is mid-line."""
        special = {name: i for i, name in enumerate(SPECIALS)}
        ids = np.array([special.get(u, self._ids.get(u, UNK)) for u in [*context, unit]])
        start = 0 if len(ids) and ids[0] == BOS else self.order
        pos = np.arange(len(ids)) + start
        logp = float(position_log10(ids, pos, self._tables.astuple())[-1])
        return logp - self._unk_penalty if ids[-1] == UNK and unit != "<unk>" else logp

    # -- buckets --

    def set_cutoffs(
        self,
        reference_texts: Iterable[str],
        head: float = 1 / 3,
        middle: float = 2 / 3,
        *,
        description: str = "",
    ) -> tuple[float, float]:
        """Bucket cut-offs as perplexity percentiles of a reference sample (cc_net: the 33rd
        and 66th percentiles of the crawl's own documents in that language)."""
        pp = self.perplexities(reference_texts)
        pp = pp[np.isfinite(pp)]
        if not len(pp):
            raise ValueError("the reference sample has no scorable text")
        head_max, middle_max = (float(x) for x in np.quantile(pp, [head, middle]))
        self.cutoffs = (head_max, middle_max)
        self.meta["cutoffs"] = {
            "head_max": head_max,
            "middle_max": middle_max,
            "head": head,
            "middle": middle,
            "documents": len(pp),
            "description": description,
        }
        return self.cutoffs

    def bucket(self, perplexity: float) -> str:
        """The cc_net bucket of a perplexity: head, middle or tail (strict `<` at each cut)."""
        if self.cutoffs is None:
            raise ValueError("no bucket cut-offs: call set_cutoffs() or load a model that has them")
        head_max, middle_max = self.cutoffs
        if perplexity < head_max:
            return "head"
        return "middle" if perplexity < middle_max else "tail"

    # -- storage --

    def _arrays(self) -> dict[str, np.ndarray]:
        vocab = "\n".join(self.vocab)
        if vocab.count("\n") != len(self.vocab) - 1:
            raise ValueError("a vocabulary unit contains a newline")
        arrays = {
            "meta": np.frombuffer(json.dumps(self.meta, sort_keys=True).encode(), np.uint8),
            "vocab": np.frombuffer(vocab.encode(), np.uint8),
        }
        for n in range(1, self.order + 1):
            arrays[f"logprob{n}"] = self._logprobs[n - 1]
            if n < self.order:
                arrays[f"backoff{n}"] = self._backoffs[n - 1]
            if n > 1:
                arrays[f"keys{n}"] = self._keys[n - 2]
        return arrays

    def save(self, path: str | Path) -> None:
        """One .npz file (a zip of .npy arrays, no pickles) with fixed timestamps, written to a
        temporary name and renamed, so readers never see half a model."""
        path = Path(path)
        tmp = temporary_path(path)
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, array in self._arrays().items():
                info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                with archive.open(info, "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> NgramLM:
        with np.load(path, allow_pickle=False) as arrays:
            meta = json.loads(arrays["meta"].tobytes())
            if meta.get("format") != FORMAT:
                raise ValueError(f"{path}: not a {FORMAT} model (format {meta.get('format')!r})")
            order = meta["order"]
            return cls(
                meta,
                arrays["vocab"].tobytes().decode().split("\n"),
                [arrays[f"logprob{n}"] for n in range(1, order + 1)],
                [arrays[f"backoff{n}"] for n in range(1, order)],
                [arrays[f"keys{n}"] for n in range(2, order + 1)],
            )


@once_per_version
def _load_resolved(resolved: str) -> NgramLM:
    check_sealed(resolved)
    try:
        return NgramLM.load(resolved)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:  # not one of our models
        raise CorruptModel(f"cannot load model {resolved}: {err}; retrain it") from None


def load_model(path: str | Path) -> NgramLM:
    """The model at `path`, loaded once per process and version of the file (workers score
    many batches with it). The instance is shared: do not change its cut-offs in place."""
    return _load_resolved(str(Path(local_model(path)).resolve()))
