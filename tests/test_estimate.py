"""`datapipe estimate` (pipeline/estimate.py): the sample it draws, the growth of the
near-duplicate share it models, and its predictions against the full run.

How far off it is at 1/16 of a larger corpus is measured by bench/bench_estimate.py
(docs/scaling.md); here: a sample of the whole input predicts that run exactly."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pipeline.estimate import choose_sample, parse_share, removed_share_at_full_size

REPO = Path(__file__).resolve().parents[1]


def test_the_sample_is_drawn_by_name_and_a_larger_one_holds_a_smaller_one() -> None:
    files = [f"/data/file-{i:03d}.warc.gz" for i in range(100)]
    sizes = [1000 + 37 * i for i in range(100)]
    small = choose_sample(files, sizes, 0.05, "bytes")
    large = choose_sample(files, sizes, 0.2, "bytes")
    assert large.chosen[: len(small.chosen)] == small.chosen  # nested
    assert sum(sizes[i] for i in small.chosen) >= 0.05 * sum(sizes)
    assert sum(sizes[i] for i in small.chosen[:-1]) < 0.05 * sum(sizes)  # no file more
    moved = choose_sample([f.replace("/data", "s3://b") for f in files], sizes, 0.05, "bytes")
    assert moved.chosen == small.chosen  # names decide, not where the files are
    by_files = choose_sample(files, sizes, 0.1, "files")
    assert len(by_files.chosen) == 10 and by_files.scale == 10
    assert len(choose_sample(files, sizes, 0.0001, "files").chosen) == 1
    assert parse_share("1%") == pytest.approx(0.01) and parse_share("0.5") == 0.5
    with pytest.raises(ValueError, match="expected a share"):
        parse_share("150%")


def test_the_near_duplicate_share_is_read_at_the_whole_input() -> None:
    """Clusters of 4 whose copies lie in random files among 64: a sample of 16 files holds
    only some copies of each and removes fewer documents than the whole input would; the fit
    over nested parts of the sample predicts the whole input's share, within its interval."""
    rng = random.Random(0)
    files = [f"f{i:02d}" for i in range(64)]
    clusters = [[rng.choice(files) for _ in range(4)] for _ in range(2000)]
    per_file = dict.fromkeys(files, 100)  # documents with no copy
    for cluster in clusters:
        for f in cluster:
            per_file[f] += 1
    whole = sum(len(c) - 1 for c in clusters) / sum(per_file.values())
    sample = files[:16]
    in_sample = [[f for f in c if f in sample] for c in clusters]
    seen, predicted = removed_share_at_full_size(in_sample, per_file, sample, 16 / 64)
    assert seen < 0.5 * whole  # what the sample alone says
    assert predicted.low <= whole <= predicted.high
    assert predicted.estimate == pytest.approx(whole, rel=0.1)
    everything = removed_share_at_full_size(in_sample, per_file, sample, 1.0)[1]
    assert everything.low == everything.estimate == everything.high == seen


def run_estimate(work: Path, *options: str) -> dict[str, Any]:
    """`datapipe estimate configs/shared-samples.yaml OPTIONS`, in-process executor."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "estimate",
            "configs/shared-samples.yaml",
            *options,
            "--executor",
            "local",
            "--no-progress",
            "--json",
            "--work-dir",
            str(work),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def estimated_whole(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    work = tmp_path_factory.mktemp("estimate") / "work"
    return run_estimate(work, "--sample", "100%"), work


def test_a_sample_of_the_whole_input_predicts_that_run_exactly(
    estimated_whole: tuple[dict[str, Any], Path], shared_samples_run: Path
) -> None:
    found, _ = estimated_whole
    assert found["sample"]["files"] == found["sample"]["of_files"]
    for row in found["stages"]:
        stats = json.loads((shared_samples_run / row["stage"] / "stats.json").read_text())
        if "docs_kept" not in row:
            assert stats["kind"] == "training"
            continue
        kept = row["docs_kept"]
        assert kept["low"] == pytest.approx(kept["estimate"]) == pytest.approx(kept["high"])
        assert kept["estimate"] == pytest.approx(stats["docs_kept"]), row["stage"]
        if row["stage"] != "export":  # export's text leaves as tokens
            assert row["text_kept_bytes"]["estimate"] == pytest.approx(stats["kept_text_bytes"])
        assert row["peak_rss_mb"] > 0 and row["requested_mb"] >= 512
    manifest = json.loads((shared_samples_run / "export/manifest.json").read_text())
    for source in manifest["sources"]:
        assert found["tokens_per_source"][source["name"]]["estimate"] == source["tokens"]
    minhash = next(r for r in found["stages"] if r["stage"] == "minhash")
    shares = minhash["duplicates_removed_share"]
    assert shares["whole input"] == dict.fromkeys(("estimate", "low", "high"), shares["sample"])
    assert found["core_hours"] > 0 and found["wall_hours_at_least"] < found["core_hours"]


def test_half_of_every_files_documents_predicts_the_run_within_15_percent(
    tmp_path: Path, shared_samples_run: Path
) -> None:
    """`--by documents`: the samples are 11 files of 1 to 697 documents, so a share of their
    files says little; half of each file's documents predicts every stage's documents and
    disk, and each mixture source's tokens, within 15% (docs/benchmarks.md has 25%)."""
    found = run_estimate(tmp_path / "work", "--sample", "50%", "--by", "documents")
    assert found["sample"]["files"] == found["sample"]["of_files"]
    for row in found["stages"]:
        stats = json.loads((shared_samples_run / row["stage"] / "stats.json").read_text())
        disk = sum(
            f.stat().st_size for f in (shared_samples_run / row["stage"]).rglob("*") if f.is_file()
        )
        if "docs_kept" not in row:  # a model: its interval holds the whole run's
            assert row["disk_bytes"]["low"] <= disk <= row["disk_bytes"]["high"], row["stage"]
            continue
        assert row["docs_kept"]["estimate"] == pytest.approx(stats["docs_kept"], rel=0.15)
        assert row["disk_bytes"]["estimate"] == pytest.approx(disk, rel=0.15), row["stage"]
    manifest = json.loads((shared_samples_run / "export/manifest.json").read_text())
    for source in manifest["sources"]:
        predicted = found["tokens_per_source"][source["name"]]
        assert predicted["estimate"] == pytest.approx(source["tokens"], rel=0.15)
        assert predicted["low"] <= source["tokens"] <= predicted["high"]
