"""Sorted 64-bit hash keys with a radix index: a lookup reads one or two cache lines.

`np.searchsorted` over a few hundred thousand keys takes some twenty dependent probes per query;
hash keys are spread evenly over 64 bits, so their top bits index a table of where each top-bit
value begins, and the key is found among the few keys there. The index costs 4 bytes per
bucket (1 to 4 keys a bucket), against 16 bytes per key for a hash table beside the sorted
arrays, which stay the model's storage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np


@dataclass(frozen=True)
class KeyIndex:
    """`keys` (sorted uint64) and `starts`: the keys whose top `64 - shift` bits are b are
    `keys[starts[b]:starts[b + 1]]`."""

    keys: np.ndarray
    starts: np.ndarray
    shift: np.uint64

    @classmethod
    def of(cls, keys: np.ndarray, per_bucket: int = 1) -> KeyIndex:
        """The index of sorted `keys`, about `per_bucket` keys per top-bit value."""
        bits = max(1, ((len(keys) - 1) // per_bucket).bit_length())
        shift = np.uint64(64 - bits)
        counts = np.bincount((keys >> shift).astype(np.int64), minlength=1 << bits)
        starts = np.zeros((1 << bits) + 1, dtype=np.int32)
        np.cumsum(counts, out=starts[1:])
        return cls(keys, starts, shift)


@numba.njit(cache=True, nogil=True, inline="always")  # no call per lookup in a loop
def find(keys: np.ndarray, starts: np.ndarray, shift: np.uint64, key: np.uint64) -> int:
    """Index of `key` in `keys` (a `KeyIndex`'s fields), -1 if absent."""
    top = key >> shift
    for i in range(starts[top], starts[top + 1]):
        if keys[i] >= key:
            return i if keys[i] == key else -1
    return -1
