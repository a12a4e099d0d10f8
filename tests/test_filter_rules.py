"""Each rule has a keep case and a reject case, in English and in Chinese where it applies.
The rules are called directly: these tests are the rules' specification."""

from __future__ import annotations

import random
from collections import Counter
from itertools import accumulate

import pytest

from stages.filter.ngrams import repetition_chars
from stages.filter.rules import (
    C4,
    LANGUAGE_DEFAULTS,
    FineWeb,
    GopherQuality,
    GopherRepetition,
    RefinedWebLines,
    Rules,
    TextQuality,
    apply_c4,
    check_fineweb,
    check_gopher_quality,
    check_gopher_repetition,
    check_text_quality,
    correct_refinedweb_lines,
)
from stages.text import DocView, tokenize

EN = (
    "The old harbour town sits at the mouth of a wide river, and its people have fished "
    "these waters for centuries. Every morning the boats leave before dawn, and they return "
    "in the afternoon with the day's catch.\n"
    "Visitors often come for the market, which opens on Saturdays in the square near the "
    "church. Stalls sell bread, cheese, smoked fish and vegetables grown on the farms that "
    "surround the town.\n"
    "In the evenings, the cafes along the quay fill with families. Children play by the water "
    "while their parents talk about the weather, the prices and the news from the capital.\n"
    "The town has a small museum that tells the story of the fishing fleet. It was opened in "
    "1925 by a retired captain who collected maps, nets and photographs."
)
ZH = (
    "这座古老的港口小镇坐落在一条宽阔河流的入海口，镇上的人们世世代代在这片水域捕鱼。"
    "每天清晨，渔船在天亮之前出发，下午带着当天的渔获返回港口。\n"
    "游客们常常为了集市而来，集市每周六在教堂附近的广场上开放。摊位上出售面包、奶酪、熏鱼"
    "以及小镇周边农场种植的蔬菜。\n"
    "到了傍晚，码头边的咖啡馆里坐满了一家一家的人。孩子们在水边玩耍，父母们则谈论天气、"
    "物价和来自首都的新闻。\n"
    "小镇上有一座小型博物馆，讲述了渔船队的历史。它由一位退休船长在一九二五年创办，"
    "他收集了许多地图、渔网和老照片。"
)
ZH_RULES = Rules.model_validate(
    {k: {**getattr(Rules(), k).model_dump(), **v} for k, v in LANGUAGE_DEFAULTS["zh"].items()}
)


def no_bad_words(text: str) -> Counter[str]:
    return Counter()


def view(text: str, lang: str = "en") -> DocView:
    return DocView(text, lang)


def reason(rejection: object) -> str | None:
    return getattr(rejection, "reason", None)


def test_chinese_is_segmented_into_words_not_one_token() -> None:
    words = view(ZH, "zh").words
    assert len(words) > 100  # whitespace splitting would give 4 "words"
    assert "港口" in words and "博物馆" in words
    assert tokenize("Hello, world!", "en") == ["Hello", ",", "world", "!"]


@pytest.mark.parametrize(("text", "lang"), [(EN, "en"), (ZH, "zh")])
def test_clean_text_passes_every_rule(text: str, lang: str) -> None:
    rules = ZH_RULES if lang == "zh" else Rules()
    doc = view(text, lang)
    assert check_text_quality(doc, rules.text_quality) is None
    assert check_gopher_repetition(doc, rules.gopher_repetition) is None
    assert check_gopher_quality(doc, rules.gopher_quality) is None
    edited, removed, rejection = correct_refinedweb_lines(doc, rules.refinedweb)
    assert rejection is None and removed == 0 and edited.text == text
    edited, _, rejection = apply_c4(doc, rules.c4, no_bad_words)
    assert rejection is None and edited.text == text
    assert check_fineweb(doc, rules.fineweb) is None


# --- text quality ---


def test_garbled_and_special_characters() -> None:
    cfg = TextQuality()
    garbled = EN.replace("e", "\ufffd", 40)
    assert reason(check_text_quality(view(garbled), cfg)) == "text_quality:max_garbled_char_ratio"
    symbols = EN + " ★☆♥♦♣♠✈☎" * 150
    assert reason(check_text_quality(view(symbols), cfg)) == "text_quality:max_special_char_ratio"


def test_chinese_document_must_be_mostly_chinese() -> None:
    cfg = ZH_RULES.text_quality
    assert check_text_quality(view(ZH, "zh"), cfg) is None
    mostly_code = "中文标题\n" + "def main(): return value_of_the_function(x, y)\n" * 20
    assert reason(check_text_quality(view(mostly_code, "zh"), cfg)) == (
        "text_quality:min_cjk_char_ratio"
    )


# --- Gopher quality ---


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("Too short to be a document.", "en", "min_doc_words"),
        ("很短的文字。", "zh", "min_doc_words"),
        (" ".join(["a b c d"] * 40), "en", "min_avg_word_length"),
        (" ".join(["extraordinarilylongwordsequence"] * 60), "en", "max_avg_word_length"),
        (EN + " #tag" * 60, "en", "max_symbol_word_ratio"),
        (
            "\n".join(f"- item number {i} of the list with the" for i in range(60)),
            "en",
            "max_bullet_lines_ratio",
        ),
        (
            "\n".join(
                f"the story of the town continues with chapter {i} of the long book and then..."
                for i in range(40)
            ),
            "en",
            "max_ellipsis_lines_ratio",
        ),
        (" ".join(["the 12345 67890 11111 22222 33333 and"] * 20), "en", "min_alpha_words_ratio"),
        (" ".join(["harbour boats market bread cheese river"] * 12), "en", "min_stop_words"),
        ("港口渔船集市面包奶酪河流" * 12, "zh", "min_stop_words"),
    ],
)
def test_gopher_quality_rejects(text: str, lang: str, expected: str) -> None:
    cfg = ZH_RULES.gopher_quality if lang == "zh" else GopherQuality()
    assert reason(check_gopher_quality(view(text, lang), cfg)) == f"gopher_quality:{expected}"


# --- Gopher repetition ---


def top_ngram_chars(words: list[str], n: int) -> int:
    return repetition_chars(view(" ".join(words), "en").analysis, (n,), ())[0][0]


def duplicated_ngram_chars(words: list[str], n: int) -> int:
    return repetition_chars(view(" ".join(words), "en").analysis, (), (n,))[1][0]


def test_ngram_measures() -> None:
    words = ["a", "b", "a", "b", "a", "b", "c"]
    assert top_ngram_chars(words, 2) == 2 * 3  # "a b" three times, 2 chars each
    assert duplicated_ngram_chars(["x", "y", "z", "x", "y", "z"], 3) == 3
    assert top_ngram_chars([], 2) == duplicated_ngram_chars(["a"], 2) == 0


def _top_by_tuples(words: list[str], n: int) -> int:
    """The definition, on word tuples: the most common n-gram's characters times its count,
    the first in the document of equally common ones."""
    grams = Counter(zip(*(words[i:] for i in range(n)), strict=False))
    if not grams:
        return 0
    gram, count = grams.most_common(1)[0]
    return sum(map(len, gram)) * count


def _duplicated_by_tuples(words: list[str], n: int) -> int:
    """The definition (datatrove's loop): after a duplicate n-gram, skip its words."""
    grams = list(zip(*(words[i:] for i in range(n)), strict=False))
    ends = [0, *accumulate(map(len, words))]
    seen: set[tuple[str, ...]] = set()
    chars = i = 0
    while i < len(grams):
        if grams[i] in seen:
            chars += ends[i + n] - ends[i]
            i += n
        else:
            seen.add(grams[i])
            i += 1
    return chars


def test_ngram_ids_agree_with_the_tuple_definitions() -> None:
    rng = random.Random(7)
    vocabulary = ["a", "bb", "ccc", "the", "of", "中文", "x"]
    for _ in range(500):
        words = [rng.choice(vocabulary[: rng.randint(1, 7)]) for _ in range(rng.randint(0, 50))]
        analysis = view(" ".join(words), "en").analysis
        top, duplicated = repetition_chars(analysis, tuple(range(1, 11)), tuple(range(1, 11)))
        assert top == [_top_by_tuples(words, n) for n in range(1, 11)]
        assert duplicated == [_duplicated_by_tuples(words, n) for n in range(1, 11)]


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("\n\n".join([EN.split("\n")[0]] * 3 + [EN]), "en", "max_dup_para_frac"),
        (
            "\n".join(["Buy cheap watches online today."] * 5 + EN.split("\n")),
            "en",
            "max_dup_line_frac",
        ),
        (
            "\n".join(["立即购买便宜手表，今日特价！"] * 5 + ZH.split("\n")),
            "zh",
            "max_dup_line_frac",
        ),
        (EN + " " + "click the link " * 60, "en", "max_top_2gram_char_frac"),
        (ZH + "点击链接" * 80, "zh", "max_top_2gram_char_frac"),
    ],
)
def test_gopher_repetition_rejects(text: str, lang: str, expected: str) -> None:
    result = check_gopher_repetition(view(text, lang), GopherRepetition())
    assert reason(result) == f"gopher_repetition:{expected}"


def test_duplicated_long_ngrams_are_caught() -> None:
    sentence = "we sell the best shoes and the finest bags in the whole wide world today"
    text = EN + "\n" + " ".join([sentence] * 4)
    cfg = GopherRepetition(max_top_ngram_char_frac={})
    assert reason(check_gopher_repetition(view(text), cfg)).startswith("gopher_repetition:max_dup_")


# --- RefinedWeb line corrections ---


def test_refinedweb_removes_navigation_and_counters_in_both_languages() -> None:
    cfg = RefinedWebLines(max_removed_words_frac=0.5)
    en_noise = "SIGN IN\n12 comments\nRead more about the harbour\nMenu\n"
    edited, removed, rejection = correct_refinedweb_lines(view(en_noise + EN), cfg)
    assert rejection is None and removed == 4 and edited.text == EN
    zh_noise = "登录 | 注册\n1234 阅读\n返回顶部\n"
    edited, removed, rejection = correct_refinedweb_lines(view(zh_noise + ZH, "zh"), cfg)
    assert rejection is None and removed == 3 and edited.text == ZH


def test_refinedweb_rejects_a_document_that_loses_too_much() -> None:
    noisy = "\n".join(["Share on Facebook and Twitter now"] * 10) + "\n" + EN
    result = correct_refinedweb_lines(view(noisy), RefinedWebLines())
    assert reason(result[2]) == "refinedweb:max_removed_words_frac"


# --- C4 ---


def test_c4_drops_lines_and_keeps_sentences() -> None:
    noisy = "Home\nPlease enable JavaScript to view the comments.\nRead our privacy policy.\n"
    edited, removed, rejection = apply_c4(view(noisy + EN), C4(), no_bad_words)
    assert rejection is None and removed == 3 and edited.text == EN
    zh_noisy = "首页\n请阅读我们的隐私政策。\n"
    edited, removed, rejection = apply_c4(view(zh_noisy + ZH, "zh"), ZH_RULES.c4, no_bad_words)
    assert rejection is None and removed == 2 and edited.text == ZH


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_edited_documents_carry_the_word_counts_of_their_lines(lang: str) -> None:
    """The line editors hand on each kept line's word count instead of analysing the edited
    text again: the counts must be what a fresh analysis gives."""
    clean = ZH if lang == "zh" else EN
    noisy = "\n  \nMENU\n登录 | 注册\n  First [1] line here, a cite[2]d word.\n\n" + clean + "\n \n"
    doc = view(noisy, lang)
    for edit in (
        lambda d: correct_refinedweb_lines(d, RefinedWebLines(max_removed_words_frac=1))[0],
        lambda d: apply_c4(d, C4(min_num_sentences=None), no_bad_words)[0],
    ):
        edited = edit(doc)
        assert edited.line_words == view(edited.text, lang).analysis.line_words.tolist()
        doc = edited


def test_c4_drops_lines_with_a_word_over_the_length_limit() -> None:
    """A word is what `str.split()` yields: any Unicode space ends one."""
    cfg = C4(max_word_length=10, min_num_sentences=None)
    lines = [
        "short words in this line",
        "x" * 11 + " and more words",
        "x" * 10 + "\u3000" + "y" * 10 + " z",
    ]
    edited, removed, _ = apply_c4(view("\n".join(lines)), cfg, no_bad_words)
    assert removed == 1 and edited.lines == [lines[0], lines[2]]


def count_bad_words(text: str) -> Counter[str]:
    return Counter({"badword": text.count("badword")}) if "badword" in text else Counter()


def test_c4_keeps_one_swear_word_and_code_by_default() -> None:
    text = EN + "\nThe badword appears once in a quote.\nfunction f() { return 1; }"
    assert apply_c4(view(text), C4(), count_bad_words)[2] is None


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        (EN + "\nLorem ipsum dolor sit amet.", "en", "reject_lorem_ipsum"),
        (EN + "\nfunction f() { return 1; }", "en", "reject_curly_bracket"),
        ("One sentence here. Two sentences here.", "en", "min_num_sentences"),
        ("只有一句话。第二句话。", "zh", "min_num_sentences"),
        (EN + "\nThis has a badword, badword and badword in it.", "en", "reject_bad_words"),
    ],
)
def test_c4_rejects(text: str, lang: str, expected: str) -> None:
    cfg = C4(reject_curly_bracket=True)  # off by default; C4's own setting is on
    result = apply_c4(view(text, lang), cfg, count_bad_words)[2]
    assert reason(result) == f"c4:{expected}"


# --- FineWeb ---


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("\n".join(f"Product {i} in stock now" for i in range(30)), "en", "min_line_punct_ratio"),
        ("\n".join(["Short line.", "Another one.", "Yes."] * 10), "en", "max_short_line_ratio"),
        ("\n".join(["短行。", "又一行。", "是的。"] * 10), "zh", "max_short_line_ratio"),
        (EN + "\n" + EN.split("\n")[1], "en", "max_dup_line_char_ratio"),
        (
            "\n".join(f"Item{i}." for i in range(120)) + "\n" + EN,
            "en",
            "max_newline_word_ratio",
        ),
    ],
)
def test_fineweb_rejects(text: str, lang: str, expected: str) -> None:
    cfg = ZH_RULES.fineweb if lang == "zh" else FineWeb(max_short_line_ratio=None)
    if expected == "max_short_line_ratio":
        cfg = cfg.model_copy(update={"max_short_line_ratio": 0.67})
    assert reason(check_fineweb(view(text, lang), cfg)) == f"fineweb:{expected}"


def test_chinese_short_lines_use_a_chinese_length() -> None:
    # 20 Chinese characters carry a full sentence; the English 30-character cut would drop it.
    lines = "\n".join(["港口的渔船每天清晨出发，下午返回。"] * 1 + [ZH])
    assert check_fineweb(view(lines, "zh"), ZH_RULES.fineweb) is None


def test_a_table_rows_cells_are_its_lines_for_the_punctuation_ratio() -> None:
    # As trafilatura writes a page laid out in a table: no row ends in a full stop.
    paragraphs = ZH.split("\n")[:3]
    rows = ["| 首页 | 新闻 | 关于 |", "|  |  |"] + [f"| {p} | 2005-09-11 |" for p in paragraphs]
    page = "\n".join(rows)
    lines_only = ZH_RULES.fineweb.model_copy(update={"table_cells_as_lines": False})
    assert reason(check_fineweb(view(page, "zh"), lines_only)) == "fineweb:min_line_punct_ratio"
    cells = ZH_RULES.fineweb
    assert check_fineweb(view(page, "zh"), cells) is None
    # A menu laid out as a table still fails: its cells end in no punctuation either.
    menu = "\n".join(f"| 栏目{i} | 链接{i} |" for i in range(20))
    assert reason(check_fineweb(view(menu, "zh"), cells)) == "fineweb:min_line_punct_ratio"
