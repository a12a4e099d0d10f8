"""The n-gram perplexity model: Kneser-Ney arithmetic, unknown words, storage, and on real data
(data_samples/) Wikipedia against web spam and cc_net's head bucket."""

from __future__ import annotations

import gzip
import json
import math
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from stages.filter.langid import identify
from stages.ingest.stage import IngestConfig, IngestStage
from stages.score.corpus import cmrc_paragraphs, wikitext_articles
from stages.score.perplexity import NgramLM, load_model
from stages.text import tokenize

# --- a textbook interpolated modified Kneser-Ney, written for clarity, to check against --------


def synthetic_corpus(seed: int = 0, lines: int = 300) -> list[str]:
    """Zipf-distributed words with some local structure, so every order has counts of counts
    1..4 (the modified-KN discount formula applies, no fallback)."""
    rng = random.Random(seed)
    words = [a + b for a in "wxyzv" for b in "abcdefghijklmnopqrst"]  # no digits: they map to 0
    weights = [1 / (i + 1) for i in range(len(words))]
    out = []
    for _ in range(lines):
        line = rng.choices(words, weights, k=rng.randint(2, 9))
        if rng.random() < 0.3:
            line[:2] = ["wa", "wb"]
        out.append(" ".join(line))
    return ["\n".join(out[i : i + 5]) for i in range(0, len(out), 5)]


class ReferenceKN:
    def __init__(self, texts: list[str], order: int) -> None:
        self.order = order
        lines = [["<s>", *line.split(), "</s>"] for text in texts for line in text.split("\n")]
        raw = [Counter() for _ in range(order + 1)]
        for line in lines:
            for n in range(1, order + 1):
                for i in range(len(line) - n + 1):
                    raw[n][tuple(line[i : i + n])] += 1
        self.counts = [Counter() for _ in range(order + 1)]
        self.counts[order] = raw[order]
        for n in range(1, order):
            for gram, c in raw[n].items():
                left = sum(1 for longer in raw[n + 1] if longer[1:] == gram)
                self.counts[n][gram] = c if gram[0] == "<s>" else left
        # <unk> never occurs (min_count 1) but is predictable: the uniform share is its mass
        self.vocab = sorted({w for line in lines for w in line} - {"<s>"} | {"<unk>"})
        self.discounts = [None] + [self._discounts(n) for n in range(1, order + 1)]

    def _discounts(self, n: int) -> list[float]:
        values = [c for g, c in self.counts[n].items() if g != ("<s>",)]
        t = [values.count(k) for k in (1, 2, 3, 4)]
        y = t[0] / (t[0] + 2 * t[1])
        return [0, 1 - 2 * y * t[1] / t[0], 2 - 3 * y * t[2] / t[1], 3 - 4 * y * t[3] / t[2]]

    def prob(self, word: str, context: tuple[str, ...]) -> float:
        context = context[-(self.order - 1) :] if self.order > 1 else ()
        n = len(context) + 1
        d = self.discounts[n]
        if n == 1:
            items = {g[0]: c for g, c in self.counts[1].items() if g != ("<s>",)}
            total = sum(items.values())
            left = sum(d[min(c, 3)] for c in items.values())
            c = items.get(word, 0)
            return (c - d[min(c, 3)]) / total + left / total / len(self.vocab)
        items = {g[-1]: c for g, c in self.counts[n].items() if g[:-1] == context}
        if not items:
            return self.prob(word, context[1:])
        total = sum(items.values())
        left = sum(d[min(c, 3)] for c in items.values())
        c = items.get(word, 0)
        return (c - d[min(c, 3)]) / total + left / total * self.prob(word, context[1:])


CONTEXTS = [(), ("<s>",), ("wa",), ("<s>", "wa"), ("wa", "wb"), ("wd", "wd", "wc"), ("wj", "xd")]


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_kneser_ney_matches_the_textbook_formula_and_sums_to_one(order: int) -> None:
    texts = synthetic_corpus()
    lm = NgramLM.train(texts, "en", order=order, min_count=1)
    ref = ReferenceKN(texts, order)
    expected_discounts = [d for ds in ref.discounts[1:] for d in ds[1:]]
    discounts = [d for ds in lm.meta["discounts"] for d in ds]
    assert discounts == pytest.approx(expected_discounts, abs=1e-6)
    for context in CONTEXTS:
        probs = [10 ** lm.log10_prob(word, context) for word in ref.vocab]
        assert sum(probs) == pytest.approx(1.0, abs=1e-5), context
        expected = [ref.prob(word, context) for word in ref.vocab]
        assert probs == pytest.approx(expected, rel=1e-5), context


def test_probabilities_sum_to_one_with_unknown_class_and_order_5() -> None:
    texts = [*synthetic_corpus(seed=1, lines=60), "rareone wa raretwo", "wa wb rarethree"]
    lm = NgramLM.train(texts, "en", order=5, min_count=2)
    predictable = [w for w in lm.vocab if w != "<s>"]  # "<unk>" is the class of rare units
    for context in [*CONTEXTS, ("<s>", "<unk>", "wa"), ("wa", "wb", "wc", "wd")]:
        total = sum(10 ** lm.log10_prob(word, context) for word in predictable)
        assert total == pytest.approx(1.0, abs=1e-5), context


# --- unknown words, validation --------------------------------------------------------------


def test_unseen_words_get_a_share_of_the_unknown_class() -> None:
    texts = ["wa wb wc", "wb wc wa\nwa wc", "once upon wa", "twice twice wb"]
    lm = NgramLM.train(texts, "en", order=3, min_count=2)
    assert "once" not in lm.vocab and "twice" in lm.vocab  # seen once -> <unk>
    assert lm.meta["unk_types"] == 2  # "once" and "upon"
    unk_class = lm.log10_prob("<unk>", ("wa",))
    assert lm.log10_prob("never-seen", ("wa",)) == pytest.approx(unk_class - math.log10(2))
    assert math.isfinite(lm.perplexity("completely novel words here"))
    assert lm.perplexity("wa wb wc") < lm.perplexity("zebra quantum wa walrus")


def test_unknown_class_gets_mass_when_nothing_was_cut() -> None:
    lm = NgramLM.train(["a b c\nb c a", "c a b"], "en", order=2, min_count=1)
    assert lm.meta["unk_types"] == 0
    assert -10 < lm.log10_prob("<unk>") < lm.log10_prob("a")
    assert math.isfinite(lm.perplexity("x y z"))


def test_normalization_and_empty_texts() -> None:
    lm = NgramLM.train(["Call 555 1234 now", "call 999 9999 today"] * 3, "en", order=2)
    assert lm.perplexity("CALL 123 4567 NOW") == lm.perplexity("call 000 0000 now")
    assert lm.perplexity("") == math.inf
    assert lm.perplexity("\n \n") == math.inf
    scores = lm.perplexities(["", "call now", " ", "call today"])
    assert scores[0] == scores[2] == math.inf and np.isfinite(scores[[1, 3]]).all()


def test_a_text_scores_the_same_alone_and_in_any_batch() -> None:
    texts = synthetic_corpus(seed=2, lines=50)
    lm = NgramLM.train(synthetic_corpus(), "en", order=3)
    batch = lm.perplexities(texts)
    assert [lm.perplexity(t) for t in texts] == batch.tolist()
    assert lm.perplexities(texts[::-1]).tolist() == batch[::-1].tolist()


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="order"):
        NgramLM.train(["a b"], "en", order=6)
    with pytest.raises(ValueError, match="units"):
        NgramLM.train(["a b"], "en", units="bytes")
    with pytest.raises(ValueError, match="no training text"):
        NgramLM.train(["", "  \n"], "en")
    lm = NgramLM.train(["a b"], "en")
    with pytest.raises(ValueError, match="cut-offs"):
        lm.bucket(10.0)


def test_orders_longer_than_every_training_line() -> None:
    lm = NgramLM.train(["alpha", "beta", "alpha\nbeta"], "en", order=5, min_count=1)
    assert lm.meta["ngrams"][3:] == [0, 0]
    predictable = [w for w in lm.vocab if w != "<s>"]
    total = sum(10 ** lm.log10_prob(w, ("<s>", "alpha", "beta")) for w in predictable)
    assert total == pytest.approx(1.0, abs=1e-5)
    assert math.isfinite(lm.perplexity("alpha beta alpha beta gamma"))


def test_character_units() -> None:
    lm = NgramLM.train(["中文维基百科\n维基百科是自由的百科全书"] * 3, "zh", order=4, units="chars")
    assert "维" in lm.vocab and lm.units == "chars"
    assert lm.perplexity("维基百科") < lm.perplexity("科百基维")


# --- storage ----------------------------------------------------------------------------------


def test_save_load_round_trip_is_exact_and_files_are_byte_identical(tmp_path: Path) -> None:
    texts = synthetic_corpus()
    probe = [*synthetic_corpus(seed=3, lines=40), "unseen words wa wb"]
    first = NgramLM.train(texts, "en", order=4, description="synthetic")
    first.set_cutoffs(probe, description="probe")
    first.save(tmp_path / "a.npz")
    again = NgramLM.train(iter(texts), "en", order=4, description="synthetic")
    again.set_cutoffs(probe, description="probe")
    again.save(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()

    loaded = NgramLM.load(tmp_path / "a.npz")
    assert loaded.meta == first.meta and loaded.cutoffs == first.cutoffs
    assert loaded.vocab == first.vocab
    assert loaded.perplexities(probe).tolist() == first.perplexities(probe).tolist()
    assert loaded.meta["description"] == "synthetic" and loaded.meta["order"] == 4
    assert not list(tmp_path.glob("*.tmp"))


def test_load_model_is_cached_per_path(tmp_path: Path) -> None:
    NgramLM.train(synthetic_corpus(), "en").save(tmp_path / "m.npz")
    assert load_model(tmp_path / "m.npz") is load_model(str(tmp_path / "m.npz"))


def test_load_rejects_other_npz_files(tmp_path: Path) -> None:
    np.savez(tmp_path / "x.npz", meta=np.frombuffer(b'{"format": "other"}', np.uint8))
    with pytest.raises(ValueError, match="not a"):
        NgramLM.load(tmp_path / "x.npz")


def test_buckets_follow_the_cutoffs() -> None:
    lm = NgramLM.train(synthetic_corpus(), "en")
    head_max, middle_max = lm.set_cutoffs(synthetic_corpus(seed=4, lines=90))
    assert head_max < middle_max and lm.meta["cutoffs"]["documents"] == 18
    assert lm.bucket(head_max * 0.99) == "head"
    assert lm.bucket(head_max) == lm.bucket(middle_max * 0.99) == "middle"
    assert lm.bucket(middle_max) == "tail"


# --- real data from data_samples/ -----------------------------------------------------------


def jsonl(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line)["text"] for line in lines if line.strip()]


def auc(low: np.ndarray, high: np.ndarray) -> float:
    """Chance that a random `low` document scores below a random `high` one."""
    return float((low[:, None] < high[None, :]).mean())


@pytest.fixture(scope="module")
def english(real_data: Path) -> NgramLM:
    articles = wikitext_articles(real_data / "reference/wikitext2-valid.txt")
    return NgramLM.train(articles, "en", description="WikiText-2 valid, detokenized")


@pytest.fixture(scope="module")
def english_crawl(real_data: Path) -> list[str]:
    """The English documents of one unfiltered CC-MAIN-2019-30 WARC segment (dolma sample)."""
    texts = jsonl(real_data / "samples/cc/dolma_CC-MAIN-2019-30_00140.jsonl.gz")
    return [text for text in texts if identify(text)[0] == "en"]


def cmrc_split(real_data: Path) -> tuple[list[str], list[str]]:
    """CMRC 2018 paragraphs: the dev set for training, the trial set (other articles) held out."""
    path = real_data / "reference/cmrc2018_zh_wikipedia.jsonl"
    with path.open(encoding="utf-8") as lines:
        ids = [json.loads(line)["id"] for line in lines if line.strip()]
    paragraphs = cmrc_paragraphs(path)
    train = [p for i, p in zip(ids, paragraphs, strict=True) if i.startswith("DEV")]
    held_out = [p for i, p in zip(ids, paragraphs, strict=True) if i.startswith("TRIAL")]
    return train, held_out


def test_english_wikipedia_scores_below_web_text(
    english: NgramLM, english_crawl: list[str], real_data: Path
) -> None:
    wiki = english.perplexities(wikitext_articles(real_data / "reference/wikitext2-test.txt"))
    c4 = english.perplexities(jsonl(real_data / "samples/cc/llamafactory_c4_demo.jsonl"))
    crawl = english.perplexities(english_crawl)
    assert np.median(wiki) * 2 < np.median(c4) and np.median(wiki) * 2 < np.median(crawl)
    assert auc(wiki, c4) >= 0.9 and auc(wiki, crawl) >= 0.9  # measured 0.97 and 0.98


def test_chinese_wikipedia_scores_below_spam(real_data: Path) -> None:
    train, held_out = cmrc_split(real_data)
    lm = NgramLM.train(train, "zh", description="CMRC 2018 dev paragraphs")
    pages = []
    warc = real_data / "samples/cc/resiliparse_CC-MAIN-2020-34_00395.warc.gz"
    for batch in IngestStage(IngestConfig()).read_file(str(warc)):
        pages += batch.kept.column("text").to_pylist()
    spam = [page for page in pages if identify(page)[0] == "zh"]  # SEO, gambling, porn
    shuffler = random.Random(0)
    shuffled = []
    for paragraph in held_out:
        words = tokenize(paragraph, "zh")
        shuffler.shuffle(words)
        shuffled.append("".join(words))
    wiki = lm.perplexities(held_out)
    for name, texts, factor in [("spam pages", spam, 5), ("shuffled wiki", shuffled, 2)]:
        other = lm.perplexities(texts)
        assert np.median(wiki) * factor < np.median(other), name
        assert auc(wiki, other) >= 0.9, name  # measured 0.99 and 0.98


def test_ccnet_head_documents_land_in_head_or_middle(
    english: NgramLM, english_crawl: list[str], real_data: Path
) -> None:
    # cc_net sets its cut-offs on the crawl's own distribution per language; our "crawl" is the
    # English part of the unfiltered 2019 dolma segment.
    english.set_cutoffs(english_crawl, description="dolma CC-MAIN-2019-30 English documents")
    head = jsonl(real_data / "samples/cc/ccnet_en_head_CC-MAIN-2020-16_0091.jsonl.gz")
    buckets = [english.bucket(pp) for pp in english.perplexities(head)]
    assert len(buckets) == 10
    assert sum(bucket != "tail" for bucket in buckets) >= 7, buckets  # measured 10, 9 in head
