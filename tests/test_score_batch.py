"""The score stage's batch path gives exactly what the per-document definitions give: tokens,
model token lines, classifier probabilities, coherence, perplexity, safety-lexicon hits and
word counts, on real English and Chinese text and on crafted edge cases. Any difference would
change a score (and so a decision) of the stage."""

from __future__ import annotations

from itertools import pairwise, repeat
from pathlib import Path

import numpy as np
import pytest

from stages.score.batch import (
    CHARACTERS,
    JIEBA,
    REGEX,
    TextBatch,
    count_words,
    token_kind,
)
from stages.score.classifier import (
    batch_model_tokens,
    load_classifier,
    model_tokens,
    positive_probabilities,
    positive_probability,
)
from stages.score.coherence import coherence
from stages.score.coherence_batch import coherence_scores
from stages.score.lexicon_hits import safety_hits
from stages.score.lm_kernels import BOS, EOS, UNK, extend
from stages.score.perplexity import NgramLM, load_model, normalize, normalized, text_units
from stages.text import DocView, Lexicon, tokenize
from stages.text.jieba_runs import JiebaCuts
from tests.real_texts import crafted_documents, real_documents


def _documents() -> list[tuple[str, str | None]]:
    real = real_documents(per_file=120)
    # Long documents: the quality model reads the first 20,000 characters only.
    long = [("\n".join(text for text, _ in real[i : i + 40]), real[i][1]) for i in (0, 400)]
    return real + long + crafted_documents()


DOCUMENTS = _documents()
TEXTS = [text for text, _ in DOCUMENTS]
DOC_LANGS = [lang for _, lang in DOCUMENTS]


@pytest.fixture(scope="module")
def batch() -> TextBatch:
    return TextBatch.of(TEXTS)


def _token_strings(batch: TextBatch, kinds: list[int], limit: int | None = None) -> list[list[str]]:
    spans = batch.tokens(kinds, limit)
    out = []
    for i, text in enumerate(TEXTS):
        a, b = spans.offsets[i], spans.offsets[i + 1]
        first = batch.bounds[i]
        out.append(
            [
                text[s - first : e - first]
                for s, e in zip(spans.starts[a:b], spans.ends[a:b], strict=True)
            ]
        )
    return out


def test_the_documents_cover_both_languages_and_every_tokenizer() -> None:
    assert sum(lang == "en" for lang in DOC_LANGS) > 250
    assert sum(lang == "zh" for lang in DOC_LANGS) > 200
    assert {token_kind(lang) for lang in DOC_LANGS} == {REGEX, JIEBA, CHARACTERS}


@pytest.mark.parametrize("limit", [None, 700])
def test_tokens_are_those_of_tokenize(batch: TextBatch, limit: int | None) -> None:
    kinds = [token_kind(lang) for lang in DOC_LANGS]
    tokens = _token_strings(batch, kinds, limit)
    for text, lang, got in zip(TEXTS, DOC_LANGS, tokens, strict=True):
        assert got == tokenize(text if limit is None else text[:limit], lang)


def test_jieba_pieces_kept_across_batches_are_those_of_each_text() -> None:
    """Runs cut once and read again by later batches and by normalized texts (and forgotten
    when the runs kept exceed max_chars) give `tokenize`'s tokens."""
    chinese = [text for text, lang in DOCUMENTS if lang == "zh"]
    cuts = JiebaCuts(max_chars=20_000)
    for lo in range(0, len(chinese), 60):  # overlapping batches: their runs repeat
        texts = chinese[lo : lo + 120]
        batch = TextBatch.of(texts, cuts)
        lowered = normalized(batch, np.arange(len(texts)))
        for which, wanted in ((batch, texts), (lowered, [normalize(t) for t in texts])):
            spans = which.tokens([JIEBA] * len(texts))
            for i, text in enumerate(wanted):
                a, b = spans.offsets[i], spans.offsets[i + 1]
                first = which.bounds[i]
                starts, ends = spans.starts[a:b] - first, spans.ends[a:b] - first
                got = [text[x:y] for x, y in zip(starts, ends, strict=True)]
                assert got == tokenize(text, "zh")


def test_a_texts_tokens_split_at_its_lines_are_its_lines_tokens(batch: TextBatch) -> None:
    """What the coherence and perplexity loops rely on: no token spans a line end."""
    kinds = [token_kind(lang) for lang in DOC_LANGS]
    for text, lang, got in zip(TEXTS, DOC_LANGS, _token_strings(batch, kinds), strict=True):
        assert got == [token for line in text.split("\n") for token in tokenize(line, lang)]


def test_safety_word_counts_are_docview_words(batch: TextBatch) -> None:
    spans = batch.tokens([token_kind(lang) for lang in DOC_LANGS])
    words = count_words(batch.flags, spans.starts, spans.ends, spans.offsets)
    assert words.tolist() == [len(DocView(t, lang).words) for t, lang in DOCUMENTS]


LEXICON_EDGES = [
    "Scunthorpe online CASINO casinos 赌场 blow\n\t jobs blowjob BLOW JOB",
    "x1xbet 1xbet1 bet365 _casino casino_ casino. (casino) 重庆时时彩 a片av女优 色情porn网站",
    "porn\u00f3 pornó e\u0301porn porn\u0301 porno\u00a0site adult\u3000content",
    "İstanbul casino ΣΑΣ casino",  # left to Lexicon.find: lower case not one code point
    "ＣＡＳＩＮＯ casino\r\ncasino" + " casino" * 50,
]


def test_safety_hits_are_lexicon_find(batch: TextBatch) -> None:
    lexicon = Lexicon.safety()
    assert safety_hits(batch, lexicon) == [sum(lexicon.find(t).values()) for t in TEXTS]
    edges = TextBatch.of(LEXICON_EDGES)
    want = [sum(lexicon.find(t).values()) for t in LEXICON_EDGES]
    assert safety_hits(edges, lexicon) == want
    assert min(want) > 0 and sum(want) > 60


def test_model_token_lines_are_model_tokens(batch: TextBatch) -> None:
    assert batch_model_tokens(batch) == [model_tokens(text) for text in TEXTS]


def test_classifier_probabilities_of_a_list_are_those_of_each_text(
    batch: TextBatch, quality_model: Path
) -> None:
    model = load_classifier(str(quality_model))
    # fastText (C++) takes no lone surrogate, a text at a time or not
    lines = [line for line in batch_model_tokens(batch) if "\ud800" not in line]
    texts = [text for text in TEXTS if "\ud800" not in text]
    assert positive_probabilities(model, lines) == [positive_probability(model, t) for t in texts]


def test_coherence_scores_are_coherence(batch: TextBatch) -> None:
    assert coherence_scores(batch, DOC_LANGS) == [coherence(t, lang).score for t, lang in DOCUMENTS]


def test_coherence_of_incoherent_and_edge_documents() -> None:
    """Spliced pages (the scorer's target) and documents the loops hand back to `coherence`
    (lower case of İ and Σ) or score on their own (few segments, one long keyword list)."""
    en = [text for text, lang in DOCUMENTS if lang == "en" and len(text) > 2000][:20]
    spliced = [
        "\n".join(p for pair in zip(a.split("\n"), b.split("\n"), strict=False) for p in pair)
        for a, b in pairwise(en)
    ]
    keywords = " ".join(f"keyword{i % 97} widget{i % 13}" for i in range(3000))
    greek = "ΟΔΥΣΣΕΥΣ ΤΑΞΙΔΕΥΕΙ ΣΤΗΝ ΙΘΑΚΗ. " * 40
    texts = [*spliced, keywords, greek, "İstanbul is large. " * 50]
    langs = ["en"] * len(texts)
    got = coherence_scores(TextBatch.of(texts), langs)
    assert got == [coherence(t, lang).score for t, lang in zip(texts, langs, strict=True)]


# --- perplexity: the loops against the numpy evaluation they replace ----------------------------


def _reference_perplexities(lm: NgramLM, texts: list[str]) -> np.ndarray:
    """The per-line string tokenization, dict lookup and vectorized backoff evaluation that the
    compiled loops replace (datapipe before #17)."""
    get = lm._ids.get
    ids, lengths = [], []
    for text in texts:
        start = len(ids)
        for tokens in text_units(normalize(text), lm.lang, lm.units):
            ids += [BOS, *map(get, tokens, repeat(UNK)), EOS]
        lengths.append(len(ids) - start)
    ids, lengths = np.array(ids, dtype=np.int64), np.array(lengths, dtype=np.int64)
    if not len(ids):
        return np.full(len(lengths), np.inf)
    index = np.arange(len(ids))
    pos = index - np.maximum.accumulate(np.where(ids == BOS, index, 0))
    logp = _reference_logprobs(lm, ids, pos) - np.where(ids == UNK, lm._unk_penalty, 0.0)
    scored = pos > 0
    doc = np.repeat(np.arange(len(lengths)), lengths)
    total = np.bincount(doc, weights=np.where(scored, logp, 0.0), minlength=len(lengths))
    n = np.bincount(doc, weights=scored, minlength=len(lengths))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, 10.0 ** (-total / np.maximum(n, 1)), np.inf)


def _reference_logprobs(lm: NgramLM, ids: np.ndarray, pos: np.ndarray) -> np.ndarray:
    best = lm._logprobs[0][ids].astype(np.float64)
    matched = np.ones(len(ids), dtype=np.int64)
    context_bows = [lm._backoffs[0][ids]] if lm.order > 1 else []
    key = ids.astype(np.uint64)
    for n in range(2, lm.order + 1):
        key = np.concatenate([np.zeros(1, np.uint64), extend(key[:-1], ids[1:])])[: len(ids)]
        keys = lm._keys[n - 2]
        if not len(keys):
            break
        idx = np.minimum(np.searchsorted(keys, key), len(keys) - 1)
        found = (keys[idx] == key) & (pos >= n - 1)
        best = np.where(found, lm._logprobs[n - 1][idx], best)
        matched[found] = n
        if n < lm.order:
            context_bows.append(np.where(found, lm._backoffs[n - 1][idx], 0.0))
    for k, bows in enumerate(context_bows, 1):
        previous = np.concatenate([np.zeros(1), bows[:-1]])
        best += np.where(matched <= k, previous, 0.0)
    return best


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_perplexities_are_the_numpy_evaluation(
    batch: TextBatch, perplexity_models: dict[str, str], lang: str
) -> None:
    lm = load_model(perplexity_models[lang])
    docs = np.array([i for i, doc_lang in enumerate(DOC_LANGS) if doc_lang == lang])
    got = lm.batch_perplexities(batch, docs)
    want = np.array([_reference_perplexities(lm, [TEXTS[i]])[0] for i in docs])
    np.testing.assert_array_equal(got, want)
    assert np.isinf(got).any() and np.isfinite(got).sum() > 100


def test_perplexities_from_the_batchs_own_regex_tokens(perplexity_models: dict[str, str]) -> None:
    """Where normalization keeps every character's class, the model reads the tokens the
    other scorers read, moved to the normalized texts; where not (İ, Σ, Ⓐ), it tokenizes the
    normalized texts itself. Both give the numpy evaluation."""
    lm = load_model(perplexity_models["en"])
    plain = [text for text, lang in real_documents(per_file=120) if lang == "en"]
    for texts in (plain, plain[:50] + [text for text, _ in crafted_documents()]):
        batch = TextBatch.of(texts)
        docs, kinds = np.arange(len(texts)), np.full(len(texts), REGEX)
        moved = lm._regex_tokens_kept(batch, docs, kinds, normalized(batch, docs))
        assert (moved is not None) == (texts is plain)
        got = lm.batch_perplexities(batch, docs, kinds)
        np.testing.assert_array_equal(got, _reference_perplexities(lm, texts))


@pytest.mark.parametrize(
    ("order", "units"), [(1, "words"), (2, "words"), (5, "words"), (3, "chars")]
)
def test_perplexities_of_other_orders_and_units(order: int, units: str) -> None:
    en = [text for text, lang in DOCUMENTS if lang == "en"]
    lm = NgramLM.train(en[:150], "en", order=order, units=units)
    np.testing.assert_array_equal(lm.perplexities(en[150:]), _reference_perplexities(lm, en[150:]))
