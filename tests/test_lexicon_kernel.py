"""`Lexicon.find` and `Lexicon.first` (the compiled trie walk, stages/text/lexicon_kernel.py)
give exactly what the lexicon's regexes give (`regex_find`, `regex_first`, the definition), on
every real text of data_samples/ and on crafted and random edge cases; the walk really runs
(it does not leave everything to the regexes); the lower-case table is Python's."""

from __future__ import annotations

import gzip
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from stages.text import Lexicon
from stages.text.codepoints import NO_LOWER, lower_space_table
from stages.text.lexicon_kernel import codepoints_of
from tests.conftest import SAMPLES

SHIPPED = {"bad_words": Lexicon.bad_words(), "safety": Lexicon.safety()}
# A user lexicon with what the shipped lists lack: one- and two-character terms, spaces early
# in a term, terms that start or end with neither a Latin word character nor CJK, an astral
# term, Latin Extended and combining characters, digits.
CRAFTED_TERMS = [
    "k", "é", "x y", "a b c", "ab cd", "ab", "abc", "abcd", "$$money", "#tag", "c++", "😀",
    "😀 x", "x😀", "σ", "ς", "i̇", "ß", "å", "1xbet", "a\u0301b", "宝马", "宝", "马上", "ǆ",
    "q r s", "qq r",  # a space second or third, and no shorter term that starts the same
]  # fmt: skip
USER = Lexicon({term: term for term in CRAFTED_TERMS})
LEXICONS = {**SHIPPED, "user": USER}

CRAFTED_TEXTS = [
    "",
    " ",
    "\n\t \u3000",
    "Scunthorpe scunthorpe's xcuntx cunt. CUNT's (cunt) cunt",
    "fuck",
    "fuck!",
    "!fuck",
    "a fuck",
    "fuckwit fucking FUCKING FuCk fuck_ _fuck fuck1 1fuck",
    "blow job",
    "blow \n\t job blow\u3000job blow\u00a0job blow\u2028job blow\x1cjob blow\u0085job",
    "blow  jobs blowjobs blow\n\njobs  blow",
    "blow\u3000",
    "重庆时时彩 时时彩重庆时时彩 重庆时时彩彩 重重庆时时彩",
    "看porn视频 色情porn网站 a片av女优 JavaAV女优 最新AV女优合集",
    "ＣＡＳＩＮＯ ＦＵＣＫ casino\r\ncasino online  CASINO",
    "İstanbul porn İ porn",
    "pornİ fuckİ",
    "ΣΑΣ casino ΣΊΣΥΦΟΣ fuck",
    "ß ẞ SS porn ǅ ǆ Ǆ",
    "fuc\u212a FUC\u212a \u212aike \u212b",  # Kelvin sign lowers to 'k', Angstrom sign to 'å'
    "😀porn😀 😀 fuck 😀 𝐟𝐮𝐜𝐤 𐐀𐐨 fuck𐐀 casino",
    "porn\u0301 e\u0301porn pornó porno\u00a0site",
    "1xbet x1xbet 1xbet1 bet365 bet365x",
    "lone surrogate \ud800 porn \udfff fuck",
    "fuck " * 500,
    "赌场" * 300,
    "a b c ab cd abcd abc ab\tcd a  b   c $$money #tag c++ c++x x y xy k K ké",
    "😀 x x😀 😀x 😀😀 宝马宝马 宝 马上 σ ς Σ i̇ İ ß å Å a\u0301b A\u0301B ǅ",
    "q r s q  r s q\tr\n s qq r qq  r qq\u3000r Q R S",
]
# What random texts are drawn from: pieces of terms, whitespace of every kind, upper case,
# characters whose lower case is not one code point, word characters that make boundaries.
_RANDOM_PIECES = [
    *("fuck", "porn", "blow", "job", "casino", "cunt", "sex", "bet", "1xbet", "av"),
    *("重庆", "时时彩", "赌场", "女优", "宝马", "马上"),
    *CRAFTED_TERMS,
    *(" ", "  ", "\n", "\t", "\u3000", "\u00a0", "\r\n", "\x1c"),
    *("F", "U", "CK", "İ", "Σ", "\u212a", "😀", "\u0301", "é", "_", "x", ".", "1", "ß", "Å"),
]


def _json_texts(path: Path) -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                record = json.loads(line)
                yield from (record[k] for k in ("text", "raw_content") if k in record)


def real_texts() -> list[str]:
    """Every text field of data_samples/'s JSONL files, and the reference text files (whole,
    and line by line)."""
    texts = [t for path in sorted(SAMPLES.rglob("*.jsonl*")) for t in _json_texts(path)]
    for path in sorted((SAMPLES / "reference").glob("*.txt")):
        whole = path.read_text(encoding="utf-8")
        texts += [whole, *whole.splitlines()]
    return texts


@pytest.fixture(scope="module")
def texts() -> list[str]:
    found = real_texts()
    assert len(found) > 10_000 and sum(map(len, found)) > 5_000_000
    return found


def random_texts(count: int, seed: int = 17) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(_RANDOM_PIECES, k=rng.randint(1, 12))) for _ in range(count)]


def _differences(lexicon: Lexicon, texts: list[str]) -> list[tuple[str, object, object]]:
    bad = [(t, lexicon.find(t), lexicon.regex_find(t)) for t in texts]
    bad = [d for d in bad if d[1] != d[2]]
    firsts = [(t, lexicon.first(t), lexicon.regex_first(t)) for t in texts]
    return bad + [d for d in firsts if d[1] != d[2]]


@pytest.mark.parametrize("name", SHIPPED)
def test_real_texts_match_the_regexes(name: str, texts: list[str]) -> None:
    lexicon = SHIPPED[name]
    assert _differences(lexicon, texts) == []
    hits = sum(sum(lexicon.find(t).values()) for t in texts)
    assert hits > {"bad_words": 10, "safety": 500}[name]  # the comparison saw matches


@pytest.mark.parametrize("name", LEXICONS)
def test_crafted_and_random_texts_match_the_regexes(name: str) -> None:
    lexicon = LEXICONS[name]
    cases = CRAFTED_TEXTS + random_texts(10_000)
    assert _differences(lexicon, cases) == []
    assert sum(sum(lexicon.find(t).values()) for t in cases) > 1000


def test_known_counts() -> None:
    bad, safety = SHIPPED["bad_words"], SHIPPED["safety"]
    assert bad.find("Scunthorpe United") == {}
    assert bad.find("a blow\u3000\n job, blowjobs") == {"blow job": 1, "blowjobs": 1}
    assert safety.find("重庆时时彩") == {"gambling": 1}
    assert bad.find("FUC\u212a") == {"fuck": 1}  # Kelvin sign: lower-cased one at a time
    assert bad.first("😀 fuck 色情") == "fuck"
    # The scans of Latin-initial and other terms count separately: 'x😀' holds '😀'.
    want = {"a b c": 1, "ab cd": 1, "x😀": 1, "😀": 1, "k": 1}
    assert USER.find("a  b\tc ab cd x😀 k") == want
    assert USER.find("İ ς") == {"i̇": 1, "ς": 1}  # through the regexes (İ lower-cases to two)


def test_the_walk_reads_most_texts_itself(texts: list[str]) -> None:
    """The regexes are a fall-back for texts with İ or Σ, not the way most texts are read."""
    tries = SHIPPED["safety"]._tries
    walked = [tries.find(codepoints_of(t)) is not None for t in texts]
    assert sum(walked) / len(walked) > 0.99
    assert tries.find(codepoints_of("casino İ")) is None
    assert tries.find(codepoints_of("casino Σ")) is None


@pytest.mark.parametrize("name", LEXICONS)
def test_batch_is_find_of_each_text(name: str, texts: list[str]) -> None:
    lexicon = LEXICONS[name]
    sample = texts[::50] + CRAFTED_TEXTS + random_texts(300, seed=5)
    cps = [codepoints_of(t).astype(np.uint32) for t in sample]
    bounds = np.cumsum([0, *map(len, cps)])
    assert lexicon.find_batch(np.concatenate(cps), bounds) == [lexicon.find(t) for t in sample]


def test_code_points_are_utf16_only_below_u10000() -> None:
    assert codepoints_of("aé中").dtype == np.uint16
    assert codepoints_of("a\ud800").tolist() == [0x61, 0xD800]  # a lone surrogate is kept
    astral = codepoints_of("a😀")
    assert astral.dtype == np.uint32 and astral.tolist() == [0x61, 0x1F600]


def test_lower_space_table_is_python_lower_case() -> None:
    table = lower_space_table()
    chars = "".join(map(chr, range(0x110000)))
    lowered = [c.lower() for c in chars]
    want = np.array([ord(low) if len(low) == 1 else NO_LOWER for low in lowered], np.int32)
    want[[m.start() for m in re.finditer(r"\s", chars)]] = ord(" ")
    want[ord("Σ")] = NO_LOWER  # its lower case depends on its neighbours
    assert np.array_equal(table, want)
