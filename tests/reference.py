"""Readers for the reference corpora in ../shared/reference, as plain documents."""

from __future__ import annotations

import json
import re
from pathlib import Path

_WIKITEXT_JOINERS = {" @-@ ": "-", " @,@ ": ",", " @.@ ": "."}
_SPACE_BEFORE = re.compile(r" ([.,;:!?)\]'’”%])")
_SPACE_AFTER = re.compile(r"([(\[“]) ")
_HEADING = re.compile(r"^ = (=\s)*(.*?) (=\s?)*=\s*$")


def detokenize_wikitext(line: str) -> str:
    """Undo WikiText's tokenization: ` @-@ `, spaces before punctuation, `<unk>`."""
    for token, joined in _WIKITEXT_JOINERS.items():
        line = line.replace(token, joined)
    line = line.replace(" <unk> ", " ").replace("<unk>", "")
    line = _SPACE_BEFORE.sub(r"\1", _SPACE_AFTER.sub(r"\1", line))
    return line.replace(" n't", "n't").replace(" 's", "'s").strip()


def wikitext_articles(path: Path) -> list[str]:
    """One document per top-level `= Title =` article; section headings become lines."""
    articles: list[list[str]] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw.startswith(" = ") and not raw.startswith(" = = "):
            articles.append([])
            continue
        heading = _HEADING.match(raw)
        text = heading.group(2) if heading else detokenize_wikitext(raw)
        if text and articles:
            articles[-1].append(text)
    return ["\n".join(lines) for lines in articles if lines]


_WIKI_CONVERSION = re.compile(r"-\{(?:[^{}]*?zh-hans:([^;{}]*)[^{}]*|(?:[A-Z]\|)?([^{}]*))\}-")


def undo_wiki_conversion(text: str) -> str:
    """Chinese Wikipedia's script-conversion markup `-{zh-hans:A;zh-tw:B}-` -> A."""
    return _WIKI_CONVERSION.sub(lambda m: m.group(1) or m.group(2) or "", text)


_LAST_SENTENCE_END = re.compile(r"^.*[。！？!?.]", re.S)


def cut_to_last_sentence(text: str) -> str:
    """CMRC contexts are cut at a fixed length, mid-sentence; keep whole sentences only."""
    match = _LAST_SENTENCE_END.match(text)
    return match.group(0) if match else text


def jsonl_texts(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as lines:
        return [undo_wiki_conversion(json.loads(line)["text"]) for line in lines if line.strip()]


def cmrc_paragraphs(path: Path) -> list[str]:
    """Chinese Wikipedia paragraphs without the dataset's artifacts (markup, cut sentences)."""
    return [cut_to_last_sentence(text) for text in jsonl_texts(path)]
