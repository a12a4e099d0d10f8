"""What the topics stage writes: its topic table (`model/topics.json`), the plan's summary
under `steps` in stats.json, and the names of its per-topic counters."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING, NotRequired, TypedDict

if TYPE_CHECKING:  # a type only: this module stays light for the report
    from stages.score.commercial import CommercialThreshold

MODEL_DIR = "model"  # the LDA model, its dictionary and the topic table, in the stage directory
TOPIC_TABLE_FILE = "topics.json"
TOPIC_TABLE = PurePosixPath(MODEL_DIR, TOPIC_TABLE_FILE)  # relative to the stage directory
WITHOUT_TOPIC_COUNTER = "documents_without_topic"
COMMERCIAL_COUNTER = "commercial_pages"  # documents the page classifier scored above threshold


class TopicRow(TypedDict):
    topic: int
    top_words: list[str]
    sample_documents: int  # sampled documents whose dominant topic this is
    sample_mass: float
    density: float  # standardized across topics
    mean_document_density: float
    weight: float  # keep probability; below 1: downsampled
    weight_reason: str


class TopicTable(TypedDict):
    features: list[str]  # the density features used
    density_threshold: float
    topics: list[TopicRow]
    commercial_prior: NotRequired[CommercialThreshold]  # with a commercial_model


class TopicsSummary(TypedDict):
    documents: int
    sample_rate: float
    sampled: int
    vocabulary: int
    downsampled_topics: list[int]


def topic_counter(topic: int, kept: bool) -> str:
    """The stats.json counter of a topic's documents kept (or downsampled)."""
    return f"topic_{topic:03d}_{'kept' if kept else 'downsampled'}"
