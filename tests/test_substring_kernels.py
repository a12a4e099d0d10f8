"""The compiled loops of the substring stage (stages/substring/kernels.py) against references
written from the string definitions (stages/substring/spans.py) in plain Python, on real English
and Chinese text and on crafted cases: units and their hashes, the stable hash order, byte
verification (whose skipping of bytes already compared must never hide a difference, including
under forced hash collisions), and the cuts with their token counts.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pytest

from stages.substring import kernels
from stages.substring.spans import TOKEN, WINDOW_BASE, normalized_line
from stages.text import CJK_RANGES, P_TOKEN

M = (1 << 64) - 1
ORIGIN = 2  # the units' offsets are from here
TAG = np.uint64(3 << kernels.OFFSET_BITS)  # shard 3, in the locations verify reads
# Separators and pieces the real text lacks: other whitespace, glued CJK/Latin, emoji, 4-byte Han
ODD_PIECES = [" ", "\n", "\r\n", "\t", "\u3000", "\xa0", "  ", "x中", "🙂🙂", "𠮷", "ｱ", "naïve"]


def fmix64(h: int) -> int:
    h ^= h >> 33
    h = h * 0xFF51AFD7ED558CCD & M
    h ^= h >> 33
    h = h * 0xC4CEB9FE1A85EC53 & M
    return h ^ (h >> 33)


def poly(values: list[int], base: int) -> int:
    return sum(v * pow(base, i, 1 << 64) for i, v in enumerate(values)) & M


def token_hash(token: str) -> int:
    return fmix64(poly([ord(c) for c in token], P_TOKEN))


def byte_offset(text: str, chars: int) -> int:
    return len(text[:chars].encode())


@pytest.fixture(scope="module")
def texts(real_data: Path) -> list[str]:
    """60 documents: paragraphs of English WikiText-2 and Chinese Wikipedia, some repeated
    with one token changed or other whitespace, some with odd pieces pasted in, a few empty."""
    rng = random.Random(11)
    english = [
        line.strip()
        for line in (real_data / "reference/wikitext2-test.txt").read_text().splitlines()
        if len(line.split()) > 30 and not line.strip().startswith("=")
    ][:20]
    with (real_data / "reference/cmrc2018_zh_wikipedia.jsonl").open(encoding="utf-8") as lines:
        chinese = [json.loads(line)["text"] for _, line in zip(range(20), lines, strict=False)]
    docs = english + chinese
    for doc in rng.sample(docs, 12):
        words = doc.split(" ")
        words[rng.randrange(len(words))] = "changed"
        docs.append(" ".join(words))
        docs.append(re.sub(" ", lambda _: rng.choice([" ", "\n", "\t "]), doc))
    for doc in rng.sample(docs, 6):
        at = rng.randrange(len(doc))
        docs.append(doc[:at] + "".join(rng.choices(ODD_PIECES, k=8)) + doc[at:])
    return [*docs, "", "  \n"]


def as_file(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The documents' UTF-8 back to back after a 5-byte header, as a shard file holds them."""
    encoded = [t.encode() for t in texts]
    sizes = np.array([len(e) for e in encoded], dtype=np.int64)
    starts = 5 + np.r_[0, np.cumsum(sizes)[:-1]].astype(np.int64)
    data = np.frombuffer(b"head:" + b"".join(encoded), np.uint8)
    return data, starts, starts + sizes


def run_units(kind: str, texts: list[str], width: int = 0) -> list[tuple[int, int, int]]:
    data, starts, ends = as_file(texts)
    most = len(data)
    out = np.empty(most, np.uint64), np.empty(most, np.uint32), np.empty(most, np.uint32)
    classes, bases = kernels.unit_classes(), (np.uint64(P_TOKEN), np.uint64(WINDOW_BASE))
    if kind == "spans":
        n = kernels.span_units(data, starts, ends, classes, width, *bases, ORIGIN, *out)
    else:
        n = kernels.line_units(data, starts, ends, classes, *bases, ORIGIN, *out)
    return list(zip(*(a[:n].tolist() for a in out), strict=True))


def reference_spans(texts: list[str], width: int) -> list[tuple[int, int, int]]:
    """(hash, location, length) of every window, from TOKEN and the hash formulas."""
    out, position = [], 5
    for text in texts:
        tokens = list(TOKEN.finditer(text))
        hashes = [token_hash(t.group()) for t in tokens]
        for i in range(len(tokens) - width + 1):
            lo = byte_offset(text, tokens[i].start())
            hi = byte_offset(text, tokens[i + width - 1].end())
            window = fmix64(poly(hashes[i : i + width], WINDOW_BASE))
            out.append((window, position + lo - ORIGIN, hi - lo))
        position += len(text.encode())
    return out


def reference_lines(texts: list[str]) -> list[tuple[int, int, int]]:
    out, position = [], 5
    for text in texts:
        line_start = position
        for line in text.split("\n"):
            size = len(line.encode())
            if line.split():
                words = [token_hash(word) for word in line.split()]
                out.append((fmix64(poly(words, WINDOW_BASE)), line_start - ORIGIN, size))
            line_start += size + 1
        position += len(text.encode())
    return out


def test_unit_classes_are_the_string_definitions() -> None:
    """INSIDE is `not str.isspace()` (re's \\S), ALONE the CJK ranges, for every code point."""
    table = kernels.unit_classes()
    space = np.fromiter((chr(c).isspace() for c in range(0x110000)), bool, 0x110000)
    assert np.array_equal((table & kernels.INSIDE) == 0, space)
    cjk = np.zeros(0x110000, bool)
    for lo, hi in CJK_RANGES:
        cjk[lo : hi + 1] = True
    assert np.array_equal((table & kernels.ALONE) != 0, cjk)


@pytest.mark.parametrize("width", [1, 2, 7, 50])
def test_span_units_are_the_token_windows(texts: list[str], width: int) -> None:
    assert run_units("spans", texts, width) == reference_spans(texts, width)


def test_line_units_are_the_lines_with_content(texts: list[str]) -> None:
    """Lines split at "\\n" only ("\\r" is whitespace of the line); their hash depends on their
    words alone, so whitespace variants of a line hash alike and other lines do not."""
    found = run_units("lines", texts)
    assert found == reference_lines(texts)
    lines = [line for text in texts for line in text.split("\n") if line.split()]
    by_hash: dict[int, set[str]] = {}
    for (h, _, _), line in zip(found, lines, strict=True):
        by_hash.setdefault(h, set()).add(normalized_line(line))
    assert all(len(keys) == 1 for keys in by_hash.values())


@pytest.mark.parametrize(
    "draw",
    [
        lambda rng, n: rng.integers(0, 2**63, n) * 2 + rng.integers(0, 2, n),  # all 64 bits
        lambda rng, n: rng.integers(0, n // 3 + 1, n) << 40,  # duplicates, shared top bits
        lambda rng, n: rng.integers(0, 3, n),  # 3 values: one bucket, merge sort
    ],
)
@pytest.mark.parametrize("n", [0, 1, 2, 33, 1000, 50_000])
def test_hash_order_is_a_stable_sort(draw: object, n: int) -> None:
    hashes = np.asarray(draw(np.random.default_rng(n), n), dtype=np.uint64)  # type: ignore[operator]
    order, ordered = kernels.hash_order(hashes)
    assert np.array_equal(order, np.argsort(hashes, kind="stable"))
    assert np.array_equal(ordered, hashes[order])
    first = kernels.group_firsts(order, ordered)
    expected = np.full(n, kernels.NO_GROUP, np.uint32)
    for value in np.unique(hashes):
        members = np.flatnonzero(hashes == value)
        if len(members) > 1:
            expected[members] = members[0]
    assert np.array_equal(first, expected)


def naive_differs(
    text: np.ndarray, first_text: np.ndarray, locs: np.ndarray, lengths: np.ndarray,
    first: np.ndarray, members: np.ndarray,
) -> np.ndarray:  # fmt: skip
    differs = np.zeros(len(first), bool)
    offsets = (locs & np.uint64((1 << kernels.OFFSET_BITS) - 1)).astype(np.int64)
    for i in members.tolist():
        f = int(first[i])
        a, b = offsets[i], offsets[f]
        if bytes(text[a : a + lengths[i]]) != bytes(first_text[b : b + lengths[f]]):
            differs[f] = True
    return differs


def grouped_units(texts: list[str], width: int, weaken: int | None) -> tuple:
    """The windows of the documents, grouped by hash (or by hash mod `weaken`: collisions)."""
    data, starts, ends = as_file(texts)
    hashes = np.empty(len(data), np.uint64)
    offsets, lengths = np.empty(len(data), np.uint32), np.empty(len(data), np.uint32)
    classes, bases = kernels.unit_classes(), (np.uint64(P_TOKEN), np.uint64(WINDOW_BASE))
    n = kernels.span_units(data, starts, ends, classes, width, *bases, 0, hashes, offsets, lengths)
    hashes, locs, lengths = hashes[:n], TAG | offsets[:n].astype(np.uint64), lengths[:n]
    if weaken:
        hashes = hashes % np.uint64(weaken)
    first = kernels.group_firsts(*kernels.hash_order(hashes))
    members = np.flatnonzero((first != kernels.NO_GROUP) & (first != np.arange(n)))
    return data, locs, lengths, first, members.astype(np.uint32)


@pytest.mark.parametrize("weaken", [None, 7, 1])
@pytest.mark.parametrize("width", [1, 5, 50])
def test_verify_finds_every_difference(texts: list[str], width: int, weaken: int | None) -> None:
    """Copies compared with their group's first, skipping the bytes already found equal at the
    same distance: the groups marked are exactly those with a copy whose bytes differ, with
    real hashes (whitespace variants differ in bytes), hashes cut to 7 values (collisions
    everywhere, some at the distance of a real repeat) and to one value."""
    data, locs, lengths, first, members = grouped_units(texts, width, weaken)
    differs = np.zeros(len(first), bool)
    kernels.verify(data, data, locs, lengths, first, members, differs)
    expected = naive_differs(data, data, locs, lengths, first, members)
    assert np.array_equal(differs, expected)
    if weaken:  # collisions were forced: some groups hold other bytes
        assert expected.any()


def test_verify_across_two_texts() -> None:
    """Members in one shard's text, their firsts in another's: crafted equal and unequal
    pairs (one byte changed, the same bytes but longer, a run of overlapping windows)."""
    first_text = np.frombuffer(b"the quick brown fox jumps over the lazy dog", np.uint8)
    text = np.frombuffer(b"xx the quick brown fox jumps over the lazy cat", np.uint8)
    # units: 0-3 firsts in first_text; 4-9 members in text (offset 3 further)
    locs = np.array([0, 4, 10, 16, 3, 7, 13, 19, 36, 3], dtype=np.uint64)
    lengths = np.array([9, 11, 9, 9, 9, 11, 9, 9, 10, 10], dtype=np.uint32)
    first = np.array([0, 1, 2, 3, 0, 1, 2, 3, 2, 0], dtype=np.uint32)
    members = np.array([4, 9, 5, 6, 7, 8], dtype=np.uint32)  # in offset order
    differs = np.zeros(10, bool)
    kernels.verify(text, first_text, locs, lengths, first, members, differs)
    expected = naive_differs(text, first_text, locs, lengths, first, members)
    assert differs.tolist() == expected.tolist() == [True, False, True, False] + [False] * 6


def reference_span_cuts(text: str, starts: list[int], width: int) -> list[list[int]]:
    tokens = [byte_offset(text, m.start()) for m in TOKEN.finditer(text)]
    removed = sorted({t + j for t in (tokens.index(s) for s in starts) for j in range(width)})
    bounds = [*tokens, len(text.encode())]
    ranges: list[list[int]] = []
    for i in removed:
        if ranges and ranges[-1][1] == bounds[i]:
            ranges[-1][1] = bounds[i + 1]
        else:
            ranges.append([bounds[i], bounds[i + 1]])
    return ranges


def cut(text: str, ranges: list[list[int]]) -> str:
    encoded, pieces, last = text.encode(), [], 0
    for lo, hi in ranges:
        pieces.append(encoded[last:lo])
        last = hi
    return (b"".join(pieces) + encoded[last:]).decode()


@pytest.mark.parametrize("width", [1, 3, 50])
def test_span_cuts_and_cut_texts_match_the_definitions(texts: list[str], width: int) -> None:
    """Random windows removed from the documents (of one record batch, text buffer from
    offset 7): ranges from each removed run's first token to the next kept token, tokens
    before and after counted as TOKEN.findall counts them, rejection below the minimum."""
    rng = random.Random(width)
    data, offsets = np.frombuffer(b"7 bytes" + "".join(texts).encode(), np.uint8), [7]
    starts, expected = [], []
    for text in texts:
        tokens = [byte_offset(text, m.start()) for m in TOKEN.finditer(text)]
        windows = tokens[: max(len(tokens) - width + 1, 0)]
        chosen = sorted(rng.sample(windows, k=min(3, len(windows))))
        starts += [offsets[-1] + s for s in chosen]
        expected.append(reference_span_cuts(text, chosen, width) if chosen else [])
        offsets.append(offsets[-1] + len(text.encode()))
    offsets_array = np.array(offsets, np.int64)
    classes = kernels.unit_classes()
    ranges, bounds = kernels.span_cuts(
        data, offsets_array, np.array(starts, np.int64), classes, width
    )
    found = [ranges[bounds[d] : bounds[d + 1]].tolist() for d in range(len(texts))]
    assert found == expected
    minimum = 40
    new, new_offsets, counts, rejected = kernels.cut_texts(
        data, offsets_array, ranges, bounds, classes, minimum
    )
    for d, (text, chosen) in enumerate(zip(texts, expected, strict=True)):
        shortened = cut(text, chosen)
        left = len(TOKEN.findall(shortened))
        if chosen:
            assert counts[d].tolist() == [len(TOKEN.findall(text)), left]
            assert rejected[d] == (left < minimum)
        else:
            assert counts[d].tolist() == [-1, -1] and not rejected[d]
        kept = text if (not chosen or rejected[d]) else shortened
        assert bytes(new[new_offsets[d] : new_offsets[d + 1]]).decode() == kept


def test_line_cuts_take_the_newline_or_the_break_before() -> None:
    """A removed line goes with its newline; the last line with the break before it ("\\r\\n"
    whole); touching removals merge."""
    texts = ["a\nb\nc", "a\r\nb\r\nc", "only", "x\n\ny\n", "p\nq"]
    data = np.frombuffer("".join(texts).encode(), np.uint8)
    offsets = np.r_[0, np.cumsum([len(t.encode()) for t in texts])].astype(np.int64)
    removed = {0: [2, 4], 1: [3, 6], 2: [0], 3: [0, 3], 4: [0]}  # line starts per document
    starts = np.array([offsets[d] + s for d, lines in removed.items() for s in lines], np.int64)
    ranges, bounds = kernels.line_cuts(data, offsets, starts)
    found = [ranges[bounds[d] : bounds[d + 1]].tolist() for d in range(len(texts))]
    assert found == [[[2, 5]], [[3, 7]], [[0, 4]], [[0, 2], [3, 5]], [[0, 2]]]


def test_kernel_tokens_are_token_matches_on_odd_pieces() -> None:
    """The compiled tokenizer finds what TOKEN finds, on the odd pieces glued and spaced."""
    for seed in range(50):
        text = "".join(random.Random(seed).choices([*ODD_PIECES, "ab", "中", "。"], k=40))
        assert run_units("spans", [text], 1) == reference_spans([text], 1)


def test_verify_restarts_at_another_distance() -> None:
    """Bytes known equal at one distance say nothing at another: a window overlapping the last
    one but with its first elsewhere ("cdefghij" against "cXefghij") is compared whole."""
    text = np.frombuffer(b"..abcdefghij..", np.uint8)
    first_text = np.frombuffer(b"abcdefgh|cXefghij", np.uint8)
    locs = np.array([0, 9, 2, 4], dtype=np.uint64)  # firsts (in first_text), then members
    lengths = np.array([8, 8, 8, 8], dtype=np.uint32)
    first = np.array([0, 1, 0, 1], dtype=np.uint32)
    differs = np.zeros(4, bool)
    kernels.verify(text, first_text, locs, lengths, first, np.array([2, 3], np.uint32), differs)
    assert differs.tolist() == [False, True, False, False]
