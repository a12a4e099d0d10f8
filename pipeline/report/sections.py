"""One function per report section: it reads the run and returns the section's view (the
values its template in templates/sections/ lays out), or a Note when there is nothing to show.
Views hold plain text and numbers; the templates escape them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core import storage
from core.manifest import sha256_file
from pipeline.report.charts import Bar, bar_chart, histogram_chart, stacked_chart
from pipeline.report.display import (
    fmt_bytes,
    fmt_int,
    fmt_num,
    fmt_pct,
    fmt_score,
    fmt_size,
    number,
)
from pipeline.report.documents import (
    LENGTH_BINS_PER_OCTAVE,
    NULL_VALUE,
    SCORE_COLUMNS,
    Distributions,
    Reservoir,
)
from pipeline.report.run import (
    EVALUATION_FILE,
    SOURCE_STAGES,
    Run,
    StageInfo,
    display_path,
    find_tokenizer_report,
    minhash_summary,
    read_json,
    read_topic_table,
    substring_counters,
    substring_summary,
    topics_summary,
)
from stages.minhash.stage import REASON as MINHASH_DUPLICATE
from stages.topics.summary import COMMERCIAL_COUNTER, WITHOUT_TOPIC_COUNTER, topic_counter

HISTOGRAM_BINS = 30
MAX_REASONS = 40  # rejection reasons drawn per stage (the rest summed)
MAX_PER_INPUT = 50
View = dict[str, Any]


@dataclass(frozen=True)
class Note:
    text: str
    kind: str = "note"  # CSS class: note (grey italics) or warn


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    numeric: set[int] = field(default_factory=set)  # right-aligned columns

    @classmethod
    def of(
        cls, headers: list[str], rows: Iterable[list[str]], numeric: Iterable[int] | None = None
    ) -> Table:
        """A table whose numeric columns are, by default, all but the first."""
        columns = range(1, len(headers)) if numeric is None else numeric
        return cls(headers, list(rows), set(columns))


def _stat(stats: dict[str, Any] | None, key: str) -> float | None:
    return number((stats or {}).get(key))


def _or_dash(value: float | None, fmt: Callable[[Any], str]) -> str:
    return "–" if value is None else fmt(value)


# ----------------------------------------------------------------------------------- stages


def stages_view(run: Run) -> View | Note:
    rows = [_stage_row(s) for s in run.stages]
    if not rows:
        return Note("No stage directories in this work directory yet.")
    return {"rows": rows}


def _stage_row(s: StageInfo) -> View:
    notes = list(s.problems)
    if s.leftover:
        notes.insert(0, "no later stage read it: left over from an earlier run, not counted")
    if s.state != "done":
        notes.insert(0, f"state: {s.state}")
    reads = ", ".join(sorted(s.reads)) or ("raw input" if s.kind in SOURCE_STAGES else "–")
    return {
        "name": s.name,
        "kind": "" if s.kind == s.name else s.kind,
        "state": s.state,
        "reads": reads,
        "wall": _or_dash(_stat(s.stats, "wall_seconds"), lambda w: f"{w:,.1f} s"),
        "notes": notes,
    }


# ----------------------------------------------------------------------------------- funnel


def _count_checks(s: StageInfo, read: list[StageInfo]) -> list[str]:
    """Counts of stage `s` that do not reconcile, with themselves or with what it read (the
    stages in `read`: one before it, or the last of every source's chain)."""
    st = s.stats or {}
    docs_in, kept, rejected = (_stat(st, k) for k in ("docs_in", "docs_kept", "docs_rejected"))
    checks = []
    if None not in (docs_in, kept, rejected) and docs_in != kept + rejected:
        checks.append(
            f"{s.name}: docs_in {docs_in:,.0f} != docs_kept {kept:,.0f} + docs_rejected "
            f"{rejected:,.0f}"
        )
    reasons = st.get("rejected_by_reason")
    if isinstance(reasons, dict) and rejected is not None:
        summed = sum(v for v in reasons.values() if number(v) is not None)
        if summed != rejected:
            checks.append(
                f"{s.name}: rejected_by_reason sums to {summed:,.0f}, docs_rejected is "
                f"{rejected:,.0f}"
            )
    kept_before = [_stat(r.stats, "docs_kept") for r in read]
    if read and None not in kept_before and docs_in is not None:
        total = sum(k for k in kept_before if k is not None)
        if total != docs_in:
            names = ", ".join(r.name for r in read)
            checks.append(f"{s.name}: docs_in {docs_in:,.0f} but {names} kept {total:,.0f}")
    return checks


def funnel_view(run: Run) -> View | Note:
    chain = run.chain
    if not chain:
        return Note("No finished stage (stats.json) in this work directory: nothing to count.")
    tokens = number((run.manifest or {}).get("tokens"))
    first_in = run.origin_docs(chain[-1])
    doc_bars, byte_bars, rows, checks = [], [], [], []
    if first_in is not None:
        doc_bars.append(Bar("input", first_in, fmt_int(first_in), kind="muted"))
    by_name = {s.name: s for s in chain}
    for s in chain:
        checks += _count_checks(s, [by_name[name] for name in sorted(s.reads) if name in by_name])
        entered = run.origin_docs(s)  # in a source's chain: that source's input
        docs_in, kept = _stat(s.stats, "docs_in"), _stat(s.stats, "docs_kept")
        rejected, text = _stat(s.stats, "docs_rejected"), _stat(s.stats, "kept_text_bytes")
        stage_tokens = tokens if s.kind == "export" else None
        kept_share = fmt_pct(kept, entered) if kept is not None and entered else "–"
        if kept is not None:
            label = f"{fmt_int(kept)} ({kept_share})"
            doc_bars.append(Bar(s.name, kept, label, kind="warn" if s.state != "done" else ""))
        if text is not None:
            label = fmt_bytes(text) + (f" → {fmt_int(stage_tokens)} tokens" if stage_tokens else "")
            byte_bars.append(Bar(s.name, text, label, kind="alt"))
        rows.append(
            [
                s.name,
                _or_dash(docs_in, fmt_int),
                _or_dash(kept, fmt_int),
                _or_dash(rejected, fmt_int),
                fmt_pct(kept, docs_in) if kept is not None and docs_in else "–",
                kept_share,
                _or_dash(text, fmt_bytes),
                _or_dash(stage_tokens, fmt_int),
            ]
        )
    headers = ["stage", "in", "kept", "rejected", "kept of in", "kept of what entered"]
    return {
        "doc_chart": bar_chart(doc_bars),
        "text_note": Note("UTF-8 bytes of kept text per stage" + _tokens_note(run, tokens)),
        "byte_chart": bar_chart(byte_bars),
        "table": Table.of([*headers, "text kept", "tokens"], rows),
        "trainers": [s.name for s in run.trainers],
        "checks": checks,
    }


def _tokens_note(run: Run, tokens: float | None) -> str:
    if tokens is not None:
        return "; the export's bar also shows the tokens it wrote."
    if run.stage("export") is not None:
        return f"; no token count: the export's manifest is missing ({run.manifest_note})."
    return "; tokens exist only after the export stage, which this run has not reached."


# ------------------------------------------------------------------------------- rejections


def rejections_view(run: Run) -> View | Note:
    if not run.chain:
        return Note("No finished stage: no rejections to show.")
    return {"stages": [_stage_rejections(s) for s in run.chain]}


def _stage_rejections(s: StageInfo) -> View:
    st = s.stats or {}
    reasons = st.get("rejected_by_reason")
    docs_in = _stat(st, "docs_in") or 0
    rejected = _stat(st, "docs_rejected")
    view: View = {"name": s.name, "counters": _counter_details(s), "note": None}
    if not isinstance(reasons, dict):
        return view | {"note": Note("stats.json has no rejected_by_reason.")}
    if not reasons:
        return view | {"note": Note(f"Nothing rejected (of {fmt_int(docs_in)} documents).")}
    items = sorted(
        ((str(r), number(n) or 0.0) for r, n in reasons.items()),
        key=lambda item: (-item[1], item[0]),
    )
    shown, rest = items[:MAX_REASONS], items[MAX_REASONS:]
    bars = [Bar(r, n, f"{n:,.0f} ({fmt_pct(n, docs_in)} of in)", kind="rej") for r, n in shown]
    if rest:
        total = sum(n for _, n in rest)
        bars.append(Bar(f"{len(rest)} more reasons", total, f"{total:,.0f}", kind="muted"))
    summary = (
        f"{fmt_int(rejected)} of {fmt_int(docs_in)} rejected "
        f"({fmt_pct(rejected or 0, docs_in)}), {len(items)} reasons"
    )
    return view | {"summary": summary, "chart": bar_chart(bars, label_width=300, text_width=150)}


def _counter_details(s: StageInfo) -> View | None:
    """The stage's counters and (for a source stage) its inputs, for a fold-out."""
    counters = s.counters()
    table = None
    if counters:
        rows = [[k, fmt_num(v)] for k, v in sorted(counters.items(), key=lambda kv: str(kv[0]))]
        table = Table.of(["counter", "value"], rows)
    per_input = (s.stats or {}).get("per_input")
    inputs = None
    if s.kind in SOURCE_STAGES and isinstance(per_input, list) and per_input:
        entries = [p for p in per_input if isinstance(p, dict)]
        entries.sort(key=lambda p: -(number(p.get("docs_rejected")) or 0))
        rows = [
            [storage.name(str(p.get("input", "")))]
            + [fmt_int(p.get(k)) for k in ("docs_in", "docs_kept", "docs_rejected")]
            for p in entries[:MAX_PER_INPUT]
        ]
        more = ""
        if len(entries) > MAX_PER_INPUT:
            more = f" (the {MAX_PER_INPUT} with most rejections)"
        inputs = {"more": more, "table": Table.of(["input file", "in", "kept", "rejected"], rows)}
    if table is None and inputs is None:
        return None
    return {"table": table, "inputs": inputs}


# ---------------------------------------------------------------------- documents (shards)


def _source_note(dist: Distributions) -> str:
    read = (
        f"all {dist.shards_total:,} shards"
        if dist.shards_read == dist.shards_total
        else f"{dist.shards_read:,} of {dist.shards_total:,} shards (evenly spaced)"
    )
    return f"From {read} of {dist.stage}/ ({dist.rows:,} documents)."


def languages_view(dist: Distributions | None) -> View | Note:
    if dist is None:
        return Note("No stage with document shards (part-*.arrow): no languages to count.")
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
            lang,
            fmt_int(n),
            fmt_pct(n, total),
            fmt_bytes(dist.lang_bytes.get(lang, 0)),
            fmt_pct(dist.lang_bytes.get(lang, 0), total_bytes),
        ]
        for lang, n in items
    ]
    note = _source_note(dist)
    if dist.exported_only:
        note += " Documents the export rejected are subtracted: these are the exported documents."
    if NULL_VALUE in dist.langs:
        note += (
            f" {NULL_VALUE}: documents no stage gave a language (only the filter's language ID "
            "does: a source whose chain has no filter, or a code or math profile, has none)."
        )
    return {
        "note": Note(note),
        "chart": bar_chart(bars),
        "table": Table.of(["lang", "documents", "share", "text", "text share"], rows),
    }


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


def distributions_view(dist: Distributions | None) -> View | Note:
    if dist is None:
        return Note("No stage with document shards (part-*.arrow): no distributions.")
    length: View | Note = Note("The shards have no text column.")
    if dist.length_bins:
        lo, hi = min(dist.length_bins), max(dist.length_bins)
        edges = [2 ** (k / LENGTH_BINS_PER_OCTAVE) for k in range(lo, hi + 2)]
        counts = [int(dist.length_bins.get(k, 0)) for k in range(lo, hi + 1)]
        length = {
            "chart": histogram_chart(edges, counts, "document length", fmt_size, log_x=True),
            "percentiles": _percentiles(dist.lengths.values, fmt_size),
        }
    no_scores = Note(
        "No score columns (" + ", ".join(SCORE_COLUMNS) + ") in these shards: the score "
        "stage did not run before this stage."
    )
    categories = [
        {"name": name, "chart": bar_chart(_category_bars(counter))}
        for name, counter in dist.categories.items()
    ]
    return {
        "note": Note(_source_note(dist)),
        "length": length,
        "no_scores": None if dist.scores else no_scores,
        "scores": [_score(name, reservoir) for name, reservoir in dist.scores.items()],
        "categories": categories,
    }


def _category_bars(counter: Counter[str]) -> list[Bar]:
    total = sum(counter.values())
    return [Bar(k, n, f"{n:,} ({fmt_pct(n, total)})") for k, n in counter.most_common()]


def _score(name: str, reservoir: Reservoir) -> View:
    values = reservoir.values
    if not len(values):
        return {"name": name, "note": Note(f"No values ({reservoir.missing:,} missing).")}
    if values.min() == values.max():
        same = f"All {reservoir.seen:,} values are {fmt_score(values[0])}."
        return {"name": name, "note": Note(same)}
    log_x = SCORE_COLUMNS[name]
    edges, counts = _histogram(values, log_x)
    sampled = (
        f"a random sample of {len(values):,} of {reservoir.seen:,} values"
        if reservoir.seen > len(values)
        else f"{reservoir.seen:,} values"
    )
    missing = f", {reservoir.missing:,} missing" if reservoir.missing else ""
    return {
        "name": name,
        "note": None,
        "chart": histogram_chart(edges, counts, name, fmt_score, log_x=log_x),
        "text": f"{sampled}{missing}; {_percentiles(values, fmt_num)}",
    }


# ------------------------------------------------------------------------------- duplicates


def duplicates_view(run: Run) -> View:
    minhash = run.stage("minhash")
    substring = run.stage("substring")
    return {
        "minhash": _minhash_clusters(minhash)
        if minhash is not None and minhash.stats is not None
        else Note("No finished minhash stage: near-duplicate clusters not shown."),
        "substring": _substring_facts(substring)
        if substring is not None and substring.stats is not None
        else None,
    }


def _minhash_clusters(minhash: StageInfo) -> View | Note:
    summary = minhash_summary(minhash)
    sizes = summary.get("cluster_sizes")
    if not isinstance(sizes, dict) or not sizes:
        return Note("No duplicate clusters (steps.cluster_sizes is empty).")
    # Only exact sizes: a binned size ("17-32") has no one copy count to draw.
    items = sorted((int(k), number(v) or 0.0) for k, v in sizes.items() if str(k).isdigit())
    bars = [
        Bar(
            f"{size:,} copies",
            n,
            f"{n:,.0f} clusters ({n * size:,.0f} docs)",
            title=f"{n:,.0f} clusters of {size:,} documents: {n * (size - 1):,.0f} removed",
        )
        for size, n in items
    ]
    removable = sum((size - 1) * n for size, n in items)
    reasons = (minhash.stats or {}).get("rejected_by_reason") or {}
    rejected = number(reasons.get(MINHASH_DUPLICATE))
    mismatch = None
    if rejected is not None and removable != rejected:
        mismatch = Note(
            f"cluster_sizes implies {removable:,.0f} removed copies, stats.json records "
            f"{rejected:,.0f} {MINHASH_DUPLICATE} rejections",
            "warn",
        )
    in_clusters = sum(size * n for size, n in items)
    facts = [
        ("clusters", summary.get("clusters")),
        ("documents in clusters", summary.get("documents_in_clusters", in_clusters)),
        ("documents removed", (minhash.stats or {}).get("docs_rejected")),
        ("documents compared", summary.get("documents")),
        ("candidate pairs verified", summary.get("pairs_verified")),
        ("pairs failing verification", summary.get("pairs_failing_verification")),
        ("LSH bands × rows", f"{summary.get('bands')} × {summary.get('rows')}"),
        ("S-curve threshold", summary.get("s_curve_threshold")),
    ]
    return {
        "chart": bar_chart(bars),
        "mismatch": mismatch,
        "facts": [(k, fmt_num(v)) for k, v in facts],
    }


def _substring_facts(substring: StageInfo) -> list[tuple[str, str]]:
    counters, summary = substring_counters(substring), substring_summary(substring)
    rejected = (substring.stats or {}).get("docs_rejected")
    return [
        ("documents cut", fmt_num(counters.get("documents_cut"))),
        ("text removed", fmt_bytes(counters.get("bytes_removed", 0))),
        ("tokens removed", fmt_num(counters.get("tokens_removed"))),
        ("documents rejected (too short after cutting)", fmt_num(rejected)),
        ("windows", fmt_num(summary.get("windows"))),
        ("repeated window occurrences", fmt_num(summary.get("repeated_window_occurrences"))),
    ]


# ----------------------------------------------------------------------------------- topics


def topics_view(run: Run) -> View | Note:
    topics = run.stage("topics")
    if topics is None:
        return Note("No topics stage in this work directory.")
    table, why = read_topic_table(topics)
    if table is None:
        return Note(f"The topics stage has no topic table ({why}).")
    counters, summary = topics.counters(), topics_summary(topics)
    rows = [_topic_row(t, counters) for t in table["topics"] if isinstance(t, dict)]
    facts = [
        f"{len(rows)} topics",
        f"vocabulary {fmt_int(summary.get('vocabulary'))} words" if "vocabulary" in summary else "",
        f"trained on {fmt_int(summary.get('sampled'))} sampled documents"
        if "sampled" in summary
        else "",
        f"density threshold {fmt_num(table.get('density_threshold'))}",
        f"features: {', '.join(map(str, table.get('features') or []))}",
        f"{fmt_int(counters[WITHOUT_TOPIC_COUNTER])} documents without a topic (kept)"
        if WITHOUT_TOPIC_COUNTER in counters
        else "",
        _commercial_fact(table.get("commercial_prior"), counters),
    ]
    return {"facts": " · ".join(f for f in facts if f), "rows": rows}


def _commercial_fact(prior: Any, counters: dict[str, Any]) -> str:
    """The page classifier's line: how many documents it flagged, above which threshold."""
    if not isinstance(prior, dict):
        return ""
    flagged = fmt_int(counters.get(COMMERCIAL_COUNTER, 0))
    threshold = number(prior.get("threshold"))
    above = f"above {fmt_score(threshold)}" if threshold is not None else "threshold unreadable"
    return (
        f"{flagged} pages the commercial page classifier flagged (probability {above}; each "
        "kept at the low weight, counted in its topic's downsampled when it went)"
    )


def _topic_row(topic: Any, counters: dict[str, Any]) -> View:
    """One row of the topic table; `topic` is a TopicRow as read, so checked key by key."""
    try:
        kept = counters.get(topic_counter(int(topic.get("topic")), kept=True), 0)
        downsampled = counters.get(topic_counter(int(topic.get("topic")), kept=False), 0)
    except (TypeError, ValueError):
        kept = downsampled = 0
    weight = number(topic.get("weight"))
    words = topic.get("top_words") if isinstance(topic.get("top_words"), list) else []
    return {
        "topic": fmt_int(topic.get("topic")),
        "low": weight is not None and weight < 1,
        "words": ", ".join(str(w) for w in words[:10]),
        "weight": fmt_score(weight) if weight is not None else topic.get("weight"),
        "reason": topic.get("weight_reason", ""),
        "density": fmt_num(topic.get("density")),
        "sample_documents": fmt_int(topic.get("sample_documents")),
        "kept": fmt_int(kept),
        "downsampled": fmt_int(downsampled),
    }


# -------------------------------------------------------------------------------- tokenizer


def tokenizer_view(run: Run) -> View | Note:
    found = find_tokenizer_report(run)
    if found is None:
        return Note(
            "No tokenizer report (train-tokenizer/tokenizer.json): the run has no "
            "train-tokenizer entry yet."
        )
    path, report = found
    config = report.get("config") if isinstance(report.get("config"), dict) else {}
    vocabulary = (
        f"{fmt_int(report.get('vocab_size'))} pieces "
        f"(requested {fmt_int(report.get('requested_vocab_size'))})"
    )
    facts = [
        ("report", display_path(path, run.work)),
        ("vocabulary", vocabulary),
        ("token id type", report.get("dtype")),
        ("trained on", f"{number(report.get('training_mb')) or 0:.1f} MiB of text"),
        ("training time", f"{report.get('train_seconds')} s"),
        ("character coverage", config.get("character_coverage")),
    ]
    sample = report.get("sample") if isinstance(report.get("sample"), dict) else {}
    ids = report.get("token_ids")
    return {
        "facts": facts,
        "composition": _composition(report.get("composition")),
        "compression": _compression(report.get("compression"), sample),
        "sample": _training_sample(sample),
        "token_ids": [(k, fmt_int(v)) for k, v in ids.items()] if isinstance(ids, dict) else [],
        "warnings": sample.get("warnings") or [],
        "stale": _stale_model_note(run, path, report.get("model")),
    }


def _composition(composition: Any) -> View | None:
    pieces = composition.get("pieces") if isinstance(composition, dict) else None
    if not isinstance(pieces, dict) or not pieces:
        return None
    items = sorted(((str(k), number(v) or 0.0) for k, v in pieces.items()), key=lambda kv: -kv[1])
    total = sum(v for _, v in items)
    rows = [[k, fmt_int(v), fmt_pct(v, total)] for k, v in items]
    return {"chart": stacked_chart(items), "table": Table.of(["kind", "pieces", "share"], rows)}


def _compression(compression: Any, sample: dict[str, Any]) -> View | Note:
    if not isinstance(compression, dict) or not compression:
        heldout = sample.get("heldout_bytes")
        return Note(
            f"Not measured: the held-out sample is empty (heldout_bytes {heldout})."
            if heldout == 0
            else "Not measured: the report has no compression figures.",
            "warn",
        )
    rows, bars = [], []
    for lang, figures in sorted(compression.items()):
        c = figures if isinstance(figures, dict) else {}
        rows.append(
            [
                lang,
                fmt_int(c.get("documents")),
                fmt_num(c.get("bytes_per_token")),
                fmt_num(c.get("chars_per_token")),
            ]
        )
        if (bpt := number(c.get("bytes_per_token"))) is not None:
            bars.append(Bar(lang, bpt, f"{bpt:.2f} bytes/token"))
    headers = ["lang", "documents", "bytes/token", "chars/token"]
    return {"chart": bar_chart(bars), "table": Table.of(headers, rows)}


def _training_sample(sample: dict[str, Any]) -> Table | None:
    source_bytes = sample.get("source_bytes") or {}
    if not isinstance(source_bytes, dict) or not source_bytes:
        return None
    sampled = sample.get("sampled_bytes") or {}
    rows = [
        [k, fmt_bytes(v), fmt_bytes(sampled.get(k, 0)), fmt_pct(sampled.get(k, 0), v)]
        for k, v in sorted(source_bytes.items())
    ]
    return Table.of(["source", "text", "sampled", "share sampled"], rows)


def _stale_model_note(run: Run, report_path: str, trained: Any) -> Note | None:
    """A warning when the export used another model than the one this report describes. The
    model is the file of that name beside the report: the report names the path where it was
    trained, which a moved work directory or a task's scratch directory no longer has."""
    manifest_sha = ((run.manifest or {}).get("tokenizer") or {}).get("sha256")
    if not (isinstance(manifest_sha, str) and isinstance(trained, str)):
        return None
    model = storage.join(storage.parent(report_path), storage.name(trained))
    if not storage.is_file(model):
        return None
    if sha256_file(model) == manifest_sha:
        return None
    return Note(
        "This tokenizer's model is not the one the export used (sha256 differs from "
        "manifest.json): the export predates a retraining.",
        "warn",
    )


# ---------------------------------------------------------------------------------- mixture


def mixture_view(run: Run) -> View | Note:
    if run.stage("export") is None:
        return Note("No export stage in this work directory: no mixture yet.")
    manifest = run.manifest
    if manifest is None:
        return Note(f"The export has no readable manifest ({run.manifest_note}).")
    sources = [s for s in manifest.get("sources") or [] if isinstance(s, dict)]
    total = number(manifest.get("tokens")) or sum(number(s.get("tokens")) or 0 for s in sources)
    max_epochs = number(manifest.get("max_epochs"))
    bars, rows = [], []
    for s in sources:
        tokens, target = number(s.get("tokens")) or 0.0, number(s.get("target_tokens"))
        epochs = number(s.get("epochs"))
        over = epochs is not None and max_epochs is not None and epochs > max_epochs
        flagged = over or tokens == 0
        bars.append(
            Bar(
                str(s.get("name")),
                tokens,
                f"{tokens:,.0f} / {fmt_num(target)} target",
                title=f"{s.get('name')}: {tokens:,.0f} tokens, target {fmt_num(target)}",
                kind="rej" if flagged else "",
                target=target,
            )
        )
        shards = s.get("shards")
        rows.append(
            {
                "name": s.get("name"),
                "ratio": fmt_num(s.get("ratio")),
                "share": fmt_pct(tokens, total) if total else "–",
                "target": _or_dash(target, fmt_int),
                "tokens": fmt_int(tokens),
                "epochs": fmt_num(epochs),
                "flagged": flagged,
                "documents": fmt_int(s.get("documents")),
                "shards": fmt_int(len(shards)) if isinstance(shards, list) else "–",
            }
        )
    tokenizer = manifest.get("tokenizer") if isinstance(manifest.get("tokenizer"), dict) else {}
    facts = (
        f"token budget {fmt_int(manifest.get('token_budget'))} · exported "
        f"{fmt_int(manifest.get('tokens'))} tokens in {fmt_int(manifest.get('documents'))} "
        f"documents · max epochs {fmt_num(max_epochs)} · tokenizer vocabulary "
        f"{fmt_int(tokenizer.get('vocab_size'))} ({tokenizer.get('dtype', '?')})"
    )
    return {
        "facts": facts,
        "chart": bar_chart(bars),
        "rows": rows,
        "phases": _phase_tables(manifest.get("phases"), max_epochs),
        "warnings": manifest.get("warnings") or [],
    }


def _phase_tables(phases: Any, max_epochs: float | None) -> list[dict[str, Any]]:
    """Per training phase: its tokens and what it draws from each source, with the epochs
    counted from the start of training (above `max_epochs` flagged with `!`)."""
    views = []
    for phase in phases if isinstance(phases, list) else []:
        if not isinstance(phase, dict) or not isinstance(phase.get("sources"), list):
            continue
        rows = []
        for row in (r for r in phase["sources"] if isinstance(r, dict)):
            after = number(row.get("epochs_after"))
            over = after is not None and max_epochs is not None and after > max_epochs
            rows.append(
                [
                    str(row.get("name")),
                    fmt_num(row.get("ratio")),
                    _or_dash(number(row.get("target_tokens")), fmt_int),
                    fmt_num(row.get("epochs")),
                    fmt_num(after) + (" !" if over else ""),
                ]
            )
        headers = ["source", "ratio", "tokens drawn", "epochs in phase", "epochs so far"]
        title = f"Phase {phase.get('name')}: {fmt_int(phase.get('tokens'))} tokens"
        views.append({"title": title, "table": Table.of(headers, rows)})
    return views


# -------------------------------------------------------------------------------- evaluation


def evaluation_view(run: Run) -> View | Note:
    """What `datapipe evaluate` measured against labelled pages (WORK_DIR/evaluation.json)."""
    report, why = read_json(storage.join(run.work, EVALUATION_FILE))
    if report is None:
        return Note(
            "No evaluation: `datapipe evaluate WORK_DIR --labels FILE` measures the run's "
            f"decisions against labelled pages (docs/rubric.md) ({why})."
        )
    languages = []
    for lang, result in report["languages"].items():
        rates = [("cascade", result["cascade"]), *result["stages"].items()]
        languages.append(
            {
                "lang": lang,
                "rates": Table.of(
                    [
                        "",
                        "pages",
                        "labelled keep",
                        "labelled drop",
                        "keeps keep",
                        "drops drop",
                        "drop precision",
                    ],
                    ([name, *_rate_cells(r)] for name, r in rates),
                ),
                "families": Table.of(
                    ["rule family", "dropped", "precision", "recall"],
                    (
                        [name, fmt_int(r["dropped"]), _pct(r["precision"]), _pct(r["recall"])]
                        for name, r in result["rule_families"].items()
                    ),
                ),
                "auc": Table.of(
                    ["score column", "pages", "ROC AUC keep", "ROC AUC edu ≥ 2"],
                    (
                        [name, fmt_int(r["pages"]), _auc(r["keep_auc"]), _auc(r["edu2_auc"])]
                        for name, r in result["auc"].items()
                    ),
                ),
                "categories": Table.of(
                    ["category", "pages", "labelled keep", "kept", "removed by"],
                    (
                        [
                            name,
                            fmt_int(r["pages"]),
                            fmt_int(r["labelled_keep"]),
                            fmt_int(r["kept"]),
                            ", ".join(f"{s} {n}" for s, n in r["removed_by"].items()),
                        ]
                        for name, r in result["categories"].items()
                    ),
                    numeric=[1, 2, 3],
                ),
            }
        )
    facts = f"{fmt_int(report['found'])} of {fmt_int(report['labels'])} labelled pages found"
    return {"facts": f"{facts}, split: {report.get('split', 'all')}", "languages": languages}


def _rate_cells(r: dict[str, Any]) -> list[str]:
    counts = [fmt_int(r[k]) for k in ("pages", "labelled_keep", "labelled_drop")]
    return [*counts, _pct(r["keep_kept"]), _pct(r["drop_dropped"]), _pct(r["drop_precision"])]


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def _auc(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"
