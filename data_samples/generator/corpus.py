"""Documents composed from the text pools (``texts.py``) with one seeded RNG.

Every draw goes through ``Corpus.rng`` in a fixed order, so the same seed gives the same
documents; changing the order of draws changes the generated files.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .texts import ARTICLES, JUNK, LINE_JOINERS, MENUS, TOPICS, split_sentences


@dataclass(frozen=True)
class Doc:
    kind: str  # the label: article, near_dup, ad_spam, ... (README.md lists them)
    lang: str
    title: str
    paragraphs: tuple[str, ...]
    topic: str = ""
    links: tuple[str, ...] = ()
    dup_of: str | None = None

    @property
    def text(self) -> str:
        return "\n".join((self.title, *self.paragraphs, *self.links))


def stub_doc(kind: str) -> Doc:
    """Label for a response that carries no text (redirect, image, PDF, script-only page)."""
    return Doc(kind, "", "", ())


class Corpus:
    """Composes documents from the text pools with one seeded RNG."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 seeded on purpose: reproducible samples

    def _slots(self, lang: str, topic: str) -> dict[str, str]:
        text = ARTICLES[lang]
        subject = self.rng.choice(text.subjects[topic])
        return {
            "minutes": str(self.rng.randrange(10, 95, 5)),
            "part": self.rng.choice(text.day_parts),
            "name": self.rng.choice(text.names),
            "place": self.rng.choice(text.places),
            "month": self.rng.choice(text.months),
            "subject": subject,
            "Subject": subject[:1].upper() + subject[1:],
        }

    def article(self, lang: str, topic: str | None = None) -> Doc:
        """An intro, 5-8 sentences of one topic with a tip among them, and a closing."""
        text = ARTICLES[lang]
        topic = topic or self.rng.choice(TOPICS)
        slots = self._slots(lang, topic)
        body = self.rng.sample(text.sentences[topic], self.rng.randint(5, 8))
        intro = self.rng.choice(text.intros).format(**slots)
        tip = self.rng.choice(text.tips).format(**slots)
        closing = self.rng.choice(text.closings).format(**slots)
        body.insert(self.rng.randint(1, len(body) - 1), tip)
        sentences = [intro, *body, closing]
        joiner = LINE_JOINERS[lang]
        paras = tuple(joiner.join(sentences[i : i + 3]) for i in range(0, len(sentences), 3))
        title = self.rng.choice(text.titles).format(**slots)
        return Doc("article", lang, title, paras, topic)

    def near_dup(self, doc: Doc, ref: str) -> Doc:
        """Same article with a word swapped and a note added or the last sentence cut."""
        text = ARTICLES[doc.lang]
        paras = list(doc.paragraphs)
        index = self.rng.randrange(len(paras))
        for old, new in text.word_swaps:
            if old in paras[index]:
                paras[index] = paras[index].replace(old, new, 1)
                break
        if self.rng.random() < 0.5:
            paras.append(self.rng.choice(text.update_notes))
        else:
            last = split_sentences(paras[-1], doc.lang)
            paras[-1] = LINE_JOINERS[doc.lang].join(last[:-1] or last)
        return replace(doc, kind="near_dup", paragraphs=tuple(paras), dup_of=ref)

    def listing(self, lang: str) -> Doc:
        listing = JUNK["listing"]
        products = self.rng.sample(listing["products"][lang], 8)
        items = [self._price_line(lang, name) for name in products]
        slogans = tuple(self.rng.sample(listing["slogans"][lang], 3))
        paras = (*slogans[:1], *items, *slogans[1:])
        return Doc("ad_listing", lang, listing["title"][lang], paras, "shopping")

    def _price_line(self, lang: str, name: str) -> str:
        price = self.rng.randint(5, 300) + 0.99
        was = round(price * self.rng.choice((1.5, 2, 3)), 2)
        if lang == "zh":
            sold = self.rng.randint(100, 99999)
            return f"{name} 原价￥{was:.0f} 现价￥{price:.0f} 包邮 已售{sold}件 立即购买"
        stars = self.rng.choice(("4.1", "4.5", "4.7", "4.9"))
        return f"{name} - ${price:.2f} (was ${was:.2f}) - {stars} stars - Buy now"

    def buy_now(self) -> Doc:
        spam = JUNK["buy_now"]
        lines = [self.rng.choice(spam["lines"]) for _ in range(self.rng.randint(10, 16))]
        return Doc("ad_spam", "en", spam["title"], tuple(lines), "shopping")

    def seo(self) -> Doc:
        seo = JUNK["seo"]
        paras = []
        for _ in range(4):
            words = [self.rng.choice(seo["keywords"]) for _ in range(self.rng.randint(12, 18))]
            paras.append(" ".join(words) + ".")
        return Doc("seo_spam", "en", seo["title"], tuple(paras), "shopping")

    def gambling(self) -> Doc:
        spam = JUNK["gambling"]
        lines = [self.rng.choice(spam["lines"]) for _ in range(self.rng.randint(8, 12))]
        return Doc("gambling_spam", "zh", spam["title"], tuple(lines), "gambling")

    def navigation(self, lang: str, headlines: Sequence[str]) -> Doc:
        """A directory page: the site menu, ten headlines, tags (English) and page numbers."""
        navigation = JUNK["navigation"]
        heads = self.rng.sample(list(headlines), min(10, len(headlines)))
        tags = self.rng.sample(navigation["tags"][lang], 15) if lang in navigation["tags"] else []
        pages = [str(n) for n in range(1, 21)]
        links = (*MENUS[lang], *heads, *tags, *pages)
        title, line = navigation["title"][lang], navigation["results_line"][lang]
        return Doc("navigation", lang, title, (line,), "navigation", links=links)

    def low_quality(self, variant: int) -> Doc:
        variants = JUNK["low_quality"]
        page = variants[variant % len(variants)]
        return Doc("low_quality", "en", page["title"], tuple(page["lines"]), "low_quality")
