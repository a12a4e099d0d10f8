"""The labelled evaluation set follows docs/rubric.md, and `datapipe evaluate` reports what the
run did with the labelled pages: its figures are checked against the stage outputs read
directly, on a fixed subset of the labelled pages."""

from __future__ import annotations

import gzip
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.ipc as ipc
import pytest

from core.labels import CATEGORIES, LabelError, read_labels
from pipeline.cli import main
from pipeline.evaluate import roc_auc

LABELS_DIR = Path(__file__).resolve().parents[1] / "data_samples" / "labels"
sys.path.insert(0, str(LABELS_DIR))
from build_pages import split_of  # noqa: E402


def _pages() -> list[dict]:
    with gzip.open(LABELS_DIR / "pages.jsonl.gz", "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def _label_rows() -> list[dict]:
    lines = (LABELS_DIR / "labels.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_every_page_has_one_label_that_follows_the_rubric() -> None:
    pages, rows = _pages(), _label_rows()
    assert [p["id"] for p in pages] == [r["id"] for r in rows]
    assert len(pages) >= 800
    labels = read_labels(LABELS_DIR / "labels.jsonl")  # validates every row
    langs = Counter(label.lang for label in labels.values())
    assert langs["en"] >= 380 and langs["zh"] >= 380, langs
    assert all(r["split"] == split_of(r["id"]) for r in rows)
    test_share = sum(r["split"] == "test" for r in rows) / len(rows)
    assert 0.28 < test_share < 0.38
    for lang in ("en", "zh"):
        of_lang = [label for label in labels.values() if label.lang == lang]
        assert 0.2 < sum(label.keep for label in of_lang) / len(of_lang) < 0.8
    assert set(Counter(label.category for label in labels.values())) <= set(CATEGORIES)


def test_the_second_reading_covers_the_test_split_and_mostly_agrees() -> None:
    """second_reading.jsonl: the test split read again, blind, from the rubric alone
    (docs/quality.md); it follows the same format and keeps or drops as the first reading
    does on nearly every page (measured 98%, Cohen's kappa 0.97)."""
    first = read_labels(LABELS_DIR / "labels.jsonl", "test")
    second = read_labels(LABELS_DIR / "second_reading.jsonl")
    assert set(second) == set(first)
    agree = np.mean([second[i].keep == first[i].keep for i in first])
    assert agree >= 0.95


def test_roc_auc_is_the_share_of_positive_negative_pairs_ordered_right() -> None:
    rng = np.random.default_rng(7)
    scores = rng.integers(0, 6, 200).astype(float)  # many ties
    positive = rng.random(200) < 0.4
    pairs = [
        1.0 if p > n else 0.5 if p == n else 0.0
        for p in scores[positive]
        for n in scores[~positive]
    ]
    assert roc_auc(scores, positive) == pytest.approx(np.mean(pairs))
    assert roc_auc(scores, np.zeros(200, dtype=bool)) is None


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"category": "spam", "keep": False, "edu": 0}, "category 'spam'"),
        ({"category": "ad", "keep": "no", "edu": 0}, "keep must be true or false"),
        ({"category": "ad", "keep": False, "edu": 4}, "edu must be 0, 1, 2 or 3"),
        ({"category": "ad", "keep": False, "edu": 0, "split": "dev"}, "split must be"),
    ],
)
def test_a_label_off_the_rubric_is_refused_with_its_line(
    tmp_path: Path, row: dict, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "labels.jsonl"
    path.write_text(json.dumps({"id": "a", **row}) + "\n")
    with pytest.raises(LabelError, match=message):
        read_labels(path)
    assert main(["evaluate", str(tmp_path), "--labels", str(path)]) == 2
    assert f"{path}:1" in capsys.readouterr().err


@pytest.fixture(scope="module")
def filtered_subset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The filter run on 60 labelled pages of each language (the first by id)."""
    root = tmp_path_factory.mktemp("evaluate")
    labels = {row["id"]: row for row in _label_rows()}
    chosen = []
    for lang in ("en", "zh"):
        chosen += [p for p in _pages() if labels[p["id"]]["lang"] == lang][:60]
    pages = root / "pages.jsonl"
    pages.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in chosen))
    subset = root / "labels.jsonl"
    subset.write_text("".join(json.dumps(labels[p["id"]]) + "\n" for p in chosen))
    work = root / "work"
    common = ["--executor", "local", "--no-progress"]
    ingest = ["ingest", "--input", str(pages), "--output", str(work / "ingest"), *common]
    assert main(ingest) == 0
    languages = ["--languages", '{"en": 0.65, "zh": 0.5}']
    for output, mode in ((work / "filter", []), (root / "annotated" / "filter", ["--annotate"])):
        filter_ = ["filter", "--input", str(work / "ingest"), "--output", str(output)]
        assert main([*filter_, *languages, *mode, *common]) == 0
    return work, subset


def _stage_decisions(stage_dir: Path) -> dict[str, str | None]:
    """Labelled page id -> rejection reason (None: kept), read from the shards."""
    decisions: dict[str, str | None] = {}
    for rejected, directory in ((False, stage_dir), (True, stage_dir / "rejected")):
        for shard in sorted(directory.glob("part-*.arrow")):
            table = ipc.open_stream(shard).read_all()
            for row in table.to_pylist():
                page = json.loads(row["meta"])["id"]
                decisions[page] = row["reason"] if rejected else None
    return decisions


def test_evaluate_reports_what_the_stage_decided(
    filtered_subset: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    work, subset = filtered_subset
    assert main(["evaluate", str(work), "--labels", str(subset), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert json.loads((work / "evaluation.json").read_text()) == report
    labels = read_labels(subset)
    decisions = _stage_decisions(work / "filter")
    assert report["found"] == report["labels"] == len(labels) == len(decisions) == 120
    for lang in ("en", "zh"):
        result = report["languages"][lang]
        pages = [k for k, label in labels.items() if label.lang == lang]
        keep = [k for k in pages if labels[k].keep]
        drop = [k for k in pages if not labels[k].keep]
        dropped = [k for k in pages if decisions[k] is not None]
        cascade = result["cascade"]
        assert cascade["pages"] == len(pages)
        assert cascade["keep_kept"] == pytest.approx(
            sum(decisions[k] is None for k in keep) / len(keep)
        )
        assert cascade["drop_dropped"] == pytest.approx(
            sum(decisions[k] is not None for k in drop) / len(drop)
        )
        assert cascade["drop_precision"] == pytest.approx(
            sum(not labels[k].keep for k in dropped) / len(dropped)
        )
        families = Counter(f"filter:{decisions[k].split(':')[0]}" for k in dropped)
        assert {f: r["dropped"] for f, r in result["rule_families"].items()} == families
        assert sum(r["pages"] for r in result["categories"].values()) == len(pages)
        scored = result["auc"]["lang_score"]
        assert scored["pages"] <= len(pages) and 0 <= scored["keep_auc"] <= 1


def test_evaluate_says_when_no_labelled_page_is_in_the_run(
    filtered_subset: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work, _ = filtered_subset
    other = tmp_path / "labels.jsonl"
    other.write_text(json.dumps({"id": "x", "category": "ad", "keep": False, "edu": 0}) + "\n")
    assert main(["evaluate", str(work), "--labels", str(other)]) == 1
    assert "none of the 1 labelled pages" in capsys.readouterr().err


def test_evaluate_ranks_each_rule_alone_from_annotate_mode(
    filtered_subset: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    work, subset = filtered_subset
    annotated = work.parent / "annotated"
    assert main(["evaluate", str(annotated), "--labels", str(subset), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    labels = read_labels(subset)
    would: dict[str, set[str]] = {}
    for shard in sorted((annotated / "filter").glob("part-*.arrow")):
        for row in ipc.open_stream(shard).read_all().to_pylist():
            reasons = {f"filter:{r['reason'].split(':')[0]}" for r in row["filter_rejections"]}
            would[json.loads(row["meta"])["id"]] = reasons
    result = report["languages"]["all"]
    assert result["cascade"]["dropped"] == 0  # annotate mode rejects nothing
    families = Counter(f for reasons in would.values() for f in reasons)
    assert {f: r["dropped"] for f, r in result["rules_alone"].items()} == families
    for family, row in result["rules_alone"].items():
        right = sum(not labels[k].keep for k, reasons in would.items() if family in reasons)
        assert row["precision"] == pytest.approx(right / families[family])
    precisions = [row["precision"] for row in result["rules_alone"].values()]
    assert precisions == sorted(precisions, reverse=True)
