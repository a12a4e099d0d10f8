"""Packed training sequences drawn from an export in its manifest's mixture ratios.

    from pipeline.mixture import MixtureSampler
    sampler = MixtureSampler("work/export", seq_len=4097, seed=0, rank=rank, world_size=world)
    for sample in sampler:            # endless; sample.tokens is a uint16/uint32 array
        train_on(sample.tokens)
        if time_to_checkpoint:
            save(sampler.state_dict())   # later: MixtureSampler(..., state=saved)

How it works (importable without Ray; reads shards by memory map, copying only the tokens
of the samples it returns):

* **Which source**: each rank's sample n comes from the source furthest below its target
  share of that rank's samples so far: the one maximising `ratio * (n + 1) - taken`. Every
  source's share of a rank's first n samples is within 1/n of its ratio, with no randomness
  to drift, on every rank alike.
* **Which tokens**: each source is one endless stream of its documents (each ends with
  `</s>`), epoch after epoch, every epoch in its own seeded document order, cut into
  `seq_len` slices. Rank r of w takes slices r, r + w, r + 2w, ... of each source, so samples
  are packed (no padding), ranks never share a slice, and within an epoch no two samples
  share a token. All ranks run the same schedule, so together they consume each source's
  slices in order, without gaps.
* **Phases**: when the manifest has training phases, each phase holds
  ceil(tokens / (seq_len * world_size)) samples of every rank, drawn at the phase's ratios
  (the shares above count from the phase's first sample), one phase after the other; the
  sources' streams run on across a boundary, so no slice is drawn twice. The iteration ends
  after the last phase. Without phases it is one endless phase at the sources' ratios.
* **Resume**: `state_dict()` holds the rank's next sample, its phase and per-source counts
  (in all and in the phase); a sampler built with it continues exactly where the saved one
  stopped, across a phase boundary too.

Memory per source: three integers per document (which batch, where, how long) plus the
current epoch's order, not the tokens.
"""

from __future__ import annotations

import hashlib
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from core.manifest import MANIFEST_FILE, ManifestError, load_manifest, manifest_problems, shard_path

STATE_VERSION = 2  # 1: without phases (accepted for a manifest without phases)
# Longer samples are refused up front (one sample is read into memory: 2**27 uint16 tokens is
# 256 MiB; longer contexts are built from several samples).
MAX_SEQ_LEN = 2**27


@dataclass(frozen=True)
class Sample:
    index: int  # this rank's sample number n; the global one is n * world_size + rank
    source: str
    position: int  # first token's position in the source's stream (epochs concatenated)
    tokens: np.ndarray
    phase: str | None = None  # the training phase (None: the manifest has none)


@dataclass(frozen=True)
class Phase:
    """A stretch of each rank's samples, [start, end), drawn at `ratios` (one per stream)."""

    name: str | None
    ratios: np.ndarray
    start: int
    end: int | None  # None: endless


class SourceStream:
    """One source's documents as an endless token stream, epoch after epoch, each epoch in a
    document order drawn from `seed`."""

    def __init__(self, root: Path, source: dict[str, Any], seed: int) -> None:
        self.name, self.seed = source["name"], seed
        self._maps: list[pa.MemoryMappedFile] = []  # kept open: the segments are views of them
        self._segments: list[np.ndarray] = []  # one flat token array per record batch
        segment_of, starts, lengths = [], [], []
        for shard in source["shards"]:
            mapped = pa.memory_map(str(shard_path(root, shard["path"])))
            self._maps.append(mapped)
            documents = 0
            for batch in pa.ipc.open_stream(mapped):
                ids = batch.column("input_ids")
                offsets = ids.offsets.to_numpy().astype(np.int64)
                segment_of.append(np.full(batch.num_rows, len(self._segments), np.int32))
                starts.append(offsets[:-1])
                lengths.append(np.diff(offsets))
                self._segments.append(ids.values.to_numpy(zero_copy_only=True))
                documents += batch.num_rows
            if documents != shard["documents"]:
                raise ValueError(
                    f"{shard['path']}: {documents} documents, the manifest says "
                    f"{shard['documents']}; run datapipe verify"
                )
        self.doc_segment = np.concatenate([np.zeros(0, np.int32), *segment_of])
        self.doc_start = np.concatenate([np.zeros(0, np.int64), *starts])
        self.doc_length = np.concatenate([np.zeros(0, np.int64), *lengths])
        self.tokens = int(self.doc_length.sum())
        self._epoch: int | None = None
        self._order = self._ends = np.zeros(0, np.int64)

    def _epoch_order(self, epoch: int) -> None:
        if self._epoch == epoch:
            return
        name_key = zlib.crc32(self.name.encode())
        rng = np.random.default_rng([self.seed, name_key, epoch])
        self._order = rng.permutation(len(self.doc_length))
        self._ends = np.cumsum(self.doc_length[self._order])
        self._epoch = epoch

    def read(self, position: int, length: int) -> np.ndarray:
        """Tokens [position, position + length) of the stream."""
        pieces, remaining = [], length
        while remaining:
            epoch, offset = divmod(position, self.tokens)
            self._epoch_order(epoch)
            k = int(np.searchsorted(self._ends, offset, side="right"))
            doc = self._order[k]
            into = offset - (int(self._ends[k]) - int(self.doc_length[doc]))
            take = min(remaining, int(self.doc_length[doc]) - into)
            start = int(self.doc_start[doc]) + into
            pieces.append(self._segments[self.doc_segment[doc]][start : start + take])
            position, remaining = position + take, remaining - take
        return np.concatenate(pieces)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class MixtureSampler:
    """Endless packed samples of `seq_len` tokens for one data-parallel rank (module doc)."""

    def __init__(
        self,
        export_dir: str | Path,
        seq_len: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        state: dict[str, Any] | None = None,
    ) -> None:
        if not 0 < seq_len <= MAX_SEQ_LEN or not 0 <= rank < world_size:
            raise ValueError(
                f"need 0 < seq_len <= {MAX_SEQ_LEN:,} and 0 <= rank < world_size, "
                f"got seq_len {seq_len:,}, rank {rank}, world_size {world_size}"
            )
        root = Path(export_dir)
        manifest = load_manifest(root)
        if problems := manifest_problems(manifest):
            raise ManifestError(
                f"{root / MANIFEST_FILE} is invalid ({len(problems)} problems, first: "
                f"{problems[0]}); run datapipe verify"
            )
        self.manifest_sha256 = hashlib.sha256((root / MANIFEST_FILE).read_bytes()).hexdigest()
        self.seq_len, self.seed, self.rank, self.world_size = seq_len, seed, rank, world_size
        sources = [s for s in manifest["sources"] if s["tokens"]]
        if empty := [s["name"] for s in manifest["sources"] if not s["tokens"]]:
            warnings.warn(f"sources without tokens are skipped: {empty}", stacklevel=2)
        if not sources:
            raise ValueError(f"{root}: the export holds no tokens")
        self.streams = [SourceStream(root, s, seed) for s in sources]
        self.phases = _phases(manifest, [s["name"] for s in sources], seq_len * world_size)
        self.next_index = self.phase = 0
        self.taken = np.zeros(len(sources), np.int64)
        self.phase_taken = np.zeros(len(sources), np.int64)  # in the current phase
        if state is not None:
            self._load_state(state)

    @property
    def samples(self) -> int | None:
        """This rank's samples in all phases (None: endless)."""
        return self.phases[-1].end

    def _identity(self) -> dict[str, Any]:
        return {
            "manifest_sha256": self.manifest_sha256,
            "seq_len": self.seq_len,
            "seed": self.seed,
            "rank": self.rank,
            "world_size": self.world_size,
        }

    def state_dict(self) -> dict[str, Any]:
        """Where this sampler is (JSON-able): pass it as `state` to continue from here."""
        return {
            "version": STATE_VERSION,
            **self._identity(),
            "next_index": self.next_index,
            "taken": self.taken.tolist(),
            "phase": self.phase,
            "phase_taken": self.phase_taken.tolist(),
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        if state.get("version") == 1 and self.phases[0].name is None:
            state = {**state, "version": 2, "phase": 0, "phase_taken": state.get("taken")}
        expected = {"version": STATE_VERSION, **self._identity()}
        differ = {k: (state.get(k), v) for k, v in expected.items() if state.get(k) != v}
        if differ:
            raise ValueError(f"saved sampler state does not match this sampler: {differ}")
        index, phase = state.get("next_index"), state.get("phase")
        taken, phase_taken = _counts(state.get("taken")), _counts(state.get("phase_taken"))
        valid = (
            _count(index)
            and _count(phase)
            and phase < len(self.phases)
            and len(taken) == len(phase_taken) == len(self.streams)
            and sum(taken) == index
            and all(t >= p for t, p in zip(taken, phase_taken, strict=True))
            and sum(phase_taken) == index - self.phases[phase].start
            and (self.phases[phase].end is None or index <= self.phases[phase].end)
        )
        if not valid:
            raise ValueError(
                f"saved sampler state is malformed: next_index {index!r} must be the sum of "
                f"taken {state.get('taken')!r}, one count >= 0 per source "
                f"({len(self.streams)}), and phase {phase!r} with phase_taken "
                f"{state.get('phase_taken')!r} the samples since that phase began"
            )
        self.next_index, self.phase = index, phase
        self.taken = np.array(taken, np.int64)
        self.phase_taken = np.array(phase_taken, np.int64)

    def _enter_phase(self) -> bool:
        """Move on to the phase of sample `next_index`; False once every phase is drawn."""
        while (end := self.phases[self.phase].end) is not None and self.next_index >= end:
            if self.phase + 1 == len(self.phases):
                return False
            self.phase += 1
            self.phase_taken[:] = 0
        return True

    def _choose(self) -> int:
        """The source of this rank's sample `next_index` (the furthest below its share of
        the phase so far)."""
        phase = self.phases[self.phase]
        deficit = phase.ratios * (self.next_index - phase.start + 1) - self.phase_taken
        return int(np.argmax(deficit))

    def __iter__(self) -> Iterator[Sample]:
        while self._enter_phase():
            source = self._choose()
            index, taken = self.next_index, int(self.taken[source])
            self.taken[source] += 1
            self.phase_taken[source] += 1
            self.next_index += 1
            stream = self.streams[source]
            position = (taken * self.world_size + self.rank) * self.seq_len
            tokens = stream.read(position, self.seq_len)
            yield Sample(index, stream.name, position, tokens, self.phases[self.phase].name)


def _counts(value: Any) -> list[int]:
    """A list of counts >= 0, or an empty list when `value` is not one."""
    if isinstance(value, list) and all(map(_count, value)):
        return value
    return []


def _phases(manifest: dict[str, Any], names: list[str], tokens_per_sample: int) -> list[Phase]:
    """The manifest's phases over the sources with tokens (`names`), each as many samples per
    rank as its tokens fill; without phases, one endless phase at the sources' ratios."""
    if "phases" not in manifest:
        ratios = {s["name"]: s["ratio"] for s in manifest["sources"]}
        return [Phase(None, _normalized(ratios, names, "the mixture"), 0, None)]
    phases, start = [], 0
    for phase in manifest["phases"]:
        ratios = {row["name"]: row["ratio"] for row in phase["sources"]}
        end = start + -(-phase["tokens"] // tokens_per_sample)  # ceil
        phases.append(
            Phase(phase["name"], _normalized(ratios, names, f"phase {phase['name']}"), start, end)
        )
        start = end
    return phases


def _normalized(ratios: dict[str, float], names: list[str], where: str) -> np.ndarray:
    found = np.array([ratios.get(name, 0.0) for name in names], np.float64)
    if not found.sum() > 0:
        raise ValueError(f"{where} draws only from sources without tokens")
    return found / found.sum()
