"""Pipeline stages, in pipeline order. Modules are imported lazily: a stage's heavy
dependencies (extractors, models) load only when that stage runs."""

from __future__ import annotations

from importlib import import_module

from stages.base import Stage

# name -> "module:Class", in the order the default pipeline runs them.
STAGE_CLASSES: dict[str, str] = {
    "ingest": "stages.ingest.stage:IngestStage",
    "filter": "stages.filter.stage:FilterStage",
    "score": "stages.score.stage:ScoreStage",
    "minhash": "stages.minhash.stage:MinhashStage",
    "substring": "stages.substring.stage:SubstringStage",
    "topics": "stages.topics.stage:TopicsStage",
    "export": "stages.export.stage:ExportStage",
}


def stage_class(name: str) -> type[Stage]:
    try:
        target = STAGE_CLASSES[name]
    except KeyError:
        known = ", ".join(STAGE_CLASSES)
        raise KeyError(f"unknown stage {name!r}; known stages: {known}") from None
    module_name, class_name = target.split(":")
    return getattr(import_module(module_name), class_name)
