"""Languages, lengths and scores of the final documents: one pass over (at most MAX_SHARDS
of) the last document stage's shards, reading only the columns needed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core import storage
from core.shards import read_shard, shard_locations
from core.stagedir import REJECTED_DIR
from pipeline.report.run import Run

# Score columns shown as histograms when the shards have them; True: log-scaled axis.
SCORE_COLUMNS = {
    "quality_score": False,
    "perplexity": True,
    "lang_score": False,
    "coherence_score": False,
    "safety_score": False,
    "safety_model_score": False,
}
CATEGORY_COLUMNS = ("perplexity_bucket",)
MAX_SHARDS = 256  # shards read for the distributions (evenly spaced beyond this)
SAMPLE_VALUES = 50_000  # values per score column kept (a uniform random sample) for histograms
LENGTH_BINS_PER_OCTAVE = 4  # document-length histogram: bins of a factor 2^(1/4)
NO_LANG_COLUMN = "(no lang column)"
NULL_VALUE = "(none)"


class Reservoir:
    """A uniform random sample of at most `size` values of a stream (seeded): each value
    gets a random key and the smallest keys are kept, so memory is bounded by `size` plus
    one batch."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.rng = np.random.default_rng(seed)
        self.keys = np.empty(0)
        self.values = np.empty(0)
        self.seen = 0
        self.missing = 0

    def add(self, values: np.ndarray) -> None:
        finite = np.isfinite(values)
        self.missing += int((~finite).sum())
        values = values[finite]
        self.seen += len(values)
        keys = np.concatenate([self.keys, self.rng.random(len(values))])
        values = np.concatenate([self.values, values])
        if len(keys) > self.size:
            keep = np.argpartition(keys, self.size)[: self.size]
            keys, values = keys[keep], values[keep]
        self.keys, self.values = keys, values


@dataclass
class Distributions:
    stage: str
    shards_read: int
    shards_total: int
    rows: int = 0
    langs: Counter[str] = field(default_factory=Counter)
    lang_bytes: Counter[str] = field(default_factory=Counter)
    length_bins: Counter[int] = field(default_factory=Counter)  # log-scale bin -> documents
    lengths: Reservoir = field(default_factory=lambda: Reservoir(SAMPLE_VALUES, 0))
    scores: dict[str, Reservoir] = field(default_factory=dict)
    categories: dict[str, Counter[str]] = field(default_factory=dict)
    exported_only: bool = False  # export rejections subtracted from langs


def _column_floats(batch: pa.RecordBatch, name: str) -> np.ndarray:
    column = batch.column(name)
    if not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)):
        column = pc.cast(column, pa.float64(), safe=False)
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)


def _lang_counts(batch: pa.RecordBatch, lengths: pa.Array | None) -> tuple[Counter, Counter]:
    docs: Counter[str] = Counter()
    nbytes: Counter[str] = Counter()
    if "lang" not in batch.schema.names:
        docs[NO_LANG_COLUMN] += batch.num_rows
        if lengths is not None:
            nbytes[NO_LANG_COLUMN] += int(pc.sum(lengths).as_py() or 0)
        return docs, nbytes
    lang = pc.fill_null(pc.cast(batch.column("lang"), pa.string()), NULL_VALUE)
    columns = {"lang": lang, "n": pa.array(np.ones(batch.num_rows, dtype=np.int64))}
    if lengths is not None:
        columns["bytes"] = pc.cast(lengths, pa.int64())
    table = pa.table(columns)
    aggs = [("n", "sum")] + ([("bytes", "sum")] if lengths is not None else [])
    grouped = table.group_by("lang").aggregate(aggs).to_pydict()
    for i, key in enumerate(grouped["lang"]):
        docs[key] += grouped["n_sum"][i]
        if lengths is not None:
            nbytes[key] += grouped["bytes_sum"][i]
    return docs, nbytes


def _pick_shards(shards: list[str], limit: int) -> list[str]:
    if len(shards) <= limit:
        return shards
    picks = np.unique(np.linspace(0, len(shards) - 1, limit).round().astype(int))
    return [shards[i] for i in picks]


def scan_documents(run: Run, max_shards: int = MAX_SHARDS) -> Distributions | None:
    """Languages, lengths and scores of the final kept documents: one pass over (at most
    `max_shards` of) the last document stage's shards, reading only the columns needed."""
    stage = run.doc_stage
    if stage is None:
        return None
    shards = shard_locations(stage.path)
    picked = _pick_shards(shards, max_shards)
    dist = Distributions(stage.name, len(picked), len(shards))
    for path in picked:
        for batch in read_shard(path):
            _add_batch(dist, batch)
    _subtract_export_rejections(run, dist)
    return dist


def _add_batch(dist: Distributions, batch: pa.RecordBatch) -> None:
    names = batch.schema.names
    dist.rows += batch.num_rows
    lengths = pc.binary_length(batch.column("text")) if "text" in names else None
    docs, nbytes = _lang_counts(batch, lengths)
    dist.langs.update(docs)
    dist.lang_bytes.update(nbytes)
    if lengths is not None:
        values = np.asarray(lengths.to_numpy(zero_copy_only=False), dtype=np.float64)
        dist.lengths.add(values)
        bins = np.floor(LENGTH_BINS_PER_OCTAVE * np.log2(np.maximum(values, 1))).astype(int)
        found, counts = np.unique(bins, return_counts=True)
        dist.length_bins.update(dict(zip(found.tolist(), counts.tolist(), strict=True)))
    for name in SCORE_COLUMNS:
        if name in names:
            seed = len(dist.scores) + 1
            reservoir = dist.scores.setdefault(name, Reservoir(SAMPLE_VALUES, seed))
            reservoir.add(_column_floats(batch, name))
    for name in CATEGORY_COLUMNS:
        if name in names:
            values = pc.fill_null(pc.cast(batch.column(name), pa.string()), NULL_VALUE)
            dist.categories.setdefault(name, Counter()).update(_value_counts(values))


def _value_counts(values: pa.Array) -> dict[str, int]:
    return {item["values"]: item["counts"] for item in pc.value_counts(values).to_pylist()}


def _subtract_export_rejections(run: Run, dist: Distributions) -> None:
    """Documents the export did not take are not in the final mixture: their languages are
    subtracted (only when every shard was read, so the counts are exact)."""
    export = run.stage("export")
    if export is None or run.doc_stage is None or run.doc_stage.name not in export.reads:
        return
    if dist.shards_read != dist.shards_total:
        return
    for path in shard_locations(storage.join(export.path, REJECTED_DIR)):
        for batch in read_shard(path):
            names = batch.schema.names
            lengths = pc.binary_length(batch.column("text")) if "text" in names else None
            docs, nbytes = _lang_counts(batch, lengths)
            dist.langs.subtract(docs)
            dist.lang_bytes.subtract(nbytes)
    dist.langs = +dist.langs
    dist.lang_bytes = +dist.lang_bytes
    dist.exported_only = True
