"""The document analysis (stages/text/analysis.py) counts exactly what the string definitions
count: the rules read its arrays instead of walking the text in Python, so any difference
would change a filter decision."""

from __future__ import annotations

import gzip
import json
from itertools import islice
from pathlib import Path

import pytest

from stages.text import TextAnalysis, count_words, tokenize
from stages.text.punctuation import PUNCTUATION_CHARS
from tests.conftest import SAMPLES

REAL_FILES = {
    "en": (
        "wiki/enwiki_wikitext2.jsonl",
        "samples/cc/datajuicer_redpajama-c4-refined.jsonl",
        "samples/cc/dolma_CC-MAIN-2019-30_00140.jsonl.gz",
    ),
    "zh": ("wiki/zhwiki_cmrc2018.jsonl", "samples/cc/oscar2019_multilingual.jsonl"),
}
CRAFTED = [
    "",
    "   \n\t \n",
    "don't 'quoted' l’eau ''x'' it's’ a'b'c _under_ score__",
    "e\u0301te\u0301 na\u0308ive ﬁne Ⓐⓑ ẞ ǅ İstanbul",
    "emoji 😀😀 box ─┼─ math ∑∫ ™ © …... ——",
    "line one\r\nline two\n\nΣΊΣΥΦΟΣ ALL CAPS HERE\n  12,345 views\n",
    "中文句子，包含标点。English mixed 混合 text！\n第二行 2024年\n",
    "lone surrogate \ud800 here",  # not from Arrow, but a user rule may build one (not jieba)
]


def _texts(path: Path, limit: int = 150) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line)["text"] for line in islice(lines, limit)]


def _documents() -> list[tuple[str, str]]:
    docs = [
        (text, lang)
        for lang, files in REAL_FILES.items()
        for f in files
        for text in _texts(SAMPLES / f)
    ]
    crafted = [(text, lang) for text in CRAFTED for lang in ("en", "zh", "ja", None)]
    return docs + [(text, lang) for text, lang in crafted if lang != "zh" or "\ud800" not in text]


DOCUMENTS = _documents()


def test_the_real_samples_cover_both_languages() -> None:
    assert sum(lang == "zh" for _, lang in DOCUMENTS) > 200
    assert sum(lang == "en" for _, lang in DOCUMENTS) > 250


@pytest.mark.parametrize("lang", ["en", "zh", "ja", None])
def test_analysis_counts_what_the_string_definitions_count(lang: str | None) -> None:
    for text, doc_lang in DOCUMENTS:
        if doc_lang != lang:
            continue
        analysis = TextAnalysis(text, lang)
        words = [t for t in tokenize(text, lang) if t.strip(PUNCTUATION_CHARS)]
        spans = zip(analysis.word_starts.tolist(), analysis.word_ends.tolist(), strict=True)
        assert [text[a:b] for a, b in spans] == words
        assert analysis.n_tokens == len(tokenize(text, lang))
        assert analysis.alpha_words == sum(any(ch.isalpha() for ch in w) for w in words)
        lines = text.split("\n")
        assert analysis.line_words.tolist() == [count_words(line, lang) for line in lines]
        letters = [[ch for ch in line if ch.isalpha()] for line in lines]
        assert analysis.line_letters.tolist() == list(map(len, letters))
        upper = [sum(ch.isupper() for ch in line) for line in letters]
        assert analysis.line_upper_letters.tolist() == upper
        assert analysis.alnum_chars == sum(ch.isalnum() for ch in text)
        special = sum(
            not (ch.isalnum() or ch == "_" or ch.isspace() or ch in PUNCTUATION_CHARS)
            for ch in text
        )
        assert analysis.special_chars == special


def test_equal_words_have_equal_hashes() -> None:
    text = "the cat and the hat and THE cat"
    analysis = TextAnalysis(text, "en")
    by_word: dict[str, set[int]] = {}
    for a, b, h in zip(analysis.word_starts, analysis.word_ends, analysis.word_hashes, strict=True):
        by_word.setdefault(text[a:b], set()).add(int(h))
    assert all(len(hashes) == 1 for hashes in by_word.values())
    assert len({next(iter(h)) for h in by_word.values()}) == len(by_word) == 5
