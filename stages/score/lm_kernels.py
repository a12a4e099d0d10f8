"""The n-gram model's keys, and its scoring as compiled loops (`perplexity.NgramLM`).

Keys: an n-gram's key is its last unit id hashed into its (n-1)-gram prefix's key (splitmix64),
the same in numpy (training, over whole count tables) and in the compiled loops (scoring).

Scoring reads a model as `ScoringTables`: every order's log10 probabilities and backoffs
concatenated, and every higher order's sorted keys with a radix index (`keyindex.KeyIndex`),
so one lookup is one or two probes. The loops follow `NgramLM`'s backoff evaluation position
by position with the same float operations in the same order, so they give the same scores to
the last bit: the longest stored n-gram ending at a unit gives its probability, plus the
backoff weight of every longer stored context (ARPA semantics).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from stages.score.batch import HASH_SEED, hash_finish, hash_step
from stages.score.keyindex import KeyIndex, find

UNK, BOS, EOS = 0, 1, 2
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_NEWLINE = 10


# --- n-gram keys --------------------------------------------------------------------------------


def mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: a bijection on uint64 that spreads every input bit."""
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


def extend(prefix: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Key of an n-gram from its (n-1)-gram prefix key and last unit id.

    Hashing the id before XOR makes two different (prefix, id) pairs collide with probability
    2**-64; a unigram's key is its id, so unigram tables stay dense arrays indexed by id.
    """
    return mix(prefix ^ mix(ids.astype(np.uint64) + _GOLDEN))


def gram_keys(grams: np.ndarray) -> np.ndarray:
    """Keys of the rows of an (m, n) array of unit ids."""
    keys = grams[:, 0].astype(np.uint64)
    for j in range(1, grams.shape[1]):
        keys = extend(keys, grams[:, j])
    return keys


@numba.njit(cache=True, nogil=True)
def _mix_one(x: np.uint64) -> np.uint64:
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


@numba.njit(cache=True, nogil=True)
def _extend_one(prefix: np.uint64, unit: np.int64) -> np.uint64:
    return _mix_one(prefix ^ _mix_one(np.uint64(unit) + _GOLDEN))


# --- the model as the loops read it ---------------------------------------------------------------

# Each higher-order n-gram is one 16-byte record: its key, then its log10 p and backoff as two
# float32, so that finding it and reading both costs one cache line.
_RECORD_WORDS = 2  # uint64 per record
_LP, _BO = 2, 3  # float32 index of log10 p and backoff within a record
_KEYS_PER_BUCKET = 4  # radix index: 1 byte per key; a bucket's keys share a cache line


@dataclass(frozen=True)
class ScoringTables:
    """A model's arrays as the loops read them. Order 1 (dense by unit id): `unigram_lp`,
    `unigram_bo` (empty for an order-1 model). Order n >= 2: records `rec_at[n]` to
    `rec_at[n + 1]` of `records` (uint64 pairs; `payload` is the same memory as float32), with
    their radix index `starts[start_at[n]:start_at[n + 1]]` and `shifts[n]`. `top` is the
    highest order up to which every order has n-grams."""

    unigram_lp: np.ndarray
    unigram_bo: np.ndarray
    records: np.ndarray
    payload: np.ndarray
    rec_at: np.ndarray
    starts: np.ndarray
    start_at: np.ndarray
    shifts: np.ndarray
    order: int
    top: int

    @classmethod
    def of(
        cls, logprobs: list[np.ndarray], backoffs: list[np.ndarray], keys: list[np.ndarray]
    ) -> ScoringTables:
        """From the model's per-order arrays: log10 p of orders 1..order, backoffs of orders
        1..order-1 and sorted keys of orders 2..order."""
        order = len(logprobs)
        sizes = [len(k) for k in keys]
        rec_at = _offsets_by_order(sizes)
        records = np.zeros(_RECORD_WORDS * int(rec_at[-1]), dtype=np.uint64)
        payload = records.view(np.float32)
        for n in range(2, order + 1):
            a, b = rec_at[n], rec_at[n + 1]
            records[_RECORD_WORDS * a : _RECORD_WORDS * b : _RECORD_WORDS] = keys[n - 2]
            payload[4 * a + _LP : 4 * b : 4] = logprobs[n - 1]
            if n < order:
                payload[4 * a + _BO : 4 * b : 4] = backoffs[n - 1]
        indexes = [KeyIndex.of(k, _KEYS_PER_BUCKET) for k in keys]
        top = 1
        while top < order and sizes[top - 1]:
            top += 1
        return cls(
            unigram_lp=np.ascontiguousarray(logprobs[0], dtype=np.float32),
            unigram_bo=np.ascontiguousarray(backoffs[0] if backoffs else [], dtype=np.float32),
            records=records,
            payload=payload,
            rec_at=rec_at,
            starts=np.concatenate([np.zeros(0, np.int32), *(x.starts for x in indexes)]),
            start_at=_offsets_by_order([len(x.starts) for x in indexes]),
            shifts=np.array([0, 0, *(x.shift for x in indexes)], dtype=np.uint64),
            order=order,
            top=top,
        )

    def astuple(self) -> tuple:
        """The fields in order, as the loops take them."""
        return tuple(getattr(self, name) for name in self.__dataclass_fields__)

    def per_order(self) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """(log10 p of orders 1.., backoffs of orders 1.., keys of orders 2..) as views."""
        higher = range(2, self.order + 1)
        at = self.rec_at
        keys = [self.records[2 * at[n] : 2 * at[n + 1] : 2] for n in higher]
        logprobs = [self.payload[4 * at[n] + _LP : 4 * at[n + 1] : 4] for n in higher]
        backoffs = [self.payload[4 * at[n] + _BO : 4 * at[n + 1] : 4] for n in higher[:-1]]
        unigram_bo = [self.unigram_bo] if self.order > 1 else []
        return [self.unigram_lp, *logprobs], [*unigram_bo, *backoffs], keys


def _offsets_by_order(sizes: list[int]) -> np.ndarray:
    """offsets[n] is where order n (2, 3, ...) starts in a concatenation of `sizes`."""
    offsets = np.zeros(len(sizes) + 3, dtype=np.int64)
    np.cumsum(sizes, out=offsets[3:])
    return offsets


# --- text to unit ids ---------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def unit_ids(
    cp: np.ndarray,
    bounds: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    offsets: np.ndarray,
    vocab: tuple[np.ndarray, np.ndarray, np.uint64],
    vocab_ids: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(unit ids of every text, each line as <s> ... </s>, and the number of ids per text):
    `_encode` of the texts `cp[bounds[d]:bounds[d + 1]]` from their token spans. A token is
    looked up by the hash of its code points in `vocab` (keys, starts, shift), whose `vocab_ids`
    are the ids; a line is the tokens between two "\\n"."""
    lengths = np.zeros(len(bounds) - 1, dtype=np.int64)
    for d in range(len(lengths)):
        lines = 0
        for k in range(offsets[d], offsets[d + 1]):
            lines += k == offsets[d] or _has_newline(cp, ends[k - 1], starts[k])
        lengths[d] = offsets[d + 1] - offsets[d] + 2 * lines
    ids = np.empty(lengths.sum(), dtype=np.int64)
    i = 0
    for d in range(len(lengths)):
        for k in range(offsets[d], offsets[d + 1]):
            if k == offsets[d] or _has_newline(cp, ends[k - 1], starts[k]):
                if k > offsets[d]:
                    ids[i] = EOS
                    i += 1
                ids[i] = BOS
                i += 1
            h = HASH_SEED
            for j in range(starts[k], ends[k]):
                h = hash_step(h, cp[j])
            found = find(vocab[0], vocab[1], vocab[2], hash_finish(h, ends[k] - starts[k]))
            ids[i] = vocab_ids[found] if found >= 0 else UNK
            i += 1
        if offsets[d + 1] > offsets[d]:
            ids[i] = EOS
            i += 1
    return ids, lengths


@numba.njit(cache=True, nogil=True, inline="always")  # called per token
def _has_newline(cp: np.ndarray, lo: int, hi: int) -> bool:
    for j in range(lo, hi):  # noqa: SIM110 (numba compiles loops, not generators)
        if cp[j] == _NEWLINE:
            return True
    return False


# --- log10 probabilities ------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def position_log10(ids: np.ndarray, pos: np.ndarray, t: tuple) -> np.ndarray:
    """log10 p(unit | the up to order-1 units before it in its line) at every position, `pos`
    each unit's index in its line (<s> is 0), so that no n-gram crosses a line start.

    The key of the n-gram ending at a position extends the key of the (n-1)-gram ending one
    position earlier (0 at the first position); the longest n-gram stored gives the
    probability, and each context (the k-gram ending one position earlier, k below the match)
    adds its stored backoff. Each order's lookups run as loops of their own (`_find_order`),
    and written out: a call that takes arrays costs reference counting at every position."""
    unigram_lp, unigram_bo, records, payload, rec_at, starts, start_at, shifts, order, top = t
    # whether the n-gram ending at p is stored, and its log10 p and backoff if so
    found = np.zeros((top + 1, len(ids)), dtype=np.bool_)
    logprob = np.empty((top + 1, len(ids)), dtype=np.float32)
    backoff = np.empty((top + 1, len(ids)), dtype=np.float32)
    keys = ids.astype(np.uint64)
    for n in range(2, top + 1):
        for p in range(len(ids) - 1, 0, -1):  # backwards: keys[p - 1] is still the shorter key
            keys[p] = _extend_one(keys[p - 1], ids[p])
        keys[0] = 0
        index = (records, payload, rec_at[n], starts, start_at[n], shifts[n])
        _find_order(keys, pos, n, index, found[n], logprob[n], backoff[n])
    out = np.empty(len(ids))
    for p in range(len(ids)):
        best = np.float64(unigram_lp[ids[p]])
        matched = 1
        for n in range(2, top + 1):
            if found[n, p]:
                best = np.float64(logprob[n, p])
                matched = n
        for k in range(1, min(top, order - 1) + 1):
            if p == 0 or matched > k:
                continue
            # the context of length k, ending one position earlier, applies
            if k == 1:
                best += np.float64(unigram_bo[ids[p - 1]])
            elif found[k, p - 1]:
                best += np.float64(backoff[k, p - 1])
        out[p] = best
    return out


_BLOCK = 64  # positions whose buckets are fetched before any is searched


@numba.njit(cache=True, nogil=True)
def _find_order(
    keys: np.ndarray,
    pos: np.ndarray,
    n: int,
    index: tuple,
    found: np.ndarray,
    logprob: np.ndarray,
    backoff: np.ndarray,
) -> None:
    """Where the order-n key `keys[p]` is stored (`index`: the records, their payload, the
    order's first record, the radix starts, the order's first start and shift): `found[p]`,
    and its log10 p and backoff, read with the key's cache line. Positions go by blocks:
    first every bucket's bounds and first key are read, in loops without a branch on what
    they read, so that their cache misses overlap; then the buckets are searched."""
    records, payload, first_record, starts, first_start, shift = index
    lo = np.empty(_BLOCK, dtype=np.int64)
    hi = np.empty(_BLOCK, dtype=np.int64)
    first_key = np.empty(_BLOCK, dtype=np.uint64)
    last = len(records) // _RECORD_WORDS - 1
    for b0 in range(0, len(keys), _BLOCK):
        block = min(_BLOCK, len(keys) - b0)
        for j in range(block):
            bucket = first_start + (keys[b0 + j] >> shift)
            lo[j] = first_record + starts[bucket]
            hi[j] = first_record + starts[bucket + 1]
        for j in range(block):
            first_key[j] = records[_RECORD_WORDS * min(lo[j], last)]
        for j in range(block):
            p = b0 + j
            key = keys[p]
            if pos[p] < n - 1 or lo[j] == hi[j] or first_key[j] > key:
                continue
            for i in range(lo[j], hi[j]):
                if records[_RECORD_WORDS * i] >= key:
                    if records[_RECORD_WORDS * i] == key:
                        found[p] = True
                        logprob[p] = payload[4 * i + _LP]
                        backoff[p] = payload[4 * i + _BO]
                    break


@numba.njit(cache=True, nogil=True)
def line_positions(ids: np.ndarray) -> np.ndarray:
    """Each unit's index in its line: 0 at each <s>."""
    pos = np.empty(len(ids), dtype=np.int64)
    p = 0
    for i in range(len(ids)):
        p = 0 if ids[i] == BOS else p + 1
        pos[i] = p
    return pos


@numba.njit(cache=True, nogil=True)
def log10_sums(
    ids: np.ndarray, lengths: np.ndarray, t: tuple, unk_penalty: float
) -> tuple[np.ndarray, np.ndarray]:
    """(sum of log10 p over each text's units but <s>, in order, and how many there are):
    an unknown unit's log10 p is lowered by `unk_penalty`."""
    pos = line_positions(ids)
    logp = position_log10(ids, pos, t)
    total = np.zeros(len(lengths))
    count = np.zeros(len(lengths), dtype=np.int64)
    i = 0
    for d in range(len(lengths)):
        for _ in range(lengths[d]):
            if pos[i] > 0:
                total[d] += logp[i] - (unk_penalty if ids[i] == UNK else 0.0)
                count[d] += 1
            i += 1
    return total, count
