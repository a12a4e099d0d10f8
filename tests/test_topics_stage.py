"""The topics stage end to end on real documents (tests/topics_corpus.py: reference text, ads
and ordinary web pages of data_samples/, labelled by hand, never by the stage's lexicon).

(a) what it removes: the ad-lexicon feature and the document density separate ads from
reference text; with the labelled pages' page classifier the stage removes half the ads
it did not learn from and almost no reference text;
(b) the same bytes on a rerun, on Ray and for another shard layout;
(c) a finished run is skipped, an interrupted one reuses its model, a changed config
retrains and applies the new model;
(d) `topic_weights` and `keyword_rules`; (e) documents without a dictionary word are kept
with topic -1, and every document's topic is gensim's own inference on the saved model;
(f) statistics, topics.json and reason_detail; (g) `topic_tokens`.

Most runs use a slice of the corpus (every third document, 192, plus four documents without
a dictionary word) and a small model (8 topics, 2 passes) so the module stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from gensim.corpora import Dictionary
from gensim.models import LdaModel

import stages.topics.stage as topics_stage
from core.labels import labelled_texts, read_labels
from core.shards import list_shards, read_table
from pipeline.executor import Executor, LocalExecutor, RayExecutor
from pipeline.runner import StageFailed, StageRun, run_stage
from stages.topics.features import topic_tokens
from stages.topics.sample import FEATURES, Sample, SampleBuilder
from stages.topics.stage import REASON, TOP_WORDS, TopicsConfig, document_density, document_seed
from tests.test_minhash_stage import write_stage_dir
from tests.test_runner import stage_files
from tests.topics_corpus import (
    AD,
    REFERENCE,
    EvalDoc,
    build_corpus,
    read_decisions,
    shards_of,
    train_commercial_model,
)
from tests.topics_corpus import removal_rates as rates_of

LABELS = Path(__file__).resolve().parents[1] / "data_samples" / "labels"
LABELLED_TUNE = {"pages": str(LABELS / "pages.jsonl.gz"), "labels": str(LABELS / "labels.jsonl")}

SMALL: dict[str, Any] = {"num_topics": 8, "passes": 2, "iterations": 50}
# Without a word in the dictionary: digits and punctuation, stop words only, words of a
# single document (below min_doc_freq), Chinese function words only.
WORDLESS = {
    "wordless-digits": "2019 - 12 - 31 | 42 / 7 ... 1,000,000 !!! 555-0199",
    "wordless-stop": "The and of to it is was for on are as with his they at be this from",
    "wordless-rare": "zqxv blorfing snerquat plimbox wuzzleton qartz frobnicate",
    "wordless-zh": "我们的了是和就不都也很到说要去你会着没有看好自己这那他她它",
}
SHARDS = 4


def run(inputs: Path, output: Path, executor: Executor | None = None, **options: Any) -> dict:
    config = TopicsConfig(**options)
    return run_stage(
        StageRun("topics", config, [str(inputs)], str(output)), executor or LocalExecutor(), False
    )


def topics_json(stage_dir: Path) -> dict[str, Any]:
    return json.loads((stage_dir / "model" / "topics.json").read_text())


def model_files(stage_dir: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of model/ with its bytes and modification time (ns)."""
    model = stage_dir / "model"
    return {
        str(p.relative_to(model)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(model.rglob("*"))
        if p.is_file()
    }


def dictionary_words(stage_dir: Path) -> set[str]:
    """The words of model/dictionary.txt (gensim's text format: a count line, then
    `id<TAB>word<TAB>document frequency`)."""
    lines = (stage_dir / "model" / "dictionary.txt").read_text(encoding="utf-8").splitlines()
    return {line.split("\t")[1] for line in lines[1:]}


def without_words(stage_dir: Path, texts: dict[str, str]) -> set[str]:
    """Ids of the documents none of whose topic tokens is in the stage's dictionary."""
    words = dictionary_words(stage_dir)
    return {i for i, text in texts.items() if not words & set(topic_tokens(text))}


def rows(stage_dir: Path, rejected: bool = False) -> list[dict[str, Any]]:
    shards = list_shards(stage_dir / "rejected" if rejected else stage_dir)
    return read_table(shards).to_pylist() if shards else []


def auc(positive: list[float], negative: list[float]) -> float:
    """P(a positive scores above a negative), ties counting half."""
    pos, neg = np.array(positive)[:, None], np.array(negative)[None, :]
    return float((pos > neg).mean() + 0.5 * (pos == neg).mean())


@pytest.fixture(scope="module")
def corpus(real_data: Path) -> list[EvalDoc]:
    docs = build_corpus(real_data)
    labels = {d.label for d in docs}
    assert labels == {"reference", "ad", "web"} and len(docs) > 500
    return docs


@pytest.fixture(scope="module")
def full_inputs(corpus: list[EvalDoc], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_stage_dir(tmp_path_factory.mktemp("topics") / "in", shards_of(corpus, SHARDS))


@pytest.fixture(scope="module")
def slice_docs(corpus: list[EvalDoc]) -> list[EvalDoc]:
    return corpus[::3]


def slice_rows(docs: list[EvalDoc], shards: int) -> list[list[dict]]:
    """The slice in `shards` shards, the wordless documents at the end of the last one."""
    out = shards_of(docs, shards)
    out[-1] += [
        {"id": i, "text": t, "lang": "zh" if "zh" in i else "en"} for i, t in WORDLESS.items()
    ]
    return out


@pytest.fixture(scope="module")
def slice_inputs(slice_docs: list[EvalDoc], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_stage_dir(tmp_path_factory.mktemp("slice") / "in", slice_rows(slice_docs, SHARDS))


# The slice's base run: density threshold 0 so that some topics are downsampled.
BASE: dict[str, Any] = {**SMALL, "density_threshold": 0.0}


@pytest.fixture(scope="module")
def base_run(slice_inputs: Path) -> tuple[Path, dict[str, Any]]:
    output = slice_inputs.parent / "base"
    return output, run(slice_inputs, output, **BASE)


# --- (a) what the stage removes: ads vs reference text ----------------------------------------


def document_features(docs: list[EvalDoc]) -> tuple[Sample, np.ndarray]:
    """The stage's sample of the documents (stages/topics/sample.py) and their densities."""
    builder = SampleBuilder(0, "jieba")
    for row, doc in enumerate(docs):
        builder.add(doc.id, row, doc.text, doc.lang, None)
    sample = builder.build()
    density, used = document_density(sample.features, sample.langs)
    assert used == ["compression", "richness", "ad_share"]
    return sample, density


def test_the_ad_lexicon_share_separates_ads_from_reference_text(corpus: list[EvalDoc]) -> None:
    """P(an ad page has a larger ad-lexicon share than a reference document): measured 0.795
    (English) and 0.882 (Chinese); asserted >= 0.75 and >= 0.8."""
    sample, _ = document_features(corpus)
    ad_share = sample.features[:, FEATURES.index("ad_share")]
    for lang, floor in (("en", 0.75), ("zh", 0.8)):
        share = {
            label: [
                float(s)
                for d, s in zip(corpus, ad_share, strict=True)
                if d.label == label and d.lang == lang
            ]
            for label in (AD, REFERENCE)
        }
        assert auc(share[AD], share[REFERENCE]) >= floor, lang


def test_document_density_ranks_reference_text_above_ads(corpus: list[EvalDoc]) -> None:
    """The stage's document density (standardized per language, ad share negated) should put
    reference text above ad pages: P(reference > ad) >= 0.7 in English and in Chinese
    (Chinese: measured 0.81)."""
    _, density = document_features(corpus)
    for lang in ("zh", "en"):
        by_label = {
            label: [
                float(x)
                for d, x in zip(corpus, density, strict=True)
                if d.label == label and d.lang == lang
            ]
            for label in (AD, REFERENCE)
        }
        assert auc(by_label[REFERENCE], by_label[AD]) >= 0.7, lang


def test_with_labelled_pages_half_the_unseen_ads_go_and_almost_no_reference_text(
    corpus: list[EvalDoc], full_inputs: Path
) -> None:
    """The whole corpus (576 documents, 106 ads), default config with the labelled tune pages
    and train-quality's commercial page classifier (as configs/default.yaml), seed 1, judged
    on the documents that are not labelled tune pages (the classifier learned from those; 417
    left, 63 ads): at least 50% of the ads
    removed and at most 3% of the reference text (issue #19's target; measured 54% and 2.0%,
    seeds 2 and 3: 51% and 57%, 2.0%). Without labelled pages the stage removes few ads
    (docs/topics.md)."""
    output = full_inputs.parent / "labelled"
    model = train_commercial_model(full_inputs.parent)
    run(full_inputs, output, labelled=LABELLED_TUNE, commercial_model=model)
    tune = read_labels(LABELS / "labels.jsonl", "tune")
    seen = {text[:500] for text, _ in labelled_texts(LABELS / "pages.jsonl.gz", tune)}
    unseen = [d for d in corpus if d.text[:500] not in seen]
    rates = rates_of(unseen, read_decisions(output))
    assert rates[AD] >= 0.5 and rates[REFERENCE] <= 0.03, rates


# --- (b) the same bytes ---------------------------------------------------------------------


@pytest.mark.ray
def test_rerun_and_ray_write_identical_bytes(
    slice_inputs: Path,
    base_run: tuple[Path, dict[str, Any]],
    ray_executor: RayExecutor,
    tmp_path: Path,
) -> None:
    """Another local run in a new directory and a run on embedded Ray (2 CPUs, so shards
    are applied in other processes) write the base run's kept and rejected shards and
    topic table, byte for byte; the run does reject documents."""
    output, stats = base_run
    assert 0 < stats["docs_rejected"] < stats["docs_in"]
    run(slice_inputs, tmp_path / "again", **BASE)
    assert stage_files(tmp_path / "again") == stage_files(output)
    assert topics_json(tmp_path / "again") == topics_json(output)
    ray_stats = run(slice_inputs, tmp_path / "ray", ray_executor, **BASE)
    assert stage_files(tmp_path / "ray") == stage_files(output)
    assert topics_json(tmp_path / "ray") == topics_json(output)
    assert ray_stats["counters"] == stats["counters"]


def test_a_different_shard_layout_keeps_the_same_documents(
    slice_docs: list[EvalDoc], base_run: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """The same rows dealt into 3 shards instead of 4: the same documents kept."""
    output, _ = base_run
    inputs = write_stage_dir(tmp_path / "in", slice_rows(slice_docs, 3))
    run(inputs, tmp_path / "out", **BASE)
    kept = {i for i, d in read_decisions(tmp_path / "out").items() if d.kept}
    assert kept == {i for i, d in read_decisions(output).items() if d.kept}


# --- (c) the model is reused, a changed config retrains ---------------------------------------


def test_a_finished_run_is_skipped_and_an_interrupted_one_reuses_its_model(
    slice_inputs: Path,
    base_run: tuple[Path, dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Same inputs and config again: skipped, model/ untouched. A run whose apply fails on
    one shard after training: the rerun does not train again (model/ keeps its bytes and
    times) and writes the base run's bytes."""
    output, stats = base_run
    before = model_files(output)
    again = run(slice_inputs, output, **BASE)
    assert again["skipped"] is True and again["fingerprint"] == stats["fingerprint"]
    assert model_files(output) == before

    apply = topics_stage.TopicsStage.apply_batch

    def failing(self: Any, work: Any, shard: int, first_row: int, batch: pa.RecordBatch) -> Any:
        if shard == 2:
            raise RuntimeError("worker lost")
        return apply(self, work, shard, first_row, batch)

    monkeypatch.setattr(topics_stage.TopicsStage, "apply_batch", failing)
    with pytest.raises(StageFailed, match="worker lost"):
        run(slice_inputs, tmp_path / "out", **BASE)
    trained = model_files(tmp_path / "out")
    monkeypatch.setattr(topics_stage.TopicsStage, "apply_batch", apply)
    resumed = run(slice_inputs, tmp_path / "out", **BASE)
    assert resumed["resumed_tasks"] == SHARDS - 1
    assert model_files(tmp_path / "out") == trained
    assert stage_files(tmp_path / "out") == stage_files(output)


def test_a_changed_config_retrains(
    slice_inputs: Path, base_run: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """Another seed in a finished stage directory: trained again; its topic table is the
    one a fresh directory gets for that config, not the old one."""
    output, _ = base_run
    first = tmp_path / "out"
    run(slice_inputs, first, **BASE)
    assert topics_json(first) == topics_json(output)
    stats = run(slice_inputs, first, **{**BASE, "seed": 2})
    assert not stats.get("skipped")
    run(slice_inputs, tmp_path / "fresh", **{**BASE, "seed": 2})
    assert topics_json(first) == topics_json(tmp_path / "fresh") != topics_json(output)


def test_a_changed_config_applies_the_new_model(slice_inputs: Path, tmp_path: Path) -> None:
    """All topic weights set to 0 in a directory that held a default run: every document
    with a dictionary word is rejected, the bytes of a fresh directory."""
    zero = {**SMALL, "topic_weights": {t: 0.0 for t in range(SMALL["num_topics"])}}
    run(slice_inputs, tmp_path / "out", **SMALL)
    stats = run(slice_inputs, tmp_path / "out", **zero)
    fresh = run(slice_inputs, tmp_path / "fresh", **zero)
    assert stats["docs_rejected"] == fresh["docs_rejected"]
    assert stage_files(tmp_path / "out") == stage_files(tmp_path / "fresh")


# --- (d) overrides ----------------------------------------------------------------------------

# Nothing is low-density at this threshold: every weight comes from the overrides or is 1.
DOMINANT: dict[str, Any] = {**SMALL, "assign": "dominant", "density_threshold": -100.0}


@pytest.fixture(scope="module")
def dominant_run(slice_inputs: Path) -> Path:
    output = slice_inputs.parent / "dominant"
    stats = run(slice_inputs, output, **DOMINANT)
    assert stats["docs_rejected"] == 0
    return output


def test_a_zero_topic_weight_removes_exactly_that_topics_documents(
    slice_inputs: Path, dominant_run: Path, tmp_path: Path
) -> None:
    """assign=dominant, `topic_weights: {t: 0.0}` for the largest topic: the rejected
    documents are exactly those whose dominant topic is t, each with keep probability 0;
    the model (top words) is the one trained without the override."""
    base = read_decisions(dominant_run)
    sizes = {t["topic"]: t["sample_documents"] for t in topics_json(dominant_run)["topics"]}
    topic = max(sizes, key=lambda t: (sizes[t], -t))
    stats = run(slice_inputs, tmp_path / "out", **{**DOMINANT, "topic_weights": {topic: 0.0}})
    expected = {i for i, d in base.items() if d.topic == topic}
    assert len(expected) >= 10
    rejected = rows(tmp_path / "out", rejected=True)
    assert {r["id"] for r in rejected} == expected
    assert stats["rejected_by_reason"] == {REASON: len(expected)}
    for row in rejected:
        assert json.loads(row["reason_detail"]) == {"topic": topic, "keep_probability": 0.0}
    table = topics_json(tmp_path / "out")["topics"]
    assert [(t["weight"], t["weight_reason"]) for t in table if t["topic"] == topic] == [
        (0.0, "topic_weights")
    ]
    assert all(t["weight"] == 1.0 for t in table if t["topic"] != topic)
    assert [t["top_words"] for t in table] == [
        t["top_words"] for t in topics_json(dominant_run)["topics"]
    ]


def test_keyword_rules_match_top_words_and_topic_weights_win(
    slice_inputs: Path, dominant_run: Path, tmp_path: Path
) -> None:
    """A rule on the first top word of topic 0 (and a word no topic has) gives weight 0.25 to
    exactly the topics with that word among their top words; `topic_weights` beats the rule
    for topic 0; rejected documents carry their topic's weight as keep probability."""
    base = topics_json(dominant_run)["topics"]
    word = base[0]["top_words"][0]
    matched = {t["topic"] for t in base if word in t["top_words"]}
    rules = [{"keywords": ["nosuchwordanywhere", word], "weight": 0.25}]
    options = {**DOMINANT, "keyword_rules": rules, "topic_weights": {0: 0.5}}
    run(slice_inputs, tmp_path / "out", **options)
    table = topics_json(tmp_path / "out")["topics"]
    for t in table:
        if t["topic"] == 0:
            assert (t["weight"], t["weight_reason"]) == (0.5, "topic_weights")
        elif t["topic"] in matched:
            assert (t["weight"], t["weight_reason"]) == (0.25, f"keyword_rules: {word}")
        else:
            assert (t["weight"], t["weight_reason"]) == (1.0, "default")
    weights = {t["topic"]: t["weight"] for t in table}
    rejected = rows(tmp_path / "out", rejected=True)
    assert rejected
    for row in rejected:
        detail = json.loads(row["reason_detail"])
        assert detail["topic"] == row["topic"] and weights[row["topic"]] < 1
        assert detail["keep_probability"] == weights[row["topic"]]


# --- (e) documents without a dictionary word ----------------------------------------------------


def test_documents_without_a_dictionary_word_are_kept_without_topic(
    slice_docs: list[EvalDoc], slice_inputs: Path, tmp_path: Path
) -> None:
    """Every topic weight 0 removes every document with a dictionary word; those without one
    (the four made-up ones: digits, stop words, words of one document, Chinese function
    words; and real ones, e.g. a Chinese weather keyword list of rare place names) are kept
    with topic -1 and topic probability 0, and counted."""
    zero = {**SMALL, "topic_weights": {t: 0.0 for t in range(SMALL["num_topics"])}}
    stats = run(slice_inputs, tmp_path / "out", **zero)
    texts = {**{d.id: d.text for d in slice_docs}, **WORDLESS}
    expected = without_words(tmp_path / "out", texts)
    assert expected >= set(WORDLESS) and len(expected) < len(WORDLESS) + 5
    kept = rows(tmp_path / "out")
    assert {r["id"] for r in kept} == expected
    assert all(r["topic"] == -1 and r["topic_probability"] == 0.0 for r in kept)
    assert stats["counters"]["documents_without_topic"] == len(expected)
    assert stats["docs_rejected"] == stats["docs_in"] - len(expected)


def test_topics_are_gensims_inference_on_the_saved_model(
    slice_docs: list[EvalDoc], slice_inputs: Path, tmp_path: Path
) -> None:
    """A sample smaller than the corpus: sampled documents take their mixture from the train
    step, the others are inferred by apply. Every document's topic and topic probability are
    those of gensim's own `LdaModel.inference` of its bag of words on the saved model, the
    random state reset from the document's seed (documents without a word: topic -1). The
    dictionary file is what gensim's `save_as_text` writes."""
    stats = run(slice_inputs, tmp_path / "out", **{**SMALL, "sample_docs": 80})
    assert 0 < stats["steps"]["sampled"] < stats["docs_in"]
    model = LdaModel.load(str(tmp_path / "out" / "model" / "lda"))
    dictionary_file = tmp_path / "out" / "model" / "dictionary.txt"
    dictionary = Dictionary.load_from_text(str(dictionary_file))
    dictionary.save_as_text(str(tmp_path / "gensim-dictionary.txt"))
    assert (tmp_path / "gensim-dictionary.txt").read_bytes() == dictionary_file.read_bytes()
    texts = {**{d.id: d.text for d in slice_docs}, **WORDLESS}
    documents = rows(tmp_path / "out") + rows(tmp_path / "out", rejected=True)
    assert len(documents) == stats["docs_in"]
    for row in documents:
        bow = dictionary.doc2bow(topic_tokens(texts[row["id"]]))
        if not bow:
            assert (row["topic"], row["topic_probability"]) == (-1, 0.0)
            continue
        model.random_state = np.random.RandomState(document_seed(TopicsConfig().seed, row["id"]))
        gamma, _ = LdaModel.inference(model, [bow])
        theta = gamma[0] / gamma[0].sum()
        assert row["topic"] == theta.argmax()
        assert row["topic_probability"] == theta.max()


# --- (f) statistics, topic table, reason_detail -------------------------------------------------


def test_stats_topic_table_and_reason_details_are_consistent(
    slice_docs: list[EvalDoc], base_run: tuple[Path, dict[str, Any]]
) -> None:
    output, stats = base_run
    steps, counters = stats["steps"], stats["counters"]
    k = BASE["num_topics"]
    total = len(slice_docs) + len(WORDLESS)
    # documents in = kept + rejected = counted; everything sampled (sample_docs > corpus)
    assert stats["docs_in"] == stats["docs_kept"] + stats["docs_rejected"] == total
    assert steps["documents"] == steps["sampled"] == total and steps["sample_rate"] == 1.0
    assert set(stats["rejected_by_reason"]) == {REASON}
    kept_counts = sum(n for c, n in counters.items() if c.endswith("_kept"))
    down_counts = sum(n for c, n in counters.items() if c.endswith("_downsampled"))
    assert kept_counts + counters["documents_without_topic"] == stats["docs_kept"]
    assert down_counts == stats["docs_rejected"]

    table = topics_json(output)
    assert table["features"] == ["compression", "richness", "ad_share"]
    assert table["density_threshold"] == 0.0
    topics = table["topics"]
    assert [t["topic"] for t in topics] == list(range(k))
    expected_keys = {
        "topic",
        "top_words",
        "sample_documents",
        "sample_mass",
        "density",
        "mean_document_density",
    }
    for t in topics:
        assert set(t) == expected_keys | {"weight", "weight_reason"}
        assert len(t["top_words"]) == TOP_WORDS == len(set(t["top_words"]))
        low = t["density"] < table["density_threshold"]
        assert (t["weight"], t["weight_reason"]) == (
            (TopicsConfig().low_weight, "low density") if low else (1.0, "default")
        )
    assert steps["downsampled_topics"] == [t["topic"] for t in topics if t["weight"] < 1]
    assert steps["downsampled_topics"]  # the threshold 0 downsamples some topics
    with_words = total - counters["documents_without_topic"]
    assert sum(t["sample_documents"] for t in topics) == with_words
    assert sum(t["sample_mass"] for t in topics) == pytest.approx(with_words, abs=0.1)
    dictionary = (output / "model" / "dictionary.txt").read_text().splitlines()
    assert steps["vocabulary"] == len(dictionary) - 1  # the first line is the document count

    weights = [t["weight"] for t in topics]
    kept, rejected = rows(output), rows(output, rejected=True)
    wordless = without_words(output, {**{d.id: d.text for d in slice_docs}, **WORDLESS})
    assert counters["documents_without_topic"] == len(wordless)
    for row in kept + rejected:
        assert -1 <= row["topic"] < k and 0.0 <= row["topic_probability"] <= 1.0
        assert (row["topic"] == -1) == (row["id"] in wordless)
    assert len(rejected) == stats["docs_rejected"] > 0
    for row in rejected:
        assert row["reason"] == REASON
        detail = json.loads(row["reason_detail"])
        assert set(detail) == {"topic", "keep_probability"}
        assert detail["topic"] == row["topic"] >= 0
        # mixture: a convex combination of the topic weights, below 1 for a rejection
        assert min(weights) - 1e-4 <= detail["keep_probability"] < 1.0
        assert row["topic_probability"] >= 1 / k - 1e-6  # the dominant topic's share


# --- (g) topic tokens ---------------------------------------------------------------------------


def test_topic_tokens_of_english_text() -> None:
    """Lower-cased runs of 3+ letters in order; stop words, short words, digits dropped."""
    text = "The QUICK brown fox's 2 dogs jumped over 42 lazy_cats; it IS naïve, isn't it? ok"
    assert topic_tokens(text) == [
        "quick",
        "brown",
        "fox",
        "dogs",
        "jumped",
        "lazy",
        "cats",
        "naïve",
        "isn",
    ]


def test_topic_tokens_of_chinese_text_jieba_and_bigrams() -> None:
    """jieba words of 2+ Han characters without stop words; bigrams: overlapping character
    pairs of each Han run (stop-word pairs such as 我们 dropped); Latin words in between keep
    their place."""
    text = "我们的研究团队在北京大学发表了论文。DeepMind 模型"
    jieba = topic_tokens(text, "jieba")
    assert jieba == ["研究", "团队", "北京大学", "发表", "论文", "deepmind", "模型"]
    bigrams = topic_tokens(text, "bigrams")
    run_pairs = [
        "们的",
        "的研",
        "研究",
        "究团",
        "团队",
        "队在",
        "在北",
        "北京",
        "京大",
        "大学",
        "学发",
        "发表",
        "表了",
        "了论",
        "论文",
    ]
    assert bigrams == [*run_pairs, "deepmind", "模型"]
    assert "我们" not in bigrams and topic_tokens("的了是我们", "jieba") == []


@pytest.mark.parametrize("shards", [[], [[]]])
def test_no_documents_pass_through_with_zero_counts(
    tmp_path: Path, shards: list[list[dict]]
) -> None:
    """A source whose filter rejected everything: topics finishes 0 in, 0 out, as filter,
    substring and export do, instead of failing the run on an empty vocabulary."""
    source = tmp_path / "in"
    if shards:
        write_stage_dir(source, shards)
    else:
        source.mkdir()
        (source / "_SUCCESS").write_text("written by the test\n")
    stats = run_stage(
        StageRun("topics", TopicsConfig(), [str(source)], str(tmp_path / "out")),
        LocalExecutor(),
        progress=False,
    )
    assert (stats["docs_in"], stats["docs_kept"], stats["docs_rejected"]) == (0, 0, 0)
    assert stats["steps"]["documents"] == 0


def test_identical_documents_name_the_pruning_that_emptied_the_vocabulary(
    tmp_path: Path,
) -> None:
    text = "The harbour lights came on one by one as the fishing boats returned home."
    source = write_stage_dir(tmp_path / "in", [[{"id": f"d{i}", "text": text} for i in range(40)]])
    run = StageRun("topics", TopicsConfig(), [str(source)], str(tmp_path / "out"))
    with pytest.raises(StageFailed, match=r"near-identical documents: dedup first"):
        run_stage(run, LocalExecutor(), progress=False)
