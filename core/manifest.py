"""The export's `manifest.json`: what a trainer reads, how it is built, how it is verified.

    {"format": "datapipe-export", "format_version": 1,
     "tokenizer": {"path", "sha256", "vocab_size", "eos_id", "dtype"},
     "config": {...the export stage config...}, "config_sha256": "...",
     "token_budget": N, "max_epochs": E, "documents": D, "tokens": T,
     "sources": [{"name", "ratio", "documents", "tokens", "target_tokens", "epochs",
                  "shards": [{"path", "sha256", "documents", "tokens", "bytes"}]}],
     "phases": [{"name", "tokens",                                  (only with phases)
                 "sources": [{"name", "ratio", "target_tokens", "epochs", "epochs_after"}]}],
     "warnings": ["..."]}

`epochs` is how often a trainer must repeat a source for it to make up `ratio` of
`token_budget` tokens. With training phases, a source's `ratio` is its share of all phases'
tokens, `token_budget` their sum, and each phase lists what it draws from each source: its
`epochs` in that phase and `epochs_after`, counted from the start of training. A source that
would need more than `max_epochs` (or has no documents) is named in `warnings` (with phases,
also the phase in which it passes them), never clipped: the trainer decides. Shard paths
are relative to the manifest's directory. Importing this module does not import Ray.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any, NotRequired, TypedDict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core import storage

FORMAT = "datapipe-export"
FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
SHARDS_DIR = "shards"
SHARD_COLUMNS = ("id", "input_ids", "num_tokens")


class ManifestTokenizer(TypedDict):
    path: str  # relative to the manifest's directory
    sha256: str
    vocab_size: int
    eos_id: int
    dtype: str  # numpy name of the token id type: uint16 or uint32


class ManifestShard(TypedDict):
    path: str  # relative to the manifest's directory, under SHARDS_DIR
    sha256: str
    documents: int
    tokens: int
    bytes: int


class ManifestSource(TypedDict):
    name: str
    ratio: float
    documents: int
    tokens: int
    target_tokens: int
    epochs: float | None  # None: the source has no documents
    shards: list[ManifestShard]


class PhaseSource(TypedDict):
    name: str
    ratio: float
    target_tokens: int
    epochs: float | None  # None: the source has no documents
    epochs_after: float | None  # epochs drawn from the start of training to this phase's end


class ManifestPhase(TypedDict):
    name: str
    tokens: int
    sources: list[PhaseSource]


class Manifest(TypedDict):
    """What `build_manifest` returns and `manifest.json` holds (`phases` only when the
    mixture has training phases)."""

    format: str
    format_version: int
    tokenizer: ManifestTokenizer
    config: dict[str, Any]
    config_sha256: str
    token_budget: int
    max_epochs: float
    documents: int
    tokens: int
    sources: list[ManifestSource]
    phases: NotRequired[list[ManifestPhase]]
    warnings: list[str]


class ManifestError(ValueError):
    """The manifest is missing, unreadable or of an unknown format."""


def sha256_file(path: str | Path) -> str:
    """The digest of a file, local or on object storage."""
    if not storage.is_remote(path):
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    fs, key = storage.filesystem(path)
    digest = hashlib.sha256()
    with fs.open_input_stream(key, compression=None) as stream:
        while chunk := stream.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def config_sha256(config: dict[str, Any]) -> str:
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def token_shard_schema(id_type: pa.DataType) -> pa.Schema:
    """The columns of an export shard; `input_ids` is a plain list (32-bit offsets), which
    every Arrow reader and `datasets` load, and which bounds a record batch to 2**31 tokens."""
    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("input_ids", pa.list_(id_type), nullable=False),
            pa.field("num_tokens", pa.int32(), nullable=False),
        ]
    )


def mixture_ratios(mixture: dict[str, Any]) -> dict[str, float | None]:
    """Each configured source's share of all training tokens (a mixture config as JSON): its
    ratio, or with phases the phases' ratios weighted by their tokens."""
    phases = mixture.get("phases") or []
    if not phases:
        return {s["name"]: s.get("ratio") for s in mixture.get("sources", [])}
    total = sum(p["tokens"] for p in phases)
    return {
        s["name"]: sum(p["tokens"] * p["ratios"].get(s["name"], 0.0) for p in phases) / total
        for s in mixture.get("sources", [])
    }


def mixture_budget(mixture: dict[str, Any]) -> int | None:
    """The configured token budget; with phases, the sum of their tokens."""
    phases = mixture.get("phases") or []
    return sum(p["tokens"] for p in phases) if phases else mixture.get("token_budget")


def plan_phases(
    sources: Sequence[dict[str, Any]], phases: Sequence[dict[str, Any]], max_epochs: float
) -> tuple[list[ManifestPhase], list[str]]:
    """Per phase (name, tokens, ratios), what it draws from each source (name, tokens) and
    the epochs that implies, in the phase and from the start of training; a warning where a
    source first passes `max_epochs`, or is asked for tokens it does not have."""
    drawn = dict.fromkeys((s["name"] for s in sources), 0.0)
    planned: list[ManifestPhase] = []
    warnings = []
    for phase in phases:
        rows: list[PhaseSource] = []
        for source in sources:
            name, tokens = source["name"], source["tokens"]
            ratio = float(phase["ratios"].get(name, 0.0))
            target = ratio * phase["tokens"]
            before, drawn[name] = drawn[name], drawn[name] + target
            epochs = target / tokens if tokens else None
            after = drawn[name] / tokens if tokens else None
            rows.append(
                {
                    "name": name,
                    "ratio": ratio,
                    "target_tokens": round(target),
                    "epochs": epochs,
                    "epochs_after": after,
                }
            )
            where = f"phase {phase['name']}: source {name}"
            if ratio and not tokens:
                warnings.append(f"{where}: no documents, its ratio {ratio:g} cannot be met")
            elif after is not None and after > max_epochs >= before / tokens:
                warnings.append(
                    f"{where} reaches {after:.2f} epochs, more than max_epochs {max_epochs:g}"
                )
        planned.append({"name": phase["name"], "tokens": phase["tokens"], "sources": rows})
    return planned, warnings


def plan_mixture(
    sources: Sequence[dict[str, Any]], token_budget: int | None, max_epochs: float
) -> tuple[int, list[dict[str, Any]], list[str]]:
    """Each source's target tokens and epochs for `token_budget` (default: the largest budget
    no source has to repeat for), and warnings. `sources` have name, ratio, documents, tokens;
    a ratio of None means the source's natural share."""
    total = sum(s["tokens"] for s in sources)
    ratios = [
        s["ratio"] if s["ratio"] is not None else s["tokens"] / max(total, 1) for s in sources
    ]
    if token_budget is None:
        reachable = [s["tokens"] / r for s, r in zip(sources, ratios, strict=True) if s["tokens"]]
        token_budget = int(min(reachable)) if reachable else 0
    planned, warnings = [], []
    for source, ratio in zip(sources, ratios, strict=True):
        target = ratio * token_budget
        epochs = target / source["tokens"] if source["tokens"] else None
        planned.append({**source, "ratio": ratio, "target_tokens": round(target), "epochs": epochs})
        name = source["name"]
        if epochs is None:
            warnings.append(f"source {name}: no documents, its ratio {ratio:g} cannot be met")
        elif epochs > max_epochs:
            warnings.append(
                f"source {name}: {epochs:.2f} epochs needed for ratio {ratio:g} of "
                f"{token_budget:,} tokens, more than max_epochs {max_epochs:g}"
            )
    return token_budget, planned, warnings


def build_manifest(
    *,
    tokenizer: ManifestTokenizer,
    config: dict[str, Any],
    sources: Sequence[dict[str, Any]],
    shards: Sequence[dict[str, Any]],
    token_budget: int | None,
    max_epochs: float,
    phases: Sequence[dict[str, Any]] = (),
) -> Manifest:
    """The manifest for `sources` (name, ratio, documents, tokens) and the written `shards`
    (each with its source, path, sha256, documents, tokens, bytes); with `phases` (name,
    tokens, ratios), each phase's plan."""
    budget, planned, warnings = plan_mixture(sources, token_budget, max_epochs)
    by_source: dict[str, list[dict[str, Any]]] = {s["name"]: [] for s in sources}
    for shard in shards:
        by_source[shard["source"]].append({k: v for k, v in shard.items() if k != "source"})
    for source in planned:
        source["shards"] = sorted(by_source[source["name"]], key=lambda s: s["path"])
    manifest: Manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tokenizer": tokenizer,
        "config": config,
        "config_sha256": config_sha256(config),
        "token_budget": budget,
        "max_epochs": max_epochs,
        "documents": sum(s["documents"] for s in sources),
        "tokens": sum(s["tokens"] for s in sources),
        "sources": planned,
        "warnings": warnings,
    }
    if phases:
        manifest["phases"], phase_warnings = plan_phases(sources, phases, max_epochs)
        manifest["warnings"] = warnings + phase_warnings
    return manifest


# The manifest's fields and their JSON types, checked before any figure is recomputed.
_INT, _NUMBER, _TEXT = ("integer", int), ("number", (int, float)), ("string", str)
_FIELDS: dict[str, dict[str, tuple[str, Any]]] = {
    "manifest": {
        "tokenizer": ("object", dict),
        "config": ("object", dict),
        "config_sha256": _TEXT,
        "token_budget": _INT,
        "max_epochs": _NUMBER,
        "documents": _INT,
        "tokens": _INT,
        "sources": ("list", list),
        "warnings": ("list", list),
    },
    "tokenizer": {"path": _TEXT, "sha256": _TEXT, "vocab_size": _INT, "eos_id": _INT},
    "source": {
        "name": _TEXT,
        "ratio": _NUMBER,
        "documents": _INT,
        "tokens": _INT,
        "target_tokens": _INT,
        "shards": ("list", list),
    },
    "shard": {"path": _TEXT, "sha256": _TEXT, "documents": _INT, "tokens": _INT, "bytes": _INT},
}


def _type_problems(where: str, value: Any, kind: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: not an object"]
    problems = []
    for key, (name, types) in _FIELDS[kind].items():
        found = value.get(key)
        if (
            not isinstance(found, types)
            or isinstance(found, bool)
            or (isinstance(found, (int, float)) and not isinstance(found, bool) and found < 0)
        ):
            problems.append(f"{where}.{key}: {found!r} is not a non-negative {name}")
    return problems


def _structure_problems(manifest: Any) -> list[str]:
    problems = _type_problems("manifest", manifest, "manifest")
    if problems:
        return problems
    problems += _type_problems("tokenizer", manifest["tokenizer"], "tokenizer")
    if not manifest["sources"]:
        problems.append("sources: empty")
    for i, source in enumerate(manifest["sources"]):
        problems += _type_problems(f"sources[{i}]", source, "source")
        for j, shard in enumerate(source.get("shards", []) if isinstance(source, dict) else []):
            problems += _type_problems(f"sources[{i}].shards[{j}]", shard, "shard")
    return problems


def _plan_problems(manifest: dict[str, Any]) -> list[str]:
    """The mixture figures recomputed from the config and the counts, against the manifest's."""
    problems = []
    if manifest["config_sha256"] != config_sha256(manifest["config"]):
        problems.append("config_sha256 does not match config: the config was edited")
    sources = manifest["sources"]
    names = [s["name"] for s in sources]
    if len(set(names)) != len(names):
        problems.append(f"sources: names repeat: {names}")
    if bad := [s["name"] for s in sources if not 0 <= s["ratio"] <= 1]:
        problems.append(f"sources {bad}: ratio outside [0, 1]")
    if abs(sum(s["ratio"] for s in sources) - 1) > 1e-6:
        problems.append(f"ratios sum to {sum(s['ratio'] for s in sources):g}, not 1")
    mixture = manifest["config"].get("mixture") or {}
    configured = mixture_ratios(mixture)
    if mixture and set(configured) != set(names):
        problems.append(f"sources {sorted(names)} differ from the config's {sorted(configured)}")
        return problems
    if mixture and mixture.get("max_epochs") != manifest["max_epochs"]:
        problems.append(f"max_epochs {manifest['max_epochs']} differs from the config's")
    counts = [
        {
            "name": s["name"],
            "ratio": configured.get(s["name"]),
            **{k: s[k] for k in ("documents", "tokens")},
        }
        for s in sources
    ]
    budget, planned, warnings = plan_mixture(
        counts, mixture_budget(mixture), manifest["max_epochs"]
    )
    if budget != manifest["token_budget"]:
        problems.append(f"token_budget {manifest['token_budget']:,} is not the planned {budget:,}")
    for source, plan in zip(sources, planned, strict=True):
        for key in ("ratio", "target_tokens", "epochs"):
            if not _same(source.get(key), plan[key]):
                problems.append(
                    f"source {source['name']}: {key} {source.get(key)!r} is not the planned "
                    f"{plan[key]!r}"
                )
    phases, phase_warnings = plan_phases(
        counts, mixture.get("phases") or [], manifest["max_epochs"]
    )
    problems += _phase_problems(manifest.get("phases"), phases)
    if manifest["warnings"] != warnings + phase_warnings:
        problems.append("warnings differ from the ones the mixture implies")
    return problems


def _phase_problems(recorded: Any, planned: list[ManifestPhase]) -> list[str]:
    """The manifest's phases against the ones its config and counts imply."""
    if not planned:
        return [] if recorded is None else ["phases: listed, but the config has none"]
    if not isinstance(recorded, list) or len(recorded) != len(planned):
        return [f"phases: not the {len(planned)} phases of the config"]
    problems = []
    for phase, plan in zip(recorded, planned, strict=True):
        where = f"phase {plan['name']}"
        rows = phase.get("sources") if isinstance(phase, dict) else None
        if (
            not isinstance(phase, dict)
            or (phase.get("name"), phase.get("tokens")) != (plan["name"], plan["tokens"])
            or not isinstance(rows, list)
            or [r.get("name") if isinstance(r, dict) else None for r in rows]
            != [r["name"] for r in plan["sources"]]
        ):
            problems.append(f"{where}: name, tokens or sources are not the config's")
            continue
        for row, want in zip(rows, plan["sources"], strict=True):
            for key in ("ratio", "target_tokens", "epochs", "epochs_after"):
                if not _same(row.get(key), want[key]):
                    problems.append(
                        f"{where}: source {want['name']}: {key} {row.get(key)!r} is not the "
                        f"planned {want[key]!r}"
                    )
    return problems


def _same(recorded: Any, planned: float | None) -> bool:
    if planned is None or recorded is None or isinstance(recorded, bool):
        return recorded is planned
    return isinstance(recorded, (int, float)) and abs(recorded - planned) <= 1e-9 * max(
        1.0, abs(planned)
    )


def manifest_problems(manifest: Any) -> list[str]:
    """Everything wrong with a manifest's own content, one line each: fields of the wrong
    type, ratios that are not a distribution, and every derived figure (token budget, each
    source's target and epochs, the warnings) recomputed from its config and counts. What
    `verify` reports before it reads a shard, and what the sampler refuses."""
    return _structure_problems(manifest) or _plan_problems(manifest)


def load_manifest(root: str | Path) -> dict[str, Any]:
    path = storage.join(root, MANIFEST_FILE)
    try:
        manifest = json.loads(storage.read_text(path))
    except (OSError, ValueError) as err:
        raise ManifestError(f"cannot read {path}: {err}") from None
    if not isinstance(manifest, dict):
        raise ManifestError(f"{path}: not a JSON object")
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise ManifestError(
            f"{path}: not a {FORMAT} manifest of version {FORMAT_VERSION} "
            f"(format {manifest.get('format')!r}, version {manifest.get('format_version')!r})"
        )
    return manifest


def shard_path(root: Path, relative: str) -> Path:
    """A manifest's shard path, refused if it would leave the export directory."""
    return root.joinpath(*_shard_parts(relative))


def _shard_parts(relative: str) -> tuple[str, ...]:
    parts = PurePosixPath(relative).parts
    if (
        not parts
        or parts[0] != SHARDS_DIR
        or ".." in parts
        or PurePosixPath(relative).is_absolute()
    ):
        raise ManifestError(f"shard path {relative!r} is not under {SHARDS_DIR}/")
    return parts


def _control_id_problems(name: str, ids: pa.ChunkedArray, tokenizer: dict[str, Any]) -> list[str]:
    """Control ids (the exporter's `</s>` aside) come from text that forged them: a document
    may hold one only as its last token, and only `</s>`."""
    control = np.asarray(tokenizer.get("control_ids", []), dtype=np.int64)
    if not len(control):
        return []
    problems = []
    for chunk in ids.chunks:
        flat = chunk.flatten().to_numpy().astype(np.int64)
        offsets = chunk.offsets.to_numpy()
        ends = offsets[1:] - offsets[0] - 1
        found = np.flatnonzero(np.isin(flat, control))
        allowed = ends[ends >= 0]
        allowed = allowed[flat[allowed] == tokenizer["eos_id"]]
        if len(forged := np.setdiff1d(found, allowed)):
            first = int(flat[forged[0]])
            problems.append(
                f"{name}: {len(forged)} control ids inside documents (e.g. {first}): "
                "text was encoded with a tokenizer whose special tokens text can produce"
            )
    return problems


def _shard_problems(root: str, shard: dict[str, Any], tokenizer: dict[str, Any]) -> list[str]:
    name = shard["path"]
    try:
        path = storage.join(root, *_shard_parts(name))
    except ManifestError as err:
        return [str(err)]
    if not storage.is_file(path):
        return [f"{name}: missing"]
    problems = []
    if (digest := sha256_file(path)) != shard["sha256"]:
        problems.append(f"{name}: sha256 {digest} != manifest {shard['sha256']}")
    try:
        with storage.open_input(path) as source:
            table = pa.ipc.open_stream(source).read_all()
    except (OSError, pa.ArrowInvalid) as err:
        return [*problems, f"{name}: not a readable Arrow stream: {err}"]
    if missing := [c for c in SHARD_COLUMNS if c not in table.schema.names]:
        return [*problems, f"{name}: columns {missing} missing"]
    counts = table.column("num_tokens")
    tokens = int(pc.sum(counts).as_py() or 0)
    if table.num_rows != shard["documents"] or tokens != shard["tokens"]:
        problems.append(
            f"{name}: {table.num_rows} documents and {tokens} tokens, manifest says "
            f"{shard['documents']} and {shard['tokens']}"
        )
    ids = table.column("input_ids")
    lengths = [chunk.value_lengths().to_numpy() for chunk in ids.chunks]
    if not np.array_equal(np.concatenate([np.zeros(0, np.int32), *lengths]), counts.to_numpy()):
        problems.append(f"{name}: num_tokens differs from the length of input_ids")
    largest = pc.max(pc.list_flatten(ids)).as_py() if tokens else None
    if largest is not None and largest >= tokenizer["vocab_size"]:
        vocab_size = tokenizer["vocab_size"]
        problems.append(f"{name}: token id {largest} outside the vocabulary ({vocab_size})")
    return problems + _control_id_problems(name, ids, tokenizer)


def shard_file_damage(root: str) -> str | None:
    """The first token shard a complete export's manifest lists that is missing or has
    another size than recorded, or None (no shard is read: `verify_export` reads them)."""
    try:
        manifest = load_manifest(root)
        listed = [shard for source in manifest["sources"] for shard in source["shards"]]
        for shard in listed:
            found = storage.stat(storage.join(root, *_shard_parts(shard["path"])))
            if found is None:
                return f"{shard['path']} is missing"
            if found.size != shard["bytes"]:
                return f"{shard['path']} has {found.size:,} bytes, {shard['bytes']:,} when written"
    except (ManifestError, KeyError, TypeError) as err:
        return f"{MANIFEST_FILE}: {err}"
    return None


def verify_export(root: str | Path) -> tuple[list[str], dict[str, int]]:
    """Every mismatch between an export directory and its manifest (empty when it is intact),
    and what was checked."""
    root = storage.absolute(root)
    try:
        manifest = load_manifest(root)
    except ManifestError as err:
        return [str(err)], {}
    if problems := manifest_problems(manifest):
        return problems, {}
    listed: set[str] = set()
    for source in manifest["sources"]:
        for shard in source["shards"]:
            listed.add(shard["path"])
            problems += _shard_problems(root, shard, manifest["tokenizer"])
        for key in ("documents", "tokens"):
            summed = sum(shard[key] for shard in source["shards"])
            if summed != source[key]:
                problems.append(
                    f"source {source['name']}: shards hold {summed} {key}, "
                    f"manifest says {source[key]}"
                )
    for key in ("documents", "tokens"):
        summed = sum(source[key] for source in manifest["sources"])
        if summed != manifest[key]:
            problems.append(f"sources hold {summed} {key}, manifest total says {manifest[key]}")
    on_disk = {
        location[len(root) :].lstrip("/" + os.sep).replace(os.sep, "/")
        for location in storage.list_files(storage.join(root, SHARDS_DIR), recursive=True)
    }
    problems += [f"{path}: not listed in the manifest" for path in sorted(on_disk - listed)]
    tokenizer = storage.beside(root, manifest["tokenizer"]["path"])  # relative to the manifest
    if storage.is_file(tokenizer) and sha256_file(tokenizer) != manifest["tokenizer"]["sha256"]:
        problems.append(f"tokenizer {tokenizer}: changed since the export (sha256 differs)")
    checked = {
        "shards": len(listed),
        "documents": manifest["documents"],
        "tokens": manifest["tokens"],
        "tokenizer_checked": int(storage.is_file(tokenizer)),
    }
    return problems, checked
