"""The supervised commercial prior of topics: with labelled pages, a topic is downsampled when
its labelled mass is mostly ads, listings and spam, and never for its density alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stages.topics.stage import LabelledTopics, TopicsConfig, TopicsStage

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
