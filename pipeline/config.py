"""Pipeline configuration: YAML validated into typed models, errors naming the bad key.

inputs: [data_samples/generated]     # files or directories, relative to the working dir
work_dir: work                       # each stage writes work/<stage>/
shard_target_mb: 128                 # size at which source stages start a new shard
executor: {kind: ray, ray_address: null, max_concurrency: null}
stages:
  - ingest: {extractor: resiliparse}
  - filter                           # a stage with default options
  - train-tokenizer: {vocab_size: 64000}   # trains work/train-tokenizer/tokenizer.model
  - export: {mixture: mixture.yaml}  # uses the tokenizer trained above
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stages import STAGE_CLASSES, stage_class
from tokenizer.train import TokenizerConfig


class ConfigError(ValueError):
    """A config file or option is wrong; the message says which key and why."""


def _describe(error: ValidationError, prefix: str) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "")
        lines.append(f"  {where}: {item['msg']}")
    return "\n".join(lines)


class ExecutorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["ray", "local"] = "ray"
    ray_address: str | None = None
    num_cpus: int | None = Field(None, gt=0)
    max_concurrency: int | None = Field(None, gt=0)
    max_retries: int = Field(3, ge=0)
    object_store_mb: int = Field(512, ge=80)


class StageEntry(BaseModel):
    name: str
    config: BaseModel  # a StageConfig, or a training step's config


# Pipeline entries that train a model on the documents so far instead of transforming them;
# the next stage reads the same documents (and export uses the trained tokenizer).
TRAINING_STEPS: dict[str, type[BaseModel]] = {"train-tokenizer": TokenizerConfig}
# The order entries run in a pipeline (training before the export that uses its tokenizer):
# how `datapipe status` and the report list a work dir's stages.
PIPELINE_ORDER: tuple[str, ...] = (
    *[name for name in STAGE_CLASSES if name != "export"],
    *TRAINING_STEPS,
    "export",
)


class PipelineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    inputs: list[str] = Field(min_length=1)
    work_dir: str = "work"
    shard_target_mb: float = Field(128, gt=0)
    executor: ExecutorConfig = ExecutorConfig()
    stages: list[StageEntry] = Field(min_length=1)


def validate_stage_config(name: str, options: Any, where: str) -> BaseModel:
    if name not in STAGE_CLASSES and name not in TRAINING_STEPS:
        known = ", ".join([*STAGE_CLASSES, *TRAINING_STEPS])
        raise ConfigError(f"{where}: unknown stage {name!r}; known: {known}")
    model = TRAINING_STEPS.get(name) or stage_class(name).config_class
    try:
        return model.model_validate(options or {})
    except ValidationError as err:
        raise ConfigError(f"invalid options for stage {name!r}:\n{_describe(err, where)}") from None


def _stage_entries(raw: Any) -> list[StageEntry]:
    if not isinstance(raw, list):
        raise ConfigError("stages: expected a list such as [ingest, filter]")
    entries = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            name, options = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            [(name, options)] = item.items()
        else:
            raise ConfigError(f"stages.{i}: expected a stage name or {{name: {{options}}}}")
        where = f"stages.{i}.{name}"
        entries.append(StageEntry(name=name, config=validate_stage_config(name, options, where)))
    names = [entry.name for entry in entries]
    if len(set(names)) != len(names):
        raise ConfigError(f"stages: each stage may appear once, got {names}")
    return entries


def load_config(path: str | Path) -> PipelineConfig:
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot read config {path}: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    raw = dict(raw)
    stages = _stage_entries(raw.pop("stages", None))
    try:
        return PipelineConfig.model_validate({**raw, "stages": stages})
    except ValidationError as err:
        raise ConfigError(f"invalid config {path}:\n{_describe(err, '')}") from None
