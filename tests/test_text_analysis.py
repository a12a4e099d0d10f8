"""The document analysis (stages/text/analysis.py) counts exactly what the string definitions
count: the rules read its arrays instead of walking the text in Python, so any difference
would change a filter decision."""

from __future__ import annotations

import re

import pytest

from stages.text import SENTENCE_END, DocView, TextAnalysis, count_words, tokenize
from stages.text.punctuation import PUNCTUATION_CHARS
from tests.real_texts import crafted_documents, real_documents


def _documents() -> list[tuple[str, str | None]]:
    return real_documents(per_file=150) + crafted_documents()


DOCUMENTS = _documents()
# The garbled-text rule's characters: replacement, private use, C0 controls but tab, LF, CR.
GARBLED = re.compile(r"[\ufffd\ue000-\uf8ff\x00-\x08\x0b\x0c\x0e-\x1f]")


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
        assert analysis.garbled_chars == len(GARBLED.findall(text))


def test_chinese_words_do_not_depend_on_runs_cut_before() -> None:
    """jieba's pieces come from the worker's cache of runs (`stages.text.jieba_runs`): a page
    read again, and a copy of it with one character changed (its run is cut anew, the others
    are read from the cache), get the words that cutting the whole text gives."""
    chinese = [text for text, lang in DOCUMENTS if lang == "zh"][:40]
    for text in chinese:
        middle = len(text) // 2
        changed = text[:middle] + ("的" if text[middle] != "的" else "是") + text[middle + 1 :]
        for version in (text, text, changed):
            analysis = TextAnalysis(version, "zh")
            spans = zip(analysis.word_starts.tolist(), analysis.word_ends.tolist(), strict=True)
            words = [t for t in tokenize(version, "zh") if t.strip(PUNCTUATION_CHARS)]
            assert [version[a:b] for a, b in spans] == words


def test_equal_words_have_equal_hashes() -> None:
    text = "the cat and the hat and THE cat"
    analysis = TextAnalysis(text, "en")
    by_word: dict[str, set[int]] = {}
    for a, b, h in zip(analysis.word_starts, analysis.word_ends, analysis.word_hashes, strict=True):
        by_word.setdefault(text[a:b], set()).add(int(h))
    assert all(len(hashes) == 1 for hashes in by_word.values())
    assert len({next(iter(h)) for h in by_word.values()}) == len(by_word) == 5


SENTENCE_CASES = [
    "One. Two! Three? e.g. 3.5 U.S.A. end.",
    'He said "stop." Then (really.) she left.\'',
    "Wait... what?! ok…x …? 。x",
    "中文句子。第二句！第三句？？结尾。」「引号。」后面",
    "mixed?。x .。！x ?!。。x 。.x",
    "trailing.\n",
    "tab.\tnbsp.\xa0ideographic space.\u3000end",
    ".!?。！？…",
    "",
]


def test_sentence_ends_count_what_the_regex_matches() -> None:
    for text in SENTENCE_CASES + [text for text, _ in DOCUMENTS]:
        assert DocView(text, None).sentences == len(SENTENCE_END.findall(text)), text[:80]
