"""Tokens, span windows and removal ranges of the substring stage (docs/dedup.md).

Units
-----
A *token* is a maximal run of non-whitespace characters, except that every CJK character (Han,
kana: `stages.text.CJK_RANGES`) is a token of its own: so `min_length` counts words in
English and characters in Chinese. Two spans of k tokens are equal when their tokens are
equal, whatever whitespace separates them (a footer re-wrapped with other line breaks is the
same footer); `span_key` is that identity, exactly, and what verification compares.

Everything here is vectorized over a batch of documents (numpy over UTF-32 code points), and
positions are UTF-8 byte offsets inside each document, the offsets `substring_removed`
records.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stages.text import CJK, CJK_CLASS, NONSPACE, class_table, token_hashes, window_hashes

# Multiplier of the polynomial over token hashes that hashes a window (odd, so invertible).
WINDOW_BASE = 0xC2B2AE3D27D4EB4F


# The same tokens as `tokenize`, one string at a time (the reference for tests and keys).
TOKEN = re.compile(f"[{CJK_CLASS}]|[^\\s{CJK_CLASS}]+")


def span_key(span: str) -> str:
    """What makes two spans equal: their tokens (joined by a newline, never inside one)."""
    return "\n".join(TOKEN.findall(span))


@dataclass(frozen=True)
class Tokens:
    """The tokens of a batch of documents, in document order."""

    doc: np.ndarray  # int64: the document (row in the batch) of each token
    start: np.ndarray  # int64: UTF-8 byte offset of the token in its document
    end: np.ndarray  # int64: byte offset just past the token
    hash: np.ndarray  # uint64: hash of the token's characters
    first: np.ndarray  # int64 per document: index of its first token
    count: np.ndarray  # int64 per document: number of tokens


def _utf8_lengths(cp: np.ndarray) -> np.ndarray:
    return 1 + (cp >= 0x80).astype(np.int64) + (cp >= 0x800) + (cp >= 0x10000)


def tokenize(texts: Sequence[str]) -> Tokens:
    n_docs = len(texts)
    joined = "\n".join(texts) + "\n"  # "\n" separates documents and is never in a token
    cp = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    cls = class_table()[cp]
    inside = (cls & NONSPACE) != 0
    alone = (cls & CJK) != 0  # a CJK character is a token by itself
    before = np.r_[False, inside[:-1]]
    after = np.r_[inside[1:], False]
    alone_before = np.r_[False, alone[:-1]]
    alone_after = np.r_[alone[1:], False]
    starts = np.flatnonzero(inside & (~before | alone | alone_before))
    ends = np.flatnonzero(inside & (~after | alone | alone_after)) + 1
    # UTF-8 byte position of every code point, and of every document's start
    byte_at = np.zeros(len(cp) + 1, dtype=np.int64)
    np.cumsum(_utf8_lengths(cp), out=byte_at[1:])
    char_lengths = np.fromiter(map(len, texts), dtype=np.int64, count=n_docs) + 1
    doc_char = np.zeros(n_docs, dtype=np.int64)
    np.cumsum(char_lengths[:-1], out=doc_char[1:])
    doc = np.searchsorted(doc_char, starts, side="right") - 1
    count = np.bincount(doc, minlength=n_docs).astype(np.int64)
    first = np.zeros(n_docs, dtype=np.int64)
    np.cumsum(count[:-1], out=first[1:])
    doc_byte = byte_at[doc_char]
    return Tokens(
        doc=doc,
        start=byte_at[starts] - doc_byte[doc],
        end=byte_at[ends] - doc_byte[doc],
        hash=token_hashes(cp, starts, ends),
        first=first,
        count=count,
    )


def windows(tokens: Tokens, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(global index of the first token, hash) of every window of `width` tokens that lies
    inside one document."""
    hashes = window_hashes(tokens.hash, width, WINDOW_BASE)
    first = np.arange(len(hashes))
    local = first - tokens.first[tokens.doc[first]]
    inside = local + width <= tokens.count[tokens.doc[first]]
    return first[inside], hashes[inside]


def removed_tokens(count: int, window_starts: np.ndarray, width: int) -> np.ndarray:
    """bool per token of one document: covered by a removed window starting at those tokens."""
    cover = np.zeros(count + 1, dtype=np.int64)
    np.add.at(cover, window_starts, 1)
    np.add.at(cover, np.minimum(window_starts + width, count), -1)
    return np.cumsum(cover[:-1]) > 0


def removal_ranges(
    removed: np.ndarray, start: np.ndarray, text_bytes: int
) -> list[tuple[int, int]]:
    """Byte ranges to cut from a document, given its tokens' start offsets and which tokens
    are removed: from a removed run's first token to the next kept token (or the end of the
    text), so the whitespace after a removed span goes with it."""
    edges = np.diff(np.r_[0, removed.astype(np.int8), 0])
    run_starts, run_ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    next_kept = np.r_[start, text_bytes]
    return [(int(start[a]), int(next_kept[b])) for a, b in zip(run_starts, run_ends, strict=True)]


def cut(text: bytes, ranges: Sequence[tuple[int, int]]) -> bytes:
    """`text` without the byte ranges (sorted, disjoint)."""
    pieces, last = [], 0
    for lo, hi in ranges:
        pieces.append(text[last:lo])
        last = hi
    pieces.append(text[last:])
    return b"".join(pieces)


# --- lines mode: the cheap first pass (Yi's paragraph dedup, cc_net's line dedup) ---------------


def normalized_line(line: str) -> str:
    """A line's identity in lines mode: its tokens separated by single spaces."""
    return " ".join(line.split())


def line_ranges(text: bytes) -> list[tuple[int, int]]:
    """Byte range of every line with content (newline excluded)."""
    ranges, start = [], 0
    for end in [*np.flatnonzero(np.frombuffer(text, np.uint8) == 10).tolist(), len(text)]:
        if text[start:end].decode().split():  # str.split: Unicode whitespace too
            ranges.append((start, end))
        start = end + 1
    return ranges


def line_hash(line: str) -> int:
    digest = hashlib.blake2b(normalized_line(line).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")
