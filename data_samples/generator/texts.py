"""The corpus's text, read from ``texts/*.yaml`` (each file's header comment gives its layout).

Long texts are YAML literal blocks: a blank line separates paragraphs, and the lines of a
paragraph are joined with a space in English and with nothing in Chinese.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

TEXT_DIR = Path(__file__).resolve().parent / "texts"
LINE_JOINERS = {"en": " ", "zh": ""}


def _read(name: str) -> dict[str, Any]:
    with (TEXT_DIR / f"{name}.yaml").open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def join_lines(text: str, lang: str) -> str:
    return LINE_JOINERS[lang].join(line.strip() for line in text.splitlines())


def paragraphs(block: str, lang: str) -> tuple[str, ...]:
    """Split a literal block at blank lines, joining each paragraph's lines for `lang`."""
    return tuple(join_lines(chunk, lang) for chunk in block.strip().split("\n\n"))


def split_sentences(paragraph: str, lang: str) -> list[str]:
    if lang == "zh":
        return re.findall(r"[^。！？]+[。！？]", paragraph)
    return re.split(r"(?<=[.!?])\s+", paragraph)


@dataclass(frozen=True)
class ArticleText:
    """What the articles of one language are composed from (``texts/articles.yaml``)."""

    sentences: dict[str, list[str]]  # topic -> every sentence of its prose, in order
    subjects: dict[str, list[str]]  # topic -> what {subject} names
    names: list[str]
    places: list[str]
    months: list[str]
    day_parts: list[str]
    titles: list[str]
    intros: list[str]
    tips: list[str]
    closings: list[str]
    word_swaps: list[tuple[str, str]]
    update_notes: list[str]


def _article_text(lang: str, raw: dict[str, Any]) -> ArticleText:
    sentences = {
        topic: [s for p in paragraphs(block, lang) for s in split_sentences(p, lang)]
        for topic, block in raw.pop("prose").items()
    }
    swaps = [(old, new) for old, new in raw.pop("word_swaps")]
    return ArticleText(sentences=sentences, word_swaps=swaps, **raw)


ARTICLES = {lang: _article_text(lang, raw) for lang, raw in _read("articles").items()}
TOPICS = tuple(ARTICLES["en"].sentences)

_sites = _read("sites")
MENUS: dict[str, list[str]] = _sites["menus"]
NOTICES: dict[str, str] = {
    name: join_lines(block, lang)
    for lang, by_name in _sites["notices"].items()
    for name, block in by_name.items()
}
SCRIPT_ONLY_PAGE: str = _sites["script_only_page"]

JUNK: dict[str, Any] = _read("junk")
