"""The sampled documents: what the `sample` step keeps of each and the `train` step reads.

Each document's topic tokens are kept as ids into its shard's list of words (int32 arrays,
not lists of strings: the sample's memory is its token count times 4 bytes plus its distinct
words), with its density features, quality score, language, id and row in the shard. The
train step merges the shards' vocabularies and puts the documents in the training order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from core.exchange import Exchange
from core.seeded import unit_hash
from stages.topics.features import (
    ChineseTokens,
    ad_words,
    candidate_tokens,
    compression,
    keeps,
    stop_words,
    token_features,
)
from stages.topics.wordtable import WordTable

STEP = "sample"
ARRAYS = ("tokens", "offsets", "rows", "features", "shards")
# Columns of `Sample.features`, each document's density features and quality score (NaN:
# none); docs/topics.md.
FEATURES = ("compression", "richness", "ad_share", "quality")


@dataclass
class Sample:
    """Sampled documents, one entry per document in each list and array."""

    ids: list[str]
    langs: list[str]
    words: list[str]  # the vocabulary `tokens` index
    tokens: np.ndarray  # int32; document d's are tokens[offsets[d]:offsets[d + 1]]
    offsets: np.ndarray  # int64
    rows: np.ndarray  # int64, each document's row in its shard
    features: np.ndarray  # float64, documents x FEATURES
    shards: np.ndarray  # int64, each document's shard

    def save(self, exchange: Exchange, shard: int) -> None:
        exchange.save_json(STEP, f"{shard:05d}", [self.ids, self.langs, self.words])
        for name in ARRAYS:
            exchange.save(STEP, f"{shard:05d}-{name}", getattr(self, name))

    @classmethod
    def load(cls, exchange: Exchange, shard: int) -> Sample:
        ids, langs, words = exchange.load_json(STEP, f"{shard:05d}")
        arrays = {name: exchange.load(STEP, f"{shard:05d}-{name}") for name in ARRAYS}
        return cls(ids, langs, words, **arrays)

    @classmethod
    def merged(cls, parts: Sequence[Sample], seed: int) -> Sample:
        """The shards' samples as one, on one vocabulary, in a fixed order that depends on
        the documents, not on how they are sharded."""
        index: dict[str, int] = {}
        remaps = [
            np.array([index.setdefault(w, len(index)) for w in part.words], np.int32)
            for part in parts
        ]
        ids = [doc_id for part in parts for doc_id in part.ids]
        langs = [lang for part in parts for lang in part.langs]
        order = sorted(range(len(ids)), key=lambda i: (unit_hash(seed, "order", ids[i]), ids[i]))
        taken = np.array(order, np.int64)
        # every part's tokens on the merged vocabulary, one part after the other
        remapped = [remap[part.tokens] for remap, part in zip(remaps, parts, strict=True)]
        all_tokens = np.concatenate(remapped) if remapped else np.empty(0, np.int32)
        del remapped  # the sample's tokens are held twice at most
        shifts = np.cumsum([0] + [len(part.tokens) for part in parts])
        starts = [part.offsets[:-1] + shift for part, shift in zip(parts, shifts[:-1], strict=True)]
        lengths = _stacked([np.diff(part.offsets) for part in parts], taken, np.int64)
        offsets = np.zeros(len(order) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return cls(
            [ids[i] for i in order],
            [langs[i] for i in order],
            list(index),
            _segments(all_tokens, _stacked(starts, taken, np.int64), offsets),
            offsets,
            _stacked([part.rows for part in parts], taken, np.int64),
            _stacked([part.features for part in parts], taken, np.float64).reshape(-1, 4),
            _stacked([part.shards for part in parts], taken, np.int64),
        )


def _stacked(arrays: Sequence[np.ndarray], taken: np.ndarray, dtype: type) -> np.ndarray:
    """Rows `taken` of the arrays' rows one after the other, as `dtype`."""
    if not arrays:
        return np.empty(0, dtype)
    return np.concatenate(arrays).astype(dtype, copy=False)[taken]


@njit(cache=True, nogil=True)
def _segments(tokens: np.ndarray, starts: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """tokens[starts[d]:starts[d] + length of d] for each document d, one after the other
    (document d's length is offsets[d + 1] - offsets[d])."""
    out = np.empty(offsets[-1], np.int32)
    for d in range(starts.shape[0]):
        start = starts[d]
        for i in range(offsets[d + 1] - offsets[d]):
            out[offsets[d] + i] = tokens[start + i]
    return out


@dataclass
class SampleBuilder:
    """A shard's sampled documents, added one by one."""

    shard: int
    chinese: ChineseTokens
    table: WordTable = field(default_factory=WordTable)
    ids: list[str] = field(default_factory=list)
    langs: list[str] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    tokens: list[np.ndarray] = field(default_factory=list)  # candidate tokens' ids
    scores: list[tuple[float, float]] = field(default_factory=list)  # compression, quality

    def add(self, doc_id: str, row: int, text: str, lang: str, quality: float | None) -> None:
        tokens = candidate_tokens(text, self.chinese)
        self.tokens.append(self.table.ids(tokens.codepoints, tokens.spans))
        self.ids.append(doc_id)
        self.langs.append(lang)
        self.rows.append(row)
        self.scores.append((compression(text), np.nan if quality is None else quality))

    def build(self) -> Sample:
        tokens, offsets, words = self._topic_tokens()
        ads = ad_words()
        is_ad = np.array([w in ads for w in words], np.bool_)
        richness, ad_share = token_features(tokens, offsets, is_ad)
        scores = np.array(self.scores, np.float64).reshape(-1, 2)
        features = np.column_stack([scores[:, 0], richness, ad_share, scores[:, 1]])
        shards = np.full(len(self.ids), self.shard, np.int64)
        rows = np.array(self.rows, np.int64)
        return Sample(self.ids, self.langs, words, tokens, offsets, rows, features, shards)

    def _topic_tokens(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """The documents' topic tokens (the candidates `topic_tokens` keeps), as ids into
        the list of their words."""
        candidates = self.table.words()
        stop = stop_words()
        kept = np.array([keeps(w, stop) for w in candidates], np.bool_)
        renumbered = (np.cumsum(kept) - 1).astype(np.int32)
        candidate_offsets = np.zeros(len(self.tokens) + 1, np.int64)
        np.cumsum([len(doc) for doc in self.tokens], out=candidate_offsets[1:])
        ids = np.concatenate(self.tokens) if self.tokens else np.empty(0, np.int32)
        positions = np.flatnonzero(kept[ids])
        tokens = renumbered[ids[positions]]
        offsets = np.searchsorted(positions, candidate_offsets)  # kept tokens before each
        words = [w for w, k in zip(candidates, kept.tolist(), strict=True) if k]
        return tokens, offsets, words
