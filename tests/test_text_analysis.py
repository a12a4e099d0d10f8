"""The document analysis (stages/text/analysis.py) counts exactly what the string definitions
count: the rules read its arrays instead of walking the text in Python, so any difference
would change a filter decision."""

from __future__ import annotations

import pytest

from stages.text import TextAnalysis, count_words, tokenize
from stages.text.punctuation import PUNCTUATION_CHARS
from tests.real_texts import crafted_documents, real_documents


def _documents() -> list[tuple[str, str | None]]:
    return real_documents(per_file=150) + crafted_documents()


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
