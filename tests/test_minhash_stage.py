"""The minhash stage end to end: planted near-duplicates of real documents (tests/planted.py)
through ingest and minhash, with recall and precision measured against exact Jaccard; the same
bytes whatever the partitions or executor; the keeper rule; empty documents; resume."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import pipeline.runner
from core.schema import DOCUMENT_FIELDS, rows_to_batch
from core.shards import list_shards, read_table
from pipeline.executor import LocalExecutor, RayExecutor
from pipeline.runner import StageFailed, StageRun, run_stage
from stages.minhash import signatures
from stages.minhash.config import MinhashConfig
from stages.minhash.signatures import shingles
from tests.conftest import REPO
from tests.planted import (
    Outcome,
    PlantedDoc,
    build_corpus,
    edit,
    evaluate,
    jaccard,
    load_originals,
    read_outcome,
    reference_shingles,
    vocabulary,
    write_jsonl,
)
from tests.test_runner import ingest_run, stage_files

THRESHOLD = 0.85


@pytest.fixture(scope="module")
def planted(real_data: Path) -> list[PlantedDoc]:
    """40 families (an original and 8 edited copies) and 20 unrelated originals per language:
    760 documents, about 250 same-family pairs per language at exact Jaccard >= 0.85."""
    return build_corpus(real_data, families=40, copies=8, singletons=20, seed=0)


@pytest.fixture(scope="module")
def ingested(planted: list[PlantedDoc], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The planted corpus in 4 shuffled JSONL files, ingested into 8 shards of 95 documents."""
    root = tmp_path_factory.mktemp("planted")
    corpus = write_jsonl(planted, root / "in", files=4)
    stats = run_stage(
        ingest_run([str(corpus)], root / "ingest", batch_rows=100), LocalExecutor(), False
    )
    assert stats["docs_kept"] == len(planted)
    assert len(list_shards(root / "ingest")) == 8
    return root / "ingest"


def minhash_run(inputs: Path, output: Path, **options: Any) -> StageRun:
    return StageRun("minhash", MinhashConfig(**options), [str(inputs)], str(output))


@pytest.fixture(scope="module")
def reference(ingested: Path) -> tuple[Path, dict[str, Any]]:
    """One minhash run with the default config (verification on, a partition per shard)."""
    output = ingested.parent / "minhash"
    stats = run_stage(minhash_run(ingested, output), LocalExecutor(), False)
    return output, stats


def check_stats(stats: dict[str, Any]) -> None:
    """Counts that must reconcile in every minhash stats.json."""
    steps = stats["steps"]
    assert stats["docs_in"] == stats["docs_kept"] + stats["docs_rejected"] == steps["documents"]
    assert set(stats["rejected_by_reason"]) <= {"minhash_duplicate"}
    assert sum(steps["cluster_sizes"].values()) == steps["clusters"]
    # every cluster keeps exactly one member
    assert stats["docs_rejected"] == steps["documents_in_clusters"] - steps["clusters"]
    assert stats["counters"].get("cluster_keepers", 0) == steps["clusters"]
    exact = {int(k): n for k, n in steps["cluster_sizes"].items() if "-" not in k}
    if len(exact) == len(steps["cluster_sizes"]):  # no decade bins: sizes add up exactly
        assert sum(size * n for size, n in exact.items()) == steps["documents_in_clusters"]
    if steps["pairs_verified"] or steps["pairs_failing_verification"]:  # verify was on
        assert steps["edges"] <= steps["pairs_verified"]  # every edge passed verification


def check_smallest_id_keepers(out: Outcome) -> None:
    """Without a keeper score, every cluster keeps its smallest id."""
    for cluster, members in out.members.items():
        assert out.keeper_of[cluster] == min(members), cluster


# --- (a) recall and precision on planted near-duplicates --------------------------------------


def test_planted_near_duplicates_recall_and_precision(
    planted: list[PlantedDoc], reference: tuple[Path, dict[str, Any]]
) -> None:
    """Recall: among same-family pairs with exact Jaccard >= 0.85 (reference shingle sets of
    tests/planted.py, independent of the stage's hashing), the share that end in the same
    cluster (one rejected with the other as keeper, or both rejected with the same keeper) is
    >= 0.99, in English and in Chinese.

    Precision: a rejection is justified when the rejected document and its keeper are joined
    by a chain of documents in which every consecutive pair has exact Jaccard >= 0.85 (single
    linkage at the threshold, which is what clustering verified pairs promises); at least 99%
    of rejections are. Unrelated originals are never removed and no cluster mixes families."""
    output, stats = reference
    # the independent shingling is the stage's documented one (script detection included)
    for doc in planted:
        assert {s.decode() for s in shingles(doc.text)} == reference_shingles(doc.text, doc.lang)
    check_stats(stats)
    out = read_outcome(output)
    report = evaluate(planted, out, THRESHOLD)
    for lang in ("en", "zh"):
        caught, pairs = report.recall[lang, f">={THRESHOLD}"]
        assert pairs >= 200, (lang, pairs)
        assert caught / pairs >= 0.99, (lang, caught, pairs)
        # verification: pairs well below the threshold are only caught through chains
        assert report.recall_at(lang, "0.5-0.6") < 0.05
    assert report.rejected > 250
    assert report.precision >= 0.99, report.rejections
    assert min(report.precision_of("en"), report.precision_of("zh")) >= 0.99, report.rejections
    assert report.singletons_removed == []
    assert report.mixed_clusters == []
    check_smallest_id_keepers(out)
    # every family keeps at least one document
    kept_families = {out.key_of[i].rsplit("/", 1)[0] for i in out.kept}
    assert kept_families == {d.key.rsplit("/", 1)[0] for d in planted}


def test_duplicates_sharing_a_bucket_with_a_dissimilar_document_are_clustered(
    real_data: Path, tmp_path: Path
) -> None:
    """`a` and `b` are identical; `m` (the first row, so the smallest node) is `a` with 3% of
    its words edited (exact Jaccard 0.77). With one band of one row (seed 1) all three share
    the bucket: m-a fails verification, so `a` becomes an anchor and b is linked to it (a star
    from the bucket's smallest node alone would never compare a with b)."""
    (text,) = load_originals(real_data, "en", 1, 150)
    edited = edit(text, "en", 0.03, "scattered", vocabulary(real_data, "en"), random.Random(1))
    assert jaccard(reference_shingles(edited, "en"), reference_shingles(text, "en")) < 0.8
    rows = [{"id": "m", "text": edited}, {"id": "a", "text": text}, {"id": "b", "text": text}]
    inputs = write_stage_dir(tmp_path / "in", [rows])
    run_stage(minhash_run(inputs, tmp_path / "mh", bands=1, rows=1, seed=1), LocalExecutor(), False)
    assert read_outcome(tmp_path / "mh").kept == {"a", "m"}


def test_without_verification_recall_rises_and_families_stay_apart(
    planted: list[PlantedDoc], ingested: Path, tmp_path: Path
) -> None:
    """With `verify: false` LSH candidates are clustered as they are: pairs below the
    threshold merge too (lower precision by the chain definition), but unrelated documents
    are still never clustered together."""
    stats = run_stage(minhash_run(ingested, tmp_path / "mh", verify=False), LocalExecutor(), False)
    check_stats(stats)
    assert stats["steps"]["pairs_failing_verification"] == 0
    out = read_outcome(tmp_path / "mh")
    report = evaluate(planted, out, THRESHOLD)
    for lang in ("en", "zh"):
        assert report.recall_at(lang, f">={THRESHOLD}") == 1.0
        assert report.recall_at(lang, "0.6-0.7") > 0.3
    assert report.precision < 0.9
    assert report.singletons_removed == [] and report.mixed_clusters == []
    check_smallest_id_keepers(out)


def test_a_second_pass_over_the_kept_documents_removes_nothing(
    reference: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """Clusters are whole components of similar pairs, so no two kept documents are similar
    enough to be clustered again."""
    output, _ = reference
    stats = run_stage(minhash_run(output, tmp_path / "again"), LocalExecutor(), False)
    assert stats["docs_in"] == stats["docs_kept"] > 0
    assert stats["steps"]["clusters"] == 0


# --- (b) the same bytes whatever the partitions and the executor -----------------------------


# A pair sharing several bands is verified (and its edge counted) once per partition that
# holds one of those bands: these work counts depend on partitioning, the clusters do not.
PER_PARTITION_COUNTS = {"partitions", "edges", "pairs_verified", "pairs_failing_verification"}


def steps_without_partitions(stats: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stats["steps"].items() if k not in PER_PARTITION_COUNTS}


@pytest.mark.parametrize("partitions", [1, 3, 7])
def test_partitions_do_not_change_the_output(
    partitions: int, ingested: Path, reference: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """Kept and rejected shards are byte-identical to the reference run (8 partitions, one
    per shard), and so are the step statistics but the partition count."""
    output, ref_stats = reference
    run = minhash_run(ingested, tmp_path / "mh", partitions=partitions)
    stats = run_stage(run, LocalExecutor(), False)
    assert stats["steps"]["partitions"] == partitions
    assert steps_without_partitions(stats) == steps_without_partitions(ref_stats)
    assert stage_files(tmp_path / "mh") == stage_files(output)


@pytest.mark.ray
def test_ray_and_local_executors_write_identical_minhash_output(
    ingested: Path,
    reference: tuple[Path, dict[str, Any]],
    ray_executor: RayExecutor,
    tmp_path: Path,
) -> None:
    """Embedded Ray with 2 CPUs and 3 partitions writes the bytes of the local reference."""
    output, ref_stats = reference
    run = minhash_run(ingested, tmp_path / "mh", partitions=3)
    stats = run_stage(run, ray_executor, False)
    assert steps_without_partitions(stats) == steps_without_partitions(ref_stats)
    assert stage_files(tmp_path / "mh") == stage_files(output)


def test_shard_layout_and_text_batches_do_not_change_the_clusters(
    ingested: Path,
    reference: tuple[Path, dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same documents in 4 shards of one record batch each instead of 8 shards, and
    signatures computed over text batches of 16k code points (several per record batch)
    instead of 2M: every document gets the same verdict, cluster, keeper and cluster size
    (document order, hence the node order, is the same: input file, then offset)."""
    corpus = ingested.parent / "in"
    run_stage(
        ingest_run([str(corpus)], tmp_path / "ingest", batch_rows=1000), LocalExecutor(), False
    )
    assert len(list_shards(tmp_path / "ingest")) == 4
    monkeypatch.setattr(signatures, "_BATCH_CHARS", 1 << 14)
    run_stage(minhash_run(tmp_path / "ingest", tmp_path / "mh"), LocalExecutor(), False)
    out, ref = read_outcome(tmp_path / "mh"), read_outcome(reference[0])
    assert out.kept == ref.kept
    assert out.rejected == ref.rejected


# --- finished input directories written directly -----------------------------------------------


def write_stage_dir(
    path: Path, shards: Sequence[Sequence[dict]], extra: Sequence[pa.Field] = ()
) -> Path:
    """A finished stage directory (`_SUCCESS`) whose shards hold these rows (`id`, `text`, any
    `extra` columns); the other required columns are filled in."""
    schema = pa.schema([*DOCUMENT_FIELDS, *extra])
    path.mkdir(parents=True)
    for index, rows in enumerate(shards):
        full = [
            {"source": "test", "input_file": "test", "input_offset": n, "url": row["id"], **row}
            for n, row in enumerate(rows)
        ]
        name = path / f"part-{index:05d}-0000.arrow"
        with pa.OSFile(str(name), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
            writer.write_batch(rows_to_batch(full, schema))
    (path / "_SUCCESS").write_text("written by the test\n")
    return path


def near_copies(real_data: Path, count: int, per_family: int) -> list[list[str]]:
    """`count` families of `per_family` texts: a real C4 page and copies with 0.3% of the
    words edited (exact Jaccard about 0.95 with the page)."""
    rng, vocab = random.Random(3), vocabulary(real_data, "en")
    families = []
    for text in load_originals(real_data, "en", count, 150):
        copies = [text] + [
            edit(text, "en", 0.003, "scattered", vocab, rng) for _ in range(per_family - 1)
        ]
        sets = [reference_shingles(t, "en") for t in copies]
        assert all(jaccard(sets[0], s) >= 0.9 for s in sets)
        families.append(copies)
    return families


# --- (c) the keeper rule --------------------------------------------------------------------


def test_keeper_is_the_highest_quality_score_then_the_smallest_id(
    real_data: Path, tmp_path: Path
) -> None:
    """Per cluster: the highest `quality_score` (a missing score is never preferred, even to a
    negative one); among equal scores, or with no scores, the smallest id. Members are spread
    over two shards so that neither the first node nor the first shard decides."""
    a, b, c, d = near_copies(real_data, 4, 4)
    # (id, text, score); the keeper each cluster must choose is marked in `expected`
    members = [
        ("a3", a[0], 0.2), ("a0", a[1], 0.9), ("a1", a[2], 0.5), ("a2", a[3], None),
        ("b2", b[0], 0.7), ("b0", b[1], 0.3), ("b1", b[2], 0.7), ("b3", b[3], 0.7),
        ("c2", c[0], None), ("c1", c[1], None), ("c3", c[2], None), ("c0", c[3], float("nan")),
        ("d0", d[0], None), ("d2", d[1], -5.0), ("d1", d[2], None), ("d3", d[3], -7.0),
    ]  # fmt: skip
    expected = {"a": "a0", "b": "b1", "c": "c0", "d": "d2"}
    rows = [{"id": i, "text": t, "quality_score": s} for i, t, s in members]
    score = pa.field("quality_score", pa.float64())
    shards = [rows[1::2], rows[0::2]]
    inputs = write_stage_dir(tmp_path / "scored", shards, [score])
    stats = run_stage(minhash_run(inputs, tmp_path / "mh"), LocalExecutor(), False)
    check_stats(stats)
    assert stats["steps"]["cluster_sizes"] == {"4": 4}
    out = read_outcome(tmp_path / "mh")
    assert {cluster[0]: keeper for cluster, keeper in out.keeper_of.items()} == expected
    assert out.kept == set(expected.values())
    # the cluster id is the member with the smallest node (first shard, first row), whatever
    # the keeper
    first = {row["id"][0]: row["id"] for row in reversed(shards[0])}
    assert {info["cluster_id"] for info in out.rejected.values()} == set(first.values())
    # kept rows keep their columns, scores included
    kept = read_table(list_shards(tmp_path / "mh"))
    scores = dict(zip(kept["id"].to_pylist(), kept["quality_score"].to_pylist(), strict=True))
    assert math.isnan(scores.pop("c0"))
    assert scores == {"a0": 0.9, "b1": 0.7, "d2": -5.0}

    # keeper_score: null ignores the column: the smallest id of every cluster is kept
    run = minhash_run(inputs, tmp_path / "by-id", keeper_score=None)
    run_stage(run, LocalExecutor(), False)
    assert read_outcome(tmp_path / "by-id").kept == {"a0", "b0", "c0", "d0"}


# --- (d) empty documents ----------------------------------------------------------------------


EMPTY_LIKE = ["", "   ", "\n\t \n", "!!! ... ,,,", "— · —", "。，、！"]


def test_empty_documents_are_never_clustered_and_stats_reconcile(
    real_data: Path, tmp_path: Path
) -> None:
    """Documents without a token (empty, whitespace, punctuation only) have no shingle: they
    are never candidates, so never clustered with each other or with anything, however many
    there are; real duplicates beside them still are. Stats reconcile."""
    (family,) = near_copies(real_data, 1, 3)
    shards = []
    for s in range(3):
        rows = [{"id": f"e{s}-{i}", "text": t} for i, t in enumerate(EMPTY_LIKE)]
        rows.append({"id": f"f{s}", "text": family[s]})
        rows.append({"id": f"w{s}", "text": "word"})  # a one-token document: one shingle
        shards.append(rows)
    stats = run_stage(
        minhash_run(write_stage_dir(tmp_path / "in", shards), tmp_path / "mh"),
        LocalExecutor(),
        False,
    )
    check_stats(stats)
    steps = stats["steps"]
    assert steps["documents_without_shingles"] == 3 * len(EMPTY_LIKE)
    assert steps["cluster_sizes"] == {"3": 2}  # the family, and the three "word"s
    out = read_outcome(tmp_path / "mh")
    assert set(out.rejected) == {"f1", "f2", "w1", "w2"}
    assert {i for i in out.kept if i.startswith("e")} == {
        f"e{s}-{i}" for s in range(3) for i in range(len(EMPTY_LIKE))
    }


# --- (e) resume -------------------------------------------------------------------------------

KILL_SCRIPT = """
import os, signal, sys
sys.path.insert(0, {repo!r})
import pipeline.runner
from pipeline.executor import LocalExecutor
from pipeline.runner import StageRun, run_stage
from stages.minhash.config import MinhashConfig

real = pipeline.runner.run_step_task

def dying(spec):
    if spec.step.name == {step!r} and spec.index == {index}:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(spec)

pipeline.runner.run_step_task = dying
run = StageRun("minhash", MinhashConfig(partitions={partitions}), [sys.argv[1]], sys.argv[2])
run_stage(run, LocalExecutor(), progress=False)
"""


def counting(real: Callable[[Any], Any], calls: Counter[str]) -> Callable[[Any], Any]:
    def wrapper(spec: Any) -> Any:
        calls[spec.step.name] += 1
        return real(spec)

    return wrapper


def test_killed_in_the_middle_of_the_components_rounds_resumes_identically(
    ingested: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver process is SIGKILLed as it starts task 1 of `star-001` (task 0 done): the
    rerun redoes only the unfinished step tasks and writes the same bytes as an uninterrupted
    run. A half-written exchange file left by the killed task is ignored."""
    output = tmp_path / "mh"
    script = KILL_SCRIPT.format(repo=str(REPO), step="star-001", index=1, partitions=3)
    killed = subprocess.run(
        [sys.executable, "-c", script, str(ingested), str(output)], capture_output=True, text=True
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    work = output / "_steps"
    assert not (output / "_SUCCESS").exists()
    assert [p.name for p in (work / "star-001/_tasks").iterdir()] == ["00000.json"]
    assert not (work / "star-002").exists() and not (output / "_tasks").exists()
    (work / "star-001/from-00001.npy.tmp").write_bytes(b"half a file")

    calls: Counter[str] = Counter()
    monkeypatch.setattr(
        pipeline.runner, "run_step_task", counting(pipeline.runner.run_step_task, calls)
    )
    stats = run_stage(minhash_run(ingested, output, partitions=3), LocalExecutor(), False)
    for step in ("signatures", "buckets", "pairs", "star-000"):
        assert calls[step] == 0, step  # finished steps are replayed from their markers
    assert calls["star-001"] == 2
    assert calls["clusters"] == 3
    check_stats(stats)

    fresh = run_stage(
        minhash_run(ingested, tmp_path / "fresh", partitions=3), LocalExecutor(), False
    )
    assert stats["steps"] == fresh["steps"]
    assert stage_files(output) == stage_files(tmp_path / "fresh")
    assert not work.exists()


def test_failed_apply_task_is_retried_and_the_output_is_identical(
    ingested: Path, reference: tuple[Path, dict[str, Any]], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """An apply task (one input shard) fails after every step finished: the stage fails with
    the other tasks kept; the rerun redoes that one task and no step."""
    real_task = pipeline.runner.run_task

    def failing(spec: Any) -> Any:
        if spec.index == 5:
            raise RuntimeError("disk full")
        return real_task(spec)

    monkeypatch.setattr(pipeline.runner, "run_task", failing)
    with pytest.raises(StageFailed, match="1 of 8 tasks failed"):
        run_stage(minhash_run(ingested, tmp_path / "mh"), LocalExecutor(), False)
    assert (tmp_path / "mh/_steps").is_dir()

    monkeypatch.setattr(pipeline.runner, "run_task", real_task)
    calls: Counter[str] = Counter()
    monkeypatch.setattr(
        pipeline.runner, "run_step_task", counting(pipeline.runner.run_step_task, calls)
    )
    stats = run_stage(minhash_run(ingested, tmp_path / "mh"), LocalExecutor(), False)
    assert sum(calls.values()) == 0
    assert stats["resumed_tasks"] == 7
    output, ref_stats = reference
    assert stats["steps"] == ref_stats["steps"]
    assert stage_files(tmp_path / "mh") == stage_files(output)


def test_stats_json_is_what_run_stage_returned(reference: tuple[Path, dict[str, Any]]) -> None:
    output, stats = reference
    assert json.loads((output / "stats.json").read_text()) == stats
    assert not (output / "_steps").exists()
    assert os.path.exists(output / "_SUCCESS")


@pytest.mark.parametrize(
    "shards",
    [
        [[{"id": "a", "text": "!!! ???"}, {"id": "b", "text": "..."}]],  # no shingles at all
        [[]],  # a zero-row batch (a shard written by another program)
        [[{"id": "a", "text": "one lonely document with a few words in it"}]],
    ],
)
def test_partitions_with_no_band_records_pass_their_documents(
    tmp_path: Path, shards: list[list[dict]]
) -> None:
    """A buckets partition with nothing in it (no documents, documents without shingles, or
    64 partitions for one document) used to fail the step on an empty uint64 array."""
    source = write_stage_dir(tmp_path / "in", shards)
    config = MinhashConfig(partitions=64)
    stats = run_stage(
        StageRun("minhash", config, [str(source)], str(tmp_path / "out")),
        LocalExecutor(),
        progress=False,
    )
    docs = sum(len(rows) for rows in shards)
    assert (stats["docs_in"], stats["docs_kept"], stats["docs_rejected"]) == (docs, docs, 0)
