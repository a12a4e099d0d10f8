"""The synthetic web sites: their domains, menus and notices, and a document as one of their
HTML pages at a URL of its own."""

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass

from .corpus import Doc
from .payloads import http_ok
from .texts import MENUS, NOTICES


@dataclass(frozen=True)
class Site:
    domain: str
    name: str
    lang: str
    nav: tuple[str, ...]
    boilerplate: tuple[str, ...] = ()  # notices repeated verbatim on every page


def _menu(lang: str, entries: int | None = None) -> tuple[str, ...]:
    return tuple(MENUS[lang][:entries])


SITES = {
    "harbor": Site(
        "www.harborledger.example.com",
        "The Harbor Ledger",
        "en",
        _menu("en", 12),
        (NOTICES["harbor_cookies"], NOTICES["harbor_footer"]),
    ),
    "field": Site("fieldnotes.example.org", "Field Notes", "en", ("Home", "Archive", "About")),
    "kitchen": Site(
        "kitchen-table.example.net",
        "Kitchen Table",
        "en",
        ("Recipes", "Techniques", "Shop", "About"),
    ),
    "qingshan": Site(
        "www.qingshan.example.com", "青山日报", "zh", _menu("zh", 10), (NOTICES["qingshan_footer"],)
    ),
    "xiaolu": Site("blog.xiaolu.example.net", "小路笔记", "zh", ("首页", "归档", "关于")),
    "laozhan": Site("www.laozhan.example.com", "老站论坛", "zh", ("首页", "论坛", "搜索")),
    "mirror": Site("mirror.example.org", "Content Mirror", "en", ("Home",)),
    "shop": Site(
        "shop.megadeals.example.com",
        "MegaDeals Outlet",
        "en",
        ("Deals", "Electronics", "Home", "Kitchen", "Sports", "Cart"),
    ),
    "spam": Site("best-offers.example.net", "BEST OFFERS", "en", ("BUY", "NOW")),
    "seo": Site("paris-hotels-cheap.example.org", "Cheap Hotels Paris", "en", ("Hotels",)),
    "yule": Site("www.hongyun-yule.example.com", "鸿运娱乐", "zh", ("首页", "注册", "优惠")),
    "mall": Site("mall.haohuo.example.com", "好货商城", "zh", ("首页", "分类", "购物车")),
    "portal": Site("portal.citydirectory.example.com", "City Directory", "en", _menu("en")),
    "menhu": Site("www.menhu.example.com", "门户网", "zh", _menu("zh")),
}


def slugify(text: str, fallback: str) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "-".join(words[:8]) or fallback


def _links(items: Iterable[str], prefix: str = "/") -> str:
    return "".join(
        f'<li><a href="{prefix}{slugify(x, f"s{i}")}/">{html.escape(x)}</a></li>'
        for i, x in enumerate(items)
    )


def render_html(doc: Doc, site: Site, charset: str = "utf-8", meta: str = "charset") -> str:
    """`doc` as a page of `site`; `meta` is "charset" or "http-equiv" (how it declares charset)."""
    if meta == "http-equiv":
        meta_tag = f'<meta http-equiv="Content-Type" content="text/html; charset={charset}">'
    else:
        meta_tag = f'<meta charset="{charset}">'
    paras = "\n".join(f"<p>{html.escape(p)}</p>" for p in doc.paragraphs)
    extra = f'<ul class="links">{_links(doc.links)}</ul>' if doc.links else ""
    boiler = "\n".join(
        f'<div class="site-notice"><p>{html.escape(b)}</p></div>' for b in site.boilerplate
    )
    return f"""<!DOCTYPE html>
<html lang="{doc.lang}">
<head>
{meta_tag}
<title>{html.escape(doc.title)} | {html.escape(site.name)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/site.css">
<style>body{{font-family:sans-serif;max-width:48em;margin:auto}}.links li{{display:inline}}</style>
<script>window.dataLayer = window.dataLayer || []; dataLayer.push({{"page": "article"}});</script>
</head>
<body>
<header><a class="logo" href="/">{html.escape(site.name)}</a>
<nav><ul>{_links(site.nav)}</ul></nav></header>
<main><article>
<h1>{html.escape(doc.title)}</h1>
{paras}
{extra}
</article></main>
<footer>
{boiler}
</footer>
</body>
</html>
"""


class UrlMaker:
    """URLs numbered in the order they are made, so each fixture's URLs are stable."""

    def __init__(self) -> None:
        self.serial = 0

    def __call__(self, site: Site, doc: Doc) -> str:
        self.serial += 1
        slug = slugify(doc.title, doc.topic or doc.kind)
        section = doc.topic or doc.kind.replace("_", "-")
        return f"https://{site.domain}/{section}/2024/{self.serial:04d}-{slug}.html"


@dataclass
class Page:
    """A crawled page: its URL, the HTTP response as sent, and the document it carries."""

    url: str
    http: bytes
    doc: Doc
    encoding: str | None = "utf-8"


def html_page(url: str, doc: Doc, site: Site) -> Page:
    body = render_html(doc, site).encode("utf-8")
    charset = "utf-8" if len(url) % 2 else "UTF-8"  # both spellings occur in real headers
    return Page(url, http_ok(body, f"text/html; charset={charset}"), doc)
