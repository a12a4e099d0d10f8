"""The test suite reads its data from the repository only (data_samples/, tests/fixtures/): no
test module, fixture or helper under tests/ reads `../shared` or `$DATAPIPE_SHARED`, so `make
test` passes on a fresh clone with nothing beside it. .ci/run points DATAPIPE_SHARED at an empty
directory to prove it at run time; this scan keeps a new test from quietly depending on it.

Only code counts: docstrings and comments may name `../shared` (tests/test_fresh_clone.py
checks that a clone has none), but no string the code uses may, and no path may step out of the
checkout into a directory called `shared`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
# What a reader of the data beside the checkout would have to write.
FORBIDDEN = ("DATAPIPE_SHARED", "../shared", "/work/shared")
NAME_FIELD = {ast.Name: "id", ast.Attribute: "attr", ast.alias: "name"}  # the node's name


def _docstrings(tree: ast.Module) -> set[int]:
    """ids of the docstring nodes of the module, its classes and functions."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _parent(node: ast.AST) -> bool:
    """`x.parent` or `x.parents[...]`: a path above the one it starts from."""
    if isinstance(node, ast.Subscript):
        node = node.value
    return isinstance(node, ast.Attribute) and node.attr in ("parent", "parents")


def reads_of_shared(source: str, filename: str) -> list[str]:
    """Where `source` names the data beside the checkout in code: a string holding one of
    FORBIDDEN, a name or import DATAPIPE_SHARED, or `<path>.parent / "shared"`."""
    tree = ast.parse(source, filename)
    docstrings = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings and any(s in node.value for s in FORBIDDEN):
                found.append(f"{filename}:{node.lineno}: {node.value!r}")
        elif isinstance(node, ast.Name | ast.Attribute | ast.alias):
            name = getattr(node, NAME_FIELD[type(node)])
            if name == "DATAPIPE_SHARED":
                found.append(f"{filename}:{node.lineno}: {name}")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            right = node.right
            if _parent(node.left) and isinstance(right, ast.Constant) and right.value == "shared":
                found.append(f"{filename}:{node.lineno}: {ast.unparse(node)}")
    return found


def _sources() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if p != Path(__file__).resolve())


def test_no_test_reads_the_data_beside_the_checkout() -> None:
    found = []
    for path in _sources():
        found += reads_of_shared(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))
    assert not found, "tests must read data_samples/, not ../shared:\n" + "\n".join(found)


def test_the_scan_covers_conftest_helpers_and_fixtures() -> None:
    names = {p.relative_to(TESTS).as_posix() for p in _sources()}
    assert {"conftest.py", "shared_text.py", "fixtures/generate.py"} <= names


@pytest.mark.parametrize(
    "code",
    [
        'path = Path(os.environ.get("DATAPIPE_SHARED", "x"))',
        'path = os.environ["DATAPIPE_" + "SHARED"] if False else Path("../shared/samples")',
        'path = REPO.parent / "shared"',
        'path = Path(__file__).parents[2] / "shared"',
        "from conftest import DATAPIPE_SHARED",
        "x = settings.DATAPIPE_SHARED",
        'x = f"{REPO}/../shared/reference"',
    ],
)
def test_the_scan_finds_a_read(code: str) -> None:
    assert reads_of_shared(code, "t.py")


@pytest.mark.parametrize(
    "code",
    [
        '"""Reads ../shared, said in a docstring."""',
        'def f():\n    """No `$DATAPIPE_SHARED` here either."""',
        "x = 1  # ../shared in a comment",
        'assert not (root / "shared").exists()',
        'config = REPO / "configs/shared-samples.yaml"',
        'samples = REPO / "data_samples" / "samples"',
    ],
)
def test_the_scan_passes_what_is_not_a_read(code: str) -> None:
    assert not reads_of_shared(code, "t.py")
