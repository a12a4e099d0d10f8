"""Real English and Chinese text from data_samples/ and crafted edge cases, each with a
language: what the tests of compiled text kernels compare with the string definitions."""

from __future__ import annotations

import gzip
import json
from itertools import islice
from pathlib import Path

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
    "e\u0301te\u0301 na\u0308ive ﬁne Ⓐⓑ ẞ ǅ İstanbul İİ",  # İ lower-cases into two code points
    "ΣΊΣΥΦΟΣ ΟΔΥΣΣΕΥΣ Σ. ΑΣ-ΒΣ ΣΑΣ",  # Σ lower-cases by context (final ς)
    "emoji 😀😀 box ─┼─ math ∑∫ ™ © …... —— 12,345 3.5 e.g. U.S.A.",
    "line one\r\nline two\n\nALL CAPS HERE. Next sentence! And a third? Yes; four.\n",
    "中文句子，包含标点。English mixed 混合 text！\n第二行 2024年 ＡＢＣ １２３。”引号“\n",
    "Ｔ恤 A股 X光 3D打印 iPhone手机 ABC公司在2019年。第二句！第三句？第四句；第五句…",
    "garbled \ufffd\ufffd \ue000\uf8ff\uf900 \x00\x08\x0b\x0c\x0e\x1f\x7f tab\tcr\r end",
    "lone surrogate \ud800 here",  # not from Arrow, but a Python caller may build one
]
LANGS = ("en", "zh", "ja", None)


def _texts(path: Path, limit: int) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line)["text"] for line in islice(lines, limit)]


def real_documents(per_file: int) -> list[tuple[str, str]]:
    """The first `per_file` documents of each real file, with the file's language."""
    return [
        (text, lang)
        for lang, files in REAL_FILES.items()
        for name in files
        for text in _texts(SAMPLES / name, per_file)
    ]


def crafted_documents() -> list[tuple[str, str | None]]:
    """Every crafted text in every language (jieba, in Rust, cannot take a lone surrogate)."""
    crafted = [(text, lang) for text in CRAFTED for lang in LANGS]
    return [(t, lang) for t, lang in crafted if lang != "zh" or "\ud800" not in t]
