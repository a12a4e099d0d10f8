"""Reading training text: JSONL(.gz/.zst) documents, WikiText files, plain text, stage shards.

The reference corpora in data_samples/reference carry dataset artifacts that would teach a model
the wrong thing: WikiText's tokenization (` @-@ `, spaces before punctuation, `<unk>`), and
CMRC's contexts cut mid-sentence with wiki script-conversion markup. They are undone here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from core import storage
from core.shards import SHARD_SUFFIX, read_shard, shard_locations
from core.streams import open_decompressed
from stages.text import CJK_SENTENCE_ENDS, LATIN_SENTENCE_ENDS

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


_LAST_SENTENCE_END = re.compile(rf"^.*[{CJK_SENTENCE_ENDS}{LATIN_SENTENCE_ENDS}]", re.S)


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


def _jsonl_texts(path: Path, field: str) -> Iterator[str]:
    reader = open_decompressed(path)
    try:
        while line := reader.readline(1 << 30):
            if line.strip():
                text = json.loads(line).get(field)
                if isinstance(text, str) and text.strip():
                    yield text
    finally:
        reader.close()


def _is_wikitext(path: Path) -> bool:
    with path.open(encoding="utf-8", errors="replace") as lines:
        head = "".join(line for _, line in zip(range(50), lines, strict=False))
    return (
        " @-@ " in head or " @,@ " in head or re.search(r"^ = [^=].* = $", head, re.M) is not None
    )


def read_texts(
    path: str | Path, field: str = "text", sources: Collection[str] = ()
) -> Iterator[str]:
    """Documents of one file or stage directory, artifacts of known reference sets undone;
    from shards, only the documents whose `source` is in `sources` (when given)."""
    if storage.is_dir(path) or str(path).endswith(SHARD_SUFFIX):
        wanted = pa.array(sorted(sources), pa.string())
        for shard in shard_locations(path) if storage.is_dir(path) else [str(path)]:
            for batch in read_shard(shard):
                if sources:
                    batch = batch.filter(pc.is_in(batch.column("source"), value_set=wanted))
                yield from batch.column(field).to_pylist()
        return
    path = storage.local_copy(path)  # a reference file on object storage: this node's copy
    if ".jsonl" in path.name or path.suffix in (".gz", ".zst"):
        clean = undo_wiki_conversion if "cmrc" in path.name else (lambda text: text)
        cut = cut_to_last_sentence if "cmrc" in path.name else (lambda text: text)
        for text in _jsonl_texts(path, field):
            yield cut(clean(text))
    elif _is_wikitext(path):
        yield from wikitext_articles(path)
    else:
        yield from (p for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip())
