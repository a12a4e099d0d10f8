"""`datapipe estimate CONFIG`: run the configured pipeline on a deterministic sample of its
inputs and predict what the whole run will yield and cost.

* **The sample**: by bytes or files, the input files (as ingest lists them) in the order of
  a hash of their names, the first ones until `--sample` of the bytes (or of the files) is
  reached. The order does not depend on the run, so a larger sample holds every file of a
  smaller one. By documents, every file, and of its records those whose id hashes under the
  share (ingest's `sample_share`): nested the same way.
* **Documents, text, tokens**: per stage, what the sample kept per unit of input, times the
  whole input: a ratio estimator. The units are the sampled files, or (by documents) 32
  bands of the id hash; each stage's kept documents are attributed to theirs (`input_file`,
  `id`), and the interval is a bootstrap over them: the 5th to 95th percentile of 1,000
  resamples. By documents, text (and the disk and tokens that follow it) is weighted file by
  file by the raw bytes of all its records over those taken (`text_weights`).
* **Near-duplicates grow with the corpus**: a document's copy is found only if the copy is
  in the run too, so a sample removes a smaller share than the whole run will. The minhash
  clusters of the sample say, for nested parts of it (an eighth, a quarter, a half, all of
  its files), how many documents each would have removed; a mix of cluster sizes is fitted
  to that growth and read at the whole input (`removed_share_at_full_size`). Stages after
  minhash are scaled by the change of its kept share, their intervals widened by its
  uncertainty. (Substring's removed spans grow the same way; their bytes are taken at the
  sample's rate, a lower bound of the cut.)
* **Time and memory**: task seconds scale with the input (training stages read a sample their
  config bounds: taken as measured); wall time on N nodes of C cores is the core seconds
  over N x C, a lower bound (a stage waits for its slowest task). A task's peak memory
  depends on its shard, not on the corpus: the sample's largest, and the request the stage
  declares for a full shard (`TaskResources`).
* **Disk**: each stage directory's bytes, scaled like the documents it holds (training
  stages' models as measured).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow.compute as pc

from core import storage
from core.manifest import MANIFEST_FILE
from core.shards import read_shard, shard_locations
from core.stagedir import REJECTED_DIR
from pipeline.config import PipelineConfig
from pipeline.executor import Executor
from pipeline.runner import run_pipeline
from stages import stage_class
from stages.export.routing import Router
from stages.ingest.stage import id_share

BOOTSTRAP_RESAMPLES = 1000
NESTED_PARTS = (0.125, 0.25, 0.5, 1.0)  # of the sample's files, for the duplicate growth fit
CLUSTER_SIZES = (2, 3, 4, 8, 16, 64, 256)  # the basis of the fitted cluster-size mix
# Below this many sampled files the nested parts hold one or two files each: the interval of
# the predicted duplicate share then reaches 1 (bench/bench_estimate.py: a 4-file sample's
# fitted interval missed the full run's share by 40 points).
MIN_FIT_FILES = 8
DOCUMENT_PARTS = 32  # by documents: bands of the id hashes taken, the sample's units


def parse_share(text: str) -> float:
    """`1%`, `0.01` -> 0.01; refused outside (0, 1]."""
    value = float(text.removesuffix("%")) / (100 if text.endswith("%") else 1)
    if not 0 < value <= 1:
        raise ValueError(f"--sample {text}: expected a share in (0, 100%]")
    return value


@dataclass(frozen=True)
class InputSample:
    files: list[str]  # every input file
    sizes: list[int]
    chosen: list[int]  # indices of the files read, in sample order (nested prefixes)
    by: str  # "bytes", "files" or "documents"
    share: float = 1.0  # by documents: the share of every file's documents taken

    @property
    def scale(self) -> float:
        """Whole input / sample, in the unit the sample was drawn by."""
        if self.by == "documents":
            return 1 / self.share
        if self.by == "files":
            return len(self.files) / len(self.chosen)
        return sum(self.sizes) / sum(self.sizes[i] for i in self.chosen)

    @property
    def units(self) -> list[str]:
        """The parts of the sample its intervals resample and its duplicate growth is fitted
        over, nested in this order: the sampled files, or by documents `DOCUMENT_PARTS`
        equal bands of the id hashes taken."""
        if self.by == "documents":
            return [f"part-{band}" for band in range(DOCUMENT_PARTS)]
        return [storage.name(self.files[i]) for i in self.chosen]

    def unit_of(self, input_file: str, document: str) -> str:
        """The unit a document of the sample belongs to."""
        if self.by == "documents":
            band = int(id_share(document) / self.share * DOCUMENT_PARTS)
            return f"part-{min(band, DOCUMENT_PARTS - 1)}"
        return storage.name(input_file)

    def weights(self) -> tuple[np.ndarray, float]:
        """Each unit's measure in the sampling unit, and the whole input's."""
        if self.by == "documents":
            return np.ones(DOCUMENT_PARTS), DOCUMENT_PARTS / self.share
        if self.by == "files":
            return np.ones(len(self.chosen)), float(len(self.files))
        return np.array([float(self.sizes[i]) for i in self.chosen]), float(sum(self.sizes))


def choose_sample(files: list[str], sizes: list[int], share: float, by: str) -> InputSample:
    """By files or bytes: the first files in the order of a hash of their names, up to
    `share` of the bytes or files (at least one file). By documents: every file, and `share`
    of its documents (ingest's `sample_share`)."""
    if by == "documents":
        return InputSample(files, sizes, list(range(len(files))), by, share)
    order = sorted(
        range(len(files)), key=lambda i: hashlib.sha256(storage.name(files[i]).encode()).digest()
    )
    if by == "files":
        chosen = order[: max(1, math.ceil(share * len(files)))]
    else:
        target, total, chosen = share * sum(sizes), 0, []
        for i in order:
            if chosen and total >= target:
                break
            chosen.append(i)
            total += sizes[i]
    return InputSample(files, sizes, chosen, by)


def sample_inputs(config: PipelineConfig, share: float, by: str) -> InputSample:
    if config.sources:
        raise ValueError(
            "estimate runs one chain of stages; for a config with sources, estimate each "
            "source's chain with a config of its own (inputs and stages)"
        )
    ingest = next((e for e in config.stages if e.name == "ingest"), None)
    if ingest is None:
        raise ValueError(
            "estimate samples the input files of an ingest stage; this config has none"
        )
    files = stage_class("ingest")(ingest.config).list_inputs(config.inputs)  # type: ignore[attr-defined]
    return choose_sample(files, [storage.size(f) for f in files], share, by)


@dataclass
class KeptText:
    """What a stage kept of the sample, per unit (`InputSample.units`, in order)."""

    docs: np.ndarray
    text: np.ndarray  # bytes of text, weighted by their input file's `text_weights`
    plain: float  # bytes of text, unweighted, all units

    @property
    def per_byte(self) -> float:
        """Weighted over plain text: what disk and tokens, which follow the text, scale by."""
        return float(self.text.sum()) / self.plain if self.plain else 1.0


def kept_per_unit(
    stage_dir: str,
    sample: InputSample,
    text_weights: dict[str, float],
    router: Router | None = None,
) -> dict[str, KeptText]:
    """Documents and text a stage kept, per unit of the sample, by the mixture source the
    router sends them to (all under "" without one)."""
    index = {unit: i for i, unit in enumerate(sample.units)}
    found: dict[str, KeptText] = {}
    for shard in shard_locations(stage_dir):
        for batch in read_shard(shard):
            files, ids = batch.column("input_file").to_pylist(), batch.column("id").to_pylist()
            lengths = pc.binary_length(batch.column("text")).to_numpy(zero_copy_only=False)
            routes = router.route(batch) if router else [""] * batch.num_rows
            rows = zip(files, ids, lengths.tolist(), routes, strict=True)
            for file, document, length, route in rows:
                if not isinstance(route, str):  # not exported
                    continue
                if route not in found:
                    found[route] = KeptText(np.zeros(len(index)), np.zeros(len(index)), 0.0)
                kept, unit = found[route], index[sample.unit_of(file, document)]
                kept.docs[unit] += 1
                kept.text[unit] += length * text_weights.get(storage.name(file), 1.0)
                kept.plain += length
    return found


def text_weights(sample: InputSample, ingest_stats: dict[str, Any]) -> dict[str, float]:
    """By documents: each input file's raw record bytes over those of its records taken,
    times the share taken. A text total scaled by 1/share alone swings with the few long
    documents a sample holds or misses; weighted so, it is a ratio estimator of the text per
    raw byte, file by file (a file's records are alike: a JSONL line is its text, a WARC
    record its HTML). Other samples take whole files: no weights."""
    weights = {}
    if sample.by == "documents":
        for entry in ingest_stats.get("per_input", []):
            counters = entry.get("counters", {})
            if taken := counters.get("sampled_bytes", 0):
                whole = taken + counters.get("sampled_out_bytes", 0)
                weights[storage.name(entry["input"])] = whole / taken * sample.share
    return weights


def duplicate_clusters(stage_dir: str, sample: InputSample) -> list[list[str]]:
    """Each minhash cluster of the sample as the units of its members."""
    from stages.minhash.stage import REASON as MINHASH_DUPLICATE  # only when estimating

    unit_of: dict[str, str] = {}
    members: dict[str, list[str]] = defaultdict(list)
    keeper: dict[str, str] = {}
    for shard in shard_locations(stage_dir):
        for batch in read_shard(shard):
            ids, files = batch.column("id").to_pylist(), batch.column("input_file").to_pylist()
            unit_of.update((i, sample.unit_of(f, i)) for i, f in zip(ids, files, strict=True))
    for shard in shard_locations(storage.join(stage_dir, REJECTED_DIR)):
        for row in read_shard_rows(shard, ("id", "input_file", "reason", "reason_detail")):
            if row["reason"] != MINHASH_DUPLICATE:
                continue
            detail = json.loads(row["reason_detail"])
            members[detail["cluster_id"]].append(sample.unit_of(row["input_file"], row["id"]))
            keeper[detail["cluster_id"]] = detail["keeper_id"]
    return [[unit_of[keeper[c]], *units] for c, units in members.items() if keeper[c] in unit_of]


def read_shard_rows(shard: str, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    return [row for batch in read_shard(shard) for row in batch.select(columns).to_pylist()]


def removed_share_at_full_size(
    clusters: list[list[str]], docs_in: dict[str, int], order: list[str], share: float
) -> tuple[float, Interval]:
    """The removed share in the sample, and the one predicted for the whole input.

    Model: the copies of a document are spread over the input's files at random, and a cluster
    of k documents removes k - 1. A sample of share p holds each copy with probability p, so
    of the documents of k-clusters it holds, it removes 1 - (1 - (1-p)^k) / (k p) (`_seen`),
    and the whole input 1 - 1/k. The shares of documents in k-clusters (k over CLUSTER_SIZES)
    are fitted, non-negative, to the removed shares of nested parts of the sample's files
    (`NESTED_PARTS` of `order`); the prediction is the fit's share at p = 1. A small sample
    cannot tell many pairs from a few large clusters (both grow linearly at small p), so the
    interval spans the predictions of every single cluster size that fits the growth about as
    well as the best one (residual within 2x), widened by the binomial margin of the sample's
    share. With fewer than MIN_FIT_FILES sampled files its upper end is 1, and with fewer than
    two distinct parts (a one-file sample) the sample's share is all there is. A sample with
    no duplicate at all allows up to 3 / (share x its documents) in the whole input: pairs
    that many would leave none in the sample 5% of the time."""
    points = []
    for part in NESTED_PARTS:
        files = set(order[: max(1, round(part * len(order)))])
        total = sum(docs_in.get(f, 0) for f in files)
        removed = sum(max(sum(f in files for f in c) - 1, 0) for c in clusters)
        if total and (not points or points[-1][0] < len(files) / len(order) * share):
            points.append((len(files) / len(order) * share, removed / total, total))
    seen = points[-1][1] if points else 0.0
    if share >= 1:
        return seen, Interval(seen, seen, seen)
    if len(points) < 2:
        return seen, Interval(seen, seen, 1.0 if seen else seen)
    few_files = len(order) < MIN_FIT_FILES  # the growth is then barely measured
    from scipy.optimize import nnls

    sizes = np.array(CLUSTER_SIZES, dtype=np.float64)
    # a part's removed share is a mean over its documents: weighted by their number
    scale = np.sqrt([n for _, _, n in points])
    basis = np.array([_seen(sizes, p) for p, _, _ in points]) * scale[:, None]
    observed = np.array([r for _, r, _ in points]) * scale
    weights, _ = nnls(basis, observed)
    if weights.sum() > 1:  # shares of documents: at most all of them (a heavy extra row)
        heavy = 1e3 * float(np.abs(basis).max())
        rows = np.vstack([basis, np.full(len(sizes), heavy)])
        weights, _ = nnls(rows, np.append(observed, heavy))
    singles = []
    for column, k in zip(basis.T, sizes, strict=True):
        w = min(max(float(column @ observed / (column @ column)), 0.0), 1.0)
        singles.append((float(np.sum((column * w - observed) ** 2)), w * (1 - 1 / k)))
    best = min(residual for residual, _ in singles)
    plausible = [full for residual, full in singles if residual <= 2 * best + 1e-12]
    estimate = min(max(float(weights @ (1 - 1 / sizes)), seen), 1.0)
    # the sample's own noise: a binomial 90% margin of its removed share, scaled up with it
    documents = points[-1][2]
    margin = 1.645 * math.sqrt(seen * (1 - seen) / documents) * (estimate / seen if seen else 1)
    low = max(min(min(plausible), estimate) - margin, seen)
    high = 1.0 if few_files else min(max(max(plausible), estimate) + margin, 1.0)
    if not seen:  # no pair seen: whole-input pairs would show ~share^2 each (rule of three)
        high = max(high, min(3 / (share * documents), 1.0))
    return seen, Interval(estimate, float(low), float(high))


def _seen(k: np.ndarray, p: float) -> np.ndarray:
    """The removed share among the sampled documents of k-clusters, at sample share p."""
    return 1 - (1 - (1 - p) ** k) / (k * p)


@dataclass
class Interval:
    estimate: float
    low: float
    high: float

    def corrected(self, factor: float, within: tuple[float, float]) -> Interval:
        """The estimate times `factor`, the bounds times the low and high ends of `within`."""
        return Interval(self.estimate * factor, self.low * within[0], self.high * within[1])

    def scaled(self, factor: float) -> Interval:
        return Interval(self.estimate * factor, self.low * factor, self.high * factor)

    def as_dict(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high}


def ratio_interval(values: np.ndarray, weights: np.ndarray, total: float) -> Interval:
    """sum(values) / sum(weights) x total, with the 5-95% bootstrap interval over files,
    narrowed by the finite-population factor sqrt(1 - sampled share): a sample of the whole
    input has no sampling error left."""
    estimate = values.sum() / weights.sum() * total
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(values), (BOOTSTRAP_RESAMPLES, len(values)))
    ratios = values[picks].sum(axis=1) / np.maximum(weights[picks].sum(axis=1), 1e-12) * total
    low, high = np.percentile(ratios, [5, 95])
    narrowed = math.sqrt(max(1 - weights.sum() / total, 0.0))
    return Interval(
        float(estimate),
        float(estimate - (estimate - low) * narrowed),
        float(estimate + (high - estimate) * narrowed),
    )


def predict(
    config: PipelineConfig,
    sample: InputSample,
    results: list[dict[str, Any]],
    nodes: int,
    cores: int,
) -> dict[str, Any]:
    """What the whole run will yield and cost, from the sample's run in `config.work_dir`."""
    names = sample.units
    weights, total = sample.weights()
    stages: list[dict[str, Any]] = []
    # the change of the kept share that duplicates found beyond the sample make, from minhash
    # on: its estimate, and the range its interval allows
    correction, dedup_range = 1.0, (1.0, 1.0)
    weights_of_text = text_weights(sample, results[0])
    nothing = KeptText(np.zeros(len(names)), np.zeros(len(names)), 0.0)
    previous, previous_dir = nothing, ""
    core_seconds = 0.0
    tokens: dict[str, dict[str, float]] = {}
    for entry, stats in zip(config.stages, results, strict=True):
        directory = storage.join(config.work_dir, entry.name)
        disk = sum(f.size for f in storage.file_stats(directory, recursive=True).values())
        row: dict[str, Any] = {"stage": entry.name, "peak_rss_mb": _peak(stats)}
        row["requested_mb"] = round(
            stage_class(entry.name).resources.memory_bytes(int(config.shard_target_mb * 2**20))
            / 2**20
        )
        if stats.get("kind") == "training":
            row |= {"disk_bytes": training_disk(disk, entry.config, stats).as_dict()}
            row["task_seconds"] = stats["task_seconds"]
            core_seconds += stats["task_seconds"]
            stages.append(row)
            continue
        # a stage directory holds its input's documents, kept or rejected: it scales like
        # the input (the correction of the stages before it)
        input_correction = correction
        writes_rows = stage_class(entry.name).writes_kept_rows  # export writes token shards
        kept = (
            kept_per_unit(directory, sample, weights_of_text).get("", nothing)
            if writes_rows
            else previous
        )
        if entry.name == "minhash":
            docs_in = dict(zip(names, previous.docs.tolist(), strict=True))
            sample_rate, full_rate = removed_share_at_full_size(
                duplicate_clusters(directory, sample), docs_in, names, 1 / sample.scale
            )
            kept_share = max(1 - sample_rate, 1e-12)
            correction = (1 - full_rate.estimate) / kept_share
            dedup_range = ((1 - full_rate.high) / kept_share, (1 - full_rate.low) / kept_share)
            row["duplicates_removed_share"] = {
                "sample": sample_rate,
                "whole input": full_rate.as_dict(),
            }
        docs_kept = ratio_interval(kept.docs, weights, total).corrected(correction, dedup_range)
        text_kept = ratio_interval(kept.text, weights, total).corrected(correction, dedup_range)
        spread = text_kept.high / text_kept.estimate if text_kept.estimate else 1.0
        low = text_kept.low / text_kept.estimate if text_kept.estimate else 1.0
        # ingest's input is what it kept and rejected
        input_per_byte = previous.per_byte if previous.plain else kept.per_byte
        estimate_disk = disk * sample.scale * input_correction * input_per_byte
        row |= {
            "docs_kept": docs_kept.as_dict(),
            "text_kept_bytes": text_kept.as_dict(),
            "disk_bytes": Interval(
                estimate_disk, estimate_disk * low, estimate_disk * spread
            ).as_dict(),
            "task_seconds": stats["task_seconds"] * sample.scale * input_correction,
        }
        core_seconds += row["task_seconds"]
        if entry.name == "export":
            routed = kept_per_unit(
                previous_dir, sample, weights_of_text, Router(entry.config.mixture)
            )
            manifest = json.loads(storage.read_text(storage.join(directory, MANIFEST_FILE)))
            for source in manifest["sources"]:
                # the source's tokens follow its text: the sample's tokens per byte of it
                text = routed.get(source["name"], nothing)
                tokens[source["name"]] = (
                    ratio_interval(text.text, weights, total)
                    .corrected(correction, dedup_range)
                    .scaled(source["tokens"] / text.plain if text.plain else 0.0)
                    .as_dict()
                )
        previous, previous_dir = kept, directory
        stages.append(row)
    return {
        "sample": {
            "files": len(sample.chosen),
            "of_files": len(sample.files),
            "bytes": sum(sample.sizes[i] for i in sample.chosen),
            "of_bytes": sum(sample.sizes),
            "by": sample.by,
            "documents_share": sample.share,
        },
        "stages": stages,
        "tokens_per_source": tokens,
        "core_hours": core_seconds / 3600,
        "wall_hours_at_least": core_seconds / 3600 / (nodes * cores),
        "nodes": nodes,
        "cores": cores,
    }


def training_disk(disk: int, config: Any, stats: dict[str, Any]) -> Interval:
    """A trained model's size as measured; a tokenizer that the sample's text allowed fewer
    pieces than configured (`allow_smaller_vocabulary`) grows up to the configured count."""
    trained = (stats.get("model") or {}).get("vocab_size")
    configured = getattr(config, "vocab_size", None)
    if trained and configured and trained < configured:
        return Interval(disk, disk, disk * configured / trained)
    return Interval(disk, disk, disk)


def _peak(stats: dict[str, Any]) -> float | None:
    steps = stats.get("step_seconds") or {}
    peaks = [stats.get("max_task_peak_rss_mb") or stats.get("peak_rss_mb")]
    peaks += [step.get("max_task_peak_rss_mb") for step in steps.values()]
    found = [p for p in peaks if p is not None]
    return max(found) if found else None


def format_estimate(found: dict[str, Any]) -> str:
    sample = found["sample"]
    lines = [
        f"sample: {sample['files']:,} of {sample['of_files']:,} input files, "
        f"{sample['bytes'] / 1e6:,.1f} of {sample['of_bytes'] / 1e6:,.1f} MB (by {sample['by']})",
        f"{'stage':<17}{'documents kept (5-95%)':>34}{'text kept MB':>26}{'disk MB':>22}"
        f"{'core h':>9}{'peak MiB':>10}",
    ]

    def span(value: dict[str, float] | None, unit: float = 1.0, digits: int = 0) -> str:
        if value is None:
            return "-"
        est, low, high = (value[k] / unit for k in ("estimate", "low", "high"))
        return f"{est:,.{digits}f} ({low:,.{digits}f}-{high:,.{digits}f})"

    for row in found["stages"]:
        lines.append(
            f"{row['stage']:<17}{span(row.get('docs_kept')):>34}"
            f"{span(row.get('text_kept_bytes'), 1e6, 1):>26}{span(row['disk_bytes'], 1e6, 1):>22}"
            f"{row['task_seconds'] / 3600:>9.3f}{row['peak_rss_mb'] or 0:>10,.0f}"
        )
        if shares := row.get("duplicates_removed_share"):
            lines.append(
                f"  near-duplicates removed: {shares['sample']:.1%} of the sample's documents; "
                f"predicted for the whole input {span(shares['whole input'], 0.01, 1)} %"
            )
    for source, value in found["tokens_per_source"].items():
        lines.append(f"tokens {source}: {span(value)}")
    lines.append(
        f"{found['core_hours']:,.2f} core-hours: at least {found['wall_hours_at_least']:,.2f} h "
        f"on {found['nodes']} node(s) x {found['cores']} cores"
    )
    return "\n".join(lines)


def estimate(
    config: PipelineConfig,
    share: float,
    by: str,
    executor: Executor,
    nodes: int,
    cores: int,
    work_dir: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    sample = sample_inputs(config, share, by)
    work = work_dir or tempfile.mkdtemp(prefix="datapipe-estimate-")
    stages = [
        entry.model_copy(
            update={"config": entry.config.model_copy(update={"sample_share": sample.share})}
        )
        if entry.name == "ingest"
        else entry
        for entry in config.stages
    ]
    run = config.model_copy(
        update={
            "inputs": [sample.files[i] for i in sample.chosen],
            "work_dir": work,
            "stages": stages,
        }
    )
    results = run_pipeline(run, executor, progress)
    return predict(run, sample, results, nodes, cores) | {"work_dir": work}


def add_estimate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="pipeline YAML (see configs/default.yaml)")
    parser.add_argument("--sample", default="1%", help="share of the inputs (default 1%%)")
    parser.add_argument(
        "--by",
        choices=("bytes", "files", "documents"),
        default="bytes",
        help="sample whole files by bytes or by count (cheap: the rest is never read), or "
        "a share of every file's documents (every file read, only those extracted and run: "
        "for inputs of a few, unlike files)",
    )
    parser.add_argument("--nodes", type=int, default=1, help="nodes of the full run")
    parser.add_argument("--cores", type=int, default=32, help="cores per node")
    parser.add_argument("--work-dir", help="where the sample runs (default: a new temporary dir)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def estimate_command(args: argparse.Namespace, config: PipelineConfig, executor: Executor) -> int:
    found = estimate(
        config,
        parse_share(args.sample),
        args.by,
        executor,
        args.nodes,
        args.cores,
        args.work_dir,
        progress=not args.no_progress,
    )
    print(json.dumps(found, indent=2) if args.json else format_estimate(found))
    print(f"the sample's run: {found['work_dir']}", file=sys.stderr)
    return 0
