"""Filter stage: text normalization (stages.filter.normalize) and PII anonymization (.pii)."""

from __future__ import annotations

import random
import time
import unicodedata
from collections.abc import Iterable

import ftfy.bad_codecs  # noqa: F401  (registers the "sloppy-windows-125x" codecs)
import pytest
from ftfy.badness import is_bad

from stages.filter import normalize
from stages.filter.normalize import normalize_text, to_simplified
from stages.filter.pii import (
    PII_KINDS,
    PLACEHOLDERS,
    PiiAnonymizer,
    cn_id_check_char,
    is_valid_cn_id,
)

# --- normalization ---------------------------------------------------------------------------


def mojibake(text: str, encoding: str = "sloppy-windows-1252") -> str:
    """UTF-8 bytes read back in a single-byte encoding, as a mislabelled web page is."""
    return text.encode("utf-8").decode(encoding)


@pytest.mark.parametrize(
    "broken, fixed",
    [
        ("cafÃ© â€™s", "café ’s"),
        ("ä¸­æ–‡", "中文"),
        (mojibake("naïve café — “quoted” it’s"), "naïve café — “quoted” it’s"),
        (mojibake("请联系我们，谢谢。"), "请联系我们，谢谢。"),
        (mojibake("中文维基百科是一个自由的百科全书。"), "中文维基百科是一个自由的百科全书。"),
        (mojibake("中文维基百科", "latin-1"), "中文维基百科"),
        (mojibake("Привет, мир", "sloppy-windows-1251"), "Привет, мир"),
    ],
)
def test_mojibake_is_fixed(broken: str, fixed: str) -> None:
    assert normalize_text(broken) == fixed


def test_only_the_broken_line_changes() -> None:
    clean = "第一行：“引号”保持不变。\nCafé ‘quoted’ — fine…"
    text = f"{clean}\n{mojibake('第二行，乱码。')}\n{clean}"
    assert normalize_text(text) == f"{clean}\n第二行，乱码。\n{clean}"


@pytest.mark.parametrize(
    "text",
    [
        "你好，世界！（测试）：；、。「引号」《书名》",
        "全角字母ＡＢＣ１２３与全角空格\u3000保留",
        "“Hello,” she said. It’s ‘fine’ — «très bien».",
        "Temperature 25 °C ± 0.5, price £10, 5 × 3, © 2024 ™",
        "Ligature ﬁne and AT&amp;T stay; so does &lt;b&gt;",
        "Emoji family 👨\u200d👩\u200d👧 and ZWNJ in Persian می\u200cخواهم",
        "Scotland 🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f flag",
        "Deutsch: Größe, Übung; Français: garçon, naïve; Español: niño",
        "Ελληνικά και Русский текст",
        "Replacement character \ufffd is kept for the garbled-text rule",
        "Tabs\tstay\tand\nnewlines\nstay",
    ],
)
def test_legitimate_text_is_unchanged(text: str) -> None:
    assert normalize_text(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "plain ASCII text.\nSecond line\twith a tab.",
        'He said "hi" & left; 100% <ok>',
        "x" * 10_000,
    ],
)
def test_clean_ascii_is_returned_unchanged(text: str) -> None:
    assert normalize_text(text) == text


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a\x00b\x07c\x1fd\x7fe", "abcde"),
        ("\x1b[31mred\x1b[0m text", "red text"),  # terminal colour codes
        ("\x93quoted\x94 and \x85", "“quoted” and …"),  # C1 bytes meant as Windows-1252
        ("a\x81b", "ab"),  # C1 with no Windows-1252 meaning
        ("zero\u200bwidth", "zerowidth"),
        ("\ufeffBOM at start, \ufeffinside", "BOM at start, inside"),
        ("中文\u200b文本\x00。", "中文文本。"),
    ],
)
def test_controls_and_noise_are_removed(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a\r\nb\rc\nd", "a\nb\nc\nd"),
        ("page one\x0cpage two", "page one\npage two"),
        ("line\x0bbreak", "line\nbreak"),
        ("第一段\u2029第二段\u2028第三行", "第一段\n第二段\n第三行"),
        ("\r\n\r\n", "\n\n"),
    ],
)
def test_line_breaks_become_newlines(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


def test_nfc() -> None:
    assert normalize_text("cafe\u0301") == "café"
    assert unicodedata.is_normalized("NFC", normalize_text("한국어 e\u0301"))


def test_to_simplified() -> None:
    assert to_simplified("漢字轉換，臺灣的歷史與說明。") == "汉字转换，台湾的历史与说明。"
    assert to_simplified("简体中文不变") == "简体中文不变"
    assert to_simplified("ASCII only") == "ASCII only"


# The shortcuts (ASCII, hint characters, windowed badness check) must not change the result.


def reference_normalize(text: str) -> str:
    """normalize_text without its shortcuts: every line goes through ftfy."""
    text = normalize._LINE_BREAK.sub("\n", text).translate(normalize._NOISE_TABLE)
    text = unicodedata.normalize("NFC", text)
    return "\n".join(normalize._fix_line(line) for line in text.split("\n"))


_POOL = [
    *"abcXYZ019 .,;\t",
    *("\n", "\r\n", "\x00", "\x0b", "\x1b[1m", "\u200b", "\ufeff", "\u2028", "\ufffd"),
    *"中文，。！“”‘’—…·°×£€éüñßÀÃÂâ€™œ¢©®«»ПриветΕλλη│╗",
    *(mojibake("中文"), mojibake("café"), mojibake("—"), "\x93", "\x81", "e\u0301"),
]


def test_shortcuts_match_ftfy_on_every_line() -> None:
    rng = random.Random(1)
    for _ in range(3000):
        text = "".join(rng.choice(_POOL) for _ in range(rng.randint(0, 30)))
        assert normalize_text(text) == reference_normalize(text), repr(text)


def test_hint_gate_never_misses_what_ftfy_flags() -> None:
    rng = random.Random(2)
    hint = normalize._BADNESS
    assert hint is not None, "ftfy's badness regex could not be analysed: every line pays ftfy"
    # Half the characters from the hint set, half from everything ftfy's detector looks at
    # (Latin-1, Latin Extended, Greek, Cyrillic, punctuation, symbols, box drawing) or ASCII.
    broad = [
        *range(0x20, 0x7F),
        *range(0xA0, 0x530),
        *range(0x2010, 0x2270),
        *range(0x2500, 0x25A0),
    ]
    pools = [list(hint[0]), [chr(c) for c in broad]]
    flagged = 0
    for _ in range(30000):
        line = "".join(rng.choice(rng.choice(pools)) for _ in range(rng.randint(1, 12)))
        if is_bad(line):
            flagged += 1
            assert normalize._line_needs_ftfy(line), repr(line)
    assert flagged > 5000  # the sample does exercise the detector


def test_normalize_is_idempotent() -> None:
    rng = random.Random(3)
    for _ in range(500):
        once = normalize_text("".join(rng.choice(_POOL) for _ in range(20)))
        assert normalize_text(once) == once


# --- PII -------------------------------------------------------------------------------------


def iso7064_mod11_2(first17: str) -> str:
    """The check character from the ISO 7064 definition, independent of the module's tables."""
    total = sum(int(digit) * pow(2, 17 - i, 11) for i, digit in enumerate(first17))
    check = (12 - total % 11) % 11
    return "X" if check == 10 else str(check)


def make_cn_id(region: str = "110105", birth: str = "19900307", sequence: str = "123") -> str:
    """A syntactically valid (fictional) resident ID number: checksum computed, not copied."""
    body = region + birth + sequence
    return body + iso7064_mod11_2(body)


def with_bad_check(number: str) -> str:
    wrong = "0" if number[-1] != "0" else "1"
    return number[:-1] + wrong


def anonymize(text: str, kinds: Iterable[str] = PII_KINDS) -> tuple[str, dict[str, int]]:
    result, counts = PiiAnonymizer(kinds).anonymize(text)
    return result, dict(counts)


def test_check_char_matches_iso7064() -> None:
    rng = random.Random(5)
    for _ in range(2000):
        body = "".join(rng.choice("0123456789") for _ in range(17))
        assert cn_id_check_char(body) == iso7064_mod11_2(body)
    number = x_checked_id()
    assert is_valid_cn_id(number)
    assert is_valid_cn_id(number.lower())
    assert not is_valid_cn_id(with_bad_check(number))


def x_checked_id() -> str:
    for seq in range(1000):
        number = make_cn_id(sequence=f"{seq:03d}")
        if number.endswith("X"):
            return number
    raise AssertionError("no sequence gives an X check character")


@pytest.mark.parametrize(
    "text, expected, counts",
    [
        (
            "请联系 13800138000 或发邮件至 zhang.san@example.com.cn",
            "请联系 <PHONE_NUMBER> 或发邮件至 <EMAIL>",
            {"phone_number": 1, "email": 1},
        ),
        (
            "Contact John.Doe+news@Mail.Example.ORG. Thanks!",
            "Contact <EMAIL>. Thanks!",
            {"email": 1},
        ),
        ("邮箱：user_01@sub.example.co.uk，谢谢", "邮箱：<EMAIL>，谢谢", {"email": 1}),
        ("QQ邮箱13800138000@qq.com", "QQ邮箱<EMAIL>", {"email": 1}),
        ("mailto:a@b.io", "mailto:<EMAIL>", {"email": 1}),
        ("写信给...li.si@example.com。", "写信给...<EMAIL>。", {"email": 1}),
        (
            "xn--bcher-kva.de user: hans@xn--bcher-kva.de",
            "xn--bcher-kva.de user: <EMAIL>",
            {"email": 1},
        ),
    ],
)
def test_email_and_mixed_positive(text: str, expected: str, counts: dict[str, int]) -> None:
    assert anonymize(text) == (expected, counts)


@pytest.mark.parametrize(
    "phone",
    [
        "13800138000",
        "138 0013 8000",
        "138-0013-8000",
        "+86 138 0013 8000",
        "+86-138-0013-8000",
        "+8613800138000",
        "8613800138000",
        "008613800138000",
        "(+86) 13800138000",
        "19912345678",
        "010-12345678",
        "(0755)1234-5678",
        "（0755）12345678",
        "0571 8888 6666",
        "(555) 123-4567",
        "555-123-4567",
        "555.123.4567",
        "1-800-555-1234",
        "+1 (555) 123-4567",
        "+1 555 123 4567",
        "+44 20 7946 0958",
        "+33 1 23 45 67 89",
        "+49 (0)30 1234567",
    ],
)
def test_phone_positive(phone: str) -> None:
    for template in ("Call {} now.", "电话：{}，谢谢", "{}", "联系{}或"):
        text = template.format(phone)
        assert anonymize(text) == (
            template.format("<PHONE_NUMBER>"),
            {"phone_number": 1},
        ), text


@pytest.mark.parametrize(
    "text",
    [
        "Released in 1998, 2004 and 2023.",
        "日期 2023-10-01，2023.10.01，2023/10/01，20231001",
        "Price $1,234,567.89 or ¥12345678 or 1234567890 yuan",
        "ISBN 978-7-111-12345-6, ISBN 0-306-40615-2, ISBN 9787111123456",
        "Order 20231001123456789 and tracking 1Z999AA10123456784",
        "Timestamp 1700000000000 and 1700000000",
        "Coordinates 39.9042, 116.4074; score 3-2; offset +0800; +5 -3",
        "hash a1b2c313800138000ff, SKU13800138000, file_13800138000.txt",
        "Mobile-like 12800138000 (starts 12) and 138001380001 (12 digits)",
        "Phone-like 555-123-45678 and 555-123-4567-89",
        "Version 1.2.3, Python 3.11.7, Chrome 120.0.6099.109",
    ],
)
def test_phone_and_numeric_negative(text: str) -> None:
    assert anonymize(text) == (text, {})


def test_cn_id_positive() -> None:
    number = make_cn_id()
    x_number = x_checked_id()
    text = f"身份证号：{number}，另一个{x_number}和{x_number.lower()}。ID {number}."
    expected = "身份证号：<CN_ID_NUMBER>，另一个<CN_ID_NUMBER>和<CN_ID_NUMBER>。ID <CN_ID_NUMBER>."
    assert anonymize(text) == (expected, {"cn_id_number": 4})


def test_cn_id_negative() -> None:
    valid = make_cn_id()
    bad_check = with_bad_check(valid)
    bad_date = make_cn_id(birth="19901332")  # month 13, checksum still right
    feb_30 = make_cn_id(birth="20000230")
    too_old = make_cn_id(birth="18991231")
    longer = valid + "5"
    glued = "A" + valid
    rng = random.Random(4)
    randoms = []
    while len(randoms) < 200:
        number = "".join(rng.choice("0123456789") for _ in range(18))
        if number[0] != "0" and not is_valid_cn_id(number):
            randoms.append(number)
    for number in [bad_check, bad_date, feb_30, too_old, longer, glued, *randoms]:
        text = f"编号 {number} 结束"
        assert anonymize(text) == (text, {}), number


def test_cn_id_wins_over_phone() -> None:
    number = make_cn_id(region="138001", birth="19900307")  # starts like a mobile number
    text = f"{number}/13800138000 电话13800138000身份证{number}"
    expected = "<CN_ID_NUMBER>/<PHONE_NUMBER> 电话<PHONE_NUMBER>身份证<CN_ID_NUMBER>"
    assert anonymize(text) == (expected, {"cn_id_number": 2, "phone_number": 2})


@pytest.mark.parametrize(
    "address",
    [
        "203.0.114.7",
        "45.33.32.156",
        "8.26.56.26",
        "2606:4700:4700::1111",
        "2a00:1450:4001:0810:0000:0000:0000:200e",
        "2001:4860:4860::8888",
        "2001:4860::8.8.4.4",
    ],
)
def test_ip_positive(address: str) -> None:
    for template in ("Server {} responded.", "服务器地址{}，端口80", "({})", "http://{}/x"):
        if ":" in address and template.startswith("http"):
            continue
        text = template.format(address)
        assert anonymize(text) == (template.format("<IP_ADDRESS>"), {"ip_address": 1}), text


@pytest.mark.parametrize(
    "text",
    [
        "Router at 192.168.1.1, also 10.0.0.1, 172.16.5.4, 127.0.0.1 and 0.0.0.0",
        "Link-local 169.254.1.1, CGNAT 100.64.0.1, broadcast 255.255.255.255",
        "Documentation 192.0.2.1, 198.51.100.7, 203.0.113.9; multicast 224.0.0.251",
        "Version 1.2.3.4, section 3.1.2.1, DNS 8.8.8.8",
        "v10.20.30.40, version 50.60.70.80, 软件版本 50.60.70.80, build: 11.22.33.44",
        "OID 1.3.6.1.4.1.311, 1.2.3.4.5, 300.1.1.1, 01.02.03.04",
        "IPv6 docs 2001:db8::1, ::1, fe80::1, ::ffff:10.0.0.1, ff02::1",
        "C++ std::vector, Foo::Bar, add::, time 12:30:45, MAC 00:1A:2B:3C:4D:5E",
    ],
)
def test_ip_negative(text: str) -> None:
    assert anonymize(text) == (text, {})


@pytest.mark.parametrize(
    "text",
    [
        "Retina assets image@2x.png, icon@3x.webp, sprite@2x.min.css",
        "Handles @someone and npm @babel/core, decorator @property",
        "user@localhost, a.b@c.d, pkg@1.2.3, name@domain.c0m",
        "Wikitext tokens 1 @.@ 5 and 3 @,@ 000",
    ],
)
def test_email_negative(text: str) -> None:
    assert anonymize(text) == (text, {})


def test_counts_and_surrounding_text() -> None:
    number = make_cn_id()
    text = (
        f"A: a@x.com, b@y.org; IP 45.33.32.156 and 2606:4700:4700::1111; "
        f"tel 13800138000, (555) 123-4567, +44 20 7946 0958; ID {number}. End."
    )
    result, counts = PiiAnonymizer().anonymize(text)
    assert result == (
        "A: <EMAIL>, <EMAIL>; IP <IP_ADDRESS> and <IP_ADDRESS>; "
        "tel <PHONE_NUMBER>, <PHONE_NUMBER>, <PHONE_NUMBER>; ID <CN_ID_NUMBER>. End."
    )
    assert counts == {"email": 2, "ip_address": 2, "phone_number": 3, "cn_id_number": 1}


def test_selected_kinds_only() -> None:
    text = "a@x.com 13800138000 45.33.32.156 " + make_cn_id()
    result, counts = PiiAnonymizer(["email"]).anonymize(text)
    assert result == "<EMAIL> 13800138000 45.33.32.156 " + make_cn_id()
    assert counts == {"email": 1}
    # Without e-mail, the phone pattern must still not claim the local part of an address.
    result, counts = PiiAnonymizer(["phone_number"]).anonymize("13800138000@163.com")
    assert (result, dict(counts)) == ("13800138000@163.com", {})
    assert PiiAnonymizer([]).anonymize(text) == (text, {})


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown PII kinds"):
        PiiAnonymizer(["email", "credit_card"])


def test_placeholders() -> None:
    assert PLACEHOLDERS == {
        "email": "<EMAIL>",
        "ip_address": "<IP_ADDRESS>",
        "phone_number": "<PHONE_NUMBER>",
        "cn_id_number": "<CN_ID_NUMBER>",
    }
    # Placeholders must not be matched by any pattern when anonymizing twice.
    once, _ = PiiAnonymizer().anonymize("a@x.com 13800138000 45.33.32.156 " + make_cn_id())
    assert PiiAnonymizer().anonymize(once) == (once, {})


def test_clean_text_is_untouched() -> None:
    text = "没有任何个人信息的中文文本，1998年出版。\nPlain English, 2024, page 12."
    assert anonymize(text) == (text, {})


@pytest.mark.parametrize(
    "text",
    [
        "+" + "1 " * 20_000,
        "x@" + "a." * 20_000 + "1",
        "@" * 20_000,
        "1." * 20_000,
        "1" * 100_000,
        "1-" * 20_000,
        ":" + "a:" * 20_000,
        "(" * 10_000 + "1" * 10,
        "a" * 100 + "@" + "b" * 70 + ".png",
    ],
)
def test_adversarial_input_is_linear(text: str) -> None:
    start = time.perf_counter()
    PiiAnonymizer().anonymize(text)
    assert time.perf_counter() - start < 2.0


def test_full_width_digits_are_a_known_miss() -> None:
    # The patterns spell out [0-9] (a bare \d would match any Unicode digit): numbers written
    # in full-width digits are a documented miss.
    text = "电话１３８００１３８０００"
    assert anonymize(text) == (text, {})


def test_fediverse_handles_are_not_emails() -> None:
    text, counts = PiiAnonymizer().anonymize("Thanks to @mhoye@mastodon.social for the tip.")
    assert text == "Thanks to @mhoye@mastodon.social for the tip." and not counts


def test_a_page_of_numbers_joined_by_spaces_is_one_window_read_once() -> None:
    """Phone and ID numbers listed with single spaces form one numeric candidate, so one
    window holds them all; each is replaced, and an ID number is never also a phone number
    (the overlap test against earlier kinds used to scan every match taken: quadratic)."""
    rng = random.Random(5)
    phones = [f"13{rng.randrange(8, 10)}{rng.randrange(10**8):08d}" for _ in range(3000)]
    ids = [make_cn_id(sequence="123"), make_cn_id(birth="19851122", sequence="457")]
    text = " ".join(phones[:1500] + ids + phones[1500:])
    out, counts = PiiAnonymizer(PII_KINDS).anonymize(text)
    assert counts == {"phone_number": 3000, "cn_id_number": 2}
    phone, id_number = "<PHONE_NUMBER>", "<CN_ID_NUMBER>"
    assert out.split() == [phone] * 1500 + [id_number] * 2 + [phone] * 1500
