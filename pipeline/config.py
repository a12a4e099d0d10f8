"""Pipeline configuration: YAML validated into typed models, errors naming the bad key.

inputs: [data_samples/samples]       # files or directories, relative to the working dir
work_dir: work                       # each stage writes work/<stage>/
shard_target_mb: 128                 # size at which source stages start a new shard
executor: {kind: ray, ray_address: null, max_concurrency: null}
stages:
  - ingest: {extractor: resiliparse}
  - filter                           # a stage with default options
  - train-tokenizer: {vocab_size: 64000}   # trains work/train-tokenizer/tokenizer.model
  - export: {mixture: mixture.yaml}  # uses the tokenizer trained above
plugins: [my_rules]                  # modules that register user stages and filter rules

Or, when sources need processing of their own (docs/mixtures.md), each source names its
inputs and stages, run side by side into work/<source>/<stage>/; `stages` are then the ones
that join them, reading every source's last output (work/<stage>/):

sources:
  web:  {inputs: [data_samples/samples], stages: [ingest, filter, minhash]}
  wiki: {inputs: [data_samples/wiki], stages: [ingest, minhash]}
stages: [train-tokenizer, export]    # a joint minhash here would dedup across sources
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from stages import STAGE_CLASSES, load_plugins, stage_class
from stages.base import StageConfig
from stages.export.routing import SOURCE_NAME


class ConfigError(ValueError):
    """A config file or option is wrong; the message says which key and why."""


def _describe(error: ValidationError, prefix: str) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "")
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"  {where}: {message}" if where else f"  {message}")
    return "\n".join(lines)


class ExecutorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["ray", "local"] = "ray"
    ray_address: str | None = None
    num_cpus: int | None = Field(None, gt=0)
    max_concurrency: int | None = Field(None, gt=0)
    max_retries: int = Field(3, ge=0)
    object_store_mb: int = Field(512, ge=80)


class ResourceOverride(BaseModel):
    """What one task of a stage asks the cluster for, instead of what the stage declares
    (stages/base.py `TaskResources`): memory in MiB regardless of the shard's size."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpus: float | None = Field(None, gt=0)
    memory_mb: float | None = Field(None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _known_options(cls, given: Any) -> Any:
        unknown = sorted(set(given) - set(cls.model_fields)) if isinstance(given, dict) else []
        if unknown:
            options = ", ".join(cls.model_fields)
            raise ValueError(f"unknown option {', '.join(unknown)}; the options are {options}")
        return given


class StageEntry(BaseModel):
    name: str
    config: StageConfig


# The order stages usually run in: how `datapipe status` and the report list a work dir's
# stages (a plugin's stages come after these).
PIPELINE_ORDER: tuple[str, ...] = tuple(STAGE_CLASSES)


class SourceBranch(BaseModel):
    """One source's own chain of stages over its own inputs."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    inputs: list[str] = Field(min_length=1)
    stages: list[StageEntry] = Field(min_length=1)


class PipelineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    inputs: list[str] = Field(default_factory=list)
    sources: dict[str, SourceBranch] = Field(default_factory=dict)
    work_dir: str = "work"
    shard_target_mb: float = Field(128, gt=0)
    executor: ExecutorConfig = ExecutorConfig()
    plugins: list[str] = Field(default_factory=list)
    stages: list[StageEntry] = Field(default_factory=list)
    # By stage name (in every chain) or `<source>/<stage>` (that chain's, first).
    resources: dict[str, ResourceOverride] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _inputs_or_sources(self) -> PipelineConfig:
        if self.sources and self.inputs:
            raise ValueError("inputs: with sources, each source names its own inputs")
        if not self.sources and not self.inputs:
            raise ValueError("inputs: required (or sources, each with its inputs and stages)")
        if not self.sources and not self.stages:
            raise ValueError("stages: required (or sources, each with its inputs and stages)")
        return self

    @model_validator(mode="after")
    def _resources_name_stages(self) -> PipelineConfig:
        named = {name for pair in self.entries() for name in (pair[0], pair[1].name)}
        unknown = sorted(set(self.resources) - named)
        if unknown:
            raise ValueError(
                f"resources names {', '.join(unknown)}: not a stage of this config "
                f"(its stages: {', '.join(sorted(named))})"
            )
        return self

    def chains(self) -> list[tuple[str | None, list[str], list[StageEntry]]]:
        """What runs, in order: each source's chain (its name, inputs, stages), then the
        stages that join them (name None, inputs: the sources' outputs)."""
        branches = [(name, b.inputs, b.stages) for name, b in self.sources.items()]
        return [*branches, (None, self.inputs, self.stages)] if self.stages else branches

    def entries(self) -> list[tuple[str, StageEntry]]:
        """Every stage with its name in the work directory (`<source>/<stage>` in a source)."""
        return [
            (f"{source}/{entry.name}" if source else entry.name, entry)
            for source, _, stages in self.chains()
            for entry in stages
        ]


def validate_stage_config(name: str, options: Any, where: str) -> StageConfig:
    if name not in STAGE_CLASSES:
        known = ", ".join(STAGE_CLASSES)
        raise ConfigError(f"{where}: unknown stage {name!r}; known: {known}")
    model = stage_class(name).config_class
    try:
        return model.model_validate(options or {})
    except ValidationError as err:
        raise ConfigError(f"invalid options for stage {name!r}:\n{_describe(err, where)}") from None


def _stage_entries(raw: Any, where: str = "stages") -> list[StageEntry]:
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: expected a list such as [ingest, filter]")
    entries = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            name, options = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            [(name, options)] = item.items()
        else:
            raise ConfigError(f"{where}.{i}: expected a stage name or {{name: {{options}}}}")
        config = validate_stage_config(name, options, f"{where}.{i}.{name}")
        entries.append(StageEntry(name=name, config=config))
    names = [entry.name for entry in entries]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: each stage may appear once, got {names}")
    _check_order(names, where)
    return entries


def _source_branches(raw: Any) -> dict[str, Any]:
    """`sources` with each branch's stages validated; a branch's ingest writes the source's
    name to the `source` column unless its config says otherwise."""
    if not isinstance(raw, dict):
        raise ConfigError("sources: expected a mapping of source names to {inputs, stages}")
    branches = {}
    for name, branch in raw.items():
        where = f"sources.{name}"
        if not (isinstance(name, str) and SOURCE_NAME.match(name)) or name in STAGE_CLASSES:
            raise ConfigError(
                f"{where}: a source name is a directory name ([A-Za-z0-9_.-], 1-64 "
                "characters) and not a stage's"
            )
        if not isinstance(branch, dict):
            raise ConfigError(f"{where}: expected {{inputs: [...], stages: [...]}}")
        stages = _stage_entries(branch.get("stages"), f"{where}.stages")
        for entry in stages:
            if entry.name == "ingest" and "source" not in entry.config.model_fields_set:
                entry.config = entry.config.model_copy(update={"source": name})
        branches[name] = {**branch, "stages": stages}
    return branches


# The built-in document stages in the only order that makes sense (each cleans what the next
# one pays for; export is last), and the stage each training stage trains a model for.
DOCUMENT_ORDER = ("ingest", "filter", "score", "minhash", "substring", "topics", "export")
TRAINS_FOR = {
    "train-quality": "score",
    "train-safety": "score",
    "train-perplexity": "score",
    "train-tokenizer": "export",
}


def _check_order(names: list[str], where: str = "stages") -> None:
    documents = [n for n in names if n in DOCUMENT_ORDER]
    if documents != sorted(documents, key=DOCUMENT_ORDER.index) or (
        "ingest" in names and names[0] != "ingest"
    ):
        raise ConfigError(
            f"{where}: {names} are out of order; the built-in stages run as "
            f"{', '.join(DOCUMENT_ORDER)} (ingest first, training stages before the stage "
            "that uses their model)"
        )
    for trainer, user in TRAINS_FOR.items():
        if trainer in names and user in names and names.index(trainer) > names.index(user):
            raise ConfigError(f"{where}: {trainer} must come before {user}, which uses its model")


def load_config(path: str | Path) -> PipelineConfig:
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot read config {path}: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    raw = dict(raw)
    plugins = raw.get("plugins") or []
    if not (isinstance(plugins, list) and all(isinstance(m, str) for m in plugins)):
        raise ConfigError(f"{path}: plugins: expected a list of module names")
    try:
        load_plugins(plugins)  # before the stages: a plugin registers stage names and rules
    except (ImportError, ValueError) as err:
        raise ConfigError(f"{path}: {err}") from None
    if "sources" in raw:
        raw["sources"] = _source_branches(raw["sources"])
        stages = _stage_entries(raw.pop("stages", None) or [])
        if "ingest" in (names := [entry.name for entry in stages]):
            raise ConfigError(f"stages: {names}: with sources, ingest belongs in a source")
    else:
        stages = _stage_entries(raw.pop("stages", None))
    try:
        return PipelineConfig.model_validate({**raw, "stages": stages})
    except ValidationError as err:
        raise ConfigError(f"invalid config {path}:\n{_describe(err, '')}") from None
