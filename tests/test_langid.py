"""Our compiled lid.176 kernel (stages/filter/fasttext_predict.py) against fastText's own
`predict` on the same model file: the same label and the same float32 probability, bit for
bit, on every document of data_samples/, on its paragraphs, and on crafted edge cases."""

from __future__ import annotations

import functools
import gzip
import json
import random
from typing import Any

import fasttext
import numpy as np
import pytest

from stages.filter.fasttext_model import _division_magic, read_model
from stages.filter.fasttext_predict import _SPACE
from stages.filter.langid import (
    _lid,
    identify,
    identify_many,
    known_languages,
    model_path,
    predict_raw,
)
from tests.conftest import SAMPLES

MAX_CHARS = 20_000


@functools.cache
def _model() -> Any:
    """fastText's own predictor for the same file: the reference our kernel must equal."""
    return fasttext.load_model(model_path())


def reference(texts: list[str]) -> list[tuple[str, float]]:
    """What the filter did before: fastText's predict on the folded, cut text; ("und", 0.0)
    for nothing to predict on, the raw float32 probability otherwise (not capped)."""
    out = []
    for text in texts:
        sample = " ".join(text[:MAX_CHARS].split())
        if not sample:
            out.append(("und", 0.0))
            continue
        labels, probs = _model().predict(sample, k=1)
        out.append((labels[0].removeprefix("__label__"), float(probs[0])))
    return out


def ours(texts: list[str]) -> list[tuple[str, float]]:
    labels, probs = predict_raw(texts)
    names = _lid().labels
    return [
        ("und", 0.0) if label < 0 else (names[label], prob)
        for label, prob in zip(labels.tolist(), probs.tolist(), strict=True)
    ]


def assert_same(texts: list[str]) -> list[tuple[str, float]]:
    """Labels equal and probabilities bit-identical (float32 compared exactly), raw and as
    `identify_many` reports them (capped at 1.0)."""
    expected = reference(texts)
    got = ours(texts)
    wrong = [(t[:80], e, g) for t, e, g in zip(texts, expected, got, strict=True) if e != g]
    assert not wrong, f"{len(wrong)} of {len(texts)} differ, e.g. {wrong[:3]}"
    assert identify_many(texts) == [(lang, min(p, 1.0)) for lang, p in expected]
    return expected


def _jsonl_texts() -> list[str]:
    texts = []
    for path in sorted(SAMPLES.rglob("*.jsonl*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as lines:
            rows = [json.loads(line) for line in lines if line.strip()]
            texts += [row["text"] for row in rows if "text" in row]  # labels.jsonl has none
    return texts


@pytest.fixture(scope="module")
def documents() -> list[str]:
    """Every text field of data_samples/ JSONL (.gz) files and the reference .txt files."""
    texts = _jsonl_texts()
    texts += [path.read_text(encoding="utf-8") for path in sorted(SAMPLES.glob("reference/*.txt"))]
    return texts


def test_real_documents_match_fasttext(documents: list[str]) -> None:
    results = assert_same(documents)
    assert len(documents) > 3000
    assert len({lang for lang, _ in results}) >= 20  # many languages, not one answer
    assert len({p for _, p in results}) > 1000
    assert any(p > 1.0 for _, p in results)  # fastText's own probabilities exceed 1


def test_paragraphs_match_fasttext(documents: list[str]) -> None:
    """Short texts: every paragraph (line) of a sample of the documents, one batch."""
    paragraphs = [line for text in documents[::3] for line in text.split("\n") if line.strip()]
    assert len(paragraphs) > 10_000
    assert_same(paragraphs)


WORDS_IN_VOCABULARY = "de in and la the der und "  # lid.176's most frequent words
CRAFTED = [
    "",
    " ",
    " \t\n\r\v\f ",
    "\u3000\xa0\u2028 \u3000",
    "\x00",
    "\x00\x00 \x00a",
    "a\x00b\x00c",
    "\x01\x02\x07\x08\x0e\x1b\x7f control",
    "x\x1cy\x1dz\x1e\x1fw\x85v",  # str.isspace but not readWord separators
    "line one\r\nline two\rthree\vfour\ffive\tsix",
    "word" * 25_000,  # one 100,000-character word
    "長" * 30_000,
    "emoji 😀😀 👍🏽 flags 🇫🇷🇩🇪 astral 𝕏𝔸𝕄 𠀀𠀁𠀂 𐍈",
    "😀",
    "mixed 中文 English Русский 日本語 العربية हिन्दी ελληνικά 한국어",
    WORDS_IN_VOCABULARY,
    "Zqxjkv Wqrtpl Bnmxzq",  # out of vocabulary
    "a b c d e f g h i j",  # one-character words
    "é",
    "</s>",
    "</s> hello world",
    "bonjour </s> hello world",
    "hello</s> world </s>",
    "__label__en",
    "__label__en __label__fr bonjour",
    "__label__xx unknown label",
    "__label__",
    "< > <> <<>> <s> </s>x",
    "\u200b zero\u200bwidth \ufeff bom \u00ad soft",
    "\ufffd\ufffd replacement \ue000 private \uf8ff",
    "e\u0301te\u0301 combining",
    "Ｔ恤 A股 X光 3D打印 iPhone手机 ABC公司在2019年。第二句！",
    "x" * MAX_CHARS,
    "x" * (MAX_CHARS - 1) + " 中",
    "x" * (MAX_CHARS - 2) + " 中文",
    "hello " * 3333 + "中文" * 10,  # cut inside the Chinese
    "中" * (MAX_CHARS + 1),
    "\u3000".join(["日本語のテキスト"] * 100),
]


def test_crafted_texts_match_fasttext() -> None:
    results = assert_same(CRAFTED)
    assert results[0] == ("und", 0.0) and results[3] == ("und", 0.0)
    assert results[4][0] != "und"  # a NUL is not blank for str.split, only for fastText


@pytest.mark.parametrize("space", [chr(c) for c in np.flatnonzero(_SPACE)])
def test_every_separator_matches_fasttext(space: str) -> None:
    """Each separator of the kernel (readWord's, and every str.isspace character that
    str.split folds) between words, doubled, alone, and at the ends."""
    texts = [f"bonjour{space}le{space}{space}monde", space, f"{space}中文{space}", f"a{space}"]
    assert_same(texts)


def test_str_isspace_is_within_the_kernel_table() -> None:
    """The kernel decodes separators up to U+FFFF: no str.isspace character lies beyond."""
    assert not [c for c in range(0x10000, 0x110000) if chr(c).isspace()]
    # readWord's separators are str.isspace characters but for \0
    assert _SPACE[0] and _SPACE[1:].tolist() == [chr(c).isspace() for c in range(1, 0x10000)]


def test_random_mixtures_match_fasttext() -> None:
    """Random strings over a small alphabet of scripts, spaces and separators: token
    boundaries, n-gram edges and multi-byte characters in every combination."""
    rng = random.Random(20_000)
    alphabet = [*"abcdeé中文日本\u3000 \t\x00\x1c😀<>_/s", "</s>", "__label__", "the "]
    texts = ["".join(rng.choices(alphabet, k=rng.randrange(1, 60))) for _ in range(2000)]
    assert_same(texts)


def test_lone_surrogates_fail_as_before() -> None:
    """fastText's binding cannot take a lone surrogate (TypeError): neither can we."""
    with pytest.raises(TypeError):
        _model().predict("lone \ud800 surrogate", k=1)
    with pytest.raises(TypeError):
        identify("lone \ud800 surrogate")
    with pytest.raises(TypeError):
        identify_many(["fine", "lone \udfff surrogate"])
    assert identify("x" * MAX_CHARS + "\ud800") == identify("x" * MAX_CHARS)  # cut off


def test_identify_is_identify_many_of_one() -> None:
    texts = ["hello world", "", "中文句子", "Das ist ein Test", "\x00"]
    assert [identify(text) for text in texts] == identify_many(texts)
    assert identify_many([]) == []
    assert identify("Das ist ein ganz normaler deutscher Satz.")[0] == "de"
    assert identify("   ") == ("und", 0.0)


def test_the_model_is_read_as_fasttext_reads_it() -> None:
    model = read_model(model_path())
    assert (model.minn, model.maxn, model.bucket) == (2, 4, 2_000_000)
    assert model.rows.shape == (50_000, 16) and model.output.shape == (176, 16)
    labels = {label.removeprefix("__label__") for label in _model().get_labels()}
    assert known_languages() == labels and len(labels) == 176
    assert _model().get_words(on_unicode_error="replace")[0] == "</s>" and model.eos_id == 0


def test_division_magic_is_exact() -> None:
    for divisor in (2_000_000, 10_000_000, 1, 2, 1 << 20, 999_983):
        magic, shift = _division_magic(divisor)
        if not magic:
            continue
        rng = np.random.default_rng(divisor)
        h = np.concatenate(
            [rng.integers(0, 1 << 32, 200_000), [0, 1, (1 << 32) - 1, divisor - 1, divisor]]
        )
        h = np.concatenate([h, (h // divisor) * divisor, (h // divisor) * divisor - 1])
        h = h[(h >= 0) & (h < 1 << 32)].astype(np.uint64)
        assert np.array_equal((h * np.uint64(magic)) >> np.uint64(shift), h // divisor)
