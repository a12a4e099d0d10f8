"""gensim's `LdaModel` with its E-step compiled (`stages/topics/estep.py`).

`BatchLda` is an `LdaModel` whose `inference` runs the compiled batch E-step. gensim calls
`inference` for every chunk it trains on (`do_estep`) and, through `bound`, for the
perplexity it logs after each pass, so training is gensim's `update` loop with the same
random draws and the same numbers. It trains on `Bows` (their items are `Bow`s); plain gensim
bags of words (lists of (id, count)) are accepted as well.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from gensim.models import LdaModel
from numba import njit
from scipy.special import gammaln

from stages.topics.bows import GAMMA_SCALE, GAMMA_SHAPE, Bows
from stages.topics.estep import dirichlet_expectation, e_step

logger = logging.getLogger("gensim.models.ldamodel")  # gensim's: its lines, its level
PRINTED_TOPICS = 5  # gensim's M-step logs this many topics (`print_topics(5)`)


class BatchLda(LdaModel):
    """gensim's LdaModel; `inference` (its E-step) runs compiled over the whole chunk."""

    def inference(
        self, chunk: Sequence[Any], collect_sstats: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """gensim's `LdaModel.inference`: the same initial draw of gamma from the model's
        random state, the same iterations, the same float32 results."""
        shape = (len(chunk), self.num_topics)
        gamma = self.random_state.gamma(GAMMA_SHAPE, GAMMA_SCALE, shape).astype(self.dtype)
        bows = chunk if isinstance(chunk, Bows) else Bows.of(chunk)
        word_topics = np.ascontiguousarray(self.expElogbeta.T)
        word_stats = np.zeros_like(word_topics) if collect_sstats else None
        e_step(
            bows.ids,
            bows.counts,
            bows.offsets,
            gamma,
            word_topics,
            self.alpha,
            self.iterations,
            self.gamma_threshold,
            word_stats,
        )
        if word_stats is None:
            return gamma, None
        sstats = word_stats.T
        sstats *= self.expElogbeta
        return gamma, sstats

    def bound(
        self, corpus: Sequence[Any], gamma: np.ndarray | None = None, subsample_ratio: float = 1.0
    ) -> float:
        """gensim's variational bound, its documents' terms vectorized. gensim infers each
        document alone (one draw of gamma per document); one draw for all of them takes the
        same numbers from the random state."""
        bows = corpus if isinstance(corpus, Bows) else Bows.of(corpus)
        if gamma is None:
            gamma, _ = self.inference(bows)
        elog_theta = dirichlet_expectation(gamma)
        elog_beta = dirichlet_expectation(self.state.get_lambda())
        alpha = self.alpha.astype(np.float64)
        score = _expected_log_likelihood(bows.ids, bows.counts, bows.offsets, elog_theta, elog_beta)
        score += np.sum((alpha - gamma) * elog_theta, dtype=np.float64)
        score += np.sum(gammaln(gamma) - gammaln(alpha), dtype=np.float64)
        score += np.sum(gammaln(alpha.sum()) - gammaln(gamma.sum(axis=1)), dtype=np.float64)
        # gensim's topic-word terms: its bound of no documents
        return float(score * subsample_ratio + super().bound([], subsample_ratio=subsample_ratio))

    def do_mstep(self, rho: float, other: Any, extra_pass: bool = False) -> None:
        """gensim's M-step. Its Elogbeta of the topics before the update only feeds the
        "topic diff" it logs: while gensim's log is off, the M-step without that log (a
        digamma of every topic-word weight less per chunk)."""
        if logger.isEnabledFor(logging.INFO):
            super().do_mstep(rho, other, extra_pass)
            return
        self.state.blend(rho, other)
        self.sync_state(self.state.get_Elogbeta())
        # gensim's `print_topics(5)` logs nothing now, but its `show_topics` draws a jitter of
        # alpha from the random state to choose the topics it shows: only that draw is made
        if self.num_topics > PRINTED_TOPICS:
            self.random_state.rand(len(self.alpha))
        if self.optimize_eta:
            self.update_eta(self.state.get_lambda(), rho)
        if not extra_pass:
            self.num_updates += other.numdocs

    def log_perplexity(self, chunk: Sequence[Any], total_docs: int | None = None) -> float:
        """gensim's `log_perplexity`: the chunk's per-word bound, logged. Training calls it
        for that log line only, but its inference draws from the model's random state, which
        the next chunks depend on: while gensim's log is off, only those draws are made (and
        NaN returned), which trains the same model and skips a sixth of the E-step work."""
        bows = chunk if isinstance(chunk, Bows) else Bows.of(chunk)
        if not logger.isEnabledFor(logging.INFO):
            self.random_state.gamma(GAMMA_SHAPE, GAMMA_SCALE, (len(bows), self.num_topics))
            return math.nan
        total_docs = len(bows) if total_docs is None else total_docs
        corpus_words = float(bows.counts.sum(dtype=np.float64))
        subsample_ratio = total_docs / len(bows)
        per_word = self.bound(bows, subsample_ratio=subsample_ratio) / (
            subsample_ratio * corpus_words
        )
        logger.info(
            "%.3f per-word bound, %.1f perplexity estimate based on a held-out corpus of %i "
            "documents with %i words",
            per_word,
            np.exp2(-per_word),
            len(bows),
            corpus_words,
        )
        return per_word


@njit(cache=True)
def _expected_log_likelihood(
    ids: np.ndarray,
    counts: np.ndarray,
    offsets: np.ndarray,
    elog_theta: np.ndarray,
    elog_beta: np.ndarray,
) -> float:
    """sum over documents and words of count * logsumexp_k(Elogtheta_dk + Elogbeta_kw)."""
    total = 0.0
    k_topics = elog_theta.shape[1]
    terms = np.empty(k_topics)
    for d in range(offsets.shape[0] - 1):
        for j in range(offsets[d], offsets[d + 1]):
            top = -np.inf
            for k in range(k_topics):
                terms[k] = elog_theta[d, k] + elog_beta[k, ids[j]]
                top = max(top, terms[k])
            exp_sum = 0.0
            for k in range(k_topics):
                exp_sum += math.exp(terms[k] - top)
            total += counts[j] * (top + math.log(exp_sum))
    return total
