"""The evaluation corpus of the topics stage: real reference text, real ad / listing / spam
pages and ordinary real web pages from data_samples/, each labelled by a rule written down here
(never by the stage's own ad lexicon). Used by tests/test_topics_stage.py and
bench/topics_eval.py.

Labels:

* `reference`: every document taken from data_samples/reference: WikiText-2 articles (test and
  valid, WikiText's tokenization undone), every `CMRC_STRIDE`-th CMRC 2018 Chinese Wikipedia
  paragraph, RedPajama arXiv papers.
* `ad`: pages whose purpose is to sell or promote (product and shop pages, company and
  service self-promotion, real-estate / rental / hotel / ticket listings, loans, insurance,
  casino / betting / lottery) and SEO / keyword spam, chosen by hand after reading each
  page (every C4 line was read): `C4_ADS` (line numbers of
  samples/cc/llamafactory_c4_demo.jsonl), `DOLMA_ADS` (lines of
  samples/cc/dolma_CC-MAIN-2019-30_00140.jsonl.gz), `WARC_ADS` (URLs of the Chinese spam WARC
  samples/cc/resiliparse_CC-MAIN-2020-34_00395.warc.gz) and `OSCAR_ADS` (ids in
  samples/cc/oscar2019_multilingual.jsonl). Each entry says what the page is.
* `web`: ordinary web pages (news, blogs, forums, documentation, library catalogues,
  personal sites): the other C4 lines; of the dolma file every Chinese page and the English
  pages of 2,000+ characters among the first 320 lines (each read, `DOLMA_ADS` being the
  ads among them); every HTML page of samples/web/dolma_wget_sample-*.warc.gz; `OSCAR_WEB`.
* Left out: pages read but not clearly one or the other (`C4_UNCLEAR`, `DOLMA_UNCLEAR`: e.g.
  a company blog post, a giveaway, a job ad, a service provider's advice article), porn and
  flood-spam pages, documents shorter than `MIN_CHARS`, languages other than English and
  Chinese.

The split is 18% ads (96 English, 10 Chinese), 35% reference, 46% ordinary web. Ads are
short (median 992 characters against 6,357 for reference documents): a length-dependent
feature separates them without saying anything about ads.

`lang` is fastText lid.176 (stages/filter/langid.py, as the filter stage sets it): `en`, or
`zh` for zh / wuu / yue; any other label leaves the document out. HTML is extracted as ingest
does by default (resiliparse, main content). Ids name the source and position, never the
label.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REFERENCE, AD, WEB = "reference", "ad", "web"
LABELS = (REFERENCE, AD, WEB)
MIN_CHARS = 150
CMRC_STRIDE = 15  # 1,104 paragraphs -> 74
DOLMA_EN_MIN_CHARS = 2000
DOLMA_EN_LINES = 320  # English dolma pages only from the first lines (a bounded web share)

C4_FILE = "samples/cc/llamafactory_c4_demo.jsonl"
DOLMA_FILE = "samples/cc/dolma_CC-MAIN-2019-30_00140.jsonl.gz"
OSCAR_FILE = "samples/cc/oscar2019_multilingual.jsonl"
SPAM_WARC = "samples/cc/resiliparse_CC-MAIN-2020-34_00395.warc.gz"
WEB_WARCS = (
    "samples/web/dolma_wget_sample-0000.warc.gz",
    "samples/web/dolma_wget_sample-0001.warc.gz",
)

# C4 lines read in full and judged ads / listings / shop pages / SEO spam (line: what it is).
C4_ADS = {
    0: "heating company air cleaners",
    5: "SEO spam (virus removal keywords)",
    13: "house to rent listing",
    26: "puppy breeder site",
    28: "online printing company",
    31: "transcription services with prices",
    33: "shop payment methods page",
    36: "gift experience package",
    42: "kindergarten gowns shop",
    53: "spun real-estate licence SEO text",
    54: "tractor product range",
    55: "SEO spam (scraped snippets)",
    58: "fly-tying dubbing value pack",
    59: "car dealer page",
    67: "ice scraper product",
    70: "AdWords agency",
    71: "dating site spam",
    80: "essay mill ('buy papers online')",
    84: "Norton login spam",
    85: "EEG system vendor",
    90: "people-search placeholder page",
    91: "trading card box",
    92: "real-estate listing",
    95: "consultant offer",
    96: "groundwork services company",
    98: "hair dryer marketing",
    101: "essay keyword spam",
    104: "lingerie range",
    106: "people-search placeholder page",
    107: "designer lamp product",
    108: "image gallery SEO spam",
    109: "online slots",
    111: "tour package terms and prices",
    112: "hostel rooms",
    124: "sandwich panel product",
    125: "ceramics shop",
    127: "drain and rooter service",
    129: "sneaker promotion",
    131: "law firm services",
    132: "promotional products distributor",
    138: "bathroom tile SEO spam",
    139: "phone records spam",
    143: "tea shop order",
    151: "pet crate giveaway promotion",
    152: "aluminium profile manufacturer",
    154: "essay writing service",
    155: "store reviews",
    156: "EEPROM datasheet spam",
    157: "clothing product details",
    160: "software download SEO spam",
    162: "auction lot",
    164: "Pinterest ideas SEO spam",
    167: "excavator parts catalogue",
    170: "medical billing service",
    173: "scientific instruments company",
    174: "betting offers",
    181: "Medicare supplement plans (local SEO)",
    182: "car decal product",
    183: "fertility clinic and spam",
    186: "commemorative coin product",
    187: "cosmetic dentistry",
    191: "container house suppliers",
    194: "hair removal product",
    198: "tile image SEO spam",
    202: "weight-loss clinic programme",
    210: "pharmacy keyword spam",
    211: "architectural product",
    216: "custom software company",
    220: "radio ads agency",
    221: "island resort",
    225: "metal detector special offer",
    227: "office cleaning service",
    241: "commercial property listing",
    242: "porcelain sign product",
    243: "ticket broker",
    244: "gutter cleaning spam",
    248: "private school listing",
    249: "mortgage loans",
    253: "transport company",
    254: "router product page",
    257: "knitted mask product",
    264: "living room image SEO spam",
    265: "t-shirt product",
    266: "house listing",
    281: "training course sign-up",
    284: "desiccant supplier",
    285: "attorney local SEO",
    286: "storage local SEO",
    289: "bike restoration shop",
    291: "shop cart page",
    292: "bridging loans",
    293: "sold house prices listing",
    295: "washbasin product",
    298: "custom pet gifts",
    299: "cable product round-up",
}
# C4 lines read and left out: neither clearly an ad nor clearly not one, or not English.
C4_UNCLEAR = frozenset(
    {2, 4, 8, 10, 21, 25, 27, 39, 48, 65, 81, 89, 99, 100, 102, 103, 118, 120, 122, 126, 137}
    | {142, 144, 146, 153, 165, 180, 190, 204, 206, 207, 215, 222, 230, 245, 252}
)
# The Chinese spam WARC: gambling, lottery, product listings and SEO pages (porn left out).
WARC_ADS = {
    "http://003338.cn/l41/481397.html": "SEO spam around scraped news",
    "http://035.psb556.com/24/i/u_1090813/article.html": "casino link list",
    "http://037426.cn/": "chemicals trading company",
    "http://041696.com/15477/list_6_4.html": "steel plate sale and lottery",
    "http://044545.com/topic/20200207/015849.html": "gambling 'plan' recruiting",
    "http://0615235.com/02mjqjo%7Bibotij2.btq?odmbtt=106&tdmbtt=121": "notebook product list",
    "http://0760.jxtdw.com/area/sanxiang/": "job site with casino bonus spam",
    "http://077678u.info/erxiaoshujinguang/list_6_2.html": "lottery SEO spam",
}
# dolma lines judged ads / spam, and lines read and left out (an insurance agency's advice
# article, a job ad).
DOLMA_ADS = {23: "keyword-stuffed local SEO page", 162: "spun clothing-shop SEO text"}
DOLMA_UNCLEAR = frozenset({41, 239})
OSCAR_ADS = {
    "oscar2019:unshuffled_deduplicated_zh.zip:dummy_data/zh_part_1.txt.gz#0": "company promo",
    "oscar2019:unshuffled_deduplicated_zh.zip:dummy_data/zh_part_1.txt.gz#1": "SEO spam",
    "oscar2019:unshuffled_deduplicated_wuu.zip:dummy_data/wuu_dedup.txt.gz#1": "keyword list",
}
OSCAR_WEB = (
    "oscar2019:unshuffled_deduplicated_en.zip:dummy_data/en_part_1.txt.gz#0",
    "oscar2019:unshuffled_deduplicated_en.zip:dummy_data/en_part_1.txt.gz#1",
)


@dataclass(frozen=True)
class EvalDoc:
    id: str
    text: str
    lang: str  # en | zh
    label: str  # reference | ad | web
    source: str  # file under data_samples/
    offset: int  # line, record or article number in that file
    url: str | None = None
    note: str = ""  # why an ad is an ad

    def row(self) -> dict:
        """The row of the document schema (tests/test_minhash_stage.write_stage_dir)."""
        return {
            "id": self.id,
            "text": self.text,
            "url": self.url,
            "source": "eval",
            "lang": self.lang,
            "input_file": self.source,
            "input_offset": self.offset,
        }


def language(text: str) -> str | None:
    from stages.filter.langid import identify

    label, _ = identify(text)
    return {"en": "en", "zh": "zh", "wuu": "zh", "yue": "zh"}.get(label)


def _jsonl(path: Path) -> Iterator[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def html_pages(path: Path) -> Iterator[tuple[int, str, str]]:
    """(record offset, URL, extracted text) of every HTTP 200 HTML response of a WARC,
    parsed and extracted with the ingest stage's own functions and defaults."""
    from core.streams import open_decompressed
    from stages.ingest.html import decode_html, extract_text
    from stages.ingest.warc import WarcRecord, iter_warc_records, parse_http_response

    reader = open_decompressed(path)
    try:
        for record in iter_warc_records(reader, 1 << 26):
            if not isinstance(record, WarcRecord) or record.record_type != "response":
                continue
            if record.payload is None:
                continue
            response = parse_http_response(record.payload, 1 << 26)
            content_type = response.headers.get("content-type", "")
            if response.status != 200 or "html" not in content_type.lower():
                continue
            html, _ = decode_html(response.body, content_type)
            url = record.headers.get("warc-target-uri", "").strip("<>")  # WARC 1.0 style
            yield record.offset, url, extract_text(html, "resiliparse", True)
    finally:
        reader.close()


def _reference(real_data: Path) -> Iterator[EvalDoc]:
    from stages.score.corpus import cmrc_paragraphs, wikitext_articles

    ref = real_data / "reference"
    for name in ("wikitext2-test.txt", "wikitext2-valid.txt"):
        tag = name.split("-")[1].split(".")[0]
        for n, text in enumerate(wikitext_articles(ref / name)):
            yield EvalDoc(f"wiki-{tag}-{n:03d}", text, "", REFERENCE, f"reference/{name}", n)
    name = "cmrc2018_zh_wikipedia.jsonl"
    for n, text in enumerate(cmrc_paragraphs(ref / name)):
        if n % CMRC_STRIDE == 0:
            yield EvalDoc(f"cmrc-{n:04d}", text, "", REFERENCE, f"reference/{name}", n)
    name = "redpajama-arxiv-sample.jsonl"
    for n, obj in enumerate(_jsonl(ref / name)):
        yield EvalDoc(f"arxiv-{n:02d}", obj["text"], "", REFERENCE, f"reference/{name}", n)


def _web_and_ads(real_data: Path) -> Iterator[EvalDoc]:
    for n, obj in enumerate(_jsonl(real_data / C4_FILE)):
        if n in C4_UNCLEAR:
            continue
        label = AD if n in C4_ADS else WEB
        yield EvalDoc(f"c4-{n:03d}", obj["text"], "", label, C4_FILE, n, note=C4_ADS.get(n, ""))
    for n, obj in enumerate(_jsonl(real_data / DOLMA_FILE)):
        url = obj["metadata"]["url"]
        if n in DOLMA_UNCLEAR:
            continue
        label, note = (AD, DOLMA_ADS[n]) if n in DOLMA_ADS else (WEB, "")
        doc = EvalDoc(f"dolma-{n:03d}", obj["text"], "", label, DOLMA_FILE, n, url, note)
        if n < DOLMA_EN_LINES and len(doc.text) >= DOLMA_EN_MIN_CHARS:
            yield doc  # kept only when English (below)
        elif language(doc.text) == "zh":
            yield doc
    for n, obj in enumerate(_jsonl(real_data / OSCAR_FILE)):
        if obj["id"] in OSCAR_ADS:
            yield EvalDoc(
                f"oscar-{n:03d}", obj["text"], "", AD, OSCAR_FILE, n, note=OSCAR_ADS[obj["id"]]
            )
        elif obj["id"] in OSCAR_WEB:
            yield EvalDoc(f"oscar-{n:03d}", obj["text"], "", WEB, OSCAR_FILE, n)
    for offset, url, text in html_pages(real_data / SPAM_WARC):
        if url in WARC_ADS:
            yield EvalDoc(f"spamwarc-{offset}", text, "", AD, SPAM_WARC, offset, url, WARC_ADS[url])
    for name in WEB_WARCS:
        seen: set[str] = set()
        for offset, url, text in html_pages(real_data / name):
            if url not in seen:  # the crawl fetched a few pages twice
                seen.add(url)
                tag = name.rsplit("-", 1)[1].split(".")[0]
                yield EvalDoc(f"wget{tag}-{offset}", text, "", WEB, name, offset, url)


def build_corpus(real_data: Path) -> list[EvalDoc]:
    """Every labelled document in a fixed order: reference, then web and ads by source."""
    docs = []
    for doc in [*_reference(real_data), *_web_and_ads(real_data)]:
        if len(doc.text.strip()) < MIN_CHARS:
            continue
        lang = language(doc.text)
        if lang is None:
            continue
        docs.append(EvalDoc(**{**doc.__dict__, "lang": lang}))
    assert len({d.id for d in docs}) == len(docs)
    return docs


def shards_of(docs: Sequence[EvalDoc], shards: int) -> list[list[dict]]:
    """Rows dealt round-robin into `shards` shards, so every shard mixes every source."""
    return [[d.row() for d in docs[i::shards]] for i in range(shards)]


def describe(docs: Sequence[EvalDoc]) -> str:
    """`N documents: reference en 123, ...` for reports."""
    counts = Counter((d.label, d.lang) for d in docs)
    parts = [f"{label} {lang} {counts[label, lang]}" for label in LABELS for lang in ("en", "zh")]
    return f"{len(docs)} documents: " + ", ".join(parts)


@dataclass(frozen=True)
class Decision:
    kept: bool
    topic: int  # dominant topic, -1 without one
    keep_probability: float | None  # rejected rows only (reason_detail)


def read_decisions(stage_dir: Path) -> dict[str, Decision]:
    """Every document's fate in a finished topics stage directory, by id."""
    from core.shards import list_shards, read_table

    out: dict[str, Decision] = {}
    kept = read_table(list_shards(stage_dir))
    for doc_id, topic in zip(
        kept.column("id").to_pylist(), kept.column("topic").to_pylist(), strict=True
    ):
        out[doc_id] = Decision(True, topic, None)
    rejected_shards = list_shards(stage_dir / "rejected")
    if rejected_shards:
        rejected = read_table(rejected_shards)
        for doc_id, topic, detail in zip(
            rejected.column("id").to_pylist(),
            rejected.column("topic").to_pylist(),
            rejected.column("reason_detail").to_pylist(),
            strict=True,
        ):
            out[doc_id] = Decision(False, topic, json.loads(detail)["keep_probability"])
    return out


def removal_rates(docs: Sequence[EvalDoc], decisions: dict[str, Decision]) -> dict[str, float]:
    """Share of each label's documents (and per label and language) that were removed."""
    rates: dict[str, float] = {}
    groups: dict[str, list[bool]] = {}
    for doc in docs:
        removed = not decisions[doc.id].kept
        groups.setdefault(doc.label, []).append(removed)
        groups.setdefault(f"{doc.label} {doc.lang}", []).append(removed)
    for key, values in groups.items():
        rates[key] = sum(values) / len(values)
    return rates


def train_commercial_model(directory: Path) -> str:
    """The commercial page classifier of the labelled tune pages (data_samples/labels/), as
    train-quality trains it by default, in `directory`, sealed."""
    from core.integrity import seal
    from core.labels import labelled_texts, read_labels
    from stages.score.classifier import TrainOptions
    from stages.score.commercial import fit_commercial, threshold_file

    labels = Path(__file__).resolve().parents[1] / "data_samples" / "labels"
    tune = read_labels(labels / "labels.jsonl", "tune")
    pages = list(labelled_texts(labels / "pages.jsonl.gz", tune))
    model = directory / "commercial.ftz"
    fit_commercial(pages, model, TrainOptions(), max_good_removed=0.03)
    seal(model)
    seal(Path(threshold_file(str(model))))
    return str(model)
