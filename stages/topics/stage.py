"""The topics stage: a gensim LDA topic model, an information-density score per topic, and
deterministic downsampling of low-density topics (ads, listings, spam). docs/topics.md.

Steps:

1. `count` (per shard): documents per shard, so the sample rate gives about `sample_docs`.
2. `sample` (per shard): documents whose seeded id hash falls under the rate; their topic
   tokens (ids into the shard's words), density features and quality score are saved
   (`sample.py`).
3. `train` (one task): dictionary (document-frequency pruning, `vocabulary.py`), gensim's
   `LdaModel` with its E-step compiled (`lda.py`, `estep.py`; seeded, single process:
   deterministic), per-document topic mixtures of the sample, topic density scores, weights
   and overrides. The model, dictionary and topic table (`topics.json`) are written to
   `model/` in the stage directory; the sample's mixtures to `_steps/train/`, per shard.
4. apply (per shard): each document's topic mixture: the train step's for a sampled document,
   inferred for the others (seeded per document, the model loaded once per worker process);
   kept with probability `sum_t theta_t * weight_t` (or the dominant topic's weight), decided
   by a seeded hash of its id.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from core import storage
from core.exchange import Exchange
from core.integrity import CHECKSUM_SUFFIX, check_sealed, seal
from core.labels import labelled_texts, read_labels
from core.schema import with_columns, with_fields
from core.seeded import unit_hash
from core.shards import atomic_write_json, read_shard
from core.stagedir import input_files
from stages.base import BatchOutput, GlobalStage, StageConfig, Step, StepPlan, split_by_rejections
from stages.score.commercial import (
    COMMERCIAL,
    GOOD_TEXT,
    commercial_probabilities,
    load_threshold,
    threshold_file,
)
from stages.topics.bows import Bow, Bows, Inference, bag_of_words
from stages.topics.features import ChineseTokens, ad_words, candidate_tokens
from stages.topics.sample import FEATURES, Sample, SampleBuilder
from stages.topics.summary import (
    COMMERCIAL_COUNTER,
    MODEL_DIR,
    TOPIC_TABLE_FILE,
    WITHOUT_TOPIC_COUNTER,
    TopicRow,
    TopicsSummary,
    TopicTable,
    topic_counter,
)
from stages.topics.wordtable import WordTable

REASON = "topic_downsampled"
COMMERCIAL_REASON = "commercial_page"  # downsampled by the page classifier
TOPIC_COLUMNS = (pa.field("topic", pa.int32()), pa.field("topic_probability", pa.float32()))
TRAIN = "train"
# The commercial lexicon is the feature that separates ads from reference text best (ROC AUC
# 0.80 English, 0.88 Chinese on real pages, docs/topics.md); compression and richness, even
# length-neutral, are weak signals and count half.
FEATURE_WEIGHTS = {"compression": 0.5, "richness": 0.5, "ad_share": 2.0, "quality": 1.0}
TOP_WORDS = 12
MIN_LANGUAGE_DOCS = 20  # documents a language needs to be standardized on its own


class KeywordRule(BaseModel):
    """Topics with any of `keywords` among their top words get `weight`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    keywords: list[str]
    weight: float = Field(ge=0, le=1)


class LabelledTopics(BaseModel):
    """The labelled pages that say which topics are commercial (a supervised prior)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pages: str = Field(description="JSON lines with id and text (data_samples/labels/).")
    labels: str = Field(description="Their labels, JSON lines.")
    split: Literal["tune", "test"] | None = Field("tune", description="Only this split.")
    commercial_share: float = Field(
        0.5, gt=0, le=1, description="downsample a topic whose labelled mass is this commercial"
    )
    min_mass: float = Field(
        3.0, gt=0, description="labelled pages' worth of mass a topic needs to be judged"
    )


class TopicsConfig(StageConfig):
    num_topics: int = Field(20, ge=2, description="LDA topics")
    sample_docs: int = Field(20_000, ge=10, description="documents the model is trained on")
    seed: int = Field(1, description="seed of the sample, the model and the keep decisions")
    chinese: ChineseTokens = Field(
        "jieba", description="Chinese tokens: jieba words or character bigrams"
    )
    min_doc_freq: int = Field(5, ge=1, description="drop words in fewer sample documents")
    max_doc_share: float = Field(
        0.5, gt=0, le=1, description="drop words in a larger share of sample documents"
    )
    max_vocabulary: int = Field(50_000, ge=100, description="keep the most frequent words")
    passes: int = Field(5, ge=1, description="LDA passes over the sample")
    iterations: int = Field(100, ge=1, description="LDA inference iterations per document")
    commercial_topics: int = Field(
        1,
        ge=0,
        description="topics seeded with the commercial lexicon (seeded LDA), so ads gather "
        "in them instead of spreading over subject topics",
    )
    seed_strength: float = Field(
        50.0, gt=0, description="prior weight (eta) of lexicon words in the seeded topics"
    )
    density_threshold: float = Field(
        -1.0,
        description="topics whose density (standardized across topics) is below this are "
        "downsampled",
    )
    low_weight: float = Field(0.1, ge=0, le=1, description="keep probability of those topics")
    keyword_rules: list[KeywordRule] = Field(
        default_factory=list, description="weights for topics by their top words"
    )
    topic_weights: dict[int, float] = Field(
        default_factory=dict, description="weights by topic id (override everything)"
    )
    labelled: LabelledTopics | None = Field(
        None,
        description="pages a reader labelled (docs/rubric.md): a topic whose labelled mass is "
        "mostly ads, listings and spam is downsampled, one that is mostly good text is not "
        "(this replaces the density rule)",
    )
    commercial_model: str | None = Field(
        None,
        description="the commercial page classifier (train-quality with labelled pages): a page "
        "it scores above its threshold is downsampled (low_weight) whatever its topics",
    )
    commercial_sources: tuple[str, ...] = Field(
        (),
        description="the classifier judges only documents whose `source` is one of these "
        "(empty: all), e.g. the crawl and not Wikipedia",
    )
    assign: Literal["mixture", "dominant"] = Field(
        "mixture",
        description="keep probability from the document's topic mixture or its dominant topic",
    )


@dataclass(frozen=True)
class TrainedModel:
    """What apply needs of model/: the inference parameters, the dictionary, the weights."""

    inference: Inference
    weights: np.ndarray
    directory: Path  # model/, where the dictionary is read from

    @cached_property
    def dictionary(self) -> WordTable:
        """The dictionary's words, with their ids; read when a document is first inferred
        (a sampled document's mixture is the train step's: when all are, never)."""
        from gensim.corpora import Dictionary

        dictionary = Dictionary.load_from_text(str(self.directory / "dictionary.txt"))
        return WordTable.of(sorted(dictionary.token2id, key=dictionary.token2id.__getitem__))


_MODELS: dict[str, TrainedModel] = {}  # one model per worker process


def load_model(stage_dir: str) -> TrainedModel:
    """The trained model, loaded once per worker process and model: the key includes the
    topic table's identity, so a retrained model in the same place is reloaded. A model
    on object storage is read from this node's copy (core/storage.py)."""
    directory = storage.local_tree(storage.join(stage_dir, MODEL_DIR))
    table_file = directory / TOPIC_TABLE_FILE
    stat = table_file.stat()
    key = f"{table_file}:{stat.st_mtime_ns}:{stat.st_size}:{stat.st_ino}"
    if key not in _MODELS:
        _MODELS.clear()
        from gensim.models import LdaModel

        for part in sorted(directory.iterdir()):  # bytes as they were saved
            if not part.name.endswith(CHECKSUM_SUFFIX):
                check_sealed(part)
        # a BatchLda (stages/topics/lda.py): unpickling imports that module
        model = LdaModel.load(str(directory / "lda"), mmap="r")
        table: TopicTable = json.loads(table_file.read_text())
        weights = np.array([t["weight"] for t in table["topics"]], np.float64)
        _MODELS[key] = TrainedModel(Inference.of(model), weights, directory)
    return _MODELS[key]


def document_seed(seed: int, doc_id: str) -> int:
    """The seed of a document's initial topic parameters (`Inference.mixtures`)."""
    return int(unit_hash(seed, "infer", doc_id) * 2**32)


class TopicsStage(GlobalStage):
    name = "topics"
    summary = "LDA topics; downsample low-information topics (ads, listings) deterministically"
    config_class = TopicsConfig

    def __init__(self, config: TopicsConfig) -> None:
        super().__init__(config)
        self.config: TopicsConfig = config

    def dependencies(self) -> list[str]:
        """The labelled pages and labels, and the commercial classifier with its threshold,
        when the config names them."""
        cfg = self.config
        files = [cfg.labelled.pages, cfg.labelled.labels] if cfg.labelled else []
        if cfg.commercial_model:
            files += [cfg.commercial_model, threshold_file(cfg.commercial_model)]
        return input_files(files)

    def output_schema(self, input_schema: pa.Schema | None) -> pa.Schema:
        assert input_schema is not None  # noqa: S101 type narrowing: the stage always has input
        return with_fields(input_schema, TOPIC_COLUMNS)

    def describe(self) -> str:
        cfg = self.config
        rule = (
            f"topics whose labelled pages are {cfg.labelled.commercial_share:.0%}+ ads, "
            "listings or spam"
            if cfg.labelled
            else f"topics below density {cfg.density_threshold}"
        )
        if cfg.commercial_model:
            rule += " and pages the commercial classifier flags"
        trained = f"{cfg.num_topics} LDA topics trained on ~{cfg.sample_docs:,} sampled documents"
        return f"{trained}; {rule} kept at {cfg.low_weight}"

    def plan(self, shards: Sequence[str]) -> StepPlan:
        counted = yield Step("count", len(shards), over="shards")
        total = sum(r["documents"] for r in counted)
        if total == 0:  # nothing to learn topics from, nothing to downsample: 0 in, 0 out
            empty: TopicsSummary = {
                "documents": 0,
                "sample_rate": 1.0,
                "sampled": 0,
                "vocabulary": 0,
                "downsampled_topics": [],
            }
            return empty
        rate = min(1.0, self.config.sample_docs / total)
        sampled = yield Step("sample", len(shards), {"rate": rate}, over="shards")
        (trained,) = yield Step(TRAIN, 1, {"shards": len(shards)})
        summary: TopicsSummary = {
            "documents": total,
            "sample_rate": rate,
            "sampled": sum(r["sampled"] for r in sampled),
            "vocabulary": trained["vocabulary"],
            "downsampled_topics": trained["downsampled_topics"],
        }
        return summary

    def run_step(
        self, exchange: Exchange, step: Step, index: int, shard: str | None
    ) -> dict[str, Any]:
        if step.name == "count":
            assert shard is not None  # noqa: S101 type narrowing: a step over shards gets one
            return {"documents": sum(batch.num_rows for batch in read_shard(shard))}
        if step.name == "sample":
            assert shard is not None  # noqa: S101 type narrowing: a step over shards gets one
            return self._sample(exchange, index, shard, step.params["rate"])
        if step.name == TRAIN:
            return self._train(exchange, step.params["shards"])
        raise ValueError(f"topics has no step {step.name!r}")

    def _sample(self, exchange: Exchange, shard: int, path: str, rate: float) -> dict:
        cfg = self.config
        builder = SampleBuilder(shard, cfg.chinese)
        first_row = 0
        for batch in read_shard(path):
            doc_ids = batch.column("id").to_pylist()
            texts = batch.column("text")
            langs, quality = _column(batch, "lang"), _column(batch, "quality_score")
            for row, doc_id in enumerate(doc_ids):
                if unit_hash(cfg.seed, "sample", doc_id) < rate:
                    text = texts[row].as_py()  # the sampled rows' only, one at a time
                    builder.add(doc_id, first_row + row, text, langs[row] or "", quality[row])
            first_row += batch.num_rows
        builder.build().save(exchange, shard)
        return {"sampled": len(builder.ids)}

    def _train(self, exchange: Exchange, shards: int) -> dict:
        from stages.topics.lda import BatchLda
        from stages.topics.vocabulary import Pruning, sample_dictionary

        cfg = self.config
        sample = Sample.merged([Sample.load(exchange, s) for s in range(shards)], cfg.seed)
        pruning = Pruning(cfg.min_doc_freq, cfg.max_doc_share, cfg.max_vocabulary)
        dictionary, bows = sample_dictionary(sample.tokens, sample.offsets, sample.words, pruning)
        sample.tokens = sample.tokens[:0]  # the bags of words replace them
        if len(dictionary) == 0 or not bows.lengths.any():
            raise ValueError(
                f"topics: no word of the {len(sample.ids)} sampled documents survives pruning: "
                f"none occurs in {cfg.min_doc_freq}+ of them (lower min_doc_freq or raise "
                f"sample_docs), or every one that does occurs in more than "
                f"{cfg.max_doc_share:.0%} of them (near-identical documents: dedup first, or "
                "raise max_doc_share)"
            )
        model = BatchLda(
            corpus=bows,
            id2word=dictionary,
            num_topics=cfg.num_topics,
            eta=self._topic_word_prior(dictionary),
            passes=cfg.passes,
            iterations=cfg.iterations,
            random_state=cfg.seed,
            chunksize=2000,
        )
        seeds = [document_seed(cfg.seed, doc_id) for doc_id in sample.ids]
        theta = Inference.of(model).mixtures(bows, seeds)
        table = self._topic_table(model, sample, theta, self._labelled_mass(model, dictionary))
        if cfg.commercial_model:
            table["commercial_prior"] = load_threshold(cfg.commercial_model)
        self._save_model(exchange.stage_dir, model, dictionary, table)
        _save_mixtures(exchange, shards, sample, theta)
        return {
            "vocabulary": len(dictionary),
            "downsampled_topics": [t["topic"] for t in table["topics"] if t["weight"] < 1],
        }

    def _topic_word_prior(self, dictionary: Any) -> np.ndarray:
        """eta (topics x words): gensim's symmetric 1/K, except that commercial-lexicon words
        get `seed_strength` in the first `commercial_topics` topics and 1/K^2 elsewhere
        (seeded LDA, Jagarlamudi et al. 2012): ads share that vocabulary across subjects."""
        cfg = self.config
        k = cfg.num_topics
        eta = np.full((k, len(dictionary)), 1.0 / k, dtype=np.float32)
        seeded = min(cfg.commercial_topics, k - 1)
        lexicon = [i for word, i in dictionary.token2id.items() if word in ad_words()]
        if seeded and lexicon:
            eta[np.ix_(range(seeded), lexicon)] = cfg.seed_strength
            eta[np.ix_(range(seeded, k), lexicon)] = 1.0 / k**2
        return eta

    def _labelled_mass(self, model: Any, dictionary: Any) -> np.ndarray | None:
        """(commercial, good) mass of each topic over the labelled pages: the sums of their
        topic mixtures, inferred as any document's; None without labelled pages."""
        labelled = self.config.labelled
        if labelled is None:
            return None
        labels = read_labels(labelled.labels, labelled.split)
        pages = list(labelled_texts(labelled.pages, labels))
        words = WordTable.of(sorted(dictionary.token2id, key=dictionary.token2id.__getitem__))
        bows = []
        for text, _ in pages:
            tokens = candidate_tokens(text, self.config.chinese)
            bows.append(bag_of_words(words.ids(tokens.codepoints, tokens.spans, add=False)))
        seeds = [document_seed(self.config.seed, label.id) for _, label in pages]
        theta = Inference.of(model).mixtures(Bows.of(bows), seeds)
        commercial = np.array([label.category in COMMERCIAL for _, label in pages], bool)
        good = np.array([label.category in GOOD_TEXT for _, label in pages], bool)
        return np.stack([theta[commercial].sum(axis=0), theta[good].sum(axis=0)])

    def _topic_table(
        self, model: Any, sample: Sample, theta: np.ndarray, labelled: np.ndarray | None
    ) -> TopicTable:
        """Each topic's density and weight. theta holds the sample's topic mixtures (float32,
        zeros for a document without a dictionary word); `labelled` the (commercial, good)
        mass of each topic over labelled pages, if any."""
        cfg = self.config
        has_words = theta.any(axis=1)
        doc_density, used = document_density(sample.features, sample.langs)
        mass = (theta * has_words[:, None]).sum(axis=0)
        raw = (theta * (doc_density * has_words)[:, None]).sum(axis=0) / np.maximum(mass, 1e-9)
        # Averages over many documents shrink towards 0: standardize across topics, so the
        # threshold reads "this many standard deviations below the typical topic".
        density = (raw - raw.mean()) / raw.std() if raw.std() > 0 else np.zeros_like(raw)
        dominant = np.bincount(theta[has_words].argmax(axis=1), minlength=cfg.num_topics)
        topics: list[TopicRow] = []
        for t in range(cfg.num_topics):
            words = [word for word, _ in model.show_topic(t, topn=TOP_WORDS)]
            mass_of_labels = None if labelled is None else labelled[:, t]
            weight, reason = self._weight(t, float(density[t]), words, mass_of_labels)
            topics.append(
                {
                    "topic": t,
                    "top_words": words,
                    "sample_documents": int(dominant[t]),
                    "sample_mass": round(float(mass[t]), 2),
                    "density": round(float(density[t]), 4),
                    "mean_document_density": round(float(raw[t]), 4),
                    "weight": weight,
                    "weight_reason": reason,
                }
            )
        return {"features": used, "density_threshold": cfg.density_threshold, "topics": topics}

    def _weight(
        self, topic: int, density: float, words: list[str], labelled: np.ndarray | None
    ) -> tuple[float, str]:
        cfg = self.config
        if topic in cfg.topic_weights:
            return cfg.topic_weights[topic], "topic_weights"
        for rule in cfg.keyword_rules:
            matched = sorted(set(rule.keywords) & set(words))
            if matched:
                return rule.weight, f"keyword_rules: {', '.join(matched)}"
        if labelled is not None and cfg.labelled is not None:
            commercial, good = (float(m) for m in labelled)
            if commercial + good < cfg.labelled.min_mass:
                return 1.0, f"labelled: too little mass ({commercial + good:.1f} pages)"
            share = commercial / (commercial + good)
            if share >= cfg.labelled.commercial_share:
                return cfg.low_weight, f"labelled: {share:.0%} ads, listings, spam"
            return 1.0, f"labelled: {share:.0%} ads, listings, spam"
        if density < cfg.density_threshold:
            return cfg.low_weight, "low density"
        return 1.0, "default"

    def _save_model(self, stage_dir: str, model: Any, dictionary: Any, table: TopicTable) -> None:
        """Write model/ as a whole: built in a unique temporary directory, then renamed (on
        object storage, each file published; readers come after the step completes)."""
        remote = storage.is_remote(stage_dir)
        with storage.scratch_directory("topics-") as scratch:
            base = scratch if remote else Path(stage_dir)
            tmp = base / f"{MODEL_DIR}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"
            tmp.mkdir(parents=True)
            model.save(str(tmp / "lda"))
            (tmp / "dictionary.txt").write_bytes(_dictionary_text(dictionary).encode())
            atomic_write_json(tmp / TOPIC_TABLE_FILE, table)
            for part in list(tmp.iterdir()):
                seal(part)
            final = storage.join(stage_dir, MODEL_DIR)
            if remote:
                storage.delete_tree(final)
                for part in sorted(tmp.iterdir()):
                    storage.publish(part, storage.join(final, part.name))
                return
            if os.path.exists(final):
                shutil.rmtree(final)
            tmp.rename(final)

    def apply_batch(
        self, exchange: Exchange, shard: int, first_row: int, batch: pa.RecordBatch
    ) -> BatchOutput:
        cfg = self.config
        if batch.num_rows == 0:  # e.g. a run with no documents, where no model was trained
            empty = {"topic": np.zeros(0, np.int32), "topic_probability": np.zeros(0, np.float32)}
            return split_by_rejections(
                with_columns(batch, self.output_schema(batch.schema), empty), [], Counter()
            )
        model = load_model(exchange.stage_dir)
        ids = batch.column("id").to_pylist()
        theta = self._mixtures(exchange, model, shard, first_row, batch).astype(np.float64)
        has_topic = theta.any(axis=1)  # a document without a dictionary word: zeros
        dominant = theta.argmax(axis=1)
        keep_p = theta @ model.weights if cfg.assign == "mixture" else model.weights[dominant]
        keep_p = np.where(has_topic, keep_p, 1.0)  # no word of the model's vocabulary: kept
        commercial, threshold = self._commercial(batch)
        flagged = commercial > threshold
        keep_p = np.where(flagged, keep_p * cfg.low_weight, keep_p)
        rejections: list[tuple[str, str | None] | None] = []
        counters: Counter[str] = Counter()
        topic = np.where(has_topic, dominant, -1).astype(np.int32)
        for i in range(len(ids)):
            kept = unit_hash(cfg.seed, "keep", ids[i]) < keep_p[i]
            if has_topic[i]:
                counters[topic_counter(int(topic[i]), kept)] += 1
            else:
                counters[WITHOUT_TOPIC_COUNTER] += 1
            detail: dict[str, Any] = {"topic": int(topic[i])}
            reason = REASON
            if flagged[i]:
                counters[COMMERCIAL_COUNTER] += 1
                detail["commercial_probability"] = round(float(commercial[i]), 4)
                reason = COMMERCIAL_REASON
            detail["keep_probability"] = round(float(keep_p[i]), 4)
            rejections.append(None if kept else (reason, json.dumps(detail)))
        probability = theta[np.arange(len(ids)), dominant].astype(np.float32)
        probability[~has_topic] = 0.0
        values = {"topic": topic, "topic_probability": probability}
        annotated = with_columns(batch, self.output_schema(batch.schema), values)
        return split_by_rejections(annotated, rejections, counters)

    def _commercial(self, batch: pa.RecordBatch) -> tuple[np.ndarray, float]:
        """The commercial classifier's probability of each document it judges
        (`commercial_sources`; 0 for the others) and its threshold (1 without a model)."""
        cfg = self.config
        probabilities = np.zeros(batch.num_rows)
        if cfg.commercial_model is None:
            return probabilities, 1.0
        rows = np.arange(batch.num_rows)
        if cfg.commercial_sources:
            sources = batch.column("source").to_pylist()
            rows = np.flatnonzero([source in cfg.commercial_sources for source in sources])
        if len(rows):
            texts = batch.column("text").take(rows).to_pylist()
            probabilities[rows] = commercial_probabilities(cfg.commercial_model, texts)
        return probabilities, load_threshold(cfg.commercial_model)["threshold"]

    def _mixtures(
        self,
        exchange: Exchange,
        model: TrainedModel,
        shard: int,
        first_row: int,
        batch: pa.RecordBatch,
    ) -> np.ndarray:
        """The batch's topic mixtures: the train step's for its sampled documents (the same
        computation), inferred for the others."""
        cfg = self.config
        rows, known = (exchange.load(TRAIN, f"{name}-{shard:05d}") for name in ("rows", "theta"))
        lo, hi = np.searchsorted(rows, [first_row, first_row + batch.num_rows])
        sampled = rows[lo:hi] - first_row
        theta = np.zeros((batch.num_rows, cfg.num_topics), np.float32)
        theta[sampled] = known[lo:hi]
        rest = np.setdiff1d(np.arange(batch.num_rows), sampled)
        if len(rest):
            others = batch.select(["id", "text"]).take(rest)
            bows = Bows.of(
                [self._bag_of_words(t, model) for t in others.column("text").to_pylist()]
            )
            seeds = [document_seed(cfg.seed, i) for i in others.column("id").to_pylist()]
            theta[rest] = model.inference.mixtures(bows, seeds)
        return theta

    def _bag_of_words(self, text: str, model: TrainedModel) -> Bow:
        tokens = candidate_tokens(text, self.config.chinese)
        return bag_of_words(model.dictionary.ids(tokens.codepoints, tokens.spans, add=False))


def _save_mixtures(exchange: Exchange, shards: int, sample: Sample, theta: np.ndarray) -> None:
    """Each shard's sampled rows (ascending) and their topic mixtures, for apply."""
    for shard in range(shards):
        docs = np.flatnonzero(sample.shards == shard)
        docs = docs[np.argsort(sample.rows[docs])]
        exchange.save(TRAIN, f"rows-{shard:05d}", sample.rows[docs])
        exchange.save(TRAIN, f"theta-{shard:05d}", theta[docs])


def _dictionary_text(dictionary: Any) -> str:
    """What gensim's `Dictionary.save_as_text` writes (words sorted), made as one string
    (gensim writes it line by line through smart_open)."""
    lines = [f"{dictionary.num_docs}\n"]
    for word, word_id in sorted(dictionary.token2id.items()):
        lines.append(f"{word_id}\t{word}\t{dictionary.dfs.get(word_id, 0)}\n")
    return "".join(lines)


def document_density(features: np.ndarray, langs: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Each sampled document's density: the FEATURE_WEIGHTS-weighted mean of its standardized
    features (`Sample.features` columns, ad share negated); quality only when every document
    has one. Features are standardized within each language (`lang`; groups under
    MIN_LANGUAGE_DOCS join one "other" group), because Chinese and English text differ in
    compressibility and token statistics for reasons that have nothing to do with
    information. Returns the densities and the features used."""
    used = [f for f in FEATURES if f != "quality"]
    if len(features) and not np.isnan(features[:, FEATURES.index("quality")]).any():
        used.append("quality")
    langs = np.array(langs)
    names, counts = np.unique(langs, return_counts=True)
    small = names[counts < MIN_LANGUAGE_DOCS]
    langs[np.isin(langs, small)] = "\x00other"
    density = np.zeros(len(features))
    for lang in np.unique(langs):
        members = np.flatnonzero(langs == lang)
        columns, weights = [], []
        for feature in used:
            values = features[members, FEATURES.index(feature)]
            spread = values.std()
            z = (values - values.mean()) / spread if spread > 0 else np.zeros_like(values)
            columns.append(-z if feature == "ad_share" else z)
            weights.append(FEATURE_WEIGHTS[feature])
        density[members] = np.average(columns, axis=0, weights=weights)
    return density, used


def _column(batch: pa.RecordBatch, name: str) -> list[float | None]:
    if name not in batch.schema.names:
        return [None] * batch.num_rows
    return batch.column(name).to_pylist()
