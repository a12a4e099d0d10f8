"""The code a stage runs, as one digest in its fingerprint: editing a stage's code (or a list
it ships, or a plugin) redoes the stages it touches instead of resuming them with stale
results.

Besides the stage's own package, the digest covers what every stage runs (`core/`, the stage
base, the text toolkit, the task runner) and every other package of ours the stage's files
import, followed through their imports in turn (topics imports score's classifier, export
the tokenizer): read from the source with `ast`, so a new import is covered without a list
to keep up to date.
"""

from __future__ import annotations

import ast
import hashlib
import sys
from pathlib import Path

import core
import pipeline
import stages
import tokenizer
from stages.base import Stage

STAGES_DIR = Path(stages.__file__).parent
TOKENIZER_DIR = Path(tokenizer.__file__).parent
CORE_DIR = Path(core.__file__).parent
# What every stage runs besides its own package: the bottom layer, the stage base, the text
# toolkit and the task runner that writes its shards.
SHARED = (
    CORE_DIR,
    STAGES_DIR / "base.py",
    STAGES_DIR / "text",
    Path(pipeline.__file__).parent / "tasks.py",
)


def _files(path: Path) -> list[Path]:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return [f for f in files if "__pycache__" not in f.parts and f.suffix != ".pyc"]


def _files_digest(path: Path) -> str:
    """sha256 of a file, or of every file under a directory (names and contents, in order)."""
    digest = hashlib.sha256()
    for file in _files(path):
        digest.update(file.relative_to(path.parent).as_posix().encode() + b"\0")
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _stage_code(stage: Stage) -> Path:
    """The stage's package directory (its code and shipped lists) when it is one of ours
    (`stages/<name>/`, `tokenizer/`); else its module's file (a plugin's stage)."""
    module = Path(sys.modules[type(stage).__module__].__file__ or "")
    ours = module.parent.parent == STAGES_DIR or module.parent == TOKENIZER_DIR
    return module.parent if ours else module


def _imported_packages(path: Path) -> set[Path]:
    """The packages of ours (`stages/<name>/`, `tokenizer/`) that the Python files under
    `path` import."""
    found = set()
    for file in _files(path):
        if file.suffix != ".py":
            continue
        for node in ast.walk(ast.parse(file.read_bytes())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                parts = name.split(".")
                if parts[0] == "tokenizer":
                    found.add(TOKENIZER_DIR)
                elif parts[0] == "stages" and len(parts) > 1:
                    package = STAGES_DIR / parts[1]
                    found.add(package if package.is_dir() else package.with_suffix(".py"))
    return found


def _code_paths(stage: Stage) -> list[Path]:
    """The stage's own code, then the packages it imports, transitively, then SHARED."""
    own = _stage_code(stage)
    paths, todo = [own], [own]
    while todo:
        for package in sorted(_imported_packages(todo.pop())):
            if package not in paths and package not in SHARED and package.exists():
                paths.append(package)
                todo.append(package)
    return [*paths, *SHARED]


def code_digest(stage: Stage, plugins: tuple[str, ...] = ()) -> str:
    paths = _code_paths(stage)
    paths += [Path(sys.modules[name].__file__ or "") for name in plugins]  # loaded by the stage
    return hashlib.sha256("".join(_files_digest(p) for p in paths).encode()).hexdigest()
