"""The text toolkit (stages/text): one CJK table that every stage's notion of CJK derives from,
language-aware words, and a document's lines and paragraphs."""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path

import pytest

from stages.minhash.signatures import tokens as minhash_tokens
from stages.substring.spans import span_key
from stages.text import (
    CJK_BLOCKS,
    CJK_RANGES,
    HAN_RANGES,
    DocView,
    Lexicon,
    count_words,
    is_cjk,
    tokenize,
    word_set,
)
from stages.topics.features import topic_tokens

REPO = Path(__file__).resolve().parents[1]
TABLE = REPO / "stages" / "text" / "scripts.py"
# A code point that starts or ends one of the CJK blocks, written as an escape or a hex literal:
# such a literal anywhere but the table would be a second table.
_BLOCK_EDGES = {f"{edge:04x}" for block in CJK_BLOCKS for edge in (block.first, block.last)}
_EDGE_LITERAL = re.compile(
    r"(?:\\u|\\U000|0x)(" + "|".join(sorted(_BLOCK_EDGES)) + r")\b", re.IGNORECASE
)
# One assigned character of each block (the first code point of some blocks is unassigned).
SAMPLES = [(chr(block.first + 1), block.script) for block in CJK_BLOCKS]
HANGUL = "한"  # written with spaces between words: not CJK here


def test_the_table_is_sorted_disjoint_and_han_is_a_subset() -> None:
    assert list(CJK_RANGES) == sorted(CJK_RANGES)
    assert all(last < first for (_, last), (first, _) in pairwise(CJK_RANGES))
    assert set(HAN_RANGES) < set(CJK_RANGES)
    assert {block.script for block in CJK_BLOCKS} == {"han", "kana"}


def test_no_cjk_range_is_written_outside_the_table() -> None:
    sources = [*(REPO / "stages").rglob("*.py"), *(REPO / "tokenizer").rglob("*.py")]
    tables = [
        f"{path.relative_to(REPO)}: {match.group()}"
        for path in sources
        if path != TABLE
        for match in _EDGE_LITERAL.finditer(path.read_text(encoding="utf-8"))
    ]
    assert tables == []
    assert _EDGE_LITERAL.search(TABLE.read_text(encoding="utf-8"))  # the check can see a table


@pytest.mark.parametrize(("char", "script"), SAMPLES)
def test_every_stage_reads_cjk_from_the_table(char: str, script: str) -> None:
    assert is_cjk(char) and not is_cjk(HANGUL)
    # substring: every CJK character is a token of its own, Hangul runs stay whole
    assert span_key(f"{char * 3} {HANGUL * 2}") == "\n".join([char] * 3 + [HANGUL * 2])
    # minhash: a CJK document is shingled by characters
    assert minhash_tokens(char * 6) == ([char] * 6, True)
    assert minhash_tokens(HANGUL * 6) == ([HANGUL * 6], False)
    # filter, scorers and topics count Han only
    han = script == "han"
    assert DocView(char * 4, None).han_chars == (4 if han else 0)
    assert (topic_tokens(char * 3, "bigrams") == [char * 2] * 2) is han


def test_japanese_and_thai_are_split_into_characters() -> None:
    assert tokenize("東京ｱｲ です", "ja") == ["東", "京", "ｱ", "ｲ", "で", "す"]
    assert tokenize("สวัสดี", "th") == list("สวัสดี")


def test_english_words_keep_contractions_and_split_punctuation() -> None:
    assert tokenize("Don't stop—it's 3.5 km away...", "en") == (
        ["Don't", "stop", "—", "it's", "3", ".", "5", "km", "away", "..."]
    )
    assert count_words("Hello , world !!", "en") == 2


def test_chinese_is_segmented_into_words() -> None:
    assert tokenize("我们在北京大学读书。", "zh") == ["我们", "在", "北京大学", "读书", "。"]
    assert count_words("我们在北京大学读书。", "zh") == 4
    assert tokenize("北京大学", None) == ["北京大学"]  # unknown language: no segmentation


def test_lines_paragraphs_and_sentences() -> None:
    doc = DocView("First line.\nSecond line\n\n\nThird one. Yes!\n\n", "en")
    assert doc.lines == ["First line.", "Second line", "", "", "Third one. Yes!", "", ""]
    assert doc.nonempty_lines == ["First line.", "Second line", "Third one. Yes!"]
    assert doc.paragraphs == ["First line.\nSecond line", "Third one. Yes!"]
    assert doc.sentences == 3
    assert doc.words == ["First", "line", "Second", "line", "Third", "one", "Yes"]


def test_word_set_skips_comment_lines() -> None:
    assert word_set("# a header line\nbuy sale\n  price\n") == {"buy", "sale", "price"}


def test_filter_and_score_share_one_safety_lexicon() -> None:
    from stages.filter.blocklists import default_lists
    from stages.score.stage import ScoreConfig, ScoreStage

    score = ScoreStage(ScoreConfig())
    assert default_lists().safety is Lexicon.safety() is score._safety_lexicon
    assert Lexicon.safety().find("online casino 赌场") == {"gambling": 2}
