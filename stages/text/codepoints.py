"""Vectorized text kernels: code point classes, token hashes, batch bounds.

Text is handled as a numpy array of Unicode code points (UTF-32), so tokenization and hashing
run without a Python loop per token. Used by the document analysis (`analysis.py`) and the
minhash signatures.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numba
import numpy as np

from core.shards import atomic_write_bytes
from stages.text.punctuation import PUNCTUATION
from stages.text.scripts import CJK_RANGES, HAN_RANGES

P_TOKEN = 0x9E3779B97F4A7C15
_N_CODEPOINTS = 0x110000
# Class bits of `class_table`, each what Python says of the character: WORD is re's `\w`
# (str.isalnum or "_"), NONSPACE re's `\S` (not str.isspace), ALPHA str.isalpha, DIGIT re's
# `\d`, UPPER str.isupper, ALNUM str.isalnum; PUNCT is `punctuation.PUNCTUATION`, CJK and HAN
# are `scripts.CJK_RANGES` and `HAN_RANGES`.
WORD, NONSPACE, ALPHA, CJK, DIGIT, UPPER, ALNUM, PUNCT, HAN = 1, 2, 4, 8, 16, 32, 64, 128, 256
_BITS = (WORD, NONSPACE, ALPHA, CJK, DIGIT, UPPER, ALNUM, PUNCT, HAN)


def _ranges_mask(ranges: Sequence[tuple[int, int]]) -> np.ndarray:
    mask = np.zeros(_N_CODEPOINTS, dtype=bool)
    for lo, hi in ranges:
        mask[lo : hi + 1] = True
    return mask


@lru_cache(maxsize=1)
def class_table() -> np.ndarray:
    """uint16 class bits for every code point: built once per installation (~0.5 s) and kept
    in `__pycache__` beside this module, keyed by everything it derives from (Python's
    Unicode version, the punctuation set and script ranges, the bits), so each worker process
    loads it in a millisecond."""
    key = hashlib.sha256(
        repr(
            (unicodedata.unidata_version, sorted(PUNCTUATION), CJK_RANGES, HAN_RANGES, _BITS)
        ).encode()
    ).hexdigest()[:16]
    cached = Path(__file__).with_name("__pycache__") / f"class_table-{key}.npy"
    with contextlib.suppress(OSError, ValueError):
        return np.load(cached, allow_pickle=False)
    table = _build_class_table()
    with contextlib.suppress(OSError):  # a read-only installation builds it per process
        cached.parent.mkdir(exist_ok=True)
        atomic_write_bytes(cached, _npy_bytes(table))
    return table


def _npy_bytes(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=False)
    return out.getvalue()


def _build_class_table() -> np.ndarray:
    table = np.zeros(_N_CODEPOINTS, dtype=np.uint16)
    everything = "".join(map(chr, range(_N_CODEPOINTS)))
    for bit, pattern in (
        (WORD, r"\w+"),
        (NONSPACE, r"\S+"),
        (ALPHA, r"[^\W\d_]+"),
        (DIGIT, r"\d+"),
    ):
        for m in re.finditer(pattern, everything):
            table[m.start() : m.end()] |= bit
    table[_ranges_mask(CJK_RANGES)] |= CJK
    table[_ranges_mask(HAN_RANGES)] |= HAN
    table[[ord(ch) for ch in PUNCTUATION]] |= PUNCT
    for bit, test in ((UPPER, str.isupper), (ALNUM, str.isalnum)):
        table[np.fromiter(map(test, everything), dtype=bool, count=_N_CODEPOINTS)] |= bit
    # str.isalpha and re's [^\W\d_] agree except on a few marks; the definition is isalpha
    alpha = np.fromiter(map(str.isalpha, everything), dtype=bool, count=_N_CODEPOINTS)
    table[alpha] |= ALPHA
    table[~alpha] &= np.uint16(0xFFFF ^ ALPHA)
    return table


_POW_CACHE: dict[int, tuple[np.ndarray, np.ndarray]] = {}
_CACHED_POWERS = 1 << 23  # 128 MB of powers per base at most


def powers(n: int, base: int = P_TOKEN) -> tuple[np.ndarray, np.ndarray]:
    """(base**i, base**-i) mod 2**64 for i < n (base odd), cached and grown by doubling up
    to _CACHED_POWERS entries (a longer text computes its own, not kept: a worker's memory
    must not stay at the size of the largest document it ever saw)."""
    have = _POW_CACHE.get(base)
    if have is not None and len(have[0]) >= n:
        return have
    size = max(n, 2 * len(have[0]) if have is not None else 1 << 16)
    inv = pow(base, -1, 1 << 64)
    with np.errstate(over="ignore"):
        p = np.full(size, base, dtype=np.uint64)
        p[0] = 1
        q = np.full(size, inv, dtype=np.uint64)
        q[0] = 1
        computed = (np.cumprod(p, dtype=np.uint64), np.cumprod(q, dtype=np.uint64))
    if size <= _CACHED_POWERS:
        _POW_CACHE[base] = computed
    return computed


@numba.njit(cache=True, nogil=True)
def fmix64(h: np.uint64) -> np.uint64:
    """MurmurHash3's 64-bit finalizer of one value, for compiled loops (uint64 wraparound)."""
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def fmix64_np(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer, elementwise (uint64 wraparound)."""
    h = h ^ (h >> np.uint64(33))
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


def token_hashes(cp: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """uint64 hash of each token ``cp[start:end]``: ``fmix64(sum_i c_i * P**i)`` mod 2**64.

    One prefix sum ``H[i] = sum_{j<i} c_j * P**j`` serves every token: its hash is the
    difference of two prefix values scaled by ``P**-start`` (P is odd, so invertible).
    """
    pw, inv = powers(len(cp) + 1)
    with np.errstate(over="ignore"):
        prefix = np.zeros(len(cp) + 1, dtype=np.uint64)
        np.cumsum(cp.astype(np.uint64) * pw[: len(cp)], out=prefix[1:])
        return fmix64_np((prefix[ends] - prefix[starts]) * inv[starts])


def char_batches(texts: Sequence[str], max_chars: int) -> list[tuple[int, int]]:
    """(lo, hi) slices of `texts` of about `max_chars` characters each (a longer text is a
    slice by itself): bounds the memory of the vectorized kernels, which use ~50 bytes per
    character, whatever the size of a record batch."""
    bounds, start, size = [], 0, 0
    for i, text in enumerate(texts):
        size += len(text) + 1
        if size >= max_chars:
            bounds.append((start, i + 1))
            start, size = i + 1, 0
    if start < len(texts) or not bounds:
        bounds.append((start, len(texts)))
    return bounds


# `lower_space_table`'s value for a character whose str.lower is not one code point (İ -> i̇)
# or depends on its neighbours (Σ -> σ, or ς at the end of a word): text holding one is
# lower-cased by Python.
NO_LOWER = -1
_SIGMA = 0x3A3
_LOWER_CHUNK = 4096


@lru_cache(maxsize=1)
def lower_space_table() -> np.ndarray:
    """int32 for every code point: its str.lower, " " for whitespace (re's \\s), NO_LOWER when
    its lower case is not one code point. Text as lexicon terms are written (lower case, any
    whitespace as one space), a code point at a time.

    Built in ~30 ms: consecutive code points are lower-cased as one string, which lower-cases
    each on its own (only Σ looks at its neighbours) and maps each to one code point unless the
    string's length changes; such a chunk is lower-cased a character at a time."""
    table = np.empty(_N_CODEPOINTS, dtype=np.int32)
    for lo in range(0, _N_CODEPOINTS, _LOWER_CHUNK):
        codes = np.arange(lo, lo + _LOWER_CHUNK, dtype=np.uint32)
        chunk = codes.tobytes().decode("utf-32-le", "surrogatepass")
        lowered = chunk.lower()
        if len(lowered) == len(chunk):
            lowered = lowered.encode("utf-32-le", "surrogatepass")
            table[lo : lo + _LOWER_CHUNK] = np.frombuffer(lowered, dtype=np.uint32)
        else:
            table[lo : lo + _LOWER_CHUNK] = [_lower_code(char) for char in chunk]
        for space in re.finditer(r"\s", chunk):
            table[lo + space.start()] = ord(" ")
    table[_SIGMA] = NO_LOWER
    return table


def _lower_code(char: str) -> int:
    lowered = char.lower()
    return ord(lowered) if len(lowered) == 1 else NO_LOWER
