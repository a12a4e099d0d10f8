"""The filter on real data from data_samples/: reference text is kept, spam and boilerplate
are not."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from stages.filter.stage import FilterConfig, FilterStage
from stages.ingest.stage import IngestConfig, IngestStage
from stages.score.corpus import cmrc_paragraphs, wikitext_articles


@pytest.fixture(scope="module")
def stage() -> FilterStage:
    return FilterStage(FilterConfig())


def kept_share(stage: FilterStage, texts: list[str]) -> float:
    return sum(stage.judge(text, None).rejection is None for text in texts) / len(texts)


def test_english_wikipedia_is_kept(stage: FilterStage, real_data: Path) -> None:
    ref = real_data / "reference"
    articles = wikitext_articles(ref / "wikitext2-valid.txt") + wikitext_articles(
        ref / "wikitext2-test.txt"
    )
    assert len(articles) == 124
    assert kept_share(stage, articles) >= 0.9


def test_chinese_wikipedia_is_kept(stage: FilterStage, real_data: Path) -> None:
    paragraphs = cmrc_paragraphs(real_data / "reference/cmrc2018_zh_wikipedia.jsonl")
    assert kept_share(stage, paragraphs) >= 0.9


def test_ccnet_head_documents_are_kept(stage: FilterStage, real_data: Path) -> None:
    path = real_data / "samples/cc/ccnet_en_head_CC-MAIN-2020-16_0091.jsonl.gz"
    with gzip.open(path, "rt") as lines:
        texts = [json.loads(line)["text"] for line in lines]
    assert kept_share(stage, texts) >= 0.9


def ingested(path: Path) -> list[tuple[str, str | None]]:
    docs = []
    for out in IngestStage(IngestConfig()).read_file(str(path)):
        docs += zip(
            out.kept.column("text").to_pylist(), out.kept.column("url").to_pylist(), strict=True
        )
    return docs


def test_chinese_seo_and_gambling_pages_are_rejected(stage: FilterStage, real_data: Path) -> None:
    docs = ingested(real_data / "samples/cc/resiliparse_CC-MAIN-2020-34_00395.warc.gz")
    rejected = [stage.judge(text, url).rejection for text, url in docs]
    assert sum(r is not None for r in rejected) / len(docs) >= 0.9


def is_boilerplate_only(text: str) -> bool:
    """Independent of the rules: most lines are menu-like fragments of at most five words."""
    lines = [line for line in text.split("\n") if line.strip()]
    return len(lines) >= 5 and sum(len(line.split()) <= 5 for line in lines) / len(lines) >= 0.7


def test_boilerplate_only_pages_of_the_2019_crawl_are_rejected(
    stage: FilterStage, real_data: Path
) -> None:
    docs = ingested(real_data / "samples/cc/dolma_CC-MAIN-2019-30_00140.jsonl.gz")
    boilerplate = [(text, url) for text, url in docs if is_boilerplate_only(text)]
    assert len(boilerplate) >= 30
    outcomes = [stage.judge(text, url) for text, url in boilerplate]
    in_scope = [o for o in outcomes if o.lang in ("en", "zh")]  # other languages: lang rule
    assert sum(o.rejection is not None for o in in_scope) / len(in_scope) >= 0.9
