"""An example datapipe plugin: one filter rule and one stage, registered by name.

A pipeline config lists the module under `plugins:`; every process that builds a stage
(the driver and each Ray worker) imports it first, so it must be importable on every node.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from stages import register_stage
from stages.base import BatchOutput, StageConfig, TransformStage, split_by_rejections
from stages.filter.rules import register_rule
from stages.text import DocView


@register_rule("max_exclamations")
def max_exclamations(doc: DocView, params: dict[str, Any]) -> str | None:
    """Reject shouting: more exclamation marks per word than `max_per_word`."""
    per_word = doc.text.count("!") / max(len(doc.words), 1)
    return f"{per_word:.2f} per word" if per_word > params.get("max_per_word", 0.1) else None


class MinCharsConfig(StageConfig):
    min_chars: int = Field(200, ge=0, description="Reject documents with fewer characters.")


@register_stage
class MinCharsStage(TransformStage):
    name = "min-chars"
    summary = "Reject documents shorter than min_chars characters."
    config_class = MinCharsConfig
    config: MinCharsConfig

    def output_schema(self, input_schema: pa.Schema | None) -> pa.Schema:
        assert input_schema is not None
        return input_schema

    def process_batch(self, batch: pa.RecordBatch) -> BatchOutput:
        lengths = pc.utf8_length(batch.column("text")).to_pylist()
        rejections = [
            None if n >= self.config.min_chars else ("too_short", f"{n} chars") for n in lengths
        ]
        return split_by_rejections(batch, rejections)
