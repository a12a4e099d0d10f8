"""Pipeline stages by name: the built-in ones, and those a user's plugin module registers.

Modules are imported lazily: a stage's heavy dependencies (extractors, models) load only when
that stage runs. A plugin is a module of the user's, named in a pipeline config's `plugins:`
list, that calls `register_stage` (and `stages.filter.rules.register_rule` for a filter rule)
when imported; every worker imports the same plugins before it builds a stage
(docs/extending.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module

from stages.base import Stage

# name -> "module:Class" or a registered class, in the order a pipeline usually runs them:
# models are trained from the ingested web documents before the stages that use them.
STAGE_CLASSES: dict[str, str | type[Stage]] = {
    "ingest": "stages.ingest.stage:IngestStage",
    "train-quality": "stages.score.train:QualityTrainingStage",
    "train-safety": "stages.score.train:SafetyTrainingStage",
    "train-perplexity": "stages.score.train:PerplexityTrainingStage",
    "filter": "stages.filter.stage:FilterStage",
    "score": "stages.score.stage:ScoreStage",
    "minhash": "stages.minhash.stage:MinhashStage",
    "substring": "stages.substring.stage:SubstringStage",
    "topics": "stages.topics.stage:TopicsStage",
    "train-tokenizer": "tokenizer.stage:TokenizerTrainingStage",
    "export": "stages.export.stage:ExportStage",
}


def stage_class(name: str) -> type[Stage]:
    try:
        target = STAGE_CLASSES[name]
    except KeyError:
        known = ", ".join(STAGE_CLASSES)
        raise KeyError(f"unknown stage {name!r}; known stages: {known}") from None
    if not isinstance(target, str):
        return target
    module_name, class_name = target.split(":")
    return getattr(import_module(module_name), class_name)


def register_stage(cls: type[Stage]) -> type[Stage]:
    """Register a stage class under its `name` (usable as a class decorator). A name may be
    registered once: a plugin cannot silently replace a built-in stage."""
    registered = STAGE_CLASSES.get(cls.name)
    if registered is not None and registered is not cls:
        raise ValueError(f"a stage named {cls.name!r} is already registered ({registered})")
    STAGE_CLASSES[cls.name] = cls
    return cls


def load_plugins(modules: Sequence[str]) -> None:
    """Import the user's plugin modules (each registers its stages and rules once: Python
    imports a module only the first time)."""
    for module in modules:
        try:
            import_module(module)
        except ImportError as err:
            raise ImportError(
                f"plugin {module!r} cannot be imported ({err}); it must be importable on "
                "every node (installed, or on PYTHONPATH)"
            ) from err
