"""The supervised commercial prior of topics: with labelled pages, a topic is downsampled when
its labelled mass is mostly ads, listings and spam, and never for its density alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.labels import labelled_texts, read_labels
from stages.topics.features import topic_tokens
from stages.topics.stage import COMMERCIAL, GOOD_TEXT, LabelledTopics, TopicsConfig, TopicsStage

LABELS = Path(__file__).resolve().parents[1] / "data_samples" / "labels"


def _stage(**options: float) -> TopicsStage:
    labelled = LabelledTopics(
        pages=str(LABELS / "pages.jsonl.gz"), labels=str(LABELS / "labels.jsonl"), **options
    )
    return TopicsStage(TopicsConfig(labelled=labelled, low_weight=0.2))


def test_labelled_mass_decides_the_weight_not_density() -> None:
    stage = _stage(commercial_share=0.5, min_mass=3.0)
    very_low_density = -5.0  # below density_threshold: the density rule would downsample
    assert stage._weight(0, very_low_density, [], np.array([1.0, 9.0]))[0] == 1.0
    weight, reason = stage._weight(0, 0.0, [], np.array([6.0, 4.0]))
    assert weight == 0.2 and reason == "labelled: 60% ads, listings, spam"
    weight, reason = stage._weight(0, very_low_density, [], np.array([1.0, 1.0]))
    assert weight == 1.0 and reason.startswith("labelled: too little mass")


def test_the_labelled_files_are_dependencies() -> None:
    assert {Path(p).name for p in _stage().dependencies()} == {"pages.jsonl.gz", "labels.jsonl"}


def test_labelled_mass_is_each_topics_share_of_the_splits_commercial_and_good_pages() -> None:
    from gensim.corpora import Dictionary
    from gensim.models import LdaModel

    stage = _stage()
    tune = read_labels(LABELS / "labels.jsonl", "tune")
    pages = list(labelled_texts(LABELS / "pages.jsonl.gz", tune))
    texts = [topic_tokens(text) for text, _ in pages]
    dictionary = Dictionary(texts)
    dictionary.filter_extremes(no_below=3, no_above=0.5)
    corpus = [dictionary.doc2bow(words) for words in texts]
    model = LdaModel(corpus, id2word=dictionary, num_topics=4, random_state=1, passes=2)
    mass = stage._labelled_mass(model, dictionary)
    assert mass is not None and mass.shape == (2, 4) and (mass >= 0).all()
    # Each page's mixture sums to 1 (a page with no dictionary word has none): the masses add
    # up to the number of the split's commercial and good pages.
    has_words = np.array([bool(bow) for bow in corpus])
    commercial = np.array([label.category in COMMERCIAL for _, label in pages])
    good = np.array([label.category in GOOD_TEXT for _, label in pages])
    assert mass[0].sum() == pytest.approx((commercial & has_words).sum(), rel=1e-4)
    assert mass[1].sum() == pytest.approx((good & has_words).sum(), rel=1e-4)
    assert (stage._labelled_mass(model, dictionary) == mass).all()  # seeded per page
    assert TopicsStage(TopicsConfig())._labelled_mass(model, dictionary) is None
