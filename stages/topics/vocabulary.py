"""The sample's gensim `Dictionary` and bags of words, computed on arrays of token ids.

`Dictionary(documents)` followed by `filter_extremes` and `doc2bow` costs a Python loop per
token; here the same dictionary is computed from the documents' token ids (into a list of
words) and handed to gensim as a `Dictionary`:

* gensim gives each new word of a document the next id, a document's new words in sorted
  order: ids follow (first document, word);
* `filter_extremes` keeps the words in `no_below`..`int(no_above * documents)` documents,
  the `keep_n` most frequent of them (a stable sort by document frequency of the ids in
  order), and renumbers the kept ids in order (`compactify`).

gensim also prunes the dictionary to `prune_at` words every 10,000 documents while it is
built; that cannot happen unless the sample has more distinct words than that, and then the
dictionary is built by gensim itself.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from gensim.corpora import Dictionary
from numba import njit

from stages.topics.bows import Bows

PRUNE_AT = 2_000_000  # gensim's Dictionary(documents) default


@dataclass(frozen=True)
class Pruning:
    no_below: int
    no_above: float
    keep_n: int


@dataclass(frozen=True)
class Occurrences:
    """Each document's distinct words (CSR, in order of first occurrence) with their counts,
    and each word's first document (-1: none)."""

    words: np.ndarray  # int32
    counts: np.ndarray  # int32
    offsets: np.ndarray  # int64
    first_doc: np.ndarray  # int64, per word of the vocabulary

    @classmethod
    def of(cls, tokens: np.ndarray, offsets: np.ndarray, vocabulary: int) -> Occurrences:
        return cls(*_occurrences(tokens, offsets, vocabulary))


@njit(cache=True)
def _occurrences(
    tokens: np.ndarray, offsets: np.ndarray, vocabulary: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    docs = offsets.shape[0] - 1
    slot = np.full(vocabulary, -1, np.int64)  # where a word was last put in `words`
    distinct = np.zeros(docs + 1, np.int64)
    for d in range(docs):  # first pass: each document's distinct words
        for t in tokens[offsets[d] : offsets[d + 1]]:
            if slot[t] != d:
                slot[t] = d
                distinct[d + 1] += 1
    starts = np.cumsum(distinct)
    words = np.empty(starts[-1], np.int32)
    counts = np.zeros(starts[-1], np.int32)
    first_doc = np.full(vocabulary, -1, np.int64)
    slot[:] = -1
    for d in range(docs):
        n = starts[d]
        for t in tokens[offsets[d] : offsets[d + 1]]:
            if slot[t] < starts[d]:  # put in an earlier document, or never
                slot[t] = n
                words[n] = t
                n += 1
                if first_doc[t] < 0:
                    first_doc[t] = d
            counts[slot[t]] += 1
    return words, counts, starts, first_doc


def sample_dictionary(
    tokens: np.ndarray, offsets: np.ndarray, words: list[str], pruning: Pruning
) -> tuple[Dictionary, Bows]:
    """gensim's `Dictionary` of the documents (token ids into `words`; document d's tokens
    are tokens[offsets[d]:offsets[d + 1]]) after `filter_extremes`, and their `doc2bow`."""
    occurrences = Occurrences.of(tokens, offsets, len(words))
    if len(words) > PRUNE_AT:
        dictionary = _gensim_dictionary(tokens, offsets, words, pruning)
        final = np.array([dictionary.token2id.get(w, -1) for w in words], np.int64)
    else:
        dictionary, final = _dictionary(occurrences, words, len(offsets) - 1, pruning)
        dictionary.num_pos = len(tokens)
        dictionary.num_nnz = len(occurrences.words)
    ids, counts, bow_offsets = _bags_of_words(
        occurrences.words, occurrences.counts, occurrences.offsets, final
    )
    return dictionary, Bows(ids, counts, bow_offsets)


def _dictionary(
    occurrences: Occurrences, words: list[str], documents: int, pruning: Pruning
) -> tuple[Dictionary, np.ndarray]:
    """The filtered dictionary and each word's id in it (-1: dropped)."""
    df = np.bincount(occurrences.words, minlength=len(words))
    cf = np.bincount(occurrences.words, weights=occurrences.counts, minlength=len(words))
    present = np.flatnonzero(occurrences.first_doc >= 0)
    by_word = sorted(present.tolist(), key=words.__getitem__)
    word_rank = np.empty(len(words), np.int64)
    word_rank[by_word] = np.arange(len(by_word))
    gensim_order = present[np.lexsort((word_rank[present], occurrences.first_doc[present]))]
    no_above = int(pruning.no_above * documents)
    good = gensim_order[(df[gensim_order] >= pruning.no_below) & (df[gensim_order] <= no_above)]
    kept = good[np.argsort(-df[good], kind="stable")[: pruning.keep_n]]
    position = np.empty(len(words), np.int64)
    position[gensim_order] = np.arange(len(gensim_order))
    kept = kept[np.argsort(position[kept])]  # compactify: ids in the order of the old ones
    final = np.full(len(words), -1, np.int64)
    final[kept] = np.arange(len(kept))
    dictionary = Dictionary()
    dictionary.token2id = {words[w]: i for i, w in enumerate(kept.tolist())}
    dictionary.dfs = dict(enumerate(df[kept].tolist()))
    dictionary.cfs = dict(enumerate(cf[kept].astype(np.int64).tolist()))
    dictionary.num_docs = documents
    return dictionary, final


def _gensim_dictionary(
    tokens: np.ndarray, offsets: np.ndarray, words: list[str], pruning: Pruning
) -> Dictionary:
    texts = ([words[t] for t in tokens[lo:hi]] for lo, hi in itertools.pairwise(offsets))
    dictionary = Dictionary(texts, prune_at=PRUNE_AT)
    dictionary.filter_extremes(pruning.no_below, pruning.no_above, pruning.keep_n)
    return dictionary


@njit(cache=True)
def _bags_of_words(
    words: np.ndarray, counts: np.ndarray, offsets: np.ndarray, final: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """doc2bow of every document: its dictionary words' ids (ascending) and counts."""
    docs = offsets.shape[0] - 1
    ids = np.empty(words.shape[0], np.int32)
    out_counts = np.empty(words.shape[0], np.float32)
    out_offsets = np.zeros(docs + 1, np.int64)
    n = 0
    for d in range(docs):
        lo, hi = offsets[d], offsets[d + 1]
        mapped = final[words[lo:hi]]
        for j in np.argsort(mapped, kind="mergesort"):
            if mapped[j] >= 0:
                ids[n] = mapped[j]
                out_counts[n] = counts[lo + j]
                n += 1
        out_offsets[d + 1] = n
    return ids[:n].copy(), out_counts[:n].copy(), out_offsets
