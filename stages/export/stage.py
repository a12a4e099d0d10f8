"""The export stage: the cleaned documents as token shards per mixture source, and a manifest.

Output (the stage directory; docs/export.md):

    shards/<source>/part-NNNNN.arrow   id, input_ids (uint16 up to 65,536 pieces), num_tokens
    manifest.json                      tokenizer, config, per-source ratio, epochs and shards
    rejected/...                       documents not exported, with their reason

Steps (a global stage, docs/architecture.md):

1. `encode`, one task per input shard: route every document to its source (`routing.py`),
   encode the exported ones with the trained tokenizer (ending each with `</s>`), and save the
   shard's token ids grouped by source, with per-document offsets and ids.
2. `layout`, one task per source: walk the source's documents across shards in order and cut
   them into parts of about `shard_mb` each (whole documents, numbered from 0 without gaps).
3. `write`, one task per part: copy the part's documents into `shards/<source>/part-NNNNN.arrow`
   (Arrow IPC stream, written atomically) and hash it.
4. `manifest`, one task: `manifest.json` from the parts' counts and checksums.

Memory per task is bounded by one input shard (encode) or one output part (write). The
runner writes only the rejected rows per input shard: the exported documents leave as tokens.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import Field, field_validator

from core import storage
from core.exchange import Exchange
from core.manifest import (
    MANIFEST_FILE,
    SHARDS_DIR,
    build_manifest,
    mixture_budget,
    mixture_ratios,
    sha256_file,
    token_shard_schema,
)
from core.shards import (
    TMP_SUFFIX,
    RollingShardWriter,
    atomic_write_json,
    read_shard,
    read_shard_schema,
)
from stages.base import BatchOutput, GlobalStage, StageConfig, Step, StepPlan, split_by_rejections
from stages.export.routing import DEFAULT_MAX_EPOCHS, MixtureConfig, Router, load_mixture
from stages.export.summary import ExportSummary
from tokenizer.encode import Tokenizer

# Tokens per record batch of an export shard: batches stay far from the 2**31 limit of a
# list column's offsets, and a reader's unit of work stays small.
MAX_BATCH_TOKENS = 1 << 24


class ExportConfig(StageConfig):
    tokenizer: str | None = Field(
        None,
        description="sentencepiece model (PREFIX.model of train-tokenizer; in a pipeline, "
        "default: the one its train-tokenizer entry trained)",
    )
    mixture: MixtureConfig | None = Field(
        None,
        description="sources with ratios and rules, token budget, max epochs: a YAML file or "
        "inline (default: one source per `source` value, at its natural share)",
    )
    shard_mb: float = Field(128, gt=0, description="size of a token shard (MB of token ids)")
    append_eos: bool = Field(True, description="end every document with </s>")

    _read_mixture_file = field_validator("mixture", mode="before")(load_mixture)


class ExportStage(GlobalStage):
    name = "export"
    summary = "token shards per mixture source with a manifest a trainer can follow"
    config_class = ExportConfig
    writes_kept_rows = False

    def __init__(self, config: ExportConfig) -> None:
        super().__init__(config)
        if config.tokenizer is None:
            raise ValueError(
                "export needs a tokenizer: --tokenizer PREFIX.model, or a train-tokenizer "
                "entry before export in the pipeline config"
            )
        self.config: ExportConfig = config
        self.tokenizer_path: str = config.tokenizer
        self.router = Router(config.mixture)

    def dependencies(self) -> list[str]:
        return [self.tokenizer_path]

    def output_schema(self, input_schema: pa.Schema | None) -> pa.Schema:
        assert input_schema is not None  # noqa: S101 type narrowing: a global stage always has input
        return input_schema

    def describe(self) -> str:
        mixture = self.config.mixture
        if mixture is None:
            return f"tokenizer {self.tokenizer_path}; sources: one per `source` value"
        ratios = mixture_ratios(mixture.model_dump())
        sources = ", ".join(f"{name} {ratio:.3g}" for name, ratio in ratios.items())
        phases = "".join(f"; phase {p.name}: {p.tokens:,} tokens" for p in mixture.phases)
        return f"tokenizer {self.tokenizer_path}; sources: {sources}{phases}"

    def _tokenizer(self) -> Tokenizer:
        return Tokenizer.load(self.tokenizer_path)

    # --- plan -------------------------------------------------------------------------------

    def _columns_no_shard_has(self, shards: Sequence[str]) -> list[str]:
        """The columns the mixture rules read that no input shard has. Chains of sources
        joined for export may differ (one scored, one not): a shard without a column reads
        it as null. Schemas are read until every column is found (usually the first)."""
        missing = set(self.router.columns())
        for shard in shards:
            missing -= set(read_shard_schema(shard).names)
            if not missing:
                break
        return sorted(missing) if shards else []

    def plan(self, shards: Sequence[str]) -> StepPlan:
        if missing := self._columns_no_shard_has(shards):
            raise ValueError(
                f"the mixture rules read columns {missing}, which the input shards lack: "
                "export the output of the stage that adds them"
            )
        encoded = yield Step("encode", len(shards), over="shards")
        sources = self._source_totals(encoded)
        present = [s["name"] for s in sources if s["documents"]]
        part_tokens = (
            int(self.config.shard_mb * 2**20) // np.dtype(self._tokenizer().dtype).itemsize
        )
        layout = {"sources": present, "shards": len(shards), "part_tokens": max(part_tokens, 1)}
        laid_out = yield Step("layout", len(present), layout)
        parts = [[r["source"], r["parts"]] for r in laid_out]
        written = yield Step("write", sum(n for _, n in parts), {"parts": parts})
        shard_keys = ("source", "path", "sha256", "documents", "tokens", "bytes")
        listed = [{k: r[k] for k in shard_keys} for r in written]
        [summary] = yield Step("manifest", 1, {"sources": sources, "shards": listed})
        return summary

    def _source_totals(self, encoded: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Per source (in mixture order, or by name without a mixture): its configured ratio
        (None: natural share), documents and tokens."""
        totals: defaultdict[str, Counter[str]] = defaultdict(Counter)
        for result in encoded:
            for name, counts in result["sources"].items():
                totals[name].update(counts)
        mixture = self.config.mixture
        ratios = mixture_ratios(mixture.model_dump()) if mixture else dict.fromkeys(sorted(totals))
        return [
            {"name": name, "ratio": ratio, **{k: totals[name][k] for k in ("documents", "tokens")}}
            for name, ratio in ratios.items()
        ]

    def run_step(
        self, exchange: Exchange, step: Step, index: int, shard: str | None
    ) -> dict[str, Any]:
        if step.name == "encode":
            assert shard is not None  # noqa: S101 type narrowing: a step over shards gets one
            return self._encode(exchange, index, shard)
        if step.name == "layout":
            return self._layout(exchange, index, step.params)
        if step.name == "write":
            return self._write(exchange, index, step.params["parts"])
        if step.name == "manifest":
            return self._manifest(exchange, step.params)
        raise ValueError(f"export has no step {step.name!r}")

    # --- steps ------------------------------------------------------------------------------

    def _encode(self, exchange: Exchange, shard: int, path: str) -> dict[str, Any]:
        tokenizer = self._tokenizer()
        ids: defaultdict[str, list[str]] = defaultdict(list)
        tokens: defaultdict[str, list[np.ndarray]] = defaultdict(list)
        for batch in read_shard(path):
            routes = self.router.route(batch)
            rows = [i for i, route in enumerate(routes) if isinstance(route, str)]
            # typed: an empty list would be a null array, which `take` refuses
            taken = pa.array(rows, pa.int64())
            texts = batch.column("text").take(taken).to_pylist()
            flat, lengths = tokenizer.encode_documents(texts, self.config.append_eos)
            ends = np.cumsum(lengths)
            doc_ids = batch.column("id").take(taken).to_pylist()
            for row, doc_id, end, length in zip(rows, doc_ids, ends, lengths, strict=True):
                source = routes[row]
                assert isinstance(source, str)  # noqa: S101 type narrowing: rows are the str routes
                ids[source].append(doc_id)
                tokens[source].append(flat[end - length : end])
        # The shard's documents grouped by source (sorted names), in shard order within one.
        names = sorted(ids)
        ranges, first = {}, 0
        for name in names:
            ranges[name] = [first, first + len(ids[name])]
            first += len(ids[name])
        all_tokens = [t for name in names for t in tokens[name]]
        id_bytes = [doc_id.encode() for name in names for doc_id in ids[name]]
        prefix = f"{shard:05d}"
        exchange.save("encode", f"{prefix}.tokens", _concat(all_tokens, tokenizer.dtype))
        exchange.save("encode", f"{prefix}.token_offsets", _offsets(len(t) for t in all_tokens))
        exchange.save("encode", f"{prefix}.id_bytes", np.frombuffer(b"".join(id_bytes), np.uint8))
        exchange.save("encode", f"{prefix}.id_offsets", _offsets(len(b) for b in id_bytes))
        exchange.save_json("encode", f"{prefix}.sources", ranges)
        counts = {
            name: {"documents": len(ids[name]), "tokens": int(sum(len(t) for t in tokens[name]))}
            for name in names
        }
        return {"sources": counts}

    def _layout(self, exchange: Exchange, index: int, params: dict[str, Any]) -> dict[str, Any]:
        """Cut one source's documents, in shard order, into parts of at least `part_tokens`
        tokens (the last part may be smaller); each part is a list of (shard, first, end)."""
        source, target = params["sources"][index], params["part_tokens"]
        parts: list[list[list[int]]] = []
        current: list[list[int]] = []
        filled = 0
        for shard in range(params["shards"]):
            found = exchange.load_json("encode", f"{shard:05d}.sources").get(source)
            if found is None:
                continue
            first, end = found
            offsets = exchange.load("encode", f"{shard:05d}.token_offsets")
            # ends[k]: tokens of documents first..first+k, counted from the first.
            ends = np.asarray(offsets[first + 1 : end + 1]) - offsets[first]
            start, consumed = first, 0
            while start < end:
                k = int(np.searchsorted(ends, consumed + target - filled, side="left"))
                if k >= len(ends):  # the rest of this shard does not fill the part
                    current.append([shard, start, end])
                    filled += int(ends[-1]) - consumed
                    break
                current.append([shard, start, first + k + 1])
                parts.append(current)
                current, filled = [], 0
                start, consumed = first + k + 1, int(ends[k])
        if current:
            parts.append(current)
        # Arrays, not JSON: each write task reads only its own part's rows (memory-mapped).
        pieces = np.array([piece for part in parts for piece in part], np.int64).reshape(-1, 3)
        exchange.save("layout", f"{source}.pieces", pieces)
        exchange.save("layout", f"{source}.part_starts", _offsets(len(part) for part in parts))
        return {"source": source, "parts": len(parts)}

    def _write(self, exchange: Exchange, index: int, parts: list[list[Any]]) -> dict[str, Any]:
        source, index = _locate(parts, index)
        starts = exchange.load("layout", f"{source}.part_starts")
        pieces = exchange.load("layout", f"{source}.pieces")[starts[index] : starts[index + 1]]
        schema = token_shard_schema(pa.from_numpy_dtype(self._tokenizer().dtype))
        directory = storage.join(exchange.stage_dir, SHARDS_DIR, source)
        name = f"part-{index:05d}.arrow"
        for stale in storage.list_files(directory):  # an interrupted attempt's file
            if storage.name(stale).startswith(f"{name}.") and stale.endswith(TMP_SUFFIX):
                storage.delete(stale)
        writer = RollingShardWriter(directory, schema, lambda _: name, target_bytes=2**62)
        documents = tokens = 0
        for shard, first, end in pieces.tolist():
            for batch in _piece_batches(exchange, shard, first, end, schema):
                writer.write(batch)
                documents += batch.num_rows
                tokens += int(np.sum(batch.column("num_tokens").to_numpy()))
        written = writer.close()
        path = storage.join(directory, name)
        return {
            "source": source,
            "path": f"{SHARDS_DIR}/{source}/{name}",
            "sha256": sha256_file(path),
            "documents": documents,
            "tokens": tokens,
            "bytes": written[name],
        }

    def _manifest(self, exchange: Exchange, params: dict[str, Any]) -> ExportSummary:
        tokenizer = self._tokenizer()
        # Relative to the manifest: an export moved with its work dir stays the same bytes.
        tokenizer_path = storage.relative(self.tokenizer_path, exchange.stage_dir)
        mixture = self.config.mixture
        manifest = build_manifest(
            tokenizer={
                "path": tokenizer_path,
                "sha256": sha256_file(self.tokenizer_path),
                "vocab_size": tokenizer.vocab_size,
                "eos_id": tokenizer.processor.eos_id(),
                "control_ids": tokenizer.control_ids(),
                "dtype": np.dtype(tokenizer.dtype).name,
            },
            config={**self.config.model_dump(mode="json"), "tokenizer": tokenizer_path},
            sources=params["sources"],
            shards=params["shards"],
            token_budget=mixture_budget(mixture.model_dump()) if mixture else None,
            max_epochs=mixture.max_epochs if mixture else DEFAULT_MAX_EPOCHS,
            phases=[p.model_dump() for p in mixture.phases] if mixture else [],
        )
        atomic_write_json(storage.join(exchange.stage_dir, MANIFEST_FILE), manifest)
        return {
            "documents": manifest["documents"],
            "tokens": manifest["tokens"],
            "token_budget": manifest["token_budget"],
            "sources": {
                s["name"]: {k: s[k] for k in ("ratio", "documents", "tokens", "epochs")}
                | {"shards": len(s["shards"])}
                for s in manifest["sources"]
            },
            "warnings": manifest["warnings"],
        }

    # --- apply ------------------------------------------------------------------------------

    def apply_batch(
        self, exchange: Exchange, shard: int, first_row: int, batch: pa.RecordBatch
    ) -> BatchOutput:
        routes = self.router.route(batch)
        exported = Counter(f"exported:{r}" for r in routes if isinstance(r, str))
        rejections = [None if isinstance(r, str) else r for r in routes]
        return split_by_rejections(batch, rejections, exported)


def _locate(parts: list[list[Any]], index: int) -> tuple[str, int]:
    """Task `index` of the write step as (source, part), from [[source, parts], ...]."""
    for source, count in parts:
        if index < count:
            return source, index
        index -= count
    raise IndexError(f"write task {index} beyond the planned parts")


def _concat(arrays: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype)


def _offsets(lengths: Iterator[int]) -> np.ndarray:
    """[0, l0, l0 + l1, ...]: where each item starts in the concatenation, and the end."""
    return np.concatenate([[0], np.cumsum(np.fromiter(lengths, np.int64))]).astype(np.int64)


def _piece_batches(
    exchange: Exchange, shard: int, first: int, end: int, schema: pa.Schema
) -> Iterator[pa.RecordBatch]:
    """Documents first..end-1 of an encoded shard as export record batches."""
    prefix = f"{shard:05d}"
    tokens = exchange.load("encode", f"{prefix}.tokens")
    offsets = exchange.load("encode", f"{prefix}.token_offsets")
    id_bytes = exchange.load("encode", f"{prefix}.id_bytes")
    id_offsets = exchange.load("encode", f"{prefix}.id_offsets")
    start = first
    while start < end:
        # As many documents as fit in MAX_BATCH_TOKENS, and at least one.
        fits = int(np.searchsorted(offsets, offsets[start] + MAX_BATCH_TOKENS, side="right")) - 1
        stop = min(max(fits, start + 1), end)
        token_offsets = (offsets[start : stop + 1] - offsets[start]).astype(np.int32)
        ids = pa.array(np.asarray(tokens[offsets[start] : offsets[stop]]))
        id_starts = (id_offsets[start : stop + 1] - id_offsets[start]).astype(np.int32)
        names = np.asarray(id_bytes[id_offsets[start] : id_offsets[stop]])
        columns = [
            pa.StringArray.from_buffers(
                stop - start, pa.py_buffer(id_starts), pa.py_buffer(names.tobytes())
            ),
            pa.ListArray.from_arrays(pa.array(token_offsets), ids),
            pa.array(np.diff(token_offsets)),
        ]
        yield pa.RecordBatch.from_arrays(columns, schema=schema)
        start = stop
