"""The layers of the code: `core` at the bottom, `stages` and `tokenizer` on it, `pipeline` on top.

core       schema, shard I/O, step exchange, stage-dir layout, manifest format, seeded draws
stages     transforms over Arrow batches (and their models); the text toolkit `stages.text`
tokenizer  sentencepiece training and encoding
pipeline   config, CLI, executors, runner, status, report

An import may only point down (or sideways between stages and tokenizer, through public
names): a stage never reaches into the drivers, and the bottom layer imports nothing of ours.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "stages", "tokenizer", "pipeline")
# What each layer may import of ours, besides itself.
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "stages": {"core", "tokenizer"},
    "tokenizer": {"core", "stages"},
    "pipeline": {"core", "stages", "tokenizer"},
}


def _imports(path: Path) -> Iterator[tuple[int, str, list[str]]]:
    """(line, module, imported names) of every absolute import in `path`, nested ones too."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module, [alias.name for alias in node.names]


def _modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def _owner(module: str) -> str:
    """The unit a module belongs to: a stage package (`stages.filter`) or a top package."""
    parts = module.split(".")
    if parts[0] == "stages" and len(parts) > 1 and parts[1] not in ("base", "__init__"):
        return ".".join(parts[:2])
    return parts[0]


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_down_the_layers(package: str) -> None:
    wrong = []
    for path in _modules(package):
        for line, module, _ in _imports(path):
            top = module.split(".")[0]
            if top in PACKAGES and top != package and top not in ALLOWED[package]:
                wrong.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    assert not wrong, f"{package} may import only {sorted(ALLOWED[package])}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("package", PACKAGES)
def test_private_names_stay_inside_their_package(package: str) -> None:
    wrong = []
    for path in _modules(package):
        here = _owner(".".join(path.relative_to(REPO).with_suffix("").parts))
        for line, module, names in _imports(path):
            if module.split(".")[0] not in PACKAGES or _owner(module) == here:
                continue
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private or any(part.startswith("_") for part in module.split(".")[1:]):
                wrong.append(f"{path.relative_to(REPO)}:{line} imports {module} {private}")
    assert not wrong, "private names used from another package:\n" + "\n".join(wrong)


def test_the_checks_see_a_violation(tmp_path: Path) -> None:
    """The scan finds imports in function bodies too (the lazy ones)."""
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from pipeline.runner import run_stage\n")
    assert [m for _, m, _ in _imports(source)] == ["pipeline.runner"]
