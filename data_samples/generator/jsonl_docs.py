"""The JSONL fixtures: plain ``docs.jsonl``, dolma layout (gzip) and cc_net layout (zstandard)."""

import hashlib
import random
from dataclasses import replace
from datetime import timedelta

import zstandard

from .constants import BASE_DATE, CRAWL, SEED
from .corpus import Corpus, Doc
from .fixture import Fixture, jsonl, label
from .sites import SITES, UrlMaker
from .texts import TOPICS
from .warc import gzip_bytes, iso, sha1_b32, warc_date

EXACT_COPIES_OF = (4, 9, 25, 30, 47)  # docs.jsonl documents repeated verbatim


def _docs_jsonl_docs(corpus: Corpus) -> list[Doc]:
    """Articles, near-duplicates of five, junk, then exact copies; dup_of is "index:N"."""
    docs = [corpus.article("en", TOPICS[i % 6]) for i in range(22)]
    docs += [corpus.article("zh", TOPICS[i % 6]) for i in range(20)]
    docs += [corpus.near_dup(d, f"index:{i}") for i, d in enumerate(docs[:3])]
    docs += [corpus.near_dup(docs[22 + i], f"index:{22 + i}") for i in range(2)]
    docs += [
        corpus.listing("en"),
        corpus.listing("zh"),
        corpus.buy_now(),
        corpus.buy_now(),
        corpus.seo(),
        corpus.gambling(),
        corpus.gambling(),
        corpus.low_quality(3),
    ]
    copies = [replace(docs[i], kind="exact_dup", dup_of=f"index:{i}") for i in EXACT_COPIES_OF]
    return [*docs, *copies]


def build_docs_jsonl() -> Fixture:
    corpus = Corpus(SEED + 5)
    ordered = _docs_jsonl_docs(corpus)
    order = list(range(len(ordered)))
    corpus.rng.shuffle(order)
    position = {old: new for new, old in enumerate(order)}  # dup_of follows the shuffle
    rows, labels = [], []
    for new, old in enumerate(order):
        doc = ordered[old]
        dup = f"index:{position[int(doc.dup_of[6:])]}" if doc.dup_of else None
        rows.append({"text": doc.text})
        labels.append(label("docs.jsonl", new, None, doc) | {"dup_of": dup})
    note = "Plain {'text': ...} lines; near/exact duplicates and spam. dup_of is a line index."
    return Fixture("docs.jsonl", jsonl(rows), "jsonl", len(rows), len(rows), note, labels=labels)


def doc_urls(corpus: Corpus, lang: str, count: int) -> list[tuple[Doc, str]]:
    make_url = UrlMaker()
    site = SITES["field" if lang == "en" else "qingshan"]
    docs = [corpus.article(lang, TOPICS[i % 6]) for i in range(count)]
    return [(d, make_url(site, d)) for d in docs]


def warc_path(index: int) -> str:
    """A Common Crawl style WARC path, for dolma's metadata.warc_url."""
    segment = f"1715971{index:06d}.{index % 100:02d}"
    name = f"CC-MAIN-20240520{index % 24:02d}0000-20240520{index % 24:02d}3000-{index:05d}"
    return f"crawl-data/{CRAWL}/segments/{segment}/warc/{name}.warc.gz"


def dolma_row(doc: Doc, url: str, index: int) -> dict[str, object]:
    return {
        "id": hashlib.sha1(url.encode(), usedforsecurity=False).hexdigest()[:24],
        "text": doc.text,
        "source": "common-crawl",
        "added": "2024-06-01T00:00:00.000Z",
        "created": iso(BASE_DATE - timedelta(days=3 + index, hours=index)),
        "metadata": {"url": url, "warc_url": f"s3://commoncrawl/{warc_path(index)}"},
    }


def build_dolma() -> Fixture:
    corpus = Corpus(SEED + 6)
    pairs = doc_urls(corpus, "en", 20) + doc_urls(corpus, "zh", 16)
    pairs += [
        (corpus.listing("en"), "https://shop.megadeals.example.com/deals"),
        (corpus.gambling(), "https://www.hongyun-yule.example.com/"),
        (corpus.seo(), "https://paris-hotels-cheap.example.org/"),
        (corpus.buy_now(), "https://best-offers.example.net/buy"),
    ]
    rows = [dolma_row(doc, url, index) for index, (doc, url) in enumerate(pairs)]
    labels = [label("docs_dolma.jsonl.gz", i, url, doc) for i, (doc, url) in enumerate(pairs)]
    return Fixture(
        "docs_dolma.jsonl.gz",
        gzip_bytes(jsonl(rows)),
        "jsonl",
        len(rows),
        len(rows),
        "Dolma layout, gzip compressed.",
        labels=labels,
    )


def ccnet_row(rng: random.Random, doc: Doc, url: str, index: int) -> dict[str, object]:
    """A cc_net row; junk gets a high perplexity and a lower language score, as in cc_net."""
    raw = "\n".join(doc.paragraphs)
    spam = doc.kind != "article"
    perplexity = round(rng.uniform(900, 2500) if spam else rng.uniform(60, 400), 1)
    bucket = "head" if perplexity < 200 else "middle" if perplexity < 600 else "tail"
    return {
        "url": url,
        "date_download": iso(warc_date(index * 101)),
        "digest": sha1_b32(raw.encode()),
        "raw_content": raw,
        "title": doc.title,
        "language": doc.lang,
        "language_score": round(rng.uniform(0.6 if spam else 0.85, 1), 2),
        "perplexity": perplexity,
        "bucket": bucket,
        "nlines": raw.count("\n") + 1,
        "length": len(raw),
        "source_domain": url.split("/")[2],
    }


def build_ccnet() -> Fixture:
    corpus = Corpus(SEED + 7)
    pairs = doc_urls(corpus, "en", 14) + doc_urls(corpus, "zh", 12)
    pairs += [
        (corpus.listing("zh"), "https://mall.haohuo.example.com/item/1"),
        (corpus.gambling(), "https://www.hongyun-yule.example.com/reg"),
        (corpus.buy_now(), "https://best-offers.example.net/now"),
        (corpus.seo(), "https://paris-hotels-cheap.example.org/deals"),
    ]
    rows = [ccnet_row(corpus.rng, d, u, i) for i, (d, u) in enumerate(pairs)]
    labels = [label("docs_ccnet.jsonl.zst", i, u, d) for i, (d, u) in enumerate(pairs)]
    data = zstandard.ZstdCompressor(level=19, write_checksum=True).compress(jsonl(rows))
    return Fixture(
        "docs_ccnet.jsonl.zst",
        data,
        "jsonl",
        len(rows),
        len(rows),
        "cc_net layout, zstandard compressed.",
        labels=labels,
    )
