"""`datapipe report WORK_DIR`: one self-contained HTML page about a pipeline run.

    datapipe report work [--output work/report.html]

Reads what the stages leave in the work directory (`stats.json`, `_config.json`, the topic
table, the tokenizer report, the export's `manifest.json`) and a few columns of the last
document stage's shards, and writes a page that needs nothing else: styles and an inline
script in the file, plots as inline SVG, no fonts, images or scripts from the network (a
Content-Security-Policy in the page forbids them). Every string that comes from the data is
escaped. A missing stage or file leaves a note in its section, never an error. docs/report.md.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import math
import re
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.manifest import MANIFEST_FILE
from core.shards import atomic_write_bytes, list_shards, read_shard
from core.stagedir import CONFIG_FILE, FAILED_FILE, STATS_FILE, SUCCESS_FILE
from pipeline import __version__
from pipeline.config import PIPELINE_ORDER, TRAINING_STEPS
from pipeline.train_tokenizer import PIPELINE_PREFIX

REPORT_FILE = "report.html"
TOPIC_TABLE = Path("model") / "topics.json"
# A stage PIPELINE_ORDER does not know comes after the known ones, by the time it started.
KNOWN_ORDER = PIPELINE_ORDER
SOURCE_STAGES = ("ingest",)  # their inputs are raw files, not another stage's shards
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
HISTOGRAM_BINS = 30
LENGTH_BINS_PER_OCTAVE = 4  # document-length histogram: bins of a factor 2^(1/4)
MAX_REASONS = 40  # rejection reasons drawn per stage (the rest summed)
MAX_PER_INPUT = 50


# ---------------------------------------------------------------------------------- strings

_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]")


def _clean(value: Any) -> str:
    """Data as display text: control and bidi-override characters shown as escapes (so a
    string cannot hide or reorder what follows it), lone surrogates replaced."""
    text = str(value)
    text = text.encode("utf-8", "replace").decode("utf-8")
    if _INVISIBLE.search(text) or any(unicodedata.category(c) == "Cc" for c in text):
        text = "".join(
            f"\\u{ord(c):04x}" if (unicodedata.category(c) == "Cc" or _INVISIBLE.match(c)) else c
            for c in text
        )
    return text


def esc(value: Any) -> str:
    """Escape for HTML text and (quoted) attributes, inline SVG included."""
    return html.escape(_clean(value), quote=True)


def _short(value: Any, limit: int) -> str:
    text = _clean(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fmt_int(value: Any) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return esc(value)


def fmt_num(value: Any, digits: int = 3) -> str:
    """A float with `digits` significant digits (integers with separators)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return esc(value)
    if isinstance(value, int) or (math.isfinite(value) and float(value).is_integer()):
        return f"{int(value):,}" if abs(value) < 1e15 else f"{value:.3g}"
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{value:,.{decimals}f}"


def fmt_bytes(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return esc(value)
    size = float(value)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def fmt_pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


# -------------------------------------------------------------------------------------- SVG

SVG_WIDTH = 760


@dataclass
class Bar:
    label: str
    value: float
    text: str  # shown after the bar (already formatted, unescaped)
    title: str = ""  # hover text (unescaped)
    kind: str = ""  # CSS class: "" (blue), "rej", "alt", "muted", "warn"
    target: float | None = None  # drawn as a dashed outline


def bar_chart(bars: list[Bar], label_width: int = 240, text_width: int = 170) -> str:
    """Horizontal bars, one row each: label, bar (with an optional dashed target), value."""
    if not bars:
        return ""
    row, pad = 20, 5
    plot = SVG_WIDTH - label_width - text_width
    top = max([b.value for b in bars] + [b.target or 0 for b in bars]) or 1.0
    height = len(bars) * (row + pad) + pad
    parts = [_svg_open(SVG_WIDTH, height, "bar chart")]
    for i, bar in enumerate(bars):
        y = pad + i * (row + pad)
        width = max(0.0, bar.value) / top * plot
        title = bar.title or f"{bar.label}: {bar.text}"
        parts.append(f"<g><title>{esc(title)}</title>")
        parts.append(
            f'<text x="{label_width - 8}" y="{y + row * 0.72:.1f}" text-anchor="end" '
            f'class="lbl">{esc(_short(bar.label, label_width // 7))}</text>'
        )
        parts.append(
            f'<rect x="{label_width}" y="{y}" width="{width:.1f}" height="{row}" '
            f'class="bar {esc(bar.kind)}"/>'
        )
        end = width
        if bar.target is not None and bar.target > 0:
            target = bar.target / top * plot
            parts.append(
                f'<rect x="{label_width}" y="{y + 1}" width="{target:.1f}" height="{row - 2}" '
                'class="target"/>'
            )
            end = max(end, target)
        parts.append(
            f'<text x="{label_width + end + 6:.1f}" y="{y + row * 0.72:.1f}" '
            f'class="val">{esc(bar.text)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def histogram_chart(
    edges: list[float],
    counts: list[int],
    xlabel: str,
    edge_text: Callable[[float], str],
    log_x: bool = False,
) -> str:
    """Vertical bars over `edges` (len(counts) + 1), evenly spaced (on a log axis when
    `log_x`, whose edges are then the real values)."""
    if not counts:
        return ""
    left, right, top, bottom = 56, 16, 12, 46
    height = 230
    plot_w, plot_h = SVG_WIDTH - left - right, height - top - bottom
    peak = max(counts) or 1
    n = len(counts)
    step = plot_w / n
    parts = [_svg_open(SVG_WIDTH, height, f"histogram of {xlabel}")]
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'class="axis"/>'
    )
    parts.append(
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" class="axis"/>'
        f'<text x="{left - 6}" y="{top + 9}" text-anchor="end" class="tick">'
        f"{fmt_int(peak)}</text>"
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" class="tick">0</text>'
    )
    for i, count in enumerate(counts):
        h = count / peak * plot_h
        x = left + i * step
        title = f"{edge_text(edges[i])} – {edge_text(edges[i + 1])}: {count:,}"
        parts.append(
            f'<rect x="{x + 0.5:.1f}" y="{top + plot_h - h:.1f}" width="{max(step - 1, 0.5):.1f}" '
            f'height="{h:.1f}" class="bar"><title>{esc(title)}</title></rect>'
        )
    lo, hi = edges[0], edges[-1]

    def position(value: float) -> float:
        if log_x:
            return left + (math.log10(value) - math.log10(lo)) / (math.log10(hi / lo)) * plot_w
        return left + (value - lo) / (hi - lo) * plot_w

    for value in _ticks(lo, hi, log_x):
        x = position(value)
        parts.append(
            f'<line x1="{x:.1f}" y1="{top + plot_h}" x2="{x:.1f}" y2="{top + plot_h + 4}" '
            f'class="axis"/><text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
            f'class="tick">{esc(edge_text(value))}</text>'
        )
    scale = " (log scale)" if log_x else ""
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" text-anchor="middle" '
        f'class="lbl">{esc(xlabel + scale)}</text></svg>'
    )
    return "".join(parts)


def _ticks(lo: float, hi: float, log_x: bool) -> list[float]:
    """Round values for axis ticks between lo and hi: 1-2-5 steps (decades on a log axis)."""
    if log_x:
        decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
        for mantissas in ((1, 2, 5), (1, 3), (1,)):
            ticks = [m * 10.0**d for d in decades for m in mantissas]
            ticks = [t for t in ticks if lo <= t <= hi]
            if len(ticks) <= 8:
                break
        return ticks or [lo, hi]
    raw = (hi - lo) / 6
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if m * step >= raw)
    first = math.ceil(lo / step) * step
    count = int((hi - first) / step + 1e-9) + 1
    return [round(first + i * step, 12) for i in range(count)]


def stacked_chart(parts: list[tuple[str, float]]) -> str:
    """One bar split into shares, with a legend."""
    total = sum(v for _, v in parts) or 1.0
    height = 34 + 20 * math.ceil(len(parts) / 4)
    out = [_svg_open(SVG_WIDTH, height, "composition")]
    x = 0.0
    for i, (name, value) in enumerate(parts):
        w = value / total * SVG_WIDTH
        out.append(
            f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="24" class="seg s{i % 8}">'
            f"<title>{esc(f'{name}: {value:,.0f} ({100 * value / total:.1f}%)')}</title></rect>"
        )
        x += w
    for i, (name, value) in enumerate(parts):
        lx, ly = (i % 4) * (SVG_WIDTH / 4), 36 + (i // 4) * 20
        out.append(
            f'<rect x="{lx:.1f}" y="{ly}" width="12" height="12" class="seg s{i % 8}"/>'
            f'<text x="{lx + 18:.1f}" y="{ly + 10}" class="lbl">'
            f"{esc(_short(f'{name} {100 * value / total:.1f}%', 30))}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _svg_open(width: int, height: int, label: str) -> str:
    return (
        f'<svg viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{esc(label)}">'
    )


# ------------------------------------------------------------------------------ the run


@dataclass
class StageInfo:
    name: str  # directory name
    path: Path
    kind: str  # the stage recorded in _config.json / stats.json (else the directory name)
    config: dict[str, Any] | None
    stats: dict[str, Any] | None
    state: str  # done | failed | incomplete
    problems: list[str] = field(default_factory=list)
    reads: set[str] = field(default_factory=set)  # stage directories its inputs came from
    leftover: bool = False  # no later stage reads it: from an earlier run

    @property
    def started(self) -> float:
        config = self.path / CONFIG_FILE
        return config.stat().st_mtime if config.exists() else math.inf


def _read_json(path: Path) -> tuple[Any, str | None]:
    """(content, None), or (None, why) for a missing or unreadable file."""
    if not path.exists():
        return None, f"{path.name} not found"
    try:
        return json.loads(path.read_text(encoding="utf-8", errors="replace")), None
    except (OSError, ValueError) as err:
        return None, f"{path.name} is unreadable ({type(err).__name__}: {err})"


def _order_key(info: StageInfo) -> tuple[int, float, str]:
    known = KNOWN_ORDER.index(info.kind) if info.kind in KNOWN_ORDER else len(KNOWN_ORDER)
    return known, info.started, info.name


def discover_stages(work: Path) -> list[StageInfo]:
    """Stage directories of `work` (they hold `_config.json` or `stats.json`), in pipeline
    order, with their state and the stage directories they read."""
    found: list[StageInfo] = []
    for path in sorted(p for p in work.iterdir() if p.is_dir()):
        if not ((path / CONFIG_FILE).exists() or (path / STATS_FILE).exists()):
            continue
        problems = []
        config, why = _read_json(path / CONFIG_FILE)
        if why and (path / CONFIG_FILE).exists():
            problems.append(why)
        stats, why = _read_json(path / STATS_FILE)
        if not isinstance(stats, dict):
            stats = None
            if (path / SUCCESS_FILE).exists():
                problems.append(why or "stats.json is not an object")
        config = config if isinstance(config, dict) else None
        kind = str((config or {}).get("stage") or (stats or {}).get("stage") or path.name)
        if (path / SUCCESS_FILE).exists():
            state = "done" if stats is not None else "unreadable"
        else:
            state = "failed" if (path / FAILED_FILE).exists() else "incomplete"
        found.append(StageInfo(path.name, path, kind, config, stats, state, problems))
    found.sort(key=_order_key)
    names = {info.name for info in found}
    for info in found:
        inputs = (info.config or {}).get("inputs") or []
        if info.kind not in SOURCE_STAGES:
            info.reads = {
                Path(str(item[0])).parent.name
                for item in inputs
                if isinstance(item, list) and item and Path(str(item[0])).parent.name in names
            }
        info.problems += _changed_inputs(inputs)
    read = set().union(*(info.reads for info in found)) if found else set()
    for i, info in enumerate(found):
        later = found[i + 1 :]
        info.leftover = bool(later) and info.name not in read and bool(info.stats)
    return found


def _changed_inputs(inputs: list[Any]) -> list[str]:
    """Recorded input files (path, size, mtime) that changed or vanished since the stage ran."""
    changed = missing = 0
    for item in inputs:
        if not (isinstance(item, list) and len(item) == 3):
            continue
        path = Path(str(item[0]))
        try:
            stat = path.stat()
        except OSError:
            missing += 1
            continue
        if [stat.st_size, stat.st_mtime_ns] != item[1:]:
            changed += 1
    notes = []
    if changed:
        notes.append(f"{changed:,} of its input files changed since it ran (rerun to update it)")
    if missing and missing == len(inputs):
        notes.append("its recorded input files are not there (a moved work directory?)")
    elif missing:
        notes.append(f"{missing:,} of its input files no longer exist")
    return notes


@dataclass
class Run:
    work: Path
    stages: list[StageInfo]
    manifest: dict[str, Any] | None
    manifest_note: str | None
    doc_stage: StageInfo | None  # whose shards hold the final kept documents

    def stage(self, kind: str) -> StageInfo | None:
        matches = [s for s in self.stages if s.kind == kind and not s.leftover]
        return matches[-1] if matches else None

    @property
    def chain(self) -> list[StageInfo]:
        """Finished document stages of this run, in order."""
        return [s for s in self.stages if s.stats is not None and not s.leftover]


def load_run(work: Path) -> Run:
    stages = discover_stages(work)
    export = next((s for s in reversed(stages) if s.kind == "export"), None)
    manifest, note = (None, "no export stage")
    if export is not None:
        manifest, note = _read_json(export.path / MANIFEST_FILE)
        if manifest is not None and not isinstance(manifest, dict):
            manifest, note = None, "manifest.json is not an object"
    with_shards = [s for s in stages if not s.leftover and list_shards(s.path)]
    doc_stage = with_shards[-1] if with_shards else None
    if export is not None and export.reads:
        read = [s for s in with_shards if s.name in export.reads]
        doc_stage = read[-1] if read else doc_stage
    return Run(work, stages, manifest, note, doc_stage)


# ------------------------------------------------------------------- shard distributions


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
        docs["(no lang column)"] += batch.num_rows
        if lengths is not None:
            nbytes["(no lang column)"] += int(pc.sum(lengths).as_py() or 0)
        return docs, nbytes
    lang = pc.fill_null(pc.cast(batch.column("lang"), pa.string()), "(none)")
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


def _pick_shards(shards: list[Path], limit: int) -> list[Path]:
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
    shards = list_shards(stage.path)
    picked = _pick_shards(shards, max_shards)
    dist = Distributions(stage.name, len(picked), len(shards))
    for path in picked:
        for batch in read_shard(path):
            names = batch.schema.names
            dist.rows += batch.num_rows
            lengths = pc.binary_length(batch.column("text")) if "text" in names else None
            docs, nbytes = _lang_counts(batch, lengths)
            dist.langs.update(docs)
            dist.lang_bytes.update(nbytes)
            if lengths is not None:
                values = np.asarray(lengths.to_numpy(zero_copy_only=False), dtype=np.float64)
                dist.lengths.add(values)
                bins = np.floor(LENGTH_BINS_PER_OCTAVE * np.log2(np.maximum(values, 1)))
                bins = bins.astype(int)
                found, counts = np.unique(bins, return_counts=True)
                dist.length_bins.update(dict(zip(found.tolist(), counts.tolist(), strict=True)))
            for name in SCORE_COLUMNS:
                if name in names:
                    seed = len(dist.scores) + 1
                    reservoir = dist.scores.setdefault(name, Reservoir(SAMPLE_VALUES, seed))
                    reservoir.add(_column_floats(batch, name))
            for name in CATEGORY_COLUMNS:
                if name in names:
                    values = pc.fill_null(pc.cast(batch.column(name), pa.string()), "(none)")
                    dist.categories.setdefault(name, Counter()).update(_value_counts(values))
    _subtract_export_rejections(run, dist)
    return dist


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
    for path in list_shards(export.path / "rejected"):
        for batch in read_shard(path):
            names = batch.schema.names
            lengths = pc.binary_length(batch.column("text")) if "text" in names else None
            docs, nbytes = _lang_counts(batch, lengths)
            dist.langs.subtract(docs)
            dist.lang_bytes.subtract(nbytes)
    dist.langs = +dist.langs
    dist.lang_bytes = +dist.lang_bytes
    dist.exported_only = True


# ------------------------------------------------------------------------------ sections


def _note(text: str, kind: str = "note") -> str:
    return f'<p class="{kind}">{esc(text)}</p>'


def _table(
    headers: list[str], rows: Iterable[list[str]], numeric: Iterable[int] | None = None
) -> str:
    """A table of pre-escaped cells; `numeric` columns (default: all but the first) are
    right-aligned."""
    numbers = set(range(1, len(headers)) if numeric is None else numeric)
    head = "".join(
        ("<th class=num>" if i in numbers else "<th>") + f"{esc(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            ("<td class=num>" if i in numbers else "<td>") + f"{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _facts(items: list[tuple[str, str]]) -> str:
    """A two-column table of names and pre-escaped values."""
    rows = "".join(f"<tr><th>{esc(k)}</th><td class=num>{v}</td></tr>" for k, v in items)
    return f'<table class="facts"><tbody>{rows}</tbody></table>'


def _stat(stats: dict[str, Any], key: str) -> float | None:
    return _number(stats.get(key))


def section_overview(run: Run) -> str:
    rows = []
    for s in run.stages:
        notes = list(s.problems)
        if s.leftover:
            notes.insert(0, "no later stage read it: left over from an earlier run, not counted")
        if s.state != "done":
            notes.insert(0, f"state: {s.state}")
        stats = s.stats or {}
        wall = _stat(stats, "wall_seconds")
        reads = ", ".join(sorted(s.reads)) or ("raw input" if s.kind in SOURCE_STAGES else "–")
        rows.append(
            [
                esc(s.name)
                + ("" if s.kind == s.name else f" <span class=dim>({esc(s.kind)})</span>"),
                f'<span class="state {esc(s.state)}">{esc(s.state)}</span>',
                esc(reads),
                "–" if wall is None else f"{wall:,.1f} s",
                "<br>".join(esc(n) for n in notes),
            ]
        )
    tokenizer = _find_tokenizer_report(run)
    if tokenizer is not None:
        path = tokenizer[0]
        name = path.parent.name if path.parent.parent == run.work else "tokenizer"
        kind = "" if name == "train-tokenizer" else " <span class=dim>(train-tokenizer)</span>"
        export = [i for i, s in enumerate(run.stages) if s.kind == "export"]
        rows.insert(
            export[0] if export else len(rows),
            [
                esc(name) + kind,
                '<span class="state done">done</span>',
                "documents so far",
                "–",
                esc(f"report {_display_path(path, run.work)}"),
            ],
        )
    if not rows:
        return _note("No stage directories in this work directory yet.")
    return _table(["stage", "state", "reads", "wall time", "notes"], rows, numeric=[3])


def section_funnel(run: Run) -> str:
    chain = run.chain
    if not chain:
        return _note("No finished stage (stats.json) in this work directory: nothing to count.")
    checks: list[str] = []
    tokens = _number((run.manifest or {}).get("tokens"))
    doc_bars = []
    byte_bars = []
    rows = []
    first = chain[0].stats or {}
    first_in = _stat(first, "docs_in")
    if first_in is not None:
        doc_bars.append(Bar(f"{chain[0].name} input", first_in, fmt_int(first_in), kind="muted"))
    previous: StageInfo | None = None
    for s in chain:
        st = s.stats or {}
        docs_in, kept = _stat(st, "docs_in"), _stat(st, "docs_kept")
        rejected, text = _stat(st, "docs_rejected"), _stat(st, "kept_text_bytes")
        if None not in (docs_in, kept, rejected) and docs_in != kept + rejected:
            checks.append(
                f"{s.name}: docs_in {docs_in:,.0f} != docs_kept {kept:,.0f} + docs_rejected "
                f"{rejected:,.0f}"
            )
        reasons = st.get("rejected_by_reason")
        if isinstance(reasons, dict) and rejected is not None:
            summed = sum(v for v in reasons.values() if _number(v) is not None)
            if summed != rejected:
                checks.append(
                    f"{s.name}: rejected_by_reason sums to {summed:,.0f}, docs_rejected is "
                    f"{rejected:,.0f}"
                )
        prev = (previous.stats or {}) if previous else {}
        prev_kept = _stat(prev, "docs_kept")
        prev_name = previous.name if previous else ""
        chained = bool(prev_name) and prev_name in s.reads
        if chained and None not in (prev_kept, docs_in) and prev_kept != docs_in:
            checks.append(f"{s.name}: docs_in {docs_in:,.0f} but {prev_name} kept {prev_kept:,.0f}")
        stage_tokens = tokens if s.kind == "export" else None
        kept_share = fmt_pct(kept, first_in) if kept is not None and first_in else "–"
        if kept is not None:
            doc_bars.append(
                Bar(
                    s.name,
                    kept,
                    f"{fmt_int(kept)} ({kept_share})",
                    kind="warn" if s.state != "done" else "",
                )
            )
        if text is not None:
            label = fmt_bytes(text) + (f" → {fmt_int(stage_tokens)} tokens" if stage_tokens else "")
            byte_bars.append(Bar(s.name, text, label, kind="alt"))
        rows.append(
            [
                esc(s.name),
                fmt_int(docs_in) if docs_in is not None else "–",
                fmt_int(kept) if kept is not None else "–",
                fmt_int(rejected) if rejected is not None else "–",
                fmt_pct(kept, docs_in) if kept is not None and docs_in else "–",
                kept_share,
                fmt_bytes(text) if text is not None else "–",
                fmt_int(stage_tokens) if stage_tokens is not None else "–",
            ]
        )
        previous = s
    tokenizer = _find_tokenizer_report(run)
    out = [
        "<h3>Documents kept</h3>",
        bar_chart(doc_bars),
        "<h3>Text kept</h3>",
        _note("UTF-8 bytes of kept text per stage" + _tokens_note(run, tokens)),
        bar_chart(byte_bars),
        _table(
            [
                "stage",
                "in",
                "kept",
                "rejected",
                "kept of in",
                "kept of first input",
                "text kept",
                "tokens",
            ],
            rows,
        ),
    ]
    if tokenizer is not None:
        out.append(
            _note(
                "train-tokenizer trains on the documents kept so far and passes them on "
                "unchanged, so it has no row here (see Tokenizer)."
            )
        )
    if checks:
        out.append('<div class="warnbox"><b>Counts that do not add up</b><ul>')
        out += [f"<li>{esc(c)}</li>" for c in checks]
        out.append("</ul></div>")
    return "".join(out)


def _tokens_note(run: Run, tokens: float | None) -> str:
    if tokens is not None:
        return "; the export's bar also shows the tokens it wrote."
    if run.stage("export") is not None:
        return f"; no token count: the export's manifest is missing ({run.manifest_note})."
    return "; tokens exist only after the export stage, which this run has not reached."


def section_rejections(run: Run) -> str:
    out = []
    for s in run.chain:
        st = s.stats or {}
        reasons = st.get("rejected_by_reason")
        docs_in = _stat(st, "docs_in") or 0
        rejected = _stat(st, "docs_rejected")
        out.append(f"<h3>{esc(s.name)}</h3>")
        if not isinstance(reasons, dict):
            out.append(_note("stats.json has no rejected_by_reason."))
        elif not reasons:
            out.append(_note(f"Nothing rejected (of {fmt_int(docs_in)} documents)."))
        else:
            items = sorted(
                ((str(r), _number(n) or 0.0) for r, n in reasons.items()),
                key=lambda item: (-item[1], item[0]),
            )
            shown, rest = items[:MAX_REASONS], items[MAX_REASONS:]
            bars = [
                Bar(r, n, f"{n:,.0f} ({fmt_pct(n, docs_in)} of in)", kind="rej") for r, n in shown
            ]
            if rest:
                total = sum(n for _, n in rest)
                bars.append(Bar(f"{len(rest)} more reasons", total, f"{total:,.0f}", kind="muted"))
            summary = (
                f"{fmt_int(rejected)} of {fmt_int(docs_in)} rejected "
                f"({fmt_pct(rejected or 0, docs_in)}), {len(items)} reasons"
            )
            out.append(f"<p>{esc(summary)}</p>" + bar_chart(bars, label_width=300, text_width=150))
        out.append(_details_counters(s))
    if not out:
        return _note("No finished stage: no rejections to show.")
    return "".join(out)


def _details_counters(s: StageInfo) -> str:
    st = s.stats or {}
    parts = []
    counters = st.get("counters")
    if isinstance(counters, dict) and counters:
        rows = [
            [esc(k), fmt_num(v)] for k, v in sorted(counters.items(), key=lambda kv: str(kv[0]))
        ]
        parts.append(_table(["counter", "value"], rows))
    per_input = st.get("per_input")
    if s.kind in SOURCE_STAGES and isinstance(per_input, list) and per_input:
        entries = [p for p in per_input if isinstance(p, dict)]
        entries.sort(key=lambda p: -(_number(p.get("docs_rejected")) or 0))
        rows = [
            [
                esc(Path(str(p.get("input", ""))).name),
                fmt_int(p.get("docs_in")),
                fmt_int(p.get("docs_kept")),
                fmt_int(p.get("docs_rejected")),
            ]
            for p in entries[:MAX_PER_INPUT]
        ]
        more = (
            f" (the {MAX_PER_INPUT} with most rejections)" if len(entries) > MAX_PER_INPUT else ""
        )
        parts.append(f"<p>Per input file{esc(more)}:</p>")
        parts.append(_table(["input file", "in", "kept", "rejected"], rows))
    if not parts:
        return ""
    return f"<details><summary>{esc(s.name)} counters</summary>{''.join(parts)}</details>"


def _dist_source_note(dist: Distributions) -> str:
    read = (
        f"all {dist.shards_total:,} shards"
        if dist.shards_read == dist.shards_total
        else f"{dist.shards_read:,} of {dist.shards_total:,} shards (evenly spaced)"
    )
    return f"From {read} of {dist.stage}/ ({dist.rows:,} documents)."


def section_languages(run: Run, dist: Distributions | None) -> str:
    if dist is None:
        return _note("No stage with document shards (part-*.arrow): no languages to count.")
    total = sum(dist.langs.values())
    total_bytes = sum(dist.lang_bytes.values())
    items = dist.langs.most_common()
    bars = [
        Bar(
            lang,
            n,
            f"{n:,} ({fmt_pct(n, total)})",
            title=f"{lang}: {n:,} documents, {fmt_bytes(dist.lang_bytes.get(lang, 0))} of text",
        )
        for lang, n in items[:MAX_REASONS]
    ]
    rows = [
        [
            esc(lang),
            fmt_int(n),
            fmt_pct(n, total),
            fmt_bytes(dist.lang_bytes.get(lang, 0)),
            fmt_pct(dist.lang_bytes.get(lang, 0), total_bytes),
        ]
        for lang, n in items
    ]
    note = _dist_source_note(dist)
    if dist.exported_only:
        note += " Documents the export rejected are subtracted: these are the exported documents."
    return (
        _note(note)
        + bar_chart(bars)
        + _table(["lang", "documents", "share", "text", "text share"], rows)
    )


def _histogram(values: np.ndarray, log_x: bool) -> tuple[list[float], list[int]]:
    if log_x:
        values = values[values > 0]
        if not len(values):
            return [], []
        lo, hi = np.log10(values.min()), np.log10(values.max())
        if hi - lo < 1e-9:
            hi = lo + 1e-3
        counts, edges = np.histogram(np.log10(values), bins=HISTOGRAM_BINS, range=(lo, hi))
        return [float(10**e) for e in edges], [int(c) for c in counts]
    lo, hi = float(values.min()), float(values.max())
    if hi - lo < 1e-12:
        hi = lo + 1e-6
    counts, edges = np.histogram(values, bins=HISTOGRAM_BINS, range=(lo, hi))
    return [float(e) for e in edges], [int(c) for c in counts]


def _percentiles(values: np.ndarray, fmt: Callable[[float], str]) -> str:
    if not len(values):
        return ""
    qs = np.percentile(values, [10, 50, 90])
    return (
        f"p10 {fmt(qs[0])} · median {fmt(qs[1])} · p90 {fmt(qs[2])} · "
        f"min {fmt(values.min())} · max {fmt(values.max())}"
    )


def _score_text(value: float) -> str:
    return f"{value:,.4g}"


def _size_label(value: float) -> str:
    return fmt_bytes(round(value))


def section_distributions(run: Run, dist: Distributions | None) -> str:
    if dist is None:
        return _note("No stage with document shards (part-*.arrow): no distributions.")
    out = [_note(_dist_source_note(dist))]
    out.append("<h3>Document length (UTF-8 bytes of text)</h3>")
    if dist.length_bins:
        lo, hi = min(dist.length_bins), max(dist.length_bins)
        edges = [2 ** (k / LENGTH_BINS_PER_OCTAVE) for k in range(lo, hi + 2)]
        counts = [int(dist.length_bins.get(k, 0)) for k in range(lo, hi + 1)]
        out.append(histogram_chart(edges, counts, "document length", _size_label, log_x=True))
        out.append(f"<p>{esc(_percentiles(dist.lengths.values, _size_label))}</p>")
    else:
        out.append(_note("The shards have no text column."))
    out.append("<h3>Scores</h3>")
    if not dist.scores:
        out.append(
            _note(
                "No score columns (" + ", ".join(SCORE_COLUMNS) + ") in these shards: the score "
                "stage did not run before this stage."
            )
        )
    for name, reservoir in dist.scores.items():
        log_x = SCORE_COLUMNS[name]
        out.append(f"<h4>{esc(name)}</h4>")
        values = reservoir.values
        if not len(values):
            out.append(_note(f"No values ({reservoir.missing:,} missing)."))
            continue
        if values.min() == values.max():
            out.append(_note(f"All {reservoir.seen:,} values are {_score_text(values[0])}."))
            continue
        edges, counts = _histogram(values, log_x)
        sampled = (
            f"a random sample of {len(values):,} of {reservoir.seen:,} values"
            if reservoir.seen > len(values)
            else f"{reservoir.seen:,} values"
        )
        missing = f", {reservoir.missing:,} missing" if reservoir.missing else ""
        out.append(histogram_chart(edges, counts, name, _score_text, log_x=log_x))
        out.append(f"<p>{esc(sampled + missing)}; {esc(_percentiles(values, fmt_num))}</p>")
    for name, counter in dist.categories.items():
        total = sum(counter.values())
        out.append(f"<h4>{esc(name)}</h4>")
        out.append(
            bar_chart([Bar(k, n, f"{n:,} ({fmt_pct(n, total)})") for k, n in counter.most_common()])
        )
    return "".join(out)


def section_duplicates(run: Run) -> str:
    out = []
    minhash = run.stage("minhash")
    if minhash is None or minhash.stats is None:
        out.append(_note("No finished minhash stage: near-duplicate clusters not shown."))
    else:
        steps = minhash.stats.get("steps") if isinstance(minhash.stats.get("steps"), dict) else {}
        sizes = steps.get("cluster_sizes")
        if not isinstance(sizes, dict) or not sizes:
            out.append(_note("No duplicate clusters (steps.cluster_sizes is empty)."))
        else:
            items = sorted(
                ((int(k), _number(v) or 0.0) for k, v in sizes.items() if str(k).isdigit()),
            )
            bars = [
                Bar(
                    f"{size:,} copies",
                    n,
                    f"{n:,.0f} clusters ({n * size:,.0f} docs)",
                    title=f"{n:,.0f} clusters of {size:,} documents: {n * (size - 1):,.0f} removed",
                )
                for size, n in items
            ]
            out.append("<h3>Near-duplicate clusters by size (minhash)</h3>")
            out.append(bar_chart(bars))
            in_clusters = sum(size * n for size, n in items)
            removable = sum((size - 1) * n for size, n in items)
            rejected = _number(
                (minhash.stats.get("rejected_by_reason") or {}).get("minhash_duplicate")
            )
            if rejected is not None and removable != rejected:
                out.append(
                    _note(
                        f"cluster_sizes implies {removable:,.0f} removed copies, stats.json "
                        f"records {rejected:,.0f} minhash_duplicate rejections",
                        "warn",
                    )
                )
            facts = [
                ("clusters", steps.get("clusters")),
                ("documents in clusters", steps.get("documents_in_clusters", in_clusters)),
                ("documents removed", minhash.stats.get("docs_rejected")),
                ("documents compared", steps.get("documents")),
                ("candidate pairs verified", steps.get("pairs_verified")),
                ("pairs failing verification", steps.get("pairs_failing_verification")),
                ("LSH bands × rows", f"{steps.get('bands')} × {steps.get('rows')}"),
                ("S-curve threshold", steps.get("s_curve_threshold")),
            ]
            out.append(_facts([(k, fmt_num(v)) for k, v in facts]))
    substring = run.stage("substring")
    if substring is not None and substring.stats is not None:
        counters = substring.stats.get("counters") or {}
        steps = substring.stats.get("steps") or {}
        out.append("<h3>Repeated substrings (substring)</h3>")
        facts = [
            ("documents cut", counters.get("documents_cut")),
            ("text removed", fmt_bytes(counters.get("bytes_removed", 0))),
            ("tokens removed", counters.get("tokens_removed")),
            ("documents rejected (too short after cutting)", substring.stats.get("docs_rejected")),
            ("windows", steps.get("windows")),
            ("repeated window occurrences", steps.get("repeated_window_occurrences")),
        ]
        out.append(_facts([(k, v if k == "text removed" else fmt_num(v)) for k, v in facts]))
    return "".join(out)


def section_topics(run: Run) -> str:
    topics = run.stage("topics")
    if topics is None:
        return _note("No topics stage in this work directory.")
    table, why = _read_json(topics.path / TOPIC_TABLE)
    if not isinstance(table, dict) or not isinstance(table.get("topics"), list):
        return _note(
            f"The topics stage has no topic table ({TOPIC_TABLE}: {why or 'no topics list'})."
        )
    counters = (topics.stats or {}).get("counters") or {}
    steps = (topics.stats or {}).get("steps") or {}
    rows = []
    for t in table["topics"]:
        if not isinstance(t, dict):
            continue
        tid = t.get("topic")
        try:
            key = f"topic_{int(tid):03d}"
        except (TypeError, ValueError):
            key = ""
        kept = counters.get(f"{key}_kept", 0)
        down = counters.get(f"{key}_downsampled", 0)
        weight = _number(t.get("weight"))
        words = t.get("top_words") if isinstance(t.get("top_words"), list) else []
        cls = ' class="low"' if weight is not None and weight < 1 else ""
        weight_text = _score_text(weight) if weight is not None else t.get("weight")
        rows.append(
            [
                f"<span{cls}>{fmt_int(tid)}</span>",
                esc(", ".join(str(w) for w in words[:10])),
                f"<b{cls}>{esc(weight_text)}</b>",
                esc(t.get("weight_reason", "")),
                fmt_num(t.get("density")),
                fmt_int(t.get("sample_documents")),
                fmt_int(kept),
                fmt_int(down),
            ]
        )
    facts = [
        f"{len(rows)} topics",
        f"vocabulary {fmt_int(steps.get('vocabulary'))} words" if "vocabulary" in steps else "",
        f"trained on {fmt_int(steps.get('sampled'))} sampled documents"
        if "sampled" in steps
        else "",
        f"density threshold {fmt_num(table.get('density_threshold'))}",
        f"features: {esc(', '.join(map(str, table.get('features') or [])))}",
        f"{fmt_int(counters['documents_without_topic'])} documents without a topic (kept)"
        if "documents_without_topic" in counters
        else "",
    ]
    head = "<p>" + " · ".join(f for f in facts if f) + "</p>"
    headers = ["topic", "top words", "weight", "why", "density", "sample docs", "kept"]
    return head + _table([*headers, "downsampled"], rows, numeric=[0, 2, 4, 5, 6, 7])


def _display_path(path: Path, work: Path) -> str:
    try:
        return str(path.relative_to(work))
    except ValueError:
        return str(path)


def _find_tokenizer_report(run: Run) -> tuple[Path, dict[str, Any]] | None:
    """The tokenizer report (PREFIX.json next to PREFIX.model): the export's tokenizer's
    first, else one in a directory of the work dir (train-tokenizer/tokenizer.json)."""
    candidates: list[Path] = []
    model = ((run.manifest or {}).get("tokenizer") or {}).get("path")
    if isinstance(model, str) and model.endswith(".model"):
        path = Path(model[: -len(".model")] + ".json")
        candidates += [path] if path.is_absolute() else [run.work.parent / path, Path.cwd() / path]
    for entry in TRAINING_STEPS:
        candidates.append(run.work / entry / f"{PIPELINE_PREFIX}.json")
    stage_dirs = {s.path for s in run.stages}
    for directory in sorted(p for p in run.work.iterdir() if p.is_dir() and p not in stage_dirs):
        candidates += sorted(directory.glob("*.json"))
    for path in candidates:
        if not path.is_file() or path.stat().st_size > 64 * 2**20:
            continue
        report, _ = _read_json(path)
        if isinstance(report, dict) and "composition" in report and "vocab_size" in report:
            return path, report
    return None


def section_tokenizer(run: Run) -> str:
    found = _find_tokenizer_report(run)
    if found is None:
        return _note(
            "No tokenizer report (train-tokenizer/tokenizer.json): the run has no "
            "train-tokenizer entry yet."
        )
    path, report = found
    out = []
    where = _display_path(path, run.work)
    config = report.get("config") if isinstance(report.get("config"), dict) else {}
    facts = [
        ("report", str(where)),
        (
            "vocabulary",
            f"{fmt_int(report.get('vocab_size'))} pieces "
            f"(requested {fmt_int(report.get('requested_vocab_size'))})",
        ),
        ("token id type", report.get("dtype")),
        ("trained on", fmt_bytes((_number(report.get("training_mb")) or 0) * 2**20)),
        ("training time", f"{report.get('train_seconds')} s"),
        ("character coverage", config.get("character_coverage")),
    ]
    out.append(_facts([(k, esc(v)) for k, v in facts]))
    composition = report.get("composition") or {}
    pieces = composition.get("pieces") if isinstance(composition, dict) else None
    if isinstance(pieces, dict) and pieces:
        out.append("<h3>Vocabulary composition</h3>")
        items = sorted(
            ((str(k), _number(v) or 0.0) for k, v in pieces.items()), key=lambda kv: -kv[1]
        )
        out.append(stacked_chart(items))
        total = sum(v for _, v in items)
        out.append(
            _table(
                ["kind", "pieces", "share"],
                [[esc(k), fmt_int(v), fmt_pct(v, total)] for k, v in items],
            )
        )
    out.append("<h3>Compression on held-out documents</h3>")
    compression = report.get("compression")
    if isinstance(compression, dict) and compression:
        rows = []
        bars = []
        for lang, c in sorted(compression.items()):
            c = c if isinstance(c, dict) else {}
            rows.append(
                [
                    esc(lang),
                    fmt_int(c.get("documents")),
                    fmt_num(c.get("bytes_per_token")),
                    fmt_num(c.get("chars_per_token")),
                ]
            )
            bpt = _number(c.get("bytes_per_token"))
            if bpt is not None:
                bars.append(Bar(lang, bpt, f"{bpt:.2f} bytes/token"))
        out.append(bar_chart(bars))
        out.append(_table(["lang", "documents", "bytes/token", "chars/token"], rows))
    else:
        heldout = (report.get("sample") or {}).get("heldout_bytes")
        out.append(
            _note(
                f"Not measured: the held-out sample is empty (heldout_bytes {heldout})."
                if heldout == 0
                else "Not measured: the report has no compression figures.",
                "warn",
            )
        )
    sample = report.get("sample") if isinstance(report.get("sample"), dict) else {}
    source_bytes = sample.get("source_bytes") or {}
    if isinstance(source_bytes, dict) and source_bytes:
        out.append("<h3>Training sample per source</h3>")
        sampled = sample.get("sampled_bytes") or {}
        rates = sample.get("sample_rates") or {}
        out.append(
            _table(
                ["source", "text", "sampled", "rate"],
                [
                    [esc(k), fmt_bytes(v), fmt_bytes(sampled.get(k, 0)), fmt_num(rates.get(k))]
                    for k, v in sorted(source_bytes.items())
                ],
            )
        )
    ids = report.get("token_ids")
    if isinstance(ids, dict) and ids:
        out.append(
            "<p>Special and control tokens: "
            + ", ".join(f"<code>{esc(k)}</code> {fmt_int(v)}" for k, v in ids.items())
            + "</p>"
        )
    warnings = sample.get("warnings") or []
    if warnings:
        out.append('<div class="warnbox"><b>Warnings</b><ul>')
        out += [f"<li>{esc(w)}</li>" for w in warnings]
        out.append("</ul></div>")
    manifest_sha = ((run.manifest or {}).get("tokenizer") or {}).get("sha256")
    model = report.get("model")
    if isinstance(manifest_sha, str) and isinstance(model, str) and Path(model).is_file():
        digest = hashlib.sha256(Path(model).read_bytes()).hexdigest()
        if digest != manifest_sha:
            out.append(
                _note(
                    "This tokenizer's model is not the one the export used (sha256 differs "
                    "from manifest.json): the export predates a retraining.",
                    "warn",
                )
            )
    return "".join(out)


def section_mixture(run: Run) -> str:
    if run.stage("export") is None:
        return _note("No export stage in this work directory: no mixture yet.")
    manifest = run.manifest
    if manifest is None:
        return _note(f"The export has no readable manifest ({run.manifest_note}).")
    sources = [s for s in manifest.get("sources") or [] if isinstance(s, dict)]
    total = _number(manifest.get("tokens")) or sum(_number(s.get("tokens")) or 0 for s in sources)
    max_epochs = _number(manifest.get("max_epochs"))
    bars, rows = [], []
    for s in sources:
        tokens, target = _number(s.get("tokens")) or 0.0, _number(s.get("target_tokens"))
        epochs = _number(s.get("epochs"))
        over = epochs is not None and max_epochs is not None and epochs > max_epochs
        empty = tokens == 0
        bars.append(
            Bar(
                str(s.get("name")),
                tokens,
                f"{tokens:,.0f} / {fmt_num(target)} target",
                title=f"{s.get('name')}: {tokens:,.0f} tokens, target {fmt_num(target)}",
                kind="rej" if over or empty else "",
                target=target,
            )
        )
        flag = ' class="low"' if over or empty else ""
        shards = s.get("shards")
        rows.append(
            [
                esc(s.get("name")),
                fmt_num(s.get("ratio")),
                fmt_pct(tokens, total) if total else "–",
                fmt_int(target) if target is not None else "–",
                fmt_int(tokens),
                f"<span{flag}>{fmt_num(epochs)}</span>",
                fmt_int(s.get("documents")),
                fmt_int(len(shards)) if isinstance(shards, list) else "–",
            ]
        )
    tok = manifest.get("tokenizer") if isinstance(manifest.get("tokenizer"), dict) else {}
    facts = (
        f"token budget {fmt_int(manifest.get('token_budget'))} · exported "
        f"{fmt_int(manifest.get('tokens'))} tokens in {fmt_int(manifest.get('documents'))} "
        f"documents · max epochs {fmt_num(max_epochs)} · tokenizer vocabulary "
        f"{fmt_int(tok.get('vocab_size'))} ({esc(tok.get('dtype', '?'))})"
    )
    out = [f"<p>{facts}</p>"]
    out.append(
        _note("Bars: tokens exported per source; dashed outline: its target (ratio × budget).")
    )
    out.append(bar_chart(bars))
    out.append(
        _table(
            [
                "source",
                "ratio",
                "share of exported",
                "target tokens",
                "tokens",
                "epochs",
                "documents",
                "shards",
            ],
            rows,
        )
    )
    warnings = manifest.get("warnings") or []
    if warnings:
        out.append('<div class="warnbox"><b>Warnings</b><ul>')
        out += [f"<li>{esc(w)}</li>" for w in warnings]
        out.append("</ul></div>")
    else:
        out.append(_note("No warnings: every source meets its target within max_epochs."))
    return "".join(out)


# ---------------------------------------------------------------------------------- page

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;
background:#f6f7f9}
main{max-width:1000px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:16px 0 4px}
h2{font-size:18px;margin:32px 0 8px;border-bottom:1px solid #ccd;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}h4{font-size:14px;margin:12px 0 4px}
section{background:#fff;border:1px solid #e1e4ea;border-radius:6px;padding:4px 16px 14px;
margin:14px 0}
nav a{margin-right:12px}table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{padding:3px 8px;border-bottom:1px solid #e6e8ee;text-align:left;vertical-align:top}
th{background:#f0f2f5}.facts th{background:none;font-weight:normal;color:#5a6275}
.num{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#5a6275;font-style:italic}.warn{color:#9a4a00}.dim{color:#7a8295}
.warnbox{background:#fff6e5;border:1px solid #f0c36d;padding:6px 12px;border-radius:4px;
margin:8px 0}
.low{color:#b3261e}.state.done{color:#1e7b34}.state.failed{color:#b3261e}
.state.incomplete{color:#9a4a00}
.state.unreadable{color:#b3261e}
svg{display:block;max-width:100%;height:auto;margin:6px 0}
svg text{font:12px system-ui,sans-serif;fill:#1d2330}svg .tick{font-size:11px;fill:#5a6275}
.bar{fill:#4c78a8}.bar.rej{fill:#e45756}.bar.alt{fill:#54a24b}.bar.muted{fill:#9aa3b5}
.bar.warn{fill:#f58518}.target{fill:none;stroke:#1d2330;stroke-width:1.5;stroke-dasharray:4 3}
.axis{stroke:#8a92a5}.s0{fill:#4c78a8}.s1{fill:#f58518}.s2{fill:#54a24b}.s3{fill:#e45756}
.s4{fill:#72b7b2}.s5{fill:#b279a2}.s6{fill:#eeca3b}.s7{fill:#9d755d}
code{background:#f0f2f5;padding:0 3px;border-radius:3px}details{margin:8px 0}
"""

# The page's only scripts (inline, allowed by hash in the Content-Security-Policy): record
# errors and policy violations, then mark the page rendered (what the browser test reads).
HEAD_SCRIPT = """
var reportErrors = [];
function reportError(message) {
  reportErrors.push(String(message));
  if (document.body) document.body.dataset.errors = reportErrors.join(" | ");
}
window.addEventListener("error", function (e) { reportError(e.message || e); });
document.addEventListener("securitypolicyviolation", function (e) {
  reportError("blocked by the page's policy: " + e.violatedDirective + " " + e.blockedURI);
});
"""
END_SCRIPT = """
document.body.dataset.errors = reportErrors.join(" | ");
window.addEventListener("load", function () {
  var svgs = document.querySelectorAll("svg");
  svgs.forEach(function (svg, i) {
    if (svg.closest("details:not([open])")) return;
    var box = svg.getBoundingClientRect();
    if (!(box.width > 0 && box.height > 0)) reportError("chart " + i + " has no size");
  });
  document.body.dataset.svgs = String(svgs.length);
  document.body.dataset.rendered = "ok";
});
"""


def _script_hash(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    f"script-src {_script_hash(HEAD_SCRIPT)} {_script_hash(END_SCRIPT)}; "
    "base-uri 'none'; form-action 'none'"
)

SECTIONS: list[tuple[str, str]] = [
    ("stages", "Stages"),
    ("funnel", "Funnel: documents and text kept per stage"),
    ("rejections", "Rejections per stage"),
    ("languages", "Languages of the final documents"),
    ("distributions", "Lengths and scores of the final documents"),
    ("duplicates", "Duplicates"),
    ("topics", "Topics"),
    ("tokenizer", "Tokenizer"),
    ("mixture", "Final mixture: target vs actual tokens per source"),
]


def _guarded(build: Callable[[], str]) -> str:
    """A section that fails to build shows why instead of taking the report down."""
    try:
        return build()
    except Exception as err:  # a broken input file must not stop the report
        return _note(f"This section could not be built: {type(err).__name__}: {err}", "warn")


def render_report(work_dir: str | Path, max_shards: int = MAX_SHARDS) -> str:
    """The report page for `work_dir` as a string."""
    work = Path(work_dir)
    if not work.is_dir():
        raise FileNotFoundError(f"{work_dir}: no such work directory")
    run = load_run(work)
    dist_holder: list[Distributions | None] = [None]

    def scan() -> str:
        dist_holder[0] = scan_documents(run, max_shards)
        return ""

    scan_error = _guarded(scan)
    dist = dist_holder[0]
    builders: dict[str, Callable[[], str]] = {
        "stages": lambda: section_overview(run),
        "funnel": lambda: section_funnel(run),
        "rejections": lambda: section_rejections(run),
        "languages": lambda: scan_error + section_languages(run, dist),
        "distributions": lambda: scan_error + section_distributions(run, dist),
        "duplicates": lambda: section_duplicates(run),
        "topics": lambda: section_topics(run),
        "tokenizer": lambda: section_tokenizer(run),
        "mixture": lambda: section_mixture(run),
    }
    body = []
    for key, title in SECTIONS:
        body.append(f'<section id="{key}"><h2>{esc(title)}</h2>{_guarded(builders[key])}</section>')
    nav = "".join(f'<a href="#{key}">{esc(title.split(":")[0])}</a>' for key, title in SECTIONS)
    chain = run.chain
    first_in = _stat(chain[0].stats or {}, "docs_in") if chain else None
    last_kept = _stat(chain[-1].stats or {}, "docs_kept") if chain else None
    headline = (
        f"{fmt_int(first_in)} documents in → {fmt_int(last_kept)} kept after {esc(chain[-1].name)}"
        if chain and first_in is not None and last_kept is not None
        else "no finished stage yet"
    )
    if run.manifest and _number(run.manifest.get("tokens")) is not None:
        headline += f" → {fmt_int(run.manifest['tokens'])} tokens exported"
    generated = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    title = f"datapipe report: {work.resolve().name}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{esc(title)}</title><style>{STYLE}</style>"
        f"<script>{HEAD_SCRIPT}</script></head>"
        "<body><main>"
        f"<h1>{esc(title)}</h1>"
        f'<p class="dim">{esc(str(work.resolve()))} · generated {esc(generated)} by datapipe '
        f"{esc(__version__)}</p>"
        f"<p><b>{headline}</b></p>"
        f"<nav>{nav}</nav>"
        + "".join(body)
        + f"</main><script>{END_SCRIPT}</script></body></html>\n"
    )


def write_report(work_dir: str | Path, output: Path | None = None) -> Path:
    """Write the HTML report of `work_dir` to `output` (default WORK_DIR/report.html)."""
    page = render_report(work_dir)
    target = Path(output) if output is not None else Path(work_dir) / REPORT_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, page.encode("utf-8", "replace"))
    return target


def add_report_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "report",
        help="write a self-contained HTML report of a run (funnel, rejections, mixture...)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("work_dir", metavar="WORK_DIR", help="the pipeline's work_dir")
    parser.add_argument(
        "--output",
        type=Path,
        metavar="FILE",
        help="where to write it (default: WORK_DIR/report.html)",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    path = write_report(args.work_dir, args.output)
    print(f"wrote {path} ({path.stat().st_size / 1000:,.0f} kB)", file=sys.stderr)
    return 0
