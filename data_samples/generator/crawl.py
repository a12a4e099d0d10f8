"""The crawl fixtures: ``cc_pages.warc.gz`` (pages as fetched) and ``cc_pages.warc.wet.gz``
(their extracted text)."""

from dataclasses import replace

from .constants import SEED
from .corpus import Corpus, Doc, stub_doc
from .fixture import Fixture, count_with_text, label
from .payloads import chunked, http_message, http_ok, pdf_bytes, png_bytes
from .sites import SITES, Page, UrlMaker, html_page, render_html
from .texts import SCRIPT_ONLY_PAGE, TOPICS
from .warc import WarcWriter, gzip_bytes

# (language, site, pages): the well-formed articles of cc_pages.warc.gz
ARTICLE_PLAN = (
    ("en", "harbor", 16),
    ("en", "field", 18),
    ("en", "kitchen", 12),
    ("zh", "qingshan", 14),
    ("zh", "xiaolu", 16),
)


def article_pages(corpus: Corpus, make_url: UrlMaker) -> list[Page]:
    pages = []
    for lang, site_key, count in ARTICLE_PLAN:
        site = SITES[site_key]
        for i in range(count):
            topic = "cooking" if site_key == "kitchen" and i % 2 else TOPICS[i % len(TOPICS)]
            doc = corpus.article(lang, topic)
            pages.append(html_page(make_url(site, doc), doc, site))
    return pages


def duplicate_pages(corpus: Corpus, make_url: UrlMaker, originals: list[Page]) -> list[Page]:
    """Near-duplicates at other URLs, plus two exact copies with tracking parameters."""
    pages = []
    for lang in ("en", "zh"):
        sources = [p for p in originals if p.doc.lang == lang]
        for page in corpus.rng.sample(sources, 4):
            doc = corpus.near_dup(page.doc, page.url)
            site = SITES["mirror"] if lang == "en" else SITES["xiaolu"]
            pages.append(html_page(make_url(site, doc), doc, site))
    for page in corpus.rng.sample(originals, 2):
        doc = replace(page.doc, kind="exact_dup", dup_of=page.url)
        pages.append(Page(page.url + "?utm_source=newsletter&utm_medium=email", page.http, doc))
    return pages


def spam_pages(corpus: Corpus, make_url: UrlMaker, headlines: list[str]) -> list[Page]:
    docs = [(corpus.listing("en"), "shop") for _ in range(4)]
    docs += [(corpus.listing("zh"), "mall") for _ in range(2)]
    docs += [(corpus.buy_now(), "spam") for _ in range(3)]
    docs += [(corpus.seo(), "seo") for _ in range(3)]
    docs += [(corpus.gambling(), "yule") for _ in range(3)]
    docs += [(corpus.navigation("en", headlines), "portal") for _ in range(3)]
    docs += [(corpus.navigation("zh", headlines), "menhu") for _ in range(2)]
    docs += [(corpus.low_quality(i), "field") for i in range(4)]
    return [html_page(make_url(SITES[key], doc), doc, SITES[key]) for doc, key in docs]


def encoded_pages(corpus: Corpus, make_url: UrlMaker) -> list[Page]:
    """Chinese pages in GBK/GB2312 and an English page in ISO-8859-1."""
    site = SITES["laozhan"]
    specs = [
        ("gbk", "gbk", "http-equiv"),
        ("gb2312", "gb2312", "charset"),
        ("gb2312", None, "charset"),
    ]  # last: charset only in <meta charset>
    pages = []
    for codec, http_charset, meta in specs:
        doc = _encodable_article(corpus, "zh", codec)
        body = render_html(doc, site, codec, meta).encode(codec)
        ctype = f"text/html; charset={http_charset}" if http_charset else "text/html"
        pages.append(Page(make_url(site, doc), http_ok(body, ctype), doc, codec))
    doc = corpus.article("en", "cooking")
    doc = replace(doc, paragraphs=(*doc.paragraphs, "Serve with crème fraîche at the café."))
    body = render_html(doc, SITES["kitchen"], "iso-8859-1").encode("iso-8859-1")
    http = http_ok(body, "text/html; charset=ISO-8859-1")
    pages.append(Page(make_url(SITES["kitchen"], doc), http, doc, "iso-8859-1"))
    return pages


def _encodable_article(corpus: Corpus, lang: str, codec: str) -> Doc:
    """The next article whose page `codec` can encode (GB2312 lacks some characters)."""
    for _ in range(100):
        doc = corpus.article(lang)
        try:
            render_html(doc, SITES["laozhan"], codec).encode(codec)
        except UnicodeEncodeError:
            continue
        return doc
    raise RuntimeError(f"no article encodable as {codec}")


def transport_pages(corpus: Corpus, make_url: UrlMaker) -> list[Page]:
    """Chunked and gzip bodies, a redirect, a PNG, a PDF and a page with no visible text."""
    field_site, harbor = SITES["field"], SITES["harbor"]
    doc = corpus.article("en", "technology")
    body = render_html(doc, field_site).encode()
    http = http_message(
        "200 OK",
        [("Content-Type", "text/html; charset=utf-8"), ("Transfer-Encoding", "chunked")],
        chunked(body),
        length=False,
    )
    pages = [Page(make_url(field_site, doc), http, doc)]
    doc = corpus.article("zh", "travel")
    body = gzip_bytes(render_html(doc, SITES["qingshan"]).encode())
    http = http_ok(
        body, "text/html; charset=utf-8", ("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")
    )
    pages.append(Page(make_url(SITES["qingshan"], doc), http, doc))
    target = f"https://{harbor.domain}/news/2024/moved-page.html"
    redirect = http_message(
        "301 Moved Permanently", [("Location", target), ("Content-Type", "text/html")], b""
    )
    pdf = pdf_bytes("Water expands by about nine percent when it freezes.")
    script_only = http_ok(SCRIPT_ONLY_PAGE.encode(), "text/html; charset=utf-8")
    return [
        *pages,
        Page(f"http://{harbor.domain}/news/old-page", redirect, stub_doc("redirect")),
        Page(
            f"https://{harbor.domain}/static/logo.png",
            http_ok(png_bytes(), "image/png"),
            stub_doc("image"),
        ),
        Page(
            f"https://{field_site.domain}/files/water-notes.pdf",
            http_ok(pdf, "application/pdf"),
            stub_doc("pdf"),
        ),
        Page(f"https://{field_site.domain}/app/dashboard", script_only, stub_doc("empty")),
    ]


def build_cc_pages() -> Fixture:
    corpus = Corpus(SEED + 1)
    make_url = UrlMaker()
    articles = article_pages(corpus, make_url)
    headlines = [p.doc.title for p in articles]
    pages = [
        *articles,
        *duplicate_pages(corpus, make_url, articles),
        *spam_pages(corpus, make_url, headlines),
        *encoded_pages(corpus, make_url),
        *transport_pages(corpus, make_url),
    ]
    corpus.rng.shuffle(pages)
    writer = WarcWriter("cc_pages.warc.gz", SEED + 2)
    writer.warcinfo("Synthetic web pages for datapipe tests; not real crawl data.")
    labels = []
    for index, page in enumerate(pages):
        record_id = writer.capture(page.url, page.http)
        if index == 5:  # one metadata record, as Common Crawl writes after each response
            writer.metadata(page.url, record_id, page.doc.lang or "unknown")
        labels.append(label("cc_pages.warc.gz", index, page.url, page.doc, page.encoding))
    note = "Common Crawl style WARC: articles, duplicates, spam, encodings, transfer edge cases."
    return Fixture(
        "cc_pages.warc.gz",
        writer.getvalue(),
        "warc",
        writer.documents,
        count_with_text(labels),
        note,
        dict(writer.counts),
        labels,
    )


def _wet_docs(corpus: Corpus, make_url: UrlMaker) -> list[tuple[Doc, str]]:
    """Articles, near-duplicates of four of them, some junk and an empty record, with URLs."""
    docs = [corpus.article("en", TOPICS[i % 6]) for i in range(16)]
    docs += [corpus.article("zh", TOPICS[i % 6]) for i in range(14)]
    pairs = [(d, make_url(SITES["field" if d.lang == "en" else "xiaolu"], d)) for d in docs]
    for doc, url in corpus.rng.sample(pairs[:16], 2) + corpus.rng.sample(pairs[16:], 2):
        near = corpus.near_dup(doc, url)
        pairs.append((near, make_url(SITES["mirror"], near)))
    junk = [
        (corpus.listing("en"), "shop"),
        (corpus.gambling(), "yule"),
        (corpus.seo(), "seo"),
        (corpus.navigation("en", [d.title for d in docs]), "portal"),
        (corpus.low_quality(1), "field"),
        (stub_doc("empty"), "field"),
    ]
    return pairs + [(d, make_url(SITES[k], d)) for d, k in junk]


def build_wet() -> Fixture:
    corpus = Corpus(SEED + 3)
    pairs = _wet_docs(corpus, UrlMaker())
    corpus.rng.shuffle(pairs)
    writer = WarcWriter("cc_pages.warc.wet.gz", SEED + 4)
    writer.warcinfo("Synthetic WET text extracted from synthetic pages.")
    labels = []
    for index, (doc, url) in enumerate(pairs):
        text = doc.text.encode("utf-8") if doc.kind != "empty" else b""
        lang = {"en": "eng", "zh": "zho"}.get(doc.lang)
        headers = [("WARC-Refers-To", writer.new_id())]
        if lang and text:
            headers.append(("WARC-Identified-Content-Language", lang))
        writer.add("conversion", text, "text/plain", uri=url, extra=headers)
        labels.append(label("cc_pages.warc.wet.gz", index, url, doc))
    note = "WET conversion records (plain text), with near-duplicates and one empty record."
    return Fixture(
        "cc_pages.warc.wet.gz",
        writer.getvalue(),
        "wet",
        writer.documents,
        count_with_text(labels),
        note,
        dict(writer.counts),
        labels,
    )
