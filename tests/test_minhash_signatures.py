"""MinHash signatures: bit-identical to datasketch, vectorized, CJK-aware, LSH parameters."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
from datasketch import MinHash
from datasketch.lsh import _optimal_param

from stages.minhash.signatures import (
    MinHasher,
    ShingleConfig,
    hash_shingle,
    optimal_bands,
    s_curve_threshold,
    shingle_hashes,
    shingles,
    tokens,
)


def _texts(path: Path, limit: int) -> list[str]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line, _ in zip(fh, range(limit), strict=False)]


@pytest.fixture(scope="module")
def english(real_data: Path) -> list[str]:
    return _texts(real_data / "samples/cc/llamafactory_c4_demo.jsonl", 40)


@pytest.fixture(scope="module")
def chinese(real_data: Path) -> list[str]:
    return _texts(real_data / "reference/cmrc2018_zh_wikipedia.jsonl", 40)


EDGE = ["", "   ", "!!! ... ,,,", "one", "two words", "中文", "Ünïcode ＡＢＣ ١٢٣ x_y"]


def _datasketch(sh: list[bytes], num_perm: int, seed: int, scheme: str) -> np.ndarray:
    m = MinHash(num_perm=num_perm, seed=seed, hashfunc=hash_shingle, scheme=scheme)
    m.update_batch(sh)
    return m.hashvalues


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
@pytest.mark.parametrize(
    ("num_perm", "seed", "cfg"),
    [
        (128, 1, ShingleConfig()),
        (64, 7, ShingleConfig(ngram=3, cjk_ngram=4, strip_punctuation=False, fold_digits=False)),
    ],
)
def test_bit_identical_to_datasketch(english, chinese, scheme, num_perm, seed, cfg):
    docs = english + chinese + EDGE
    hasher = MinHasher(num_perm=num_perm, seed=seed, scheme=scheme)
    sigs = hasher.signatures(docs, cfg)
    assert sigs.shape == (len(docs), num_perm)
    for i, text in enumerate(docs):
        sh = shingles(text, cfg)
        expected = _datasketch(sh, num_perm, seed, scheme)
        assert sigs.dtype == expected.dtype
        assert np.array_equal(sigs[i], expected), f"doc {i}"
        hashes = shingle_hashes(text, cfg)
        assert hashes.tolist() == [hash_shingle(s) for s in sh]
        assert np.array_equal(hasher.signature(hashes), expected)


def test_tokenization_follows_the_definition(english, chinese):
    cfg = ShingleConfig()
    for text in english[:10]:
        toks, cjk = tokens(text, cfg)
        assert not cjk
        assert toks == re.findall(r"\w+", re.sub(r"\d", "0", text.lower()))
        assert len(shingles(text, cfg)) == max(1, len(toks) - 4)
    for text in chinese[:10]:
        toks, cjk = tokens(text, cfg)
        assert cjk and all(len(t) == 1 for t in toks)
        assert "，" not in toks and " " not in toks
    assert tokens("Price: 1,234 USD", cfg)[0] == ["price", "0", "000", "usd"]
    assert shingles("A b", cfg) == [b"a b"]


def _edit(words: list[str], rng: random.Random, rate: float) -> list[str]:
    out = list(words)
    for _ in range(int(len(out) * rate)):
        out[rng.randrange(len(out))] = f"zz{rng.randrange(10**6)}"
    return out


def test_estimate_near_true_jaccard(english):
    rng = random.Random(0)
    hasher = MinHasher(num_perm=256)
    cfg = ShingleConfig()
    long_docs = [t for t in english if len(t.split()) > 300][:8]
    assert long_docs
    for text in long_docs:
        edited = " ".join(_edit(text.split(), rng, 0.03))
        a, b = set(shingles(text, cfg)), set(shingles(edited, cfg))
        true = len(a & b) / len(a | b)
        sa, sb = hasher.signatures([text, edited], cfg)
        est = float(np.mean(sa == sb))
        assert abs(est - true) < 0.1, (est, true)  # 256 perms: std <= 0.031


def test_chinese_near_duplicates_found(chinese):
    rng = random.Random(1)
    hasher = MinHasher(num_perm=128)
    docs = [t for t in chinese if len(t) > 500][:10]
    for text in docs:
        chars = list(text)
        for _ in range(len(chars) // 100):  # 1% of the characters replaced
            chars[rng.randrange(len(chars))] = "鑫"
        sa, sb = hasher.signatures([text, "".join(chars)])
        assert float(np.mean(sa == sb)) > 0.75
    sigs = hasher.signatures(docs)
    off = [float(np.mean(sigs[i] == sigs[j])) for i in range(len(docs)) for j in range(i)]
    assert max(off) < 0.3


def test_empty_documents():
    hasher = MinHasher(num_perm=32)
    sigs = hasher.signatures(["", " \n ", "...!?", "real text here"])
    assert hasher.is_empty(sigs).tolist() == [True, True, True, False]
    assert np.all(sigs[0] == 2**32 - 1)
    assert np.array_equal(sigs[0], MinHash(num_perm=32).hashvalues)
    assert hasher.signatures([]).shape == (0, 32)
    assert shingle_hashes("", ShingleConfig()).size == 0


@pytest.mark.parametrize("num_perm", [128, 256])
@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.8, 0.9])
def test_optimal_bands_matches_datasketch(threshold, num_perm):
    bands, rows = optimal_bands(threshold, num_perm)
    assert (bands, rows) == _optimal_param(threshold, num_perm, 0.5, 0.5)
    assert bands * rows <= num_perm
    assert abs(s_curve_threshold(bands, rows) - threshold) < 0.1


def test_batches_split_documents_consistently(english, monkeypatch):
    import stages.minhash.signatures as mod

    hasher = MinHasher(num_perm=16)
    whole = hasher.signatures(english)
    monkeypatch.setattr(mod, "_BATCH_CHARS", 5000)
    assert np.array_equal(hasher.signatures(english), whole)
