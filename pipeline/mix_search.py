"""`datapipe mix-search EXPORT_DIR`: rank candidate mixture ratios by a cheap proxy.

Yi chose its mixture ratios by grid search over small-model training runs. This is the
cheap sanity check before such runs (importable without Ray; docs/mixtures.md):

* **Split**: each source's documents are split by a seeded hash of their id into a
  training part and a held-out part (`--heldout`, default 10%; at least one document on
  each side). A document's side depends only on its id and the seed. Shards are read in
  manifest order until the training part could supply a whole sample (`--tokens`) and the
  held-out part holds 100,000 tokens, or the source ends; the training documents are used
  in hash order (a seeded shuffle).
* **Candidates**: every composition of the sources' ratios in steps of `--step` (within
  `--min`/`--max`), or the ones a YAML file lists, plus the manifest's own ratios.
* **Proxy**: per candidate, a sample of `--tokens` token ids, each source's training part
  taking its ratio's share (cycled when the ratio asks for more than the part holds: the
  repeats make the model surer of what it saw, and held-out bits rise), fits
  an interpolated bigram model of token ids (Witten-Bell over an add-k unigram). The model
  scores every source's held-out text: cross-entropy in bits per token (not per byte: the
  shards hold no bytes). Candidates are ranked by the mean over sources weighted by
  `--weights` (default: uniform).

What the proxy can tell: how well a mixture's token statistics cover each source's held-out
text, for a tiny model. What it cannot: transfer of capabilities between sources,
long-range structure, quality beyond token statistics. It favours more of whichever source's
held-out text is scored, so the weights decide the answer as much as the data. Use it to
exclude bad mixtures, not to replace small-model training runs.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from core.manifest import ManifestError, load_manifest, manifest_problems, shard_path
from core.seeded import unit_hash

# Unigram pseudo-count per vocabulary id: an id no training token has still costs finite bits.
ADD_K = 0.1
# Held-out text read per source at the least (or all it has): small budgets still score on
# enough text that one document does not decide a source's bits.
MIN_HELDOUT_TOKENS = 100_000
SPLIT = "mix-search-heldout"  # the purpose of the split's seeded hash (core.seeded)
# Scoring takes ~0.1-1 s per candidate: beyond this a grid is a mistake, not a search.
MAX_CANDIDATES = 10_000
PROGRESS_SECONDS = 5.0
UNIT = "bits per token"
PROXY = (
    "held-out cross-entropy (bits per token) of each source under an interpolated bigram "
    "model of token ids (Witten-Bell over an add-k unigram) fitted to a fixed-size sample "
    "drawn from the sources' training parts in the candidate's ratios"
)


@dataclass(frozen=True)
class SourceText:
    """One source's documents as read: the training part (in seeded hash order) and the
    held-out part, each concatenated into one token stream."""

    name: str
    train: np.ndarray
    heldout: np.ndarray
    train_ids: tuple[str, ...]
    heldout_ids: tuple[str, ...]


@dataclass(frozen=True)
class Candidate:
    origin: str  # grid, file, manifest (or grid+manifest when the manifest's is on the grid)
    ratios: dict[str, float]


@dataclass(frozen=True)
class BigramModel:
    """Counts of a training sample: the sorted distinct pairs (a * V + b) and how often each
    occurs, per context a its pair count and distinct followers, and the smoothed unigram."""

    vocab_size: int
    pair_keys: np.ndarray
    pair_counts: np.ndarray
    context_counts: np.ndarray
    context_types: np.ndarray
    unigram: np.ndarray


# --- arguments ------------------------------------------------------------------------------


def parse_assignments(text: str | None, option: str, names: Sequence[str]) -> dict[str, float]:
    """`name=number,...` (for --weights, --min, --max), every name one of `names`."""
    found: dict[str, float] = {}
    for item in filter(None, (text or "").split(",")):
        name, _, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{option}: {item!r} is not NAME=NUMBER") from None
        if name.strip() not in names:
            raise ValueError(f"{option}: {name.strip()!r} is not a source of the export {names}")
        if not math.isfinite(number) or number < 0:
            raise ValueError(f"{option}: {item!r} is not a non-negative number")
        found[name.strip()] = number
    return found


def source_weights(text: str | None, names: Sequence[str]) -> dict[str, float]:
    """The weight of each source's held-out bits in the ranking: uniform by default; sources
    a `--weights` list leaves out weigh nothing."""
    given = parse_assignments(text, "--weights", names)
    if text and not any(given.values()):
        raise ValueError("--weights: at least one weight must be positive")
    return {name: given.get(name, 0.0) if text else 1.0 for name in names}


def step_units(step: float) -> int:
    """How many steps make 1; a step that does not divide 1 is refused."""
    units = round(1 / step) if step > 0 else 0
    if not 0 < step <= 1 or abs(units * step - 1) > 1e-9:
        raise ValueError(f"--step {step:g} does not divide 1 (use e.g. 0.1, 0.05, 0.25)")
    return units


def grid_candidates(
    names: Sequence[str],
    step: float,
    low: dict[str, float] | None = None,
    high: dict[str, float] | None = None,
) -> list[Candidate]:
    """Every composition of 1 into the sources' ratios in multiples of `step`, each source
    within its [low, high] bounds."""
    units = step_units(step)
    floor = [math.ceil((low or {}).get(n, 0.0) * units - 1e-9) for n in names]
    ceiling = [math.floor((high or {}).get(n, 1.0) * units + 1e-9) for n in names]
    free = units - sum(floor)
    if free < 0 or any(f > c for f, c in zip(floor, ceiling, strict=True)):
        raise ValueError("--min/--max leave no ratios on the grid (minimums sum above 1?)")
    count = math.comb(free + len(names) - 1, len(names) - 1)
    if count > MAX_CANDIDATES:
        raise ValueError(
            f"the grid has {count:,} candidates, more than {MAX_CANDIDATES:,}: use a coarser "
            "--step, --min/--max, or --candidates"
        )
    found = []
    for parts in _compositions(free, len(names)):
        units_of = [f + p for f, p in zip(floor, parts, strict=True)]
        if all(u <= c for u, c in zip(units_of, ceiling, strict=True)):
            ratios = {n: u / units for n, u in zip(names, units_of, strict=True)}
            found.append(Candidate("grid", ratios))
    if not found:
        raise ValueError("--min/--max leave no ratios on the grid (maximums sum below 1?)")
    return found


def _compositions(total: int, parts: int) -> Iterator[tuple[int, ...]]:
    """Every way to write `total` as an ordered sum of `parts` non-negative integers (stars
    and bars: each choice of parts - 1 bar positions among total + parts - 1 slots is one)."""
    slots = total + parts - 1
    for bars in itertools.combinations(range(slots), parts - 1):
        edges = (-1, *bars, slots)
        yield tuple(b - a - 1 for a, b in itertools.pairwise(edges))


def file_candidates(path: str | Path, names: Sequence[str]) -> list[Candidate]:
    """The candidates a YAML file lists: a list of {source: ratio} mappings summing to 1;
    a source a mapping leaves out has ratio 0."""
    try:
        listed = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"--candidates {path}: cannot read: {err}".splitlines()[0]) from None
    if not isinstance(listed, list) or not listed:
        raise ValueError(f"--candidates {path}: not a list of {{source: ratio}} mappings")
    found = []
    for i, item in enumerate(listed):
        where = f"--candidates {path}: candidate {i + 1}"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: not a {{source: ratio}} mapping")
        text = ",".join(f"{name}={value}" for name, value in item.items())
        ratios = parse_assignments(text, where, names)
        if abs(sum(ratios.values()) - 1) > 1e-6:
            raise ValueError(f"{where}: ratios sum to {sum(ratios.values()):g}, not 1")
        found.append(Candidate("file", {n: ratios.get(n, 0.0) for n in names}))
    return found


def with_manifest_ratios(
    candidates: list[Candidate], manifest: dict[str, float]
) -> list[Candidate]:
    """The candidates and the manifest's own ratios (marked where the list holds them)."""
    for i, candidate in enumerate(candidates):
        if all(abs(candidate.ratios[n] - r) <= 1e-9 for n, r in manifest.items()):
            candidates = list(candidates)
            candidates[i] = Candidate(f"{candidate.origin}+manifest", candidate.ratios)
            return candidates
    return [*candidates, Candidate("manifest", dict(manifest))]


# --- the export -----------------------------------------------------------------------------


def open_export(root: str | Path) -> dict[str, Any]:
    """The export's manifest, refused (one line) when it is missing or inconsistent."""
    manifest = load_manifest(root)
    if problems := manifest_problems(manifest):
        raise ManifestError(f"{root}: invalid manifest ({problems[0]}); run datapipe verify")
    return manifest


def searchable_sources(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The sources a search can split: two documents at least (one per side)."""
    found = [s for s in manifest["sources"] if s["documents"] >= 2]
    if not found:
        raise ValueError("no source of the export has two documents to split")
    return found


def _draws(ids: Sequence[str], seed: int) -> np.ndarray:
    return np.array([unit_hash(seed, SPLIT, i) for i in ids], np.float64)


def _split(draws: np.ndarray, share: float) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(draws, kind="stable")
    held = min(max(int(np.sum(draws < share)), 1), len(draws) - 1)
    return order[:held], order[held:]


def split_documents(ids: Sequence[str], share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the held-out and the training documents: held out are those whose seeded
    id hash falls below `share` (kept to at least one and at most all but one); both sides
    come in hash order, a seeded shuffle that does not depend on the shards' order."""
    return _split(_draws(ids, seed), share)


def _batches(
    root: Path, source: dict[str, Any]
) -> Iterator[tuple[list[str], np.ndarray, np.ndarray]]:
    """A source's record batches in manifest order: document ids, their token ids (copied out
    of the memory map, as int64 for pair keys) and lengths."""
    for shard in source["shards"]:
        with pa.memory_map(str(shard_path(root, shard["path"]))) as mapped:
            for batch in pa.ipc.open_stream(mapped):
                lists = batch.column("input_ids")
                tokens = pc.list_flatten(lists).to_numpy().astype(np.int64)
                lengths = lists.value_lengths().to_numpy().astype(np.int64)
                yield batch.column("id").to_pylist(), tokens, lengths


def _concatenated(tokens: np.ndarray, lengths: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """The documents `chosen` (indices into `lengths`) one after another, without a Python
    loop per document: each output token's index is its document's start plus its offset."""
    starts = np.cumsum(lengths) - lengths
    sizes = lengths[chosen]
    ends = np.cumsum(sizes)
    within = np.arange(int(ends[-1]) if len(ends) else 0) - np.repeat(ends - sizes, sizes)
    return tokens[np.repeat(starts[chosen], sizes) + within]


def read_source(
    root: Path, source: dict[str, Any], tokens: int, share: float, seed: int
) -> SourceText:
    """The source's training and held-out parts, reading shards until the training part
    could supply all `tokens` of a sample and the held-out part holds MIN_HELDOUT_TOKENS (or
    the source ends). What is read depends on neither the candidates nor the other sources,
    so scores from different searches of the same export, budget and seed compare."""
    ids: list[str] = []
    pieces, lengths, draws = [], [], []
    read = np.zeros(2, np.int64)  # tokens of the training and the held-out side
    for batch_ids, batch_tokens, batch_lengths in _batches(root, source):
        ids += batch_ids
        pieces.append(batch_tokens)
        lengths.append(batch_lengths)
        draws.append(_draws(batch_ids, seed))
        held = draws[-1] < share
        read += [batch_lengths[~held].sum(), batch_lengths[held].sum()]
        if read[0] >= tokens and read[1] >= MIN_HELDOUT_TOKENS:
            break
    flat, sizes = np.concatenate(pieces), np.concatenate(lengths)
    heldout, train = _split(np.concatenate(draws), share)
    if sizes[heldout].sum() < 2:  # a single token has no pair to score
        raise ValueError(f"source {source['name']}: under 2 held-out tokens; raise --heldout")
    return SourceText(
        name=source["name"],
        train=_concatenated(flat, sizes, train),
        heldout=_concatenated(flat, sizes, heldout),
        train_ids=tuple(ids[i] for i in train),
        heldout_ids=tuple(ids[i] for i in heldout),
    )


# --- the proxy ------------------------------------------------------------------------------


def _pair_keys(stream: np.ndarray, vocab_size: int) -> np.ndarray:
    """Each adjacent pair (a, b) of a stream as one exact key a * V + b (no collisions:
    V <= 2**32, so keys fit in uint64)."""
    wide = stream.astype(np.uint64)
    return wide[:-1] * np.uint64(vocab_size) + wide[1:]


def fit_bigram(pieces: Sequence[np.ndarray], vocab_size: int) -> BigramModel:
    """Counts of the pieces (each a stream of its own: no pair spans two pieces)."""
    keys = np.concatenate([_pair_keys(p, vocab_size) for p in pieces])
    pair_keys, pair_counts = np.unique(keys, return_counts=True)
    contexts = (pair_keys // np.uint64(vocab_size)).astype(np.int64)
    counts = np.bincount(np.concatenate(pieces), minlength=vocab_size)
    return BigramModel(
        vocab_size=vocab_size,
        pair_keys=pair_keys,
        pair_counts=pair_counts,
        context_counts=np.bincount(contexts, weights=pair_counts, minlength=vocab_size),
        context_types=np.bincount(contexts, minlength=vocab_size),
        unigram=(counts + ADD_K) / (counts.sum() + ADD_K * vocab_size),
    )


def bits_per_token(model: BigramModel, stream: np.ndarray) -> float:
    """Cross-entropy of a stream's tokens after its first, in bits per token. Witten-Bell:
    P(b|a) = (c(a,b) + T(a) P(b)) / (c(a) + T(a)), T(a) the distinct ids seen after a, so a
    context followed by many different ids leans on the unigram; an unseen context is the
    unigram alone."""
    keys = _pair_keys(stream, model.vocab_size)
    at = np.minimum(np.searchsorted(model.pair_keys, keys), len(model.pair_keys) - 1)
    pair = np.where(model.pair_keys[at] == keys, model.pair_counts[at], 0)
    before, after = stream[:-1], stream[1:]
    types = model.context_types[before]
    unigram = model.unigram[after]
    mass = model.context_counts[before] + types
    p = np.where(mass > 0, (pair + types * unigram) / np.maximum(mass, 1), unigram)
    return float(-np.mean(np.log2(p)))


def training_sample(
    sources: Sequence[SourceText], ratios: dict[str, float], tokens: int
) -> list[np.ndarray]:
    """Each source's share of a `tokens` sample: the start of its training part, cycled
    when the ratio asks for more than it holds (as a trainer repeats epochs)."""
    return [np.resize(s.train, round(ratios[s.name] * tokens)) for s in sources]


def score(
    sources: Sequence[SourceText],
    candidate: Candidate,
    tokens: int,
    vocab_size: int,
    weights: dict[str, float],
) -> dict[str, Any]:
    """One candidate's row: its ratios, the tokens and epochs it draws, each source's
    held-out bits per token, and their weighted mean."""
    pieces = training_sample(sources, candidate.ratios, tokens)
    model = fit_bigram(pieces, vocab_size)
    bits = {s.name: bits_per_token(model, s.heldout) for s in sources}
    total = sum(weights.values())
    return {
        "origin": candidate.origin,
        "ratios": candidate.ratios,
        "tokens": {s.name: len(p) for s, p in zip(sources, pieces, strict=True)},
        "epochs": {s.name: len(p) / len(s.train) for s, p in zip(sources, pieces, strict=True)},
        "heldout_bits_per_token": bits,
        "weighted_bits_per_token": sum(weights[n] * b for n, b in bits.items()) / total,
    }


# --- the search -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Search:
    """What to search: the candidates (before the manifest's ratios are added) and how to
    score them."""

    candidates: list[Candidate]
    weights: dict[str, float]
    tokens: int = 1_000_000
    heldout_share: float = 0.1
    seed: int = 0


def mix_search(export_dir: str | Path, search: Search, progress: bool = False) -> dict[str, Any]:
    """Every candidate scored and ranked (best first), with what was read: JSON-able."""
    root = Path(export_dir)
    manifest = open_export(root)
    listed = searchable_sources(manifest)
    total = sum(s["ratio"] for s in listed)
    candidates = with_manifest_ratios(
        search.candidates, {s["name"]: s["ratio"] / total for s in listed}
    )
    texts = [
        read_source(
            root,
            s,
            search.tokens,
            search.heldout_share,
            search.seed,
        )
        for s in listed
    ]
    vocab_size = manifest["tokenizer"]["vocab_size"]
    rows = []
    started = reported = time.monotonic()
    for i, candidate in enumerate(candidates, 1):
        rows.append(score(texts, candidate, search.tokens, vocab_size, search.weights))
        if progress and (time.monotonic() - reported >= PROGRESS_SECONDS or i == len(candidates)):
            reported = time.monotonic()
            print(
                f"mix-search: {i:,}/{len(candidates):,} candidates scored "
                f"({reported - started:.0f} s)",
                file=sys.stderr,
            )
    ranked = sorted(rows, key=lambda r: r["weighted_bits_per_token"])  # stable: ties keep order
    return {
        "export": str(root),
        "proxy": PROXY,
        "unit": UNIT,
        "seed": search.seed,
        "tokens": search.tokens,
        "heldout_share": search.heldout_share,
        "weights": search.weights,
        "skipped_sources": [
            s["name"] for s in manifest["sources"] if s["name"] not in search.weights
        ],
        "sources": [_source_summary(t) for t in texts],
        "candidates": [{"rank": i, **row} for i, row in enumerate(ranked, 1)],
    }


def _source_summary(text: SourceText) -> dict[str, Any]:
    return {
        "name": text.name,
        "train_documents": len(text.train_ids),
        "train_tokens": len(text.train),
        "heldout_documents": len(text.heldout_ids),
        "heldout_tokens": len(text.heldout),
    }


# --- output ---------------------------------------------------------------------------------


def table_rows(result: dict[str, Any], rows: Sequence[dict[str, Any]]) -> list[list[str]]:
    """A header and one line per candidate: rank, origin, ratios, held-out bits per token
    per source, weighted mean."""
    names = [s["name"] for s in result["sources"]]
    header = ["rank", "origin", *names, *(f"{n} bits" for n in names), "weighted"]
    lines = [header]
    for row in rows:
        ratios = [f"{row['ratios'][n]:.3g}" for n in names]
        bits = [f"{row['heldout_bits_per_token'][n]:.3f}" for n in names]
        lines.append(
            [
                str(row["rank"]),
                row["origin"],
                *ratios,
                *bits,
                f"{row['weighted_bits_per_token']:.3f}",
            ]
        )
    return lines


def format_table(result: dict[str, Any], limit: int | None = None, markdown: bool = False) -> str:
    """The ranked candidates (the first `limit`, and the manifest's wherever it ranks), as
    aligned text or a markdown table."""
    candidates = result["candidates"]
    shown = [
        c for c in candidates if limit is None or c["rank"] <= limit or "manifest" in c["origin"]
    ]
    lines = table_rows(result, shown)
    if markdown:
        rule = ["---", "---", *["---:"] * (len(lines[0]) - 2)]
        return "\n".join("| " + " | ".join(line) + " |" for line in [lines[0], rule, *lines[1:]])
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    text = [
        "  ".join(
            cell.ljust(w) if i == 1 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    ]
    if len(shown) < len(candidates):
        text.append(f"({len(candidates) - len(shown):,} more candidates: --show, --output)")
    return "\n".join(text)


def summary(result: dict[str, Any]) -> str:
    """What was measured, above the table."""
    sources = ", ".join(
        f"{s['name']} {s['train_tokens']:,}/{s['heldout_tokens']:,}" for s in result["sources"]
    )
    weights = ", ".join(f"{n}={w:g}" for n, w in result["weights"].items())
    lines = [
        f"held-out {UNIT} of a bigram model of {result['tokens']:,} training tokens per "
        f"candidate (lower is better); weighted mean with {weights}",
        f"training/held-out tokens per source: {sources}",
    ]
    if result["skipped_sources"]:
        lines.append(f"skipped (fewer than 2 documents): {', '.join(result['skipped_sources'])}")
    repeated = max(max(c["epochs"].values()) for c in result["candidates"])
    if repeated > 1:
        lines.append(
            f"some candidates cycle a source's training part (up to {repeated:.1f} epochs): "
            "repeats add no new statistics, and make the model surer of what it saw"
        )
    return "\n".join(lines)


def write_outputs(result: dict[str, Any], paths: Sequence[str]) -> None:
    """Every candidate to each file: a markdown table for `.md`, else JSON."""
    for path in paths:
        if path.endswith(".md"):
            text = f"{summary(result)}\n\n{format_table(result, markdown=True)}\n"
        else:
            text = json.dumps(result, indent=2) + "\n"
        Path(path).write_text(text)


# --- command line ---------------------------------------------------------------------------

DESCRIPTION = """\
Rank candidate mixture ratios of an export by a cheap proxy. Each source's documents are
split by a seeded hash of their id into training and held-out parts. For each candidate, a
sample of --tokens token ids drawn from the training parts in the candidate's ratios fits an
interpolated bigram model of token ids (Witten-Bell over an add-k unigram); the model's
cross-entropy on each source's held-out text, in bits per token (not per byte: the shards
hold no bytes), and its mean weighted by --weights rank the candidates.

What it can tell: how well a mixture's token statistics cover each source's held-out text,
with a tiny model. What it cannot: capability transfer between sources, long-range
structure, or data quality beyond token statistics. It favours more of any source whose
held-out text is scored, so --weights decide as much as the data. A sanity check and a way
to exclude bad mixtures, not a replacement for small-model training runs (docs/mixtures.md).
"""


def add_mix_search_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "mix-search",
        help="rank candidate mixture ratios by held-out bits/token of a bigram proxy",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("export_dir", metavar="EXPORT_DIR", help="the export stage's directory")
    grid = parser.add_argument_group("candidates (the manifest's own ratios are always one)")
    grid.add_argument(
        "--step", type=float, default=0.1, help="grid step; must divide 1 (default 0.1)"
    )
    grid.add_argument("--min", metavar="NAME=R,...", help="lowest ratio per source (default 0)")
    grid.add_argument("--max", metavar="NAME=R,...", help="highest ratio per source (default 1)")
    grid.add_argument(
        "--candidates",
        metavar="FILE.yaml",
        help="score these instead of a grid: a list of {source: ratio} mappings summing to 1",
    )
    proxy = parser.add_argument_group("proxy")
    proxy.add_argument(
        "--tokens",
        type=int,
        default=1_000_000,
        help="training sample per candidate (default 1,000,000)",
    )
    proxy.add_argument(
        "--heldout",
        type=float,
        default=0.1,
        help="share of each source's documents held out (default 0.1)",
    )
    proxy.add_argument(
        "--weights",
        metavar="NAME=W,...",
        help="weights of the sources' held-out bits in the ranking (default uniform; a "
        "source left out weighs 0)",
    )
    proxy.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the held-out split and of the training documents' order (default 0)",
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "--show",
        type=int,
        default=20,
        help="candidates printed (default 20; the manifest's always)",
    )
    out.add_argument(
        "--output",
        action="append",
        default=[],
        metavar="FILE",
        help="every candidate: FILE.md a markdown table, any other name JSON (repeatable)",
    )
    out.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    parser.set_defaults(handler=_run)


def search_from_args(args: argparse.Namespace, names: Sequence[str]) -> Search:
    """The search the command line asks for, every argument checked against the sources."""
    if args.tokens <= 0 or not 0 < args.heldout < 1:
        raise ValueError(
            f"need --tokens > 0 and 0 < --heldout < 1, got {args.tokens}, {args.heldout}"
        )
    if args.candidates:
        candidates = file_candidates(args.candidates, names)
    else:
        low = parse_assignments(args.min, "--min", names)
        high = parse_assignments(args.max, "--max", names)
        candidates = grid_candidates(names, args.step, low, high)
    weights = source_weights(args.weights, names)
    return Search(candidates, weights, args.tokens, args.heldout, args.seed)


def _run(args: argparse.Namespace) -> int:
    names = [s["name"] for s in searchable_sources(open_export(args.export_dir))]
    search = search_from_args(args, names)
    result = mix_search(args.export_dir, search, progress=not args.no_progress)
    print(summary(result))
    print(format_table(result, limit=args.show))
    write_outputs(result, args.output)
    return 0
