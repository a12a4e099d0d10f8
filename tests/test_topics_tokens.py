"""The topics stage's tokens, density features and dictionary, each against the plain
definition it replaces, on real documents (tests/topics_corpus.py) and on tricky text.

(a) `topic_tokens` (code points and one jieba call per document) equals the regex
definition: lower-cased runs of 3+ of re's `[^\\W\\d_]` between Han runs, jieba words of 2+
Han characters of each run (or bigrams), stop words dropped; (b) `token_features` and
`compression` equal their Python definitions; (c) `SampleBuilder` keeps exactly those tokens;
(d) `sample_dictionary` is gensim's `Dictionary` + `filter_extremes` + `doc2bow`, including
the fallback to gensim for a vocabulary that gensim would prune.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import numpy as np
import pytest
import rjieba
from gensim.corpora import Dictionary

from stages.text import HAN_CLASS
from stages.topics import vocabulary
from stages.topics.features import (
    COMPRESSION_WINDOW,
    RICHNESS_WINDOW,
    ChineseTokens,
    ad_words,
    compression,
    stop_words,
    token_features,
    topic_tokens,
)
from stages.topics.sample import SampleBuilder
from stages.topics.vocabulary import Pruning, sample_dictionary
from tests.topics_corpus import build_corpus

_LATIN = re.compile(r"[^\W\d_]{3,}")
_HAN_RUN = re.compile(f"[{HAN_CLASS}]+")
_HAN_WORD = re.compile(f"[{HAN_CLASS}]{{2,}}")

TRICKY = [
    "ΟΔΟΣ ΣΟΦΟΣ 中文ΑΣ 'Σ'中 ΑΣ'中",  # Greek final sigma beside Han runs
    "İSTANBUL Kelvin ﬁnance ǅemal straße ＡＢＣＤ",  # lower() that changes lengths
    "𝐀𝐁𝐂 𝐚𝐛𝐜𝐝 🙂🙂🙂 abc🙂def ⅫⅫⅫ ²³⁴ x²yz",  # astral letters, emoji, numerals
    "abc中文def 中文abc 英文字母abc中 a中b 中a中",  # Han runs touching letters
    "cafe\u0301 naïve e\u0301te\u0301 snake_case_word x_y_z 123abc abc123def",
    "\U00020000\U00020001文字 \U0002a6e0\U0002a6e1 \U0002ebf0字 丂\u3400\u4dbf 々々 〇〇",
    "我们的研究团队在北京大学发表了论文。DeepMind 模型\n\n第二段：机器学习。",
    "",
    "   \n\t ",
    "一",
]


def regex_topic_tokens(text: str, chinese: ChineseTokens = "jieba") -> list[str]:
    """The definition: regex letter runs between Han runs, jieba per Han run."""
    stop = stop_words()
    tokens: list[str] = []
    last = 0
    for run in _HAN_RUN.finditer(text):
        tokens += _LATIN.findall(text[last : run.start()].lower())
        han = run.group()
        if chinese == "jieba":
            tokens += [w for w in rjieba.cut(han) if _HAN_WORD.fullmatch(w)]
        else:
            tokens += [han[i : i + 2] for i in range(len(han) - 1)]
        last = run.end()
    tokens += _LATIN.findall(text[last:].lower())
    return [t for t in tokens if t not in stop]


def python_features(text: str, tokens: list[str]) -> tuple[float, float, float]:
    """(compression, richness, ad_share) as plain Python."""
    raw = text.encode()[:COMPRESSION_WINDOW]
    squeezed = len(zlib.compress(raw, 6)) / len(raw) if raw else 0.0
    windows = [
        tokens[i : i + RICHNESS_WINDOW]
        for i in range(0, max(len(tokens) - RICHNESS_WINDOW, 0) + 1, RICHNESS_WINDOW // 2)
    ]
    ratios = [len(set(w)) / len(w) for w in windows if w]
    richness = sum(ratios) / len(ratios) if ratios else 0.0
    ads = ad_words()
    ad_share = sum(t in ads for t in tokens) / len(tokens) if tokens else 0.0
    return squeezed, richness, ad_share


@pytest.fixture(scope="module")
def texts(real_data: Path) -> list[str]:
    return [doc.text for doc in build_corpus(real_data)] + TRICKY


@pytest.mark.parametrize("chinese", ["jieba", "bigrams"])
def test_topic_tokens_are_the_regex_definition(texts: list[str], chinese: ChineseTokens) -> None:
    for text in texts:
        assert topic_tokens(text, chinese) == regex_topic_tokens(text, chinese), text[:80]


def test_sampled_tokens_and_features_are_the_python_definitions(texts: list[str]) -> None:
    """SampleBuilder keeps each document's topic tokens (as ids into its words) and computes
    the Python features from them; quality is NaN when missing."""
    builder = SampleBuilder(0, "jieba")
    for row, text in enumerate(texts):
        builder.add(f"doc-{row}", row, text, "en", 0.5 if row % 2 else None)
    sample = builder.build()
    for d, text in enumerate(texts):
        tokens = [sample.words[t] for t in sample.tokens[sample.offsets[d] : sample.offsets[d + 1]]]
        assert tokens == regex_topic_tokens(text)
        expected = [*python_features(text, tokens), 0.5 if d % 2 else np.nan]
        assert sample.features[d].tolist() == pytest.approx(expected, abs=0, nan_ok=True)
    assert list(sample.rows) == list(range(len(texts))) and sample.ids[3] == "doc-3"


def test_token_features_of_documents_without_tokens() -> None:
    richness, ad_share = token_features(
        np.array([0, 1, 1], np.int32), np.array([0, 0, 3, 3]), np.array([True, False])
    )
    assert richness.tolist() == [0.0, 2 / 3, 0.0] and ad_share.tolist() == [0.0, 1 / 3, 0.0]
    assert compression("") == 0.0


def gensim_reference(
    tokens: list[list[str]], pruning: Pruning
) -> tuple[Dictionary, list[list[tuple[int, int]]]]:
    dictionary = Dictionary(tokens)
    dictionary.filter_extremes(pruning.no_below, pruning.no_above, pruning.keep_n)
    return dictionary, [dictionary.doc2bow(t) for t in tokens]


@pytest.mark.parametrize("prune_at", [vocabulary.PRUNE_AT, 100])
@pytest.mark.parametrize("pruning", [Pruning(5, 0.5, 50_000), Pruning(2, 0.2, 300)])
def test_the_sample_dictionary_is_gensims(
    texts: list[str], pruning: Pruning, prune_at: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ids, document and collection frequencies, counts and bags of words as gensim's; a
    vocabulary larger than prune_at is built by gensim itself."""
    monkeypatch.setattr(vocabulary, "PRUNE_AT", prune_at)
    docs = [topic_tokens(text) for text in texts]
    words = sorted({t for doc in docs for t in doc}, reverse=True)  # any order will do
    index = {w: i for i, w in enumerate(words)}
    ids = np.array([index[t] for doc in docs for t in doc], np.int32)
    offsets = np.cumsum([0, *map(len, docs)])
    ours, bows = sample_dictionary(ids, offsets, words, pruning)
    expected, expected_bows = gensim_reference(docs, pruning)
    assert ours.token2id == expected.token2id
    assert (ours.dfs, ours.cfs) == (expected.dfs, expected.cfs)
    assert (ours.num_docs, ours.num_pos, ours.num_nnz) == (
        expected.num_docs,
        expected.num_pos,
        expected.num_nnz,
    )
    assert [list(zip(b.ids.tolist(), b.counts.tolist(), strict=True)) for b in bows] == [
        [(i, float(c)) for i, c in bow] for bow in expected_bows
    ]
