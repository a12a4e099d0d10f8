"""Which mixture source (bucket) a document belongs to: the rules of a mixture config.

A mixture lists sources in order, each with its target share of the training tokens (or,
with `phases`, a share per training phase) and the conditions a document must meet (input
file patterns, the ingest `source` column, language, topic, perplexity bucket, a
quality-score range). The first source whose conditions all hold
takes the document; a source with no conditions takes everything left. A document no source
takes is rejected (`export_no_source`), never dropped silently.

Without a mixture config every document goes to a source named after its `source` column,
at its natural share of the tokens.

Source names become directory names, so they are restricted to `[A-Za-z0-9_.-]` (validated
in a config; derived names from the data are sanitized): nothing from the data becomes a path.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from core import storage
from stages.base import StageConfig

SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
EMPTY_TEXT = "export_empty_text"
NO_SOURCE = "export_no_source"
RATIO_TOLERANCE = 1e-6
# Repeating a source up to about 4 times costs little (Muennighoff et al. 2023).
DEFAULT_MAX_EPOCHS = 4.0


def checked_name(name: str) -> str:
    """A source or phase name, refused unless it is safe as a directory name."""
    if not SOURCE_NAME.match(name):
        raise ValueError(f"{name!r}: use 1-64 characters from [A-Za-z0-9_.-], not starting '.'")
    return name


class SourceRule(StageConfig):
    """One mixture source: its share of the training tokens and which documents it takes.
    Every condition given must hold; a list condition holds when the value is in it."""

    name: str = Field(description="directory name under shards/ ([A-Za-z0-9_.-], 1-64 chars)")
    ratio: float | None = Field(
        None, gt=0, le=1, description="share of the training tokens (not with phases)"
    )
    input_file: list[str] = Field(
        default_factory=list, description="glob patterns on the document's input_file"
    )
    source: list[str] = Field(default_factory=list, description="values of the `source` column")
    lang: list[str] = Field(default_factory=list, description="languages (the `lang` column)")
    topic: list[int] = Field(default_factory=list, description="LDA topics (topics stage)")
    perplexity_bucket: list[str] = Field(
        default_factory=list, description="head, middle or tail (score stage)"
    )
    min_quality: float | None = Field(None, description="quality_score at least (score stage)")
    max_quality: float | None = Field(None, description="quality_score below (score stage)")

    _safe_name = field_validator("name")(checked_name)

    def columns(self) -> set[str]:
        """The document columns this rule reads."""
        needed = {
            column
            for column in ("input_file", "source", "lang", "topic", "perplexity_bucket")
            if getattr(self, column)
        }
        if self.min_quality is not None or self.max_quality is not None:
            needed.add("quality_score")
        return needed

    def matches(self, row: dict[str, Any]) -> bool:
        if self.input_file and not any(
            fnmatch.fnmatchcase(row["input_file"], p) for p in self.input_file
        ):
            return False
        for column in ("source", "lang", "topic", "perplexity_bucket"):
            allowed = getattr(self, column)
            if allowed and row[column] not in allowed:
                return False
        quality = row.get("quality_score")
        if self.min_quality is not None and (quality is None or quality < self.min_quality):
            return False
        return self.max_quality is None or (quality is not None and quality < self.max_quality)


def _check_distribution(ratios: dict[str, float], where: str) -> None:
    if bad := {name: r for name, r in ratios.items() if not 0 <= r <= 1}:
        raise ValueError(f"{where}: ratios must be in [0, 1], got {bad}")
    if abs((total := sum(ratios.values())) - 1) > RATIO_TOLERANCE:
        raise ValueError(f"{where}: ratios must sum to 1, they sum to {total:g}")


class PhaseConfig(StageConfig):
    """One training phase: how many tokens a trainer draws in it and each source's share of
    them (e.g. Yi-9B's second stage, heavier in code and math; MiniCPM's decay phase)."""

    name: str = Field(description="the phase's name ([A-Za-z0-9_.-], 1-64 chars)")
    tokens: int = Field(gt=0, description="training tokens drawn in this phase")
    ratios: dict[str, float] = Field(
        min_length=1, description="source -> share of the phase's tokens (sources left out: 0)"
    )

    _safe_name = field_validator("name")(checked_name)


class MixtureConfig(StageConfig):
    """The training mixture: sources with target ratios (summing to 1), or training phases
    each with its own ratios; the token budget a trainer will draw (with phases: the sum of
    theirs) and how often any source may be repeated to meet its ratio."""

    sources: list[SourceRule] = Field(min_length=1)
    token_budget: int | None = Field(
        None,
        gt=0,
        description="training tokens to plan for (default: the most no source has to repeat "
        "for; with phases: the sum of the phases' tokens)",
    )
    max_epochs: float = Field(
        DEFAULT_MAX_EPOCHS, gt=0, description="repetitions beyond this are warned about"
    )
    phases: list[PhaseConfig] = Field(
        default_factory=list,
        description="training phases in order, each with its tokens and ratios; a trainer's "
        "sampler follows them one after the other",
    )

    @model_validator(mode="after")
    def _consistent(self) -> MixtureConfig:
        names = [source.name for source in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be unique, got {names}")
        if self.phases:
            self._check_phases(names)
            return self
        if missing := [s.name for s in self.sources if s.ratio is None]:
            raise ValueError(f"sources {missing} need a ratio (or give the mixture phases)")
        _check_distribution({s.name: s.ratio or 0.0 for s in self.sources}, "sources")
        return self

    def _check_phases(self, names: list[str]) -> None:
        if given := [s.name for s in self.sources if s.ratio is not None]:
            raise ValueError(f"with phases, ratios are given per phase: remove {given}'s ratio")
        if self.token_budget is not None:
            raise ValueError(
                "with phases, the token budget is the sum of their tokens: remove token_budget"
            )
        phases = [phase.name for phase in self.phases]
        if len(set(phases)) != len(phases):
            raise ValueError(f"phase names must be unique, got {phases}")
        for phase in self.phases:
            if unknown := sorted(set(phase.ratios) - set(names)):
                raise ValueError(f"phase {phase.name}: {unknown} are not sources ({names})")
            _check_distribution(phase.ratios, f"phase {phase.name}")


def load_mixture(value: Any) -> Any:
    """A mixture given as a path is read from that YAML file (safely); anything else is left
    for validation."""
    if not isinstance(value, str):
        return value
    try:
        raw = yaml.safe_load(storage.read_text(value))
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"cannot read mixture file {value}: {err}") from None
    try:  # here, so that an error names the file, not only the export's option
        return MixtureConfig.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(map(_problem, err.errors()))
        raise ValueError(f"mixture file {value}: {problems}") from None


def _problem(error: Any) -> str:
    """One validation error as `where: what` (`what` alone for the whole mixture)."""
    message = error["msg"].removeprefix("Value error, ")
    where = ".".join(map(str, error["loc"]))
    return f"{where}: {message}" if where else message


def derived_name(value: str | None) -> str:
    """A directory-safe source name for a `source` column value (no mixture configured)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", value or "")[:64]
    if SOURCE_NAME.match(safe):
        return safe
    return "source_" + hashlib.sha256((value or "").encode()).hexdigest()[:12]


class Router:
    """Assigns each document of a batch its source name, or a rejection."""

    def __init__(self, mixture: MixtureConfig | None) -> None:
        self.mixture = mixture

    def columns(self) -> set[str]:
        if self.mixture is None:
            return {"source"}
        return set().union(*(rule.columns() for rule in self.mixture.sources))

    def route(self, batch: pa.RecordBatch) -> list[str | tuple[str, str | None]]:
        """Per row: its source name, or `(reason, detail)` when it is not exported. A column a
        rule reads that this batch lacks (a chain without the stage that adds it) is null."""
        names = set(batch.schema.names)
        columns = {
            name: batch.column(name).to_pylist() if name in names else [None] * batch.num_rows
            for name in self.columns()
        }
        text = batch.column("text")
        empty = pc.or_kleene(text.is_null(), pc.equal(pc.binary_length(text), 0))
        routes: list[str | tuple[str, str | None]] = []
        for i, is_empty in enumerate(empty.to_pylist()):
            row = {name: values[i] for name, values in columns.items()}
            if is_empty:
                routes.append((EMPTY_TEXT, None))
            elif self.mixture is None:
                routes.append(derived_name(row["source"]))
            else:
                routes.append(self._first_match(row))
        return routes

    def _first_match(self, row: dict[str, Any]) -> str | tuple[str, str | None]:
        assert self.mixture is not None  # noqa: S101 type narrowing: only called with a mixture
        for rule in self.mixture.sources:
            if rule.matches(row):
                return rule.name
        shown = ", ".join(f"{k}={v}" for k, v in sorted(row.items()))
        return (NO_SOURCE, shown or None)
