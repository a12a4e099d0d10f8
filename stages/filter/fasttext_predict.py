"""fastText's supervised `predict(line, k=1)` as one compiled call over many lines, bit for
bit (tests/test_langid.py), for a model read by `fasttext_model.read_model`.

What fastText does, in its order and precision (src/dictionary.cc, model.cc, loss.cc):

* tokens: `Dictionary::readWord` splits on space \\n \\r \\t \\v \\f \\0. The Python binding
  appends "\\n", read as the end-of-sentence token `</s>`; `getLine` stops after the first
  `</s>`, so a literal "</s>" word ends the line.
* rows of a token: its word id if it is in the dictionary, then (unless it is `</s>`) the
  2..4-character n-grams of "<token>" (`computeSubwords`: characters are UTF-8 sequences;
  FNV-1a over the bytes as signed chars, modulo `bucket`; `pushHash` drops the n-grams the
  pruned model dropped). A token looking like a label ("__label__...") adds nothing.
* hidden: the float32 sum of the rows in that order (`addcode`), times float(1.0 / rows).
* `HierarchicalSoftmaxLoss::dfs`: depth first, left child first, float32 scores; sigmoid
  with std::exp (not the training tables), std_log(x) = log(x + 1e-5) in double on x
  rounded to float; a subtree is cut below log(1e-5) or below the best leaf so far, and a
  later leaf wins a tie; the probability is expf(score).

Our callers fold whitespace runs with `str.split()` first. The kernel does that itself on
the raw UTF-8: a separator is readWord's or a code point `str.isspace` accepts, which gives
the tokens fastText gives on `" ".join(text.split())` (multi-byte spaces such as U+3000
included) without building that string in Python.
"""

from __future__ import annotations

import math
from functools import cache

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from stages.filter.fasttext_model import FastTextModel

_EOS = np.frombuffer(b"</s>", dtype=np.uint8)
_LABEL = np.frombuffer(b"__label__", dtype=np.uint8)
# Separators by code point (all of str.isspace is in the BMP: tests/test_langid.py checks)
# and the lead bytes that can start one, so most bytes are settled by one lookup.
_SPACE = np.array([chr(c).isspace() for c in range(0x10000)], dtype=np.bool_)
_SPACE[list(b" \n\r\t\v\f\0")] = True  # readWord's (\0 is not a str.isspace space)
_SPACE_LEAD = np.zeros(256, dtype=np.bool_)
_SPACE_LEAD[[b for c in np.flatnonzero(_SPACE) for b in chr(c).encode()[:1]]] = True
_CHUNK = 1024  # n-gram hashes looked up together


def predict_many(
    model: FastTextModel, buffer: np.ndarray, starts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Label ids (-1: the line gave no rows, fastText predicts nothing) and float32
    probabilities of the UTF-8 lines buffer[starts[i]:starts[i+1]]."""
    words, ngrams = _kernel_model(model)
    return _predict_lines(
        buffer, starts, words, model.eos_id, ngrams, model.rows, model.output,
        model.tree_children,
    )  # fmt: skip


@cache
def _kernel_model(model: FastTextModel) -> tuple[tuple, tuple]:
    """The model's arrays as the kernel takes them, with each word's rows (its id and its
    kept n-grams', `Dictionary::initNgrams`) computed once, as fastText does at load."""
    ngrams = (model.minn, model.maxn, model.bucket, *model.bucket_magic)
    ngrams += (model.ngram_bits, model.ngram_first)
    rows, row_starts = _word_rows(
        model.word_bytes, model.word_starts, model.word_is_label, model.eos_id, ngrams
    )
    words = (model.word_bytes, model.word_starts, model.word_is_label, model.word_table)
    return (*words, rows, row_starts), ngrams


@numba.njit(cache=True, nogil=True)
def _word_rows(word_bytes, word_starts, is_label, eos_id, ngrams):
    """(rows, starts): the input rows of word i are rows[starts[i]:starts[i+1]] (none for a
    label; only its id for </s>)."""
    lengths = word_starts[1:] - word_starts[:-1]
    bound = lengths.shape[0] + ngrams[1] * (np.sum(lengths) + 2 * lengths.shape[0])
    rows = np.empty(bound, dtype=np.int32)
    starts = np.zeros(lengths.shape[0] + 1, dtype=np.int64)
    longest = np.max(lengths) if lengths.shape[0] else 0
    pending = np.empty(1 + ngrams[1] * (longest + 2), dtype=np.int64)
    scratch = np.empty(longest + 2, dtype=np.uint8)
    for w in range(lengths.shape[0]):
        n = 0
        if not is_label[w]:
            pending[0], n = -1 - w, 1
            if w != eos_id:
                start, end = word_starts[w], word_starts[w + 1]
                n = _ngram_hashes(word_bytes, start, end, scratch, pending, n, ngrams[0], ngrams[1])
        found = rows[starts[w] :]
        starts[w + 1] = starts[w] + _lookup_rows(pending, n, found, ngrams)
    return rows[: starts[-1]].copy(), starts


@numba.njit(cache=True, nogil=True)
def _predict_lines(buffer, starts, words, eos_id, ngrams, rows, output, children):
    lines = starts.shape[0] - 1
    labels = np.full(lines, -1, dtype=np.int32)
    probs = np.zeros(lines, dtype=np.float32)
    longest = np.max(starts[1:] - starts[:-1]) if lines else 0
    pending = np.empty(_CHUNK + 2 + ngrams[1] * (longest + 2), dtype=np.int64)
    work = (pending, np.empty(pending.shape[0], np.int32), np.empty(longest + 2, np.uint8))
    hidden = np.empty(rows.shape[1], dtype=np.float32)
    for i in range(lines):
        hidden[:] = 0
        count = _line_rows(
            buffer, starts[i], starts[i + 1], work, hidden, words, eos_id, ngrams, rows
        )
        if count == 0:
            continue  # FastText::predict returns no prediction for an empty line
        scale = np.float32(1.0 / count)  # Vector::mul(real): the double quotient as float
        for k in range(hidden.shape[0]):
            hidden[k] = hidden[k] * scale
        labels[i], score = _walk_tree(hidden, output, children)
        probs[i] = np.float32(math.exp(score))  # std::exp(float)
    return labels, probs


@numba.njit(cache=True, nogil=True)
def _line_rows(buffer, pos, end, work, hidden, words, eos_id, ngrams, rows):
    """Add the input rows of the tokens of buffer[pos:end] (Dictionary::getLine, ending with
    the `</s>` of the "\\n" the binding appends) to `hidden`; how many rows.

    Rows are found in two passes over a chunk of tokens: first the hashes of their n-grams
    (a dictionary word's rows, found at load, go in as -1 - row), then the rows of those
    hashes; a loop of hashing and a loop of memory lookups each run faster than one loop
    doing both."""
    pending, found, scratch = work
    is_label, word_rows, row_starts = words[2], words[4], words[5]
    count, n = 0, 0
    while True:
        skip = _separator_length(buffer, pos, end)
        while skip:
            pos += skip
            skip = _separator_length(buffer, pos, end)
        start, h = pos, np.int64(2166136261)
        while pos < end and not _separator_length(buffer, pos, end):
            h = _fnv_step(h, buffer[pos])
            pos += 1
        if pos == start or _equal(buffer, start, pos, _EOS, 0, _EOS.shape[0]):
            # The end of the line, or "</s>" in it: getLine stops at the first </s>.
            if eos_id >= 0 and not is_label[eos_id]:
                pending[n] = -1 - eos_id
                n += 1
            return count + _add_rows(pending, n, found, hidden, ngrams, rows)
        wid = _word_id(buffer, start, pos, h & 0xFFFFFFFF, words)
        if wid >= 0:  # its rows, found at load (none for a label)
            for k in range(row_starts[wid], row_starts[wid + 1]):
                pending[n] = -1 - word_rows[k]
                n += 1
        elif not _has_label_prefix(buffer, start, pos):  # a label-like token adds nothing
            n = _ngram_hashes(buffer, start, pos, scratch, pending, n, ngrams[0], ngrams[1])
        if n >= _CHUNK:
            count += _add_rows(pending, n, found, hidden, ngrams, rows)
            n = 0


@numba.njit(cache=True, nogil=True)
def _add_rows(pending, n, found, hidden, ngrams, rows):
    """Add the rows of pending[:n] (n-gram hashes, or -1 - row) to `hidden` in order,
    skipping the n-grams the pruned model dropped (Dictionary::pushHash); how many."""
    at = _lookup_rows(pending, n, found, ngrams)
    for k in range(at):
        _add_row(hidden, rows, found[k])
    return at


@numba.njit(cache=True, nogil=True)
def _lookup_rows(pending, n, found, ngrams):
    """found[:count] = the rows of pending[:n] (n-gram hashes, or -1 - row), dropped
    n-grams left out; count."""
    _, _, bucket, magic, shift, kept, first = ngrams
    at = 0
    for k in range(n):
        h = pending[k]
        if h < 0:
            found[at] = -1 - h
            at += 1
            continue
        b = h - ((h * magic) >> shift) * bucket if magic else h % bucket
        bits, bit = kept[b >> 6], b & 63
        found[at] = first[b >> 6] + _popcount(bits & ((1 << bit) - 1))
        at += (bits >> bit) & 1  # kept: keep the row just written
    return at


@numba.njit(cache=True, nogil=True, inline="always")
def _separator_length(buffer, pos, end):
    """Bytes of the separator at buffer[pos] (0: none, or the end)."""
    if pos >= end or not _SPACE_LEAD[buffer[pos]]:
        return 0
    lead = np.int64(buffer[pos])
    if lead < 0x80:
        return 1
    if lead < 0xE0:
        return 2 if _SPACE[(lead & 0x1F) << 6 | buffer[pos + 1] & 0x3F] else 0
    code = (lead & 0x0F) << 12 | (buffer[pos + 1] & 0x3F) << 6 | buffer[pos + 2] & 0x3F
    return 3 if _SPACE[code] else 0


@numba.njit(cache=True, nogil=True, inline="always")
def _add_row(hidden, rows, row):
    for k in range(hidden.shape[0]):
        hidden[k] += rows[row, k]


@numba.njit(cache=True, nogil=True, inline="always")
def _equal(a, a_start, a_end, b, b_start, b_end):
    if a_end - a_start != b_end - b_start:
        return False
    for k in range(a_end - a_start):  # noqa: SIM110 (a plain loop compiles best)
        if a[a_start + k] != b[b_start + k]:
            return False
    return True


@numba.njit(cache=True, nogil=True, inline="always")
def _has_label_prefix(buffer, start, end):
    """Dictionary::getType of a token not in the dictionary: "__label__" prefix."""
    n = _LABEL.shape[0]
    return end - start >= n and _equal(buffer, start, start + n, _LABEL, 0, n)


@numba.njit(cache=True, nogil=True, inline="always")
def _fnv_step(h, byte):
    """One byte of Dictionary::hash, h ^ uint32(int8(byte)) times the FNV prime, in int64:
    the low 32 bits are FNV-1a's (the caller masks them), the high ones are left to wrap."""
    return (h ^ ((np.int64(byte) ^ 0x80) - 0x80)) * 16777619


@numba.njit(cache=True, nogil=True, inline="always")
def _word_id(buffer, start, end, h, words):
    """Dictionary::getId of buffer[start:end] (hash h): its id, -1 if not a word."""
    word_bytes, word_starts, _, table, _, _ = words
    mask = table.shape[0] - 1
    slot = h & mask
    while table[slot] != 0:
        wid = (table[slot] & 0xFFFFFFFF) - 1
        if (table[slot] >> 32) & 0xFFFFFFFF == h and _equal(
            word_bytes, word_starts[wid], word_starts[wid + 1], buffer, start, end
        ):
            return wid
        slot = (slot + 1) & mask
    return -1


@numba.njit(cache=True, nogil=True)
def _ngram_hashes(buffer, start, end, scratch, pending, n, minn, maxn):
    """Dictionary::computeSubwords of "<token>": append the 32-bit hashes of its n-grams of
    minn..maxn characters (a lone "<" or ">" never counts) to pending[n:]; the new end."""
    width = end - start + 2
    scratch[0] = 60  # "<"
    scratch[1 : width - 1] = buffer[start:end]
    scratch[width - 1] = 62  # ">"
    for i in range(width):
        if scratch[i] & 0xC0 == 0x80:
            continue  # n-grams start at a character, not inside one
        h = np.int64(2166136261)
        j, chars = i, 1
        while j < width and chars <= maxn:
            h = _fnv_step(h, scratch[j])
            j += 1
            while j < width and scratch[j] & 0xC0 == 0x80:
                h = _fnv_step(h, scratch[j])
                j += 1
            if chars >= minn and not (chars == 1 and (i == 0 or j == width)):
                pending[n] = h & 0xFFFFFFFF
                n += 1
            chars += 1
    return n


@intrinsic
def _popcount(typingctx, x):
    """Set bits of an int64 (llvm.ctpop: one POPCNT instruction)."""

    def codegen(context, builder, signature, args):
        ctpop = builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(64)])
        return builder.call(ctpop, args)

    return types.int64(types.int64), codegen


@numba.njit(cache=True, nogil=True)
def _walk_tree(hidden, output, children):
    """HierarchicalSoftmaxLoss::dfs with k=1: (best leaf, its float32 log-probability)."""
    osz = output.shape[0]
    floor = np.float32(math.log(1e-5))  # std_log(threshold = 0)
    best, best_score = -1, np.float32(0.0)
    stack_node = np.empty(2 * osz, dtype=np.int64)
    stack_score = np.empty(2 * osz, dtype=np.float32)
    stack_node[0], stack_score[0], top = 2 * osz - 2, np.float32(0.0), 1
    while top > 0:
        top -= 1
        node, score = stack_node[top], stack_score[top]
        if score < floor or (best >= 0 and score < best_score):
            continue
        if children[node, 0] == -1:
            best, best_score = node, score  # push then pop the heap's minimum: the later wins
            continue
        f = np.float32(0.0)
        for k in range(hidden.shape[0]):  # DenseMatrix::dotRow, float32 in order
            f = np.float32(f + output[node - osz, k] * hidden[k])
        f = np.float32(1.0 / np.float64(np.float32(1) + np.float32(math.exp(-f))))
        # Right pushed first so the left subtree is walked first, as the recursion does.
        stack_node[top], stack_score[top] = children[node, 1], score + _std_log(np.float64(f))
        stack_node[top + 1] = children[node, 0]
        stack_score[top + 1] = score + _std_log(1.0 - np.float64(f))
        top += 2
    return best, best_score


@numba.njit(cache=True, nogil=True, inline="always")
def _std_log(x):
    """std_log(real x): the double argument rounded to float, log(x + 1e-5) in double,
    returned as float."""
    return np.float32(math.log(np.float64(np.float32(x)) + 1e-5))
