"""A fastText supervised model file (quantized input, hierarchical softmax: lid.176.ftz) read
with struct and numpy into the arrays `fasttext_predict` computes with.

Field by field as fastText's `FastText::loadModel` reads it (src/fasttext.cc, args.cc,
dictionary.cc, quantmatrix.cc, productquantizer.cc, densematrix.cc, loss.cc), with the
derived structures rebuilt as fastText builds them (the Huffman tree of the labels) or
replaced by equivalent ones that are faster to query (the word table, the n-gram bitmap).
Every index the kernel will follow is range-checked here: a malformed file raises instead
of sending the compiled code out of bounds.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

_MAGIC = 793712314  # FASTTEXT_FILEFORMAT_MAGIC_INT32
_VERSION = 12
_LOSS_HS, _MODEL_SUP = 1, 3
_KSUB = 256  # ProductQuantizer: 8-bit codes
_LABEL = b"__label__"  # Args::label, not saved in the file
_FNV_OFFSET = 2166136261  # Dictionary::hash; the kernel spells both constants out
_FNV_PRIME = 16777619


@dataclass(frozen=True, eq=False)  # compared (and cached) by identity
class FastTextModel:
    """What `predict` needs from a model file, as arrays for the kernel."""

    labels: tuple[str, ...]  # label names, "__label__" removed, in label-id order
    minn: int
    maxn: int
    bucket: int
    word_bytes: np.ndarray  # uint8: the dictionary's entries, concatenated
    word_starts: np.ndarray  # int64 [size + 1]: entry i is word_bytes[starts[i]:starts[i+1]]
    word_is_label: np.ndarray  # bool [size]
    word_table: np.ndarray  # int64 hash table of the words: hash << 32 | id + 1, 0 = empty
    eos_id: int  # the word id of </s>, -1 if the dictionary lacks it
    bucket_magic: tuple[int, int]  # (multiplier, shift): h % bucket by multiplication
    ngram_bits: np.ndarray  # int64 [bucket / 64]: bitmap of the kept n-gram buckets. 9 in 10
    # n-grams of web text were pruned, and 2M bits stay in cache where 2M rows would not
    ngram_first: np.ndarray  # int32 [bucket / 64]: row of the first kept bucket of each 64
    rows: np.ndarray  # float32: the words' input rows, then the kept n-grams' in bucket
    # order, as norm * centroid per element (the float32 products addcode adds)
    output: np.ndarray  # float32 [labels, dim]: one row per inner node of the tree
    tree_children: np.ndarray  # int32 [2 * labels - 1, 2]: left, right; -1 at the leaves


class _Reader:
    """Sequential little-endian reads, like fastText's istream::read."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def values(self, fmt: str) -> tuple:
        out = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return out

    def array(self, dtype: str, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += out.nbytes
        return out

    def cstring(self) -> bytes:
        end = self.data.index(b"\0", self.pos)
        out, self.pos = self.data[self.pos : end], end + 1
        return out


def read_model(path: str) -> FastTextModel:
    """Parse a fastText supervised model (quantized input, hs loss) as fastText loads it."""
    with open(path, "rb") as f:
        r = _Reader(f.read())
    magic, version = r.values("ii")
    if magic != _MAGIC or version != _VERSION:
        raise ValueError(f"{path}: not a fastText v{_VERSION} model")
    dim, _ws, _epoch, _mincount, _neg, word_ngrams, loss, model = r.values("8i")
    bucket, minn, maxn, _lr_update, _t = r.values("4id")
    if (loss, model, word_ngrams) != (_LOSS_HS, _MODEL_SUP, 1):
        raise NotImplementedError("only supervised hs models without word n-grams")
    words, is_label, nwords, pruned = _read_dictionary(r)
    if r.values("?") != (True,):
        raise NotImplementedError("only models with a quantized input matrix")
    input_rows = _read_quantized(r, dim)
    if r.values("?") != (False,):
        raise NotImplementedError("only models with a dense output matrix")
    rows, cols = r.values("qq")
    output = r.array("<f4", rows * cols).reshape(rows, cols)
    counts = [count for _, count, label in words if label]
    ngram_bits, ngram_first, ngram_rows = _ngram_index(pruned, nwords, bucket, input_rows.shape[0])
    if cols != dim or rows != len(counts) or input_rows.shape[0] < nwords or bucket <= 0:
        raise ValueError(f"{path}: inconsistent sizes")
    if r.pos != len(r.data):
        raise ValueError(f"{path}: unexpected bytes after the output matrix")
    return FastTextModel(
        labels=tuple(w.removeprefix(_LABEL).decode() for w, _, label in words if label),
        minn=minn,
        maxn=maxn,
        bucket=bucket,
        word_bytes=np.frombuffer(b"".join(w for w, _, _ in words), dtype=np.uint8),
        word_starts=np.cumsum([0] + [len(w) for w, _, _ in words], dtype=np.int64),
        word_is_label=np.array(is_label, dtype=np.bool_),
        word_table=_word_table([w for w, _, _ in words]),
        eos_id=next((i for i, (w, _, _) in enumerate(words) if w == b"</s>"), -1),
        bucket_magic=_division_magic(bucket),
        ngram_bits=ngram_bits,
        ngram_first=ngram_first,
        rows=np.concatenate([input_rows[:nwords], input_rows[ngram_rows]]),
        output=np.ascontiguousarray(output),
        tree_children=_build_tree(counts),
    )


def _read_dictionary(r: _Reader) -> tuple[list, list[bool], int, np.ndarray]:
    """Entries (word, count, is label), nwords, and pruneidx as [n-gram bucket, index] pairs
    (None when the dictionary was not pruned: every bucket is a row)."""
    size, nwords, nlabels, _ntokens, pruneidx_size = r.values("iiiqq")
    words = []
    for _ in range(size):
        word = r.cstring()
        count, kind = r.values("qb")
        words.append((word, count, kind == 1))
    if [label for _, _, label in words] != [False] * nwords + [True] * nlabels:
        raise ValueError("dictionary: words must precede labels")
    pruned = r.array("<i4", 2 * pruneidx_size).reshape(-1, 2) if pruneidx_size >= 0 else None
    return words, [label for _, _, label in words], nwords, pruned


def _read_quantized(r: _Reader, dim: int) -> np.ndarray:
    """A QuantMatrix as dense float32 rows of `norm * centroid` products: addcode adds
    exactly these float32 products, so adding the rows gives the same sums."""
    qnorm, rows, cols, codesize = r.values("?qqi")
    codes = r.array("u1", codesize)
    pq_dim, nsubq, dsub, lastdsub = r.values("4i")
    centroids = r.array("<f4", pq_dim * _KSUB)
    norms = np.ones(rows, dtype=np.float32)
    if qnorm:
        norm_codes = r.array("u1", rows)
        if r.values("4i") != (1, 1, 1, 1):
            raise ValueError("norm quantizer: expected one 1-d subquantizer")
        norms = r.array("<f4", _KSUB)[norm_codes]
    if cols != dim or pq_dim != dim or codesize != rows * nsubq:
        raise ValueError("quantized matrix: inconsistent sizes")
    codes = codes.reshape(rows, nsubq).astype(np.int64)
    out = np.empty((rows, dim), dtype=np.float32)
    for m in range(nsubq):  # ProductQuantizer::get_centroids
        width = lastdsub if m == nsubq - 1 else dsub
        base = m * _KSUB * dsub
        for n in range(width):
            out[:, m * dsub + n] = norms * centroids[base + codes[:, m] * width + n]
    return out


def _word_table(words: list[bytes]) -> np.ndarray:
    """Dictionary::word2int_ (word -> id) as an open-addressing table of 4+ slots per word,
    each holding the word's FNV-1a hash and id: a token not in the dictionary, the usual
    case, is rejected by its first slot or two without comparing bytes. Of duplicate
    entries the last wins, as in `Dictionary::load`."""
    bits = max(4, (4 * len(words)).bit_length())
    table = np.zeros(1 << bits, dtype=np.uint64)
    mask = (1 << bits) - 1
    for i, word in enumerate(words):
        h = fnv1a(word)
        slot = h & mask
        while table[slot] and words[(int(table[slot]) & 0xFFFFFFFF) - 1] != word:
            slot = (slot + 1) & mask
        table[slot] = h << 32 | (i + 1)
    return table.view(np.int64)


def fnv1a(data: bytes) -> int:
    """Dictionary::hash: 32-bit FNV-1a over the bytes taken as signed chars."""
    h = _FNV_OFFSET
    for byte in data:
        h = ((h ^ (byte | 0xFFFFFF00 if byte >= 0x80 else byte)) * _FNV_PRIME) & 0xFFFFFFFF
    return h


def _ngram_index(
    pruned: np.ndarray | None, nwords: int, bucket: int, rows: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dictionary::pushHash (bucket -> nwords + pruneidx[bucket], or dropped) as a bitmap
    with the row of each word's first kept bucket, and the input rows of the kept buckets
    in bucket order."""
    if pruned is None:
        row_of = np.arange(nwords, nwords + bucket, dtype=np.int64)
    else:
        if pruned.size and not (
            0 <= pruned[:, 0].min() <= pruned[:, 0].max() < bucket
            and 0 <= pruned[:, 1].min() <= pruned[:, 1].max() < rows - nwords
        ):
            raise ValueError("pruneidx out of range")
        row_of = np.full(bucket, -1, dtype=np.int64)
        row_of[pruned[:, 0]] = nwords + pruned[:, 1]
    kept = np.zeros(-(-bucket // 64) * 64, dtype=np.bool_)
    kept[:bucket] = row_of >= 0
    per_word = kept.reshape(-1, 64).sum(axis=1)
    first = nwords + np.cumsum(per_word) - per_word
    bits = np.packbits(kept, bitorder="little").view("<i8")
    if first[-1] >= 1 << 31:
        raise ValueError("too many rows")
    return bits, first.astype(np.int32), row_of[row_of >= 0]


def _division_magic(divisor: int) -> tuple[int, int]:
    """(m, s) with (h * m) >> s == h // divisor for every 0 <= h < 2^32 and h * m < 2^63:
    m = ceil(2^s / divisor) with m * divisor - 2^s <= 2^(s - 32) (Granlund and Montgomery
    1994, theorem 4.2); (0, 0) if there is none (the kernel then divides)."""
    for shift in range(62, -1, -1) if divisor > 0 else ():
        m = -(-(1 << shift) // divisor)
        if m < 1 << 31 and (m * divisor - (1 << shift)) << 32 <= 1 << shift:
            return m, shift
    return 0, 0


def _build_tree(counts: list[int]) -> np.ndarray:
    """HierarchicalSoftmaxLoss::buildTree: Huffman tree over the label counts (sorted by
    decreasing count in the file), merging the two smallest, leaves before inner nodes on
    ties. Node i < len(counts) is label i; the root is the last node."""
    osz = len(counts)
    count = [*counts, *[10**15] * (osz - 1)]
    children = np.full((2 * osz - 1, 2), -1, dtype=np.int32)
    leaf, node = osz - 1, osz
    for i in range(osz, 2 * osz - 1):
        for j in range(2):
            if leaf >= 0 and count[leaf] < count[node]:
                children[i, j], leaf = leaf, leaf - 1
            else:
                children[i, j], node = node, node + 1
        count[i] = count[children[i, 0]] + count[children[i, 1]]
    return children
