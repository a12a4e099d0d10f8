"""Documents as bags of words in arrays, and the inference of their topic mixtures.

`Bows` holds a corpus in CSR form; `Inference` is what inferring a document's topics needs of
a trained `LdaModel` (no gensim import: the apply step reads the arrays of the model it
loaded) and runs the compiled E-step of `stages/topics/estep.py`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, NamedTuple

import numpy as np

from stages.topics.estep import e_step

GAMMA_SHAPE, GAMMA_SCALE = 100.0, 1.0 / 100.0  # gensim's initial draw of gamma


class Bow(NamedTuple):
    """One document's word ids (ascending) and counts (float32, as gensim infers them)."""

    ids: np.ndarray
    counts: np.ndarray


@dataclass(frozen=True)
class Bows:
    """Bags of words in CSR form: document d is ids/counts[offsets[d]:offsets[d + 1]]."""

    ids: np.ndarray  # int32
    counts: np.ndarray  # float32
    offsets: np.ndarray  # int64, one more than there are documents

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> Bow:
        if not 0 <= index < len(self):
            raise IndexError(index)
        words = slice(self.offsets[index], self.offsets[index + 1])
        return Bow(self.ids[words], self.counts[words])

    def __iter__(self) -> Iterator[Bow]:
        ids, counts = self.ids, self.counts  # gensim iterates the corpus every pass
        return (Bow(ids[lo:hi], counts[lo:hi]) for lo, hi in pairwise(self.offsets.tolist()))

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def take(self, docs: np.ndarray) -> Bows:
        return Bows.of([self[int(d)] for d in docs])

    @classmethod
    def of(cls, docs: Sequence[Bow | Sequence[tuple[int, float]]]) -> Bows:
        """From `Bow`s or gensim's bags of words (lists of (word id, count), ids ascending)."""
        bows = [doc if isinstance(doc, Bow) else _from_pairs(doc) for doc in docs]
        offsets = np.zeros(len(bows) + 1, np.int64)
        np.cumsum([len(b.ids) for b in bows], out=offsets[1:])
        if not bows:
            return cls(np.empty(0, np.int32), np.empty(0, np.float32), offsets)
        ids = np.concatenate([b.ids for b in bows]).astype(np.int32, copy=False)
        counts = np.concatenate([b.counts for b in bows]).astype(np.float32, copy=False)
        return cls(ids, counts, offsets)


def _from_pairs(pairs: Sequence[tuple[int, float]]) -> Bow:
    array = np.array(pairs, dtype=np.float64).reshape(-1, 2)
    return Bow(array[:, 0].astype(np.int32), array[:, 1].astype(np.float32))


def bag_of_words(ids: np.ndarray) -> Bow:
    """gensim's `doc2bow` of a document's token ids (-1: not in the dictionary): the
    dictionary words' ids, ascending, and their counts."""
    unique, counts = np.unique(ids[ids >= 0], return_counts=True)
    return Bow(unique.astype(np.int32), counts.astype(np.float32))


def seeded_gamma(seeds: Sequence[int], num_topics: int) -> np.ndarray:
    """Each document's initial gamma as gensim draws it from a model whose random state is
    `RandomState(seed)` (float64 draws, then float32)."""
    state = np.random.RandomState()
    gamma = np.empty((len(seeds), num_topics), np.float32)
    for d, seed in enumerate(seeds):
        state.seed(seed)  # the same state as RandomState(seed), without building one
        gamma[d] = state.gamma(GAMMA_SHAPE, GAMMA_SCALE, num_topics)
    return gamma


@dataclass(frozen=True)
class Inference:
    """What inferring topic mixtures needs of a trained gensim `LdaModel`."""

    word_topics: np.ndarray  # float32, expElogbeta transposed (words x topics)
    alpha: np.ndarray  # float32
    iterations: int
    threshold: float  # gensim's gamma_threshold

    @classmethod
    def of(cls, model: Any) -> Inference:
        word_topics = np.ascontiguousarray(model.expElogbeta.T)
        return cls(word_topics, model.alpha, model.iterations, model.gamma_threshold)

    def mixtures(self, bows: Bows, seeds: Sequence[int]) -> np.ndarray:
        """Each document's topic mixture theta = gamma / sum(gamma) (float32), inferred as
        gensim's `inference([bow])` infers it with the model's random state reset to
        `RandomState(seed)`: theta depends on the document and its seed only, never on
        batches, shards or what was inferred before. Zeros for a document without words."""
        theta = np.zeros((len(bows), len(self.alpha)), np.float32)
        docs = np.flatnonzero(bows.lengths)
        if not len(docs):
            return theta
        words = bows if len(docs) == len(bows) else bows.take(docs)
        gamma = seeded_gamma([seeds[d] for d in docs], len(self.alpha))
        e_step(
            words.ids,
            words.counts,
            words.offsets,
            gamma,
            self.word_topics,
            self.alpha,
            self.iterations,
            self.threshold,
        )
        theta[docs] = gamma / gamma.sum(axis=1, keepdims=True)
        return theta
