"""The compiled LDA E-step of the topics stage (stages/topics/estep.py, lda.py, bows.py)
against gensim itself, on real documents (tests/topics_corpus.py) plus documents of no word,
one word and one repeated word: the same numbers, bit for bit.

(a) digamma and the Dirichlet expectation are gensim's Cython functions; (b) `BatchLda`
trains the model gensim's `LdaModel` trains (the same topic-word arrays and random state
afterwards); (c) its `inference` gives gensim's gamma and sufficient statistics, its
`bound` gensim's bound; (d) `Inference.mixtures` gives each document the theta of gensim's
`inference([bow])` from `RandomState(seed)`, whatever the block size.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gensim import _matutils
from gensim.corpora import Dictionary
from gensim.models import LdaModel

from stages.topics import estep
from stages.topics.bows import Bows, Inference
from stages.topics.features import topic_tokens
from stages.topics.lda import BatchLda
from tests.topics_corpus import build_corpus

# Small and quick, but several chunks per pass, so that the M-step runs between E-steps.
MODEL: dict[str, Any] = {"num_topics": 8, "passes": 2, "iterations": 50, "chunksize": 64}
EDGE_DOCS = [[], [(0, 1)], [(3, 7)], [(1, 2), (4, 1)]]  # no word, one word, one repeated


@pytest.fixture(scope="module")
def dictionary_and_bows(real_data: Path) -> tuple[Dictionary, list[list[tuple[int, int]]]]:
    tokens = [topic_tokens(doc.text) for doc in build_corpus(real_data)[::2]]
    dictionary = Dictionary(tokens)
    dictionary.filter_extremes(no_below=3, no_above=0.5)
    bows = [dictionary.doc2bow(t) for t in tokens]
    return dictionary, bows[:100] + EDGE_DOCS + bows[100:]


def models(dictionary: Dictionary, bows: list, **options: Any) -> tuple[LdaModel, BatchLda]:
    """gensim's model and ours, trained alike (an asymmetric prior, as the stage's)."""
    eta = np.full((MODEL["num_topics"], len(dictionary)), 0.1, np.float32)
    eta[0, :20] = 5.0
    config = {**MODEL, "id2word": dictionary, "eta": eta, "random_state": 1, **options}
    return LdaModel(corpus=bows, **config), BatchLda(corpus=Bows.of(bows), **config)


def test_digamma_and_the_dirichlet_expectation_are_gensims() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate(
        [10 ** rng.uniform(-8, 5, 100_000), rng.gamma(0.3, 3.0, 100_000), [1e-7, 8.5, 9.0]]
    ).astype(np.float32)
    values = values[: len(values) // 20 * 20].reshape(-1, 20)
    assert np.array_equal(
        estep.dirichlet_expectation(values), _matutils.dirichlet_expectation(values)
    )


def test_a_row_with_known_digammas_is_gensims() -> None:
    """The E-step's rows take alpha's digamma where gamma is exactly alpha: gensim's numbers
    whichever elements are, and whatever is known."""
    rng = np.random.default_rng(1)
    known = np.array([0.05, 1e-7, 9.0, 3.25] * 5, np.float32)
    rows = rng.gamma(0.3, 3.0, (2_000, 20)).astype(np.float32)
    is_known = rng.random(rows.shape) < 0.6
    rows[is_known] = np.broadcast_to(known, rows.shape)[is_known]
    values, psi = estep._known(known)
    out = np.empty_like(rows)
    for row, row_out in zip(rows, out, strict=True):
        estep._dirichlet_row(row, row_out, values, psi)
    assert np.array_equal(out, _matutils.dirichlet_expectation(rows))


@pytest.mark.parametrize("log", [logging.WARNING, logging.INFO])
def test_training_is_gensims_bit_for_bit(
    dictionary_and_bows: tuple, log: int, caplog: pytest.LogCaptureFixture
) -> None:
    """With gensim's INFO log off, what gensim computes only to log it (the perplexity after
    each pass, the topic diff of each M-step) is skipped, its random draws made; on, it is
    logged as gensim logs it."""
    caplog.set_level(log, logger="gensim.models.ldamodel")
    reference, ours = models(*dictionary_and_bows)
    messages = [r.getMessage() for r in caplog.records]
    perplexity = [m for m in messages if "perplexity estimate" in m]
    assert len(perplexity) == (2 * MODEL["passes"] if log == logging.INFO else 0)
    diffs = [m for m in messages if m.startswith("topic diff")]
    assert len(diffs) % 2 == 0 and (len(diffs) > 0) == (log == logging.INFO)
    assert np.array_equal(ours.expElogbeta, reference.expElogbeta)
    assert np.array_equal(ours.state.sstats, reference.state.sstats)
    assert ours.state.numdocs == reference.state.numdocs
    draws = [m.random_state.randint(2**31) for m in (ours, reference)]
    assert draws[0] == draws[1]  # the same random numbers were used


def test_inference_and_bound_are_gensims(dictionary_and_bows: tuple) -> None:
    dictionary, bows = dictionary_and_bows
    reference, ours = models(dictionary, bows, passes=1)
    for model in (reference, ours):
        model.random_state = np.random.RandomState(7)
    gamma, sstats = LdaModel.inference(reference, bows, collect_sstats=True)
    our_gamma, our_sstats = ours.inference(bows, collect_sstats=True)
    assert np.array_equal(our_gamma, gamma) and np.array_equal(our_sstats, sstats)
    for model in (reference, ours):
        model.random_state = np.random.RandomState(8)
    bound = LdaModel.bound(reference, bows[:150])
    assert ours.bound(bows[:150]) == pytest.approx(bound, rel=1e-6)


def test_mixtures_are_gensims_per_document_inference(
    dictionary_and_bows: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    """theta = gamma / sum(gamma) of gensim's inference of the document alone, the random
    state reset to RandomState(seed); zeros without words; small blocks change nothing."""
    dictionary, bows = dictionary_and_bows
    _, model = models(dictionary, bows, passes=1)
    seeds = [1000 + 17 * d for d in range(len(bows))]
    expected = np.zeros((len(bows), MODEL["num_topics"]), np.float32)
    for d, bow in enumerate(bows):
        if bow:
            model.random_state = np.random.RandomState(seeds[d])
            gamma, _ = LdaModel.inference(model, [bow])
            expected[d] = gamma[0] / gamma[0].sum()
    inference = Inference.of(model)
    assert np.array_equal(inference.mixtures(Bows.of(bows), seeds), expected)
    monkeypatch.setattr(estep, "BLOCK_WORDS", 50)
    assert np.array_equal(inference.mixtures(Bows.of(bows), seeds), expected)
