"""The code a stage runs, as one digest in its fingerprint: editing a stage's code (or a list
it ships, or a plugin) redoes the stages it touches instead of resuming them with stale
results."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import stages
import tokenizer
from stages.base import Stage

STAGES_DIR = Path(stages.__file__).parent
TOKENIZER_DIR = Path(tokenizer.__file__).parent
# What every stage runs besides its own package: the stage base and the text toolkit.
SHARED = (STAGES_DIR / "base.py", STAGES_DIR / "text")


def _files_digest(path: Path) -> str:
    """sha256 of a file, or of every file under a directory (names and contents, in order)."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        if "__pycache__" in file.parts or file.suffix == ".pyc":
            continue
        digest.update(file.relative_to(path.parent).as_posix().encode() + b"\0")
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _stage_code(stage: Stage) -> Path:
    """The stage's package directory (its code and shipped lists) when it is one of ours
    (`stages/<name>/`, `tokenizer/`); else its module's file (a plugin's stage)."""
    module = Path(sys.modules[type(stage).__module__].__file__ or "")
    ours = module.parent.parent == STAGES_DIR or module.parent == TOKENIZER_DIR
    return module.parent if ours else module


def code_digest(stage: Stage, plugins: tuple[str, ...] = ()) -> str:
    paths = [_stage_code(stage), *SHARED]
    paths += [Path(sys.modules[name].__file__ or "") for name in plugins]  # loaded by the stage
    return hashlib.sha256("".join(_files_digest(p) for p in paths).encode()).hexdigest()
