"""MinHash signatures of documents, bit-identical to ``datasketch.MinHash``, in compiled loops.

Shingles
--------
A document is normalized and cut into tokens (``ShingleConfig``):

1. ``lowercase``: ``str.lower()``.
2. ``fold_digits``: every Unicode decimal digit (``re`` ``\\d``) becomes ``"0"``.
3. Tokens: with ``strip_punctuation`` the maximal runs of word characters (``re`` ``\\w``:
   letters, digits, ``_``), otherwise the maximal runs of non-whitespace characters.
4. Script: if more than half of the document's letters (``str.isalpha``) are CJK (Han, kana:
   ``stages.text.CJK_RANGES``), every *character* of those runs is a token (whitespace and
   punctuation removed) and shingles are ``cjk_ngram`` consecutive characters; otherwise
   shingles are ``ngram`` consecutive words.
5. A document with ``k`` tokens has ``k - n + 1`` shingles (``n`` = ngram or cjk_ngram); if
   ``0 < k < n`` its only shingle is all of its ``k`` tokens. A document with no token has no
   shingle (see "Empty documents").

The *shingle bytes* (what ``shingles()`` returns, and what datasketch is given in the tests)
are the shingle's tokens joined by one space, UTF-8 encoded; tokens never contain whitespace.

Shingle hash (32-bit), ``hash_shingle``
---------------------------------------
All arithmetic is modulo 2**64 (numpy uint64 wraparound); ``fmix64`` is the MurmurHash3 64-bit
finalizer. For a token with Unicode code points ``c_0 .. c_{m-1}``::

    token_hash = fmix64(sum_i c_i * P**i),          P = 0x9E3779B97F4A7C15 (odd)

and for a shingle of tokens ``t_0 .. t_{k-1}`` (k = n, or fewer for a short document)::

    shingle_hash = fmix64(sum_j token_hash(t_j) * Q**j) >> 32,   Q = 0xC2B2AE3D27D4EB4F (odd)

A batch of documents is lower-cased and encoded once to UTF-32 code points; one compiled pass
per document (``kernels.shingle_hashes``) reads character classes from a lookup table over all
code points, hashes each token as it ends and each shingle from its tokens' hashes: no
per-token Python work. ``hash_shingle(b"...")`` is the same function in plain Python over
shingle bytes; it is the ``hashfunc`` to give ``datasketch.MinHash`` for identical
signatures.

Permutations (datasketch's schemes, same seeded ``np.random.RandomState(seed)`` draws)
-------------------------------------------------------------------------------------
- ``"affine32"`` (datasketch >= 2.0 default): ``h = fmix32(shingle_hash)``, then
  ``a_k * h + b_k mod 2**32`` with odd ``a_k``; signatures are uint32.
- ``"legacy"`` (datasketch < 2.0): ``((a_k * h + b_k) mod 2**64) mod (2**61 - 1)`` and
  ``& (2**32 - 1)``; signatures are uint64 (values < 2**32).

The signature of a document is the per-permutation minimum over its shingles, equal to
``MinHash(num_perm, seed, hashfunc=hash_shingle, scheme=scheme).update_batch(shingles)``'s
``hashvalues``.

Empty documents
---------------
A document with no token (empty, whitespace or punctuation only) has no shingle; its signature
is all ``max_hash`` (2**32 - 1), exactly datasketch's untouched ``MinHash``. ``is_empty``
tells them apart; the LSH stage must never make them candidates (two empty signatures would
otherwise estimate Jaccard 1.0).

LSH parameters
--------------
``optimal_bands(threshold, num_perm)`` picks ``bands x rows`` minimizing the weighted false
positive area ``int_0^t P(s) ds`` plus the false negative area ``int_t^1 (1 - P(s)) ds`` of the
S-curve ``P(s) = 1 - (1 - s**r)**b`` (as datasketch's ``_optimal_param``), and
``s_curve_threshold(b, r) = (1/b)**(1/r)`` is where the resulting S-curve is steepest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from stages.minhash import kernels
from stages.text import (
    NONSPACE,
    P_TOKEN,
    WORD,
    char_batches,
    class_table,
    is_cjk,
)

Scheme = Literal["affine32", "legacy"]

Q_SHINGLE = 0xC2B2AE3D27D4EB4F
MASK64 = (1 << 64) - 1
MAX_HASH = (1 << 32) - 1
MERSENNE_PRIME = (1 << 61) - 1
_BATCH_CHARS = 1 << 21  # code points per batch of documents in signatures()


@dataclass(frozen=True)
class ShingleConfig:
    ngram: int = 5  # words per shingle
    cjk_ngram: int = 5  # characters per shingle in CJK documents
    lowercase: bool = True
    fold_digits: bool = True
    strip_punctuation: bool = True

    def __post_init__(self) -> None:
        if self.ngram < 1 or self.cjk_ngram < 1:
            raise ValueError("ngram and cjk_ngram must be >= 1")


# --- reference (plain Python) definitions: used by tests and for datasketch's hashfunc ---------


def _fmix64(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & MASK64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & MASK64
    return h ^ (h >> 33)


def hash_token(token: str) -> int:
    acc, power = 0, 1
    for ch in token:
        acc = (acc + ord(ch) * power) & MASK64
        power = (power * P_TOKEN) & MASK64
    return _fmix64(acc)


def hash_shingle(shingle: bytes) -> int:
    """32-bit shingle hash of shingle bytes (tokens joined by one space): datasketch hashfunc."""
    acc, power = 0, 1
    for token in shingle.decode("utf-8").split(" "):
        acc = (acc + hash_token(token) * power) & MASK64
        power = (power * Q_SHINGLE) & MASK64
    return _fmix64(acc) >> 32


def tokens(text: str, cfg: ShingleConfig = ShingleConfig()) -> tuple[list[str], bool]:
    """(tokens, is_cjk) of one document, straightforwardly (the reference for the fast path)."""
    if cfg.lowercase:
        text = text.lower()
    if cfg.fold_digits:
        text = re.sub(r"\d", "0", text)
    runs = re.findall(r"\w+", text) if cfg.strip_punctuation else text.split()
    letters = [ch for ch in text if ch.isalpha()]
    cjk = 2 * sum(map(is_cjk, letters)) > len(letters)
    if cjk:
        return [ch for run in runs for ch in run], True
    return runs, False


def shingles(text: str, cfg: ShingleConfig = ShingleConfig()) -> list[bytes]:
    """The document's shingle bytes, in order (duplicates kept); slow reference path."""
    toks, cjk = tokens(text, cfg)
    n = cfg.cjk_ngram if cjk else cfg.ngram
    if not toks:
        return []
    if len(toks) < n:
        return [" ".join(toks).encode()]
    return [" ".join(toks[i : i + n]).encode() for i in range(len(toks) - n + 1)]


# --- compiled path -----------------------------------------------------------------------------


def _fmix32_np(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


def batch_shingle_hashes(texts: Sequence[str], cfg: ShingleConfig) -> tuple[np.ndarray, np.ndarray]:
    """(shingle hashes uint32 in document order, shingle count per document)."""
    if cfg.lowercase:
        texts = [t.lower() for t in texts]
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + 1  # + separator
    joined = "\n".join(texts) + "\n"  # "\n" is neither a word nor a non-space character
    cp = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return kernels.shingle_hashes(
        cp,
        lengths,
        class_table(),
        WORD if cfg.strip_punctuation else NONSPACE,
        cfg.fold_digits,
        cfg.ngram,
        cfg.cjk_ngram,
        _q_powers(max(cfg.ngram, cfg.cjk_ngram)),
    )


@lru_cache(maxsize=8)
def _q_powers(n: int) -> np.ndarray:
    """Q**j mod 2**64 for j < n."""
    return np.array([pow(Q_SHINGLE, j, 1 << 64) for j in range(n)], dtype=np.uint64)


def shingle_hashes(text: str, cfg: ShingleConfig = ShingleConfig()) -> np.ndarray:
    """uint32 hashes of the document's shingles, in order (duplicates kept)."""
    return batch_shingle_hashes([text], cfg)[0]


def text_batches(texts: Sequence[str]) -> list[tuple[int, int]]:
    return char_batches(texts, _BATCH_CHARS)


class MinHasher:
    """datasketch's permutations for (num_perm, seed, scheme), built once."""

    def __init__(self, num_perm: int = 128, seed: int = 1, scheme: Scheme = "affine32") -> None:
        if num_perm < 1:
            raise ValueError("num_perm must be positive")
        self.num_perm, self.seed, self.scheme = num_perm, seed, scheme
        gen = np.random.RandomState(seed)
        if scheme == "affine32":
            a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
            b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
            self.dtype: type = np.uint32
        elif scheme == "legacy":
            pairs = [
                (
                    gen.randint(1, MERSENNE_PRIME, dtype=np.uint64),
                    gen.randint(0, MERSENNE_PRIME, dtype=np.uint64),
                )
                for _ in range(num_perm)
            ]
            a, b = np.array(pairs, dtype=np.uint64).T
            self.dtype = np.uint64
        else:
            raise ValueError(f"unknown scheme {scheme!r}")
        self.a, self.b = np.ascontiguousarray(a), np.ascontiguousarray(b)
        self.max_hash = self.dtype(MAX_HASH)

    def signature(self, hashes: np.ndarray) -> np.ndarray:
        """Signature of one document's shingle hashes: == datasketch ``MinHash.hashvalues``."""
        return self.signatures_from_hashes(hashes, np.array([len(hashes)]))[0]

    def signatures_from_hashes(self, hashes: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """(n_docs, num_perm) signatures of documents whose shingle hashes are concatenated
        (``counts`` each): each document's per-permutation minimum, in a compiled loop."""
        counts = counts.astype(np.int64)
        if self.scheme == "affine32":
            values = _fmix32_np(hashes.astype(np.uint32))
            return kernels.affine32_minima(values, counts, self.a, self.b)
        return kernels.legacy_minima(hashes.astype(np.uint64), counts, self.a, self.b)

    def signatures(self, texts: Sequence[str], cfg: ShingleConfig = ShingleConfig()) -> np.ndarray:
        """(n_docs, num_perm) signatures, over batches of documents."""
        parts = []
        for lo, hi in text_batches(texts):
            hashes, counts = batch_shingle_hashes(texts[lo:hi], cfg)
            parts.append(self.signatures_from_hashes(hashes, counts))
        if not parts:
            return np.full((0, self.num_perm), self.max_hash, dtype=self.dtype)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def is_empty(self, signatures: np.ndarray) -> np.ndarray:
        """True for signatures of documents without shingles (all max_hash)."""
        return np.all(signatures == self.max_hash, axis=-1)


def jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Estimated Jaccard similarity: the fraction of equal signature values."""
    return float(np.mean(sig_a == sig_b))


# --- LSH parameters ----------------------------------------------------------------------------


def _gauss_legendre(lo: float, hi: float, order: int = 96) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(order)
    half = (hi - lo) / 2
    return lo + half * (x + 1), half * w


@lru_cache(maxsize=64)  # every task of a stage rebuilds its config; the search costs ~10 ms
def optimal_bands(
    threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5
) -> tuple[int, int]:
    """(bands, rows), bands * rows <= num_perm, minimizing fp_weight*FP + fn_weight*FN area.

    FP area = int_0^t P(s) ds, FN area = int_t^1 (1 - P(s)) ds, P(s) = 1 - (1 - s**r)**b: the
    criterion of datasketch's ``_optimal_param`` (scipy ``quad`` there; Gauss-Legendre of order
    96 here, vectorized over all (b, r); the areas agree to ~1e-12).
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError("threshold must be in (0, 1)")
    pairs = np.array(
        [(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)], dtype=float
    )
    bands, rows = pairs[:, :1], pairs[:, 1:]
    xs, ws = _gauss_legendre(0.0, threshold)
    fp = ((1 - (1 - xs**rows) ** bands) * ws).sum(axis=1)
    xs, ws = _gauss_legendre(threshold, 1.0)
    fn = ((1 - xs**rows) ** bands * ws).sum(axis=1)
    best = int(np.argmin(fp_weight * fp + fn_weight * fn))  # first minimum, as datasketch
    return int(pairs[best, 0]), int(pairs[best, 1])


def s_curve_threshold(bands: int, rows: int) -> float:
    """Similarity where the S-curve 1 - (1 - s**rows)**bands is steepest: (1/b)**(1/r)."""
    return (1.0 / bands) ** (1.0 / rows)
