"""A stage's fingerprint covers the code that decides its output: its own package, every
package of ours it imports (followed through their imports), the bottom layer and the task
runner. Editing any of them redoes the stage instead of resuming it with stale shards."""

from __future__ import annotations

from pathlib import Path

import pytest

import pipeline.code as code
from stages import stage_class

REPO = Path(__file__).resolve().parents[1]


def paths_of(name: str, **config: object) -> list[str]:
    cls = stage_class(name)
    stage = cls(cls.config_class(**config))
    return [p.relative_to(REPO).as_posix() for p in code._code_paths(stage)]


def test_the_packages_a_stage_imports_are_part_of_its_code() -> None:
    shared = ["core", "stages/base.py", "stages/text", "pipeline/tasks.py"]
    assert paths_of("topics") == ["stages/topics", "stages/score", "stages/filter", *shared]
    assert paths_of("export", tokenizer="x.model") == ["stages/export", "tokenizer", *shared]
    assert paths_of("minhash") == ["stages/minhash", *shared]


def test_editing_a_module_the_stage_imports_changes_its_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy of core/ stands in for the real one: one byte more in any module of it, or in
    the tokenizer export imports, is a different digest."""
    cls = stage_class("export")
    stage = cls(cls.config_class(tokenizer="x.model"))
    for package, attribute in ((REPO / "core", "CORE_DIR"), (REPO / "tokenizer", "TOKENIZER_DIR")):
        copy = tmp_path / package.name
        copy.mkdir()
        for file in package.glob("*.py"):
            (copy / file.name).write_bytes(file.read_bytes())
        monkeypatch.setattr(code, attribute, copy)
        monkeypatch.setattr(code, "SHARED", (code.CORE_DIR, *code.SHARED[1:]))
        before = code.code_digest(stage)
        with (copy / "__init__.py").open("a") as f:
            f.write("\n")
        assert code.code_digest(stage) != before
