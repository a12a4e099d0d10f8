"""`datapipe mix-search` on a real export of the bundled samples (the shared-samples run's
documents and tokenizer, exported as English and Chinese sources): the grid, the held-out
split, the proxy's response to a source's share, the output, and the refusals."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from core.manifest import load_manifest
from pipeline.cli import main
from pipeline.mix_search import (
    MIN_HELDOUT_TOKENS,
    Search,
    grid_candidates,
    mix_search,
    read_source,
    source_weights,
    split_documents,
)
from tests.test_export import export

# Below the Chinese source's training part (~23,000 tokens): no candidate cycles a source.
TOKENS = 14_000
MIXTURE = {
    "sources": [
        {"name": "en", "ratio": 0.9, "lang": ["en"]},
        {"name": "zh", "ratio": 0.1, "lang": ["zh"]},
    ]
}


@pytest.fixture(scope="module")
def export_dir(shared_samples_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared-samples run's documents exported by language: sources unlike each other,
    as a mixture's usually are (its own export splits English crawl into cc and web)."""
    output = tmp_path_factory.mktemp("mix-search") / "export"
    tokenizer = shared_samples_run / "train-tokenizer" / "tokenizer.model"
    export(shared_samples_run / "topics", tokenizer, output, mixture=MIXTURE)
    return output


@pytest.fixture(scope="module")
def sources(export_dir: Path) -> list[dict]:
    return load_manifest(export_dir)["sources"]


def _ratios(candidates: list) -> list[tuple[float, ...]]:
    return [tuple(c.ratios.values()) for c in candidates]


def _brute_force(parts: int, units: int) -> set[tuple[float, ...]]:
    every = itertools.product(range(units + 1), repeat=parts)
    return {tuple(u / units for u in p) for p in every if sum(p) == units}


def test_the_grid_holds_exactly_the_compositions_of_the_step() -> None:
    found = _ratios(grid_candidates(["a", "b", "c"], 0.25))
    assert len(found) == len(set(found)) == 15  # C(4 + 2, 2)
    assert set(found) == _brute_force(3, 4)
    assert all(abs(sum(r) - 1) < 1e-12 for r in found)


def test_the_grid_keeps_each_source_within_its_bounds() -> None:
    found = _ratios(grid_candidates(["a", "b", "c", "d"], 0.1, {"a": 0.2}, {"b": 0.3, "d": 0}))
    want = {r for r in _brute_force(4, 10) if r[0] >= 0.2 - 1e-9 and r[1] <= 0.3 and r[3] == 0}
    assert len(found) == len(set(found)) == len(want)
    assert set(found) == want


def test_the_heldout_split_is_deterministic_and_disjoint(
    export_dir: Path, sources: list[dict]
) -> None:
    for source in sources:
        # Ask for more than the source holds: every document is read.
        first, again = (read_source(export_dir, source, 10**12, 0.1, 0) for _ in range(2))
        assert first.heldout_ids == again.heldout_ids
        assert first.train_ids == again.train_ids
        assert np.array_equal(first.train, again.train)
        assert np.array_equal(first.heldout, again.heldout)
        assert not set(first.heldout_ids) & set(first.train_ids)
        assert len(first.heldout_ids) + len(first.train_ids) == source["documents"]
        assert len(first.heldout) + len(first.train) == source["tokens"]
        if source["documents"] >= 100:
            assert 0.05 < len(first.heldout_ids) / source["documents"] < 0.15
        other = read_source(export_dir, source, 10**12, 0.1, 1)
        assert set(other.heldout_ids) != set(first.heldout_ids)
        # A small budget reads less training text, never less held-out text than the minimum.
        assert len(first.heldout) < MIN_HELDOUT_TOKENS
        small = read_source(export_dir, source, 1, 0.1, 0)
        assert small.heldout_ids == first.heldout_ids


def test_a_documents_side_does_not_depend_on_the_other_documents() -> None:
    ids = [f"doc-{i}" for i in range(2000)]
    held, _ = split_documents(ids, 0.1, 7)
    part, _ = split_documents(ids[::3], 0.1, 7)
    assert {ids[i] for i in held} & set(ids[::3]) == {ids[::3][i] for i in part}


def test_more_of_a_source_lowers_its_heldout_bits(export_dir: Path, sources: list[dict]) -> None:
    names = [s["name"] for s in sources]
    grid = grid_candidates(names, 0.1)
    result = mix_search(export_dir, Search(grid, source_weights(None, names), TOKENS))
    assert max(max(c["epochs"].values()) for c in result["candidates"]) <= 1
    for name in names:
        by_share = sorted(
            (c for c in result["candidates"] if c["origin"].startswith("grid")),
            key=lambda c: c["ratios"][name],
        )
        bits = [c["heldout_bits_per_token"][name] for c in by_share]
        assert len(bits) == 11
        assert all(later < earlier for earlier, later in itertools.pairwise(bits)), (name, bits)


def test_the_search_is_deterministic_for_a_seed(export_dir: Path, sources: list[dict]) -> None:
    names = [s["name"] for s in sources]
    search = Search(grid_candidates(names, 0.5), source_weights(None, names), TOKENS, seed=3)
    assert mix_search(export_dir, search) == mix_search(export_dir, search)


def test_the_output_files_hold_every_candidate(
    export_dir: Path, sources: list[dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = [s["name"] for s in sources]
    as_json, as_markdown = tmp_path / "search.json", tmp_path / "search.md"
    args = ["mix-search", str(export_dir), "--step", "0.25", "--tokens", str(TOKENS)]
    args += ["--weights", f"{names[0]}=3,{names[1]}=1", "--show", "2", "--no-progress"]
    assert main([*args, "--output", str(as_json), "--output", str(as_markdown)]) == 0
    result = json.loads(as_json.read_text())
    manifest = tuple(s["ratio"] for s in sources)
    want = _brute_force(2, 4) | {manifest}
    rows = result["candidates"]
    assert len(rows) == len(want) == 6
    assert {tuple(c["ratios"][n] for n in names) for c in rows} == want
    assert [c["rank"] for c in rows] == list(range(1, 7))
    weighted = [c["weighted_bits_per_token"] for c in rows]
    assert weighted == sorted(weighted)
    for c in rows:
        bits = c["heldout_bits_per_token"]
        assert c["weighted_bits_per_token"] == pytest.approx(
            (3 * bits[names[0]] + bits[names[1]]) / 4
        )
    table = as_markdown.read_text().splitlines()
    assert sum(line.startswith("| ") and line[2].isdigit() for line in table) == 6
    printed = capsys.readouterr().out
    assert "manifest" in printed  # always shown, wherever it ranks
    assert "more candidates" in printed


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--weights", "code=2"], "--weights: 'code' is not a source of the export"),
        (["--weights", "en"], "--weights: 'en' is not NAME=NUMBER"),
        (["--step", "0.3"], "--step 0.3 does not divide 1"),
        (["--min", "en=0.7,zh=0.7"], "--min/--max leave no ratios on the grid"),
        (["--tokens", "0"], "need --tokens > 0"),
    ],
)
def test_bad_arguments_are_one_line_errors(
    export_dir: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    assert main(["mix-search", str(export_dir), "--no-progress", *options]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("datapipe: error: "), err
    assert message in err


def test_an_export_without_a_manifest_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["mix-search", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "manifest.json" in err, err


def test_a_candidates_file_is_checked_against_the_sources(
    export_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = tmp_path / "candidates.yaml"
    listed.write_text("- {en: 0.5, zh: 0.5}\n- {en: 0.9, zh: 0.2}\n")
    assert main(["mix-search", str(export_dir), "--candidates", str(listed)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "candidate 2: ratios sum to 1.1, not 1" in err, err


def test_help_says_what_the_proxy_cannot_tell(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["mix-search", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for claim in (
        "bits per token",
        "capability transfer",
        "long-range structure",
        "favours more of any source whose held-out text is scored",
        "not a replacement for small-model training runs",
    ):
        assert claim in text
