"""A user's module registers a stage and a filter rule by name; a pipeline config lists it
under `plugins:` and uses both like built-ins (docs/extending.md shows the same module)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.shards import list_shards, read_table
from pipeline.cli import main
from pipeline.config import ConfigError, load_config
from stages import STAGE_CLASSES, register_stage
from stages.filter.rules import USER_RULES, register_rule
from tests.test_filter_rules import EN

REPO = Path(__file__).resolve().parents[1]
PLUGIN = "tests.plugins.example_plugin"
CALM = EN  # real prose that passes every built-in rule
SHOUTING = EN.replace(".", "!!!")
SHORT = "Too short to keep."


@pytest.fixture(autouse=True)
def registries() -> Iterator[None]:
    """Each test imports the plugin afresh and leaves the registries as it found them."""
    stages, rules = dict(STAGE_CLASSES), dict(USER_RULES)
    sys.modules.pop(PLUGIN, None)
    yield
    sys.modules.pop(PLUGIN, None)
    STAGE_CLASSES.clear()
    STAGE_CLASSES.update(stages)
    USER_RULES.clear()
    USER_RULES.update(rules)


def write_config(tmp_path: Path, plugins: list[str], filter_options: str) -> Path:
    docs = tmp_path / "docs.jsonl"
    docs.write_text(
        "".join(
            json.dumps({"id": str(i), "text": t}) + "\n"
            for i, t in enumerate([SHOUTING, CALM, SHORT])
        )
    )
    config = tmp_path / "pipeline.yaml"
    config.write_text(
        f"inputs: [{docs}]\n"
        f"work_dir: {tmp_path / 'work'}\n"
        f"plugins: {json.dumps(plugins)}\n"
        "stages:\n"
        "  - ingest\n"
        "  - min-chars: {min_chars: 100}\n"
        f"  - filter: {filter_options}\n"
    )
    return config


def test_a_plugin_stage_and_rule_run_in_a_pipeline(tmp_path: Path) -> None:
    options = "{languages: {en: 0.3}, user_rules: {max_exclamations: {max_per_word: 0.05}}}"
    config = write_config(tmp_path, [PLUGIN], options)
    assert main(["run", str(config), "--executor", "local", "--no-progress"]) == 0
    work = tmp_path / "work"
    chars = json.loads((work / "min-chars/stats.json").read_text())
    assert chars["rejected_by_reason"] == {"too_short": 1}
    filtered = json.loads((work / "filter/stats.json").read_text())
    assert filtered["rejected_by_reason"] == {"max_exclamations": 1}
    assert read_table(list_shards(work / "filter")).column("text").to_pylist() == [CALM]
    rejected = read_table(list_shards(work / "filter/rejected"))
    [detail] = rejected.column("reason_detail").to_pylist()
    assert float(detail.split()[0]) > 0.05


def test_an_unregistered_rule_names_the_fix(tmp_path: Path) -> None:
    config = write_config(tmp_path, [PLUGIN], "{user_rules: {no_such_rule: {}}}")
    with pytest.raises(ConfigError, match=r"no_such_rule.*plugins"):
        load_config(config)


def test_a_plugin_that_cannot_be_imported_is_a_config_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, ["no_such_module_xyz"], "{}")
    with pytest.raises(ConfigError, match=r"no_such_module_xyz.*every node"):
        load_config(config)


def test_a_name_is_registered_once() -> None:
    __import__(PLUGIN)
    stage = STAGE_CLASSES["min-chars"]
    assert register_stage(stage) is stage  # the same class again is harmless
    with pytest.raises(ValueError, match="already registered"):
        register_stage(type("Other", (stage,), {"name": "filter"}))
    with pytest.raises(ValueError, match="already registered"):
        register_rule("max_exclamations")(lambda doc, params: None)
    with pytest.raises(ValueError, match="no ':'"):
        register_rule("lang:not_allowed")  # could pass for a built-in verdict


def test_docs_show_the_tested_plugin() -> None:
    source = (REPO / "tests/plugins/example_plugin.py").read_text()
    assert source in (REPO / "docs/extending.md").read_text()
