"""gensim's LDA E-step (`LdaModel.inference`) for a batch of documents, compiled.

gensim infers one document at a time in a Python loop (up to `iterations` updates of its
topic parameters gamma, each a few numpy calls). Here the documents of a block iterate in
lockstep: numba kernels do each document's update, and a document leaves the active set at
the iteration where gensim's loop breaks for it. Every number is computed as gensim computes
it, so the results are gensim's bit for bit (tests/test_topics_estep.py):

* the dot products call numpy's own BLAS with numpy's arguments (`stages/topics/blas.py`);
* exp is numpy's `np.exp` on the active rows (its SIMD float32 exp rounds differently from
  the libm one numba would call; elementwise, so rows batched together give the same values);
* digamma, the Dirichlet expectation and the convergence test are gensim's Cython code
  (gensim/_matutils.pyx, float32) with its mix of float and double arithmetic;
* everything else is elementwise float32, in gensim's order; the sufficient statistics are
  accumulated document after document.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from numba import njit

from stages.topics.blas import COL_MAJOR, ROW_MAJOR, TRANS, sdot, sgemv

EPSILON = np.finfo(np.float32).eps  # gensim adds it to every normalizer (phinorm)
EULER = np.float32(0.57721566490153286060)  # a float variable in gensim's _digamma
ONE = np.float32(1.0)
ZERO = np.float32(0.0)
# Words (nonzero counts) per block: each block gathers its documents' topic-word columns,
# num_topics float32 per word (5 MB for 20 topics), and stays in cache while it iterates.
BLOCK_WORDS = 1 << 16
# Divisions as IEEE's (no zero check: every divisor is a phinorm, which is at least EPSILON),
# so that loops of them compile to vector code; the same numbers.
IEEE = {"cache": True, "nogil": True, "error_model": "numpy"}


@njit(cache=True)
def digamma(x: np.float32) -> np.float32:
    """gensim's `_digamma[float]`: float variables, each expression evaluated in double (the
    C code promotes float operands of double literals and of `log`), rounded on assignment."""
    if x <= 0.000001:
        return np.float32(
            -np.float64(EULER) - 1.0 / np.float64(x) + 1.6449340668482264365 * np.float64(x)
        )
    value = np.float32(0.0)
    while x < 8.5:  # digamma(x) = digamma(x + 1) - 1 / x
        value = np.float32(np.float64(value) - 1.0 / np.float64(x))
        x = np.float32(np.float64(x) + 1.0)
    r = np.float32(1.0 / np.float64(x))  # then de Moivre's expansion
    value = np.float32(np.float64(value) + math.log(np.float64(x)) - 0.5 * np.float64(r))
    r = r * r
    r64 = np.float64(r)
    series = 1.0 / 12.0 - r64 * (
        1.0 / 120.0 - r64 * (1.0 / 252.0 - r64 * (1.0 / 240.0 - r64 * (1.0 / 132.0)))
    )
    return np.float32(np.float64(value) - r64 * series)


@njit(cache=True, nogil=True)
def _dirichlet_row(
    gamma: np.ndarray, out: np.ndarray, known: np.ndarray, known_psi: np.ndarray
) -> None:
    """gensim's `dirichlet_expectation` of one row: psi(gamma) - psi(sum(gamma)), float32;
    psi(gamma[k]) is `known_psi[k]` where gamma[k] is `known[k]` (`_known`)."""
    total = np.float32(0.0)
    for k in range(gamma.shape[0]):
        total += gamma[k]
    psi_total = digamma(total)
    for k in range(gamma.shape[0]):
        psi = known_psi[k] if gamma[k] == known[k] else digamma(gamma[k])
        out[k] = psi - psi_total


@njit(cache=True, nogil=True)
def _known(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`values` as float32 and their digammas, for `_dirichlet_row`. The E-step knows
    alpha's: most of a document's topics have no weight, and their gamma is exactly alpha
    (digamma's divisions and logarithm are most of an iteration's cost)."""
    known = values.astype(np.float32)
    psi = np.empty_like(known)
    for k in range(known.shape[0]):
        psi[k] = digamma(known[k])
    return known, psi


@njit(cache=True)
def dirichlet_expectation(gamma: np.ndarray) -> np.ndarray:
    """Row by row, as gensim's `dirichlet_expectation` of a 2-d float32 array."""
    out = np.empty_like(gamma)
    known, known_psi = _known(np.full(gamma.shape[1], np.nan, np.float32))  # none
    for d in range(gamma.shape[0]):
        _dirichlet_row(gamma[d], out[d], known, known_psi)
    return out


@njit(cache=True, nogil=True)
def _gather(word_topics: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Each document's `expElogbeta[:, ids]`, one after the other, in the layout numpy's
    fancy indexing gives gensim's `expElogbetad` (Fortran order: a word's topics adjacent),
    which decides the BLAS calls np.dot makes. `word_topics` is expElogbeta transposed."""
    k_topics = word_topics.shape[1]
    out = np.empty(k_topics * ids.shape[0], np.float32)
    for j in range(ids.shape[0]):  # element by element: a slice assignment per word costs more
        word = ids[j]
        for k in range(k_topics):
            out[k_topics * j + k] = word_topics[word, k]
    return out


@njit(cache=True)
def _phinorm(
    docs: np.ndarray,
    exp_elog_theta: np.ndarray,
    betas: np.ndarray,
    offsets: np.ndarray,
    phinorm: np.ndarray,
) -> None:
    """phinorm = expElogthetad @ expElogbetad + eps for each document of `docs`: np.dot of a
    vector and a Fortran-order matrix calls sgemv (column major, transposed), or sdot for a
    single word."""
    k_topics = exp_elog_theta.shape[1]
    for d in docs:
        lo, hi = offsets[d], offsets[d + 1]
        n = hi - lo
        theta = exp_elog_theta[d]
        block = betas[k_topics * lo : k_topics * hi]
        out = phinorm[lo:hi]
        if n == 1:
            out[0] = sdot(k_topics, theta.ctypes, 1, block.ctypes, 1)
        elif n > 1:
            sgemv(COL_MAJOR, TRANS, k_topics, n, ONE, block.ctypes, k_topics, theta.ctypes, 1,
                  ZERO, out.ctypes, 1)  # fmt: skip
        for j in range(n):
            out[j] += EPSILON


@njit(**IEEE)
def _update(
    docs: np.ndarray,
    gamma: np.ndarray,
    exp_elog_theta: np.ndarray,
    elog_theta: np.ndarray,
    betas: np.ndarray,
    counts: np.ndarray,
    offsets: np.ndarray,
    phinorm: np.ndarray,
    alpha: np.ndarray,
    threshold: float,
) -> np.ndarray:
    """One of gensim's iterations for each document of `docs`: gamma = alpha + expElogthetad
    * (cts / phinorm) @ expElogbetad.T, its Dirichlet expectation, and whether the mean
    absolute change of gamma is below `threshold` (gensim breaks out of its loop then).
    expElogbetad.T is C order: np.dot calls sgemv (row major, transposed), or multiplies by
    the scalar for a single word."""
    k_topics = gamma.shape[1]
    longest = np.max(offsets[1:] - offsets[:-1])
    weights = np.empty(longest, np.float32)
    dot = np.empty(k_topics, np.float32)
    known, known_psi = _known(alpha)
    converged = np.empty(docs.shape[0], np.bool_)
    for i, d in enumerate(docs):
        lo, hi = offsets[d], offsets[d + 1]
        n = hi - lo
        block = betas[k_topics * lo : k_topics * hi]
        for j in range(n):
            weights[j] = counts[lo + j] / phinorm[lo + j]
        if n > 1:
            sgemv(ROW_MAJOR, TRANS, n, k_topics, ONE, block.ctypes, k_topics, weights.ctypes, 1,
                  ZERO, dot.ctypes, 1)  # fmt: skip
        else:  # no word: a zero-sized sum, zeros
            for k in range(k_topics):
                dot[k] = weights[0] * block[k] if n == 1 else ZERO
        change = np.float32(0.0)
        for k in range(k_topics):
            updated = alpha[k] + exp_elog_theta[d, k] * dot[k]
            change += abs(updated - gamma[d, k])
            gamma[d, k] = updated
        _dirichlet_row(gamma[d], elog_theta[d], known, known_psi)
        converged[i] = change / np.float32(k_topics) < threshold
    return converged


@njit(**IEEE)
def _accumulate(
    word_stats: np.ndarray,
    exp_elog_theta: np.ndarray,
    ids: np.ndarray,
    counts: np.ndarray,
    offsets: np.ndarray,
    phinorm: np.ndarray,
) -> None:
    """sstats[:, ids] += outer(expElogthetad, cts / phinorm), document after document, into
    sstats transposed (`word_stats`, words x topics): each sum in gensim's order."""
    for d in range(offsets.shape[0] - 1):
        for j in range(offsets[d], offsets[d + 1]):
            weight = counts[j] / phinorm[j]
            row = word_stats[ids[j]]
            for k in range(row.shape[0]):
                row[k] += exp_elog_theta[d, k] * weight


def _blocks(offsets: np.ndarray) -> Iterator[tuple[int, int]]:
    """Consecutive document ranges of about BLOCK_WORDS words (at least one document)."""
    first, docs = 0, len(offsets) - 1
    while first < docs:
        last = int(np.searchsorted(offsets, offsets[first] + BLOCK_WORDS, side="right")) - 1
        last = min(max(last, first + 1), docs)
        yield first, last
        first = last


def e_step(
    ids: np.ndarray,
    counts: np.ndarray,
    offsets: np.ndarray,
    gamma: np.ndarray,
    word_topics: np.ndarray,
    alpha: np.ndarray,
    iterations: int,
    threshold: float,
    word_stats: np.ndarray | None = None,
) -> None:
    """gensim's `inference` of the documents (CSR: document d's word ids and float32 counts
    are ids/counts[offsets[d]:offsets[d + 1]]) from the initial float32 `gamma`, which is
    updated in place. `word_topics` is the model's expElogbeta transposed (words x topics, C
    order: a document's words are gathered as rows). The documents' sufficient statistics
    (before gensim's final multiplication by expElogbeta) are added to `word_stats`, words x
    topics, when given."""
    for lo, hi in _blocks(offsets):
        words = slice(offsets[lo], offsets[hi])
        _e_step_block(
            ids[words],
            counts[words],
            offsets[lo : hi + 1] - offsets[lo],
            gamma[lo:hi],
            word_topics,
            alpha,
            iterations,
            threshold,
            word_stats,
        )


def _e_step_block(
    ids: np.ndarray,
    counts: np.ndarray,
    offsets: np.ndarray,
    gamma: np.ndarray,
    word_topics: np.ndarray,
    alpha: np.ndarray,
    iterations: int,
    threshold: float,
    word_stats: np.ndarray | None,
) -> None:
    betas = _gather(word_topics, ids)
    elog_theta = dirichlet_expectation(gamma)
    exp_elog_theta = np.exp(elog_theta)
    phinorm = np.empty(len(ids), np.float32)
    active = np.arange(len(gamma))
    _phinorm(active, exp_elog_theta, betas, offsets, phinorm)
    for _ in range(iterations):
        converged = _update(
            active, gamma, exp_elog_theta, elog_theta, betas, counts, offsets, phinorm, alpha,
            threshold,
        )  # fmt: skip
        # all rows: a converged document's exp stays what it was, and no rows are copied
        np.exp(elog_theta, out=exp_elog_theta)
        _phinorm(active, exp_elog_theta, betas, offsets, phinorm)
        active = active[~converged]
        if not len(active):
            break
    if word_stats is not None:
        _accumulate(word_stats, exp_elog_theta, ids, counts, offsets, phinorm)
