"""Domain blocklist, URL words and lexicons: keep and reject cases in English and Chinese, and
false-positive rates of the shipped lists on real Wikipedia text (data_samples/reference)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stages.filter.blocklists import (
    DOMAIN_FILES,
    URL_WORD_FILES,
    DomainBlocklist,
    UrlWords,
    default_lists,
    url_host,
)
from stages.text import CATEGORIES, LISTS_DIR, Lexicon, load_list
from stages.text.lexicon import BAD_WORD_FILES, SAFETY_FILES

GAMBLING_SPAM_ZH = (
    "澳门葡京娱乐城官方网站，真人荷官在线发牌，百家乐、龙虎斗、时时彩、六合彩、北京赛车全天开奖。"
    "新用户注册送38元，首存送100%，体育投注天天有优惠，网上赌场信誉第一，赌场提款秒到账！"
)
HISTORY_ZH = (
    "唐朝是中国历史上继隋朝之后的大一统王朝，共历二十一帝，享国二百八十九年。唐太宗在位期间推行"
    "均田制与租庸调制，国力强盛，史称贞观之治。长安城是当时世界上规模最大的城市之一，丝绸之路上的"
    "商队往来频繁，带来了西域的音乐、宗教与物产。安史之乱后藩镇割据，中央权力逐渐衰落，最终于"
    "九〇七年为后梁所取代。"
)
# Ordinary Chinese in which a naive substring list finds obscene words across word boundaries.
BOUNDARY_TRAPS_ZH = (
    "她的名字叫做爱丽丝。该港的出口交易额增长，异性交往很正常。根据特色情况制定政策。"
    "爷爷奶奶子孙满堂。他在禁区内射门得分。这是个大麻烦。他人妻子。成熟女性。DNA片段。"
    "气象站测得露点温度。鸦片战争爆发于1840年。"
)
ORDINARY_EN = (
    "Scunthorpe United beat Essex and Sussex sides; Dick Cheney graduated cum laude. "
    "The cocktail analysis in the assessment of Middlesex cocks and hens. Great tits nest here. "
    "He had begun the method with skill, a grape and an alphabet."
)


@pytest.fixture(scope="module")
def lists():
    return default_lists()


# --------------------------------------------------------------------------- list files


def test_load_list_strips_comments_blanks_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "words.txt"
    path.write_text("# header\n\nFoo\nbar  # why\nfoo\n  \nre:\\D+CP\\.com\n", encoding="utf-8")
    assert load_list([path]) == ["foo", "bar", "re:\\D+CP\\.com"]


def test_load_list_bare_name_is_shipped_list(tmp_path: Path) -> None:
    user = tmp_path / "extra.txt"
    user.write_text("zzzexample\n", encoding="utf-8")
    entries = load_list(["bad_words_en.txt", str(user)])
    assert entries[-1] == "zzzexample"
    assert "fuck" in entries


@pytest.mark.parametrize("name", DOMAIN_FILES + URL_WORD_FILES + BAD_WORD_FILES + SAFETY_FILES)
def test_shipped_lists_are_clean(name: str) -> None:
    raw = [
        line
        for line in (LISTS_DIR / name).read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    entries = load_list([name])
    assert 25 <= len(entries) <= 250
    assert len(entries) == len(raw), "duplicate entries"
    for line in raw:
        if not line.startswith("re:"):
            assert line == line.lower().strip(), line
        if name.startswith("safety_"):
            _term, category = line.split("\t")
            assert category in CATEGORIES, line


def test_readme_exists() -> None:
    text = (LISTS_DIR / "README.md").read_text(encoding="utf-8")
    assert "licence" in text


# --------------------------------------------------------------------------- domains


@pytest.mark.parametrize(
    ("url", "entry"),
    [
        ("https://www.pornhub.com/view_video.php?viewkey=1", "pornhub.com"),
        ("http://m.pornhub.com/", "pornhub.com"),
        ("pornhub.com/video", "pornhub.com"),  # no scheme
        ("pornhub.com:8080/x", "pornhub.com"),  # no scheme, with a port
        ("HTTP://user:secret@WWW.XVideos.COM:443/x", "xvideos.com"),
        ("https://xhamster.com./", "xhamster.com"),  # trailing dot
        ("//cn.bet365.com/zh", "bet365.com"),
        ("https://pornhub。com/", "pornhub.com"),  # ideographic full stop
        ("https://anything.xxx/", "*.xxx"),
        ("https://bonus.casino", "*.casino"),
        ("https://例子.bet/", "*.bet"),  # unicode host, suffix rule
        ("http://5566cp.com/index.html", "5566cp.com"),  # re: digits + cp
        ("http://www.8888bocai.net/", "8888bocai.net"),
        ("http://liuhecaiziliao.com/", "liuhecaiziliao.com"),
    ],
)
def test_domain_blocked(lists, url: str, entry: str) -> None:
    assert lists.domains.match(url) == entry


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "   ",
        "http://[::1",  # malformed IPv6: no exception
        "https://notpornhub.com/",
        "https://notpornhub.com.example.org/",
        "https://pornhub.com.example.org/",
        "https://www.pornhub.co/",  # other TLD
        "https://alphabet.com/",  # ends in 'bet' but is not under .bet
        "https://en.wikipedia.org/wiki/Pornhub",  # a page about it, not the site
        "https://www.essex.ac.uk/",
        "https://www.baidu.com/s?wd=六合彩",
        "http://cp.com/",  # the rule needs digits
        "http://bocaina.com.br/",  # Serra da Bocaina, not 博彩
        "http://www.duchang.gov.cn/",  # 都昌县
        "http://127.0.0.1:8000/",
    ],
)
def test_domain_kept(lists, url: str | None) -> None:
    assert lists.domains.match(url) is None


def test_domain_idna_both_ways() -> None:
    unicode_entry = DomainBlocklist(["赌场.com"])
    punycode = "赌场".encode("idna").decode("ascii")
    assert unicode_entry.match(f"http://www.{punycode}.com/") == "赌场.com"
    assert unicode_entry.match("http://赌场.com/") == "赌场.com"
    punycode_entry = DomainBlocklist([f"{punycode}.com"])
    assert punycode_entry.match("https://m.赌场.com/a") == f"{punycode}.com"


def test_url_host() -> None:
    assert url_host("HTTPS://u:p@Www.Example.COM.:81/p?q") == "www.example.com"
    assert url_host("example.com") == "example.com"
    assert url_host("/relative/path") is None
    assert url_host(None) is None


def test_domain_user_file(tmp_path: Path) -> None:
    path = tmp_path / "domains.txt"
    path.write_text("# mine\nexample.org\nhttps://spam.example.net/landing\n", encoding="utf-8")
    blocklist = DomainBlocklist.from_files([path], defaults=True)
    assert blocklist.match("http://a.example.org/") == "example.org"
    assert blocklist.match("http://spam.example.net/x") == "https://spam.example.net/landing"
    assert blocklist.match("http://pornhub.com/") == "pornhub.com"
    assert DomainBlocklist.from_files([path]).match("http://pornhub.com/") is None


# --------------------------------------------------------------------------- URL words


def _percent(text: str, encoding: str) -> str:
    return "".join(f"%{byte:02X}" for byte in text.encode(encoding))


@pytest.mark.parametrize(
    ("url", "word"),
    [
        ("http://example.com/casino-online", "casino"),
        ("http://onlinecasino88.net/", "casino"),
        ("https://freeporn.example/", "porn"),
        ("http://xxx69.com/", "xxx"),
        ("http://example.com/free-sex-videos", "free sex"),
        ("http://example.com/SEX_CAM/", "sex cam"),
        ("http://x.cn/六合彩/", "六合彩"),
        ("http://x.cn/" + _percent("六合彩", "utf-8") + "/", "六合彩"),
        ("http://x.cn/" + _percent("六合彩", "gbk") + "/", "六合彩"),  # GBK-encoded path
        ("http://" + "博彩".encode("idna").decode("ascii") + ".com/", "博彩"),  # punycode host
        ("https://www.example.cn/tag/18禁/", "18禁"),
        ("http://bbs.example.com/forum-caipiao-1.html", "caipiao"),
        ("http://example.com/pk10/plan", "pk10"),
    ],
)
def test_url_word_blocked(lists, url: str, word: str) -> None:
    assert lists.url_words.match(url) == word


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "http://www.essex.ac.uk/",
        "https://www.sussex.ac.uk/study",
        "https://en.wikipedia.org/wiki/Same-sex_marriage",
        "https://www.nhs.uk/live-well/sexual-health/sex-education/",
        "https://www.scunthorpe-united.co.uk/",
        "https://www.analysis.example/expert-exchange",
        "https://example.com/java/tutorial",  # 'jav' is a whole-token word
        "https://www.bet.com/shows",  # BET, the TV network
        "https://zh.wikipedia.org/wiki/" + _percent("唐朝", "utf-8"),
        "https://news.example.cn/" + _percent("成人教育", "utf-8"),
    ],
)
def test_url_word_kept(lists, url: str | None) -> None:
    assert lists.url_words.match(url) is None


def test_url_word_entry_kinds() -> None:
    words = UrlWords(["*spam*", "bad", "two words", "垃圾"])
    assert words.match("http://example.com/myspamsite") == "spam"
    assert words.match("http://bad.example.com/") == "bad"
    assert words.match("http://badminton.example.com/") is None
    assert words.match("http://example.com/two_words/") == "two words"
    assert words.match("http://example.com/two/other/words") is None
    assert words.match("http://example.com/?q=" + _percent("垃圾邮件", "utf-8")) == "垃圾"
    assert len(words) == 4


# --------------------------------------------------------------------------- lexicons


def test_bad_words_word_boundaries(lists) -> None:
    bad = lists.bad_words
    assert bad.find("Scunthorpe United") == {}
    assert bad.find(ORDINARY_EN) == {}
    assert bad.find("What the FUCK is this, motherfucker?") == {"fuck": 1, "motherfucker": 1}
    assert bad.find("a blow\n job") == {"blow job": 1}  # any whitespace inside a phrase
    assert bad.find("blowjobs and blow jobs") == {"blowjobs": 1, "blow jobs": 1}  # longest wins
    assert bad.find("fuckwit") == {}  # not listed, and 'fuck' must end on a boundary
    assert bad.find("看porn视频") == {"porn": 1}  # CJK beside a Latin term is a boundary
    assert bad.first("ok. Fucking hell") == "fucking"
    assert bad.first(ORDINARY_EN) is None


def test_bad_words_chinese(lists) -> None:
    bad = lists.bad_words
    assert bad.find(HISTORY_ZH) == {}
    assert bad.find(BOUNDARY_TRAPS_ZH) == {}
    assert bad.find("你这个傻逼，操你妈") == {"傻逼": 1, "操你妈": 1}
    assert bad.first("最新AV女优合集") == "av女优"  # case-insensitive on the Latin part
    assert bad.first("JavaAV女优") is None  # the Latin edge of 'av女优' must be a boundary


def test_safety_categories_chinese(lists) -> None:
    safety = lists.safety
    hits = safety.find(GAMBLING_SPAM_ZH)
    assert set(hits) == {"gambling"}
    assert hits["gambling"] >= 10
    assert safety.find(HISTORY_ZH) == {}
    assert safety.find(BOUNDARY_TRAPS_ZH) == {}
    assert safety.find("看a片") == {"adult": 1}
    assert safety.find("出售冰毒和海洛因") == {"drugs": 2}
    assert safety.find("重庆时时彩") == {"gambling": 1}  # overlapping terms count once


def test_safety_categories_english(lists) -> None:
    safety = lists.safety
    spam = (
        "Best online casino: play roulette, blackjack and slot machines with free spins and a "
        "no deposit bonus. Sports betting at our sportsbook!"
    )
    hits = safety.find(spam)
    assert set(hits) == {"gambling"}
    assert hits["gambling"] >= 7
    assert safety.find(ORDINARY_EN) == {}
    assert safety.find("He was charged with MURDER and cocaine trafficking.") == {
        "violence": 1,
        "drugs": 1,
    }


def test_lexicon_from_user_files(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("Foo Bar\n宝马\n", encoding="utf-8")
    lexicon = Lexicon.from_files([plain], with_categories=False)
    assert lexicon.find("FOO  bar 宝马宝马 foobar") == {"foo bar": 1, "宝马": 2}
    assert lexicon.keys == {"foo bar", "宝马"}
    # A safety file read without categories counts terms.
    terms = Lexicon.from_files(["safety_zh.txt"], with_categories=False)
    assert terms.find("六合彩") == {"六合彩": 1}
    bad = tmp_path / "bad.tsv"
    bad.write_text("spam\tspam\n", encoding="utf-8")
    with pytest.raises(ValueError, match="category"):
        Lexicon.from_files([bad], with_categories=True)


def test_lexicon_empty_inputs(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n", encoding="utf-8")
    lexicon = Lexicon.from_files([empty], with_categories=False)
    assert lexicon.find("anything") == {}
    assert lexicon.first("anything") is None
    assert Lexicon.safety().find("") == {}


def test_defaults_built_once_per_process(tmp_path: Path) -> None:
    assert default_lists() == default_lists()  # same objects inside
    assert default_lists().safety is Lexicon.safety()
    assert default_lists().bad_words is Lexicon.bad_words()
    assert default_lists().domains is DomainBlocklist.from_files(defaults=True)
    extra = tmp_path / "extra_bad.txt"
    extra.write_text("zzzword\n", encoding="utf-8")
    extended = default_lists(extra_bad_words=[extra])
    assert extended.bad_words.find("a zzzword") == {"zzzword": 1}
    assert extended.safety is default_lists().safety
    assert Lexicon.bad_words([extra], defaults=False).find("fuck") == {}


# --------------------------------------------------------------------------- real text


def _wikitext_paragraphs(reference: Path) -> list[str]:
    paragraphs = []
    for name in ("wikitext2-valid.txt", "wikitext2-test.txt"):
        for line in (reference / name).read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.strip().startswith("="):  # skip '= Heading =' lines
                paragraphs.append(line)
    return paragraphs


def _cmrc_articles(reference: Path) -> list[str]:
    path = reference / "cmrc2018_zh_wikipedia.jsonl"
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line)["text"] for line in lines if line.strip()]


def test_bad_words_rarely_hit_wikipedia(real_data: Path, lists) -> None:
    for docs in (
        _wikitext_paragraphs(real_data / "reference"),
        _cmrc_articles(real_data / "reference"),
    ):
        assert len(docs) > 1000
        hits = [doc for doc in docs if lists.bad_words.first(doc)]
        assert len(hits) / len(docs) < 0.01, [lists.bad_words.first(doc) for doc in hits]


def test_adult_and_gambling_rarely_hit_wikipedia(real_data: Path, lists) -> None:
    # Violence is common in history articles; adult and gambling words should not be.
    for docs in (
        _wikitext_paragraphs(real_data / "reference"),
        _cmrc_articles(real_data / "reference"),
    ):
        flagged = [d for d in docs if lists.safety.find(d).keys() & {"adult", "gambling"}]
        assert len(flagged) / len(docs) < 0.02
