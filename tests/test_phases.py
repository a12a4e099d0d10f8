"""Training phases: a mixture whose ratios change during training (Yi-9B's second stage with
more code and math, MiniCPM's decay phase). The manifest plans every phase, `verify` checks
every phase, and the sampler follows the phases in order, resumable across a boundary.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from core.manifest import load_manifest, verify_export
from pipeline.mixture import MixtureSampler
from stages.export.routing import MixtureConfig
from tests.test_export import corpus, export, take  # noqa: F401 corpus is a fixture

SEQ_LEN = 64
PHASED = {
    "sources": [{"name": "zh", "lang": ["zh"]}, {"name": "en", "lang": ["en"]}],
    "max_epochs": 0.15,  # the sources hold ~58,000 tokens each: en passes it in stable, zh in decay
    "phases": [
        {"name": "stable", "tokens": 300 * SEQ_LEN, "ratios": {"en": 0.9, "zh": 0.1}},
        {"name": "decay", "tokens": 200 * SEQ_LEN + 1, "ratios": {"zh": 0.8, "en": 0.2}},
    ],
}


@pytest.fixture(scope="module")
def phased(corpus: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    inputs, model = corpus
    output = tmp_path_factory.mktemp("phased") / "export"
    export(inputs, model, output, mixture=PHASED, shard_mb=0.08)
    return output


def test_the_manifest_plans_each_phase_and_where_a_source_passes_max_epochs(
    phased: Path,
) -> None:
    manifest = load_manifest(phased)
    tokens = {s["name"]: s["tokens"] for s in manifest["sources"]}
    stable, decay = manifest["phases"]
    assert (stable["name"], stable["tokens"], decay["tokens"]) == ("stable", 19_200, 12_801)
    zh_stable, zh_decay = stable["sources"][0], decay["sources"][0]
    assert zh_stable["name"] == "zh" and zh_stable["target_tokens"] == round(0.1 * 19_200)
    assert zh_decay["epochs"] == pytest.approx(0.8 * 12_801 / tokens["zh"])
    assert zh_decay["epochs_after"] == pytest.approx((0.1 * 19_200 + 0.8 * 12_801) / tokens["zh"])
    # Overall: each source's share of both phases' tokens, and their sum as the budget.
    assert manifest["token_budget"] == 19_200 + 12_801
    zh = manifest["sources"][0]
    assert zh["ratio"] == pytest.approx((0.1 * 19_200 + 0.8 * 12_801) / 32_001)
    passing = [w for w in manifest["warnings"] if w.startswith("phase ")]
    crossed = {
        (phase["name"], row["name"])
        for phase in manifest["phases"]
        for row in phase["sources"]
        if row["epochs_after"] > 0.15 >= row["epochs_after"] - row["epochs"]
    }
    assert crossed == {("stable", "en"), ("decay", "zh")}
    assert len(passing) == len(crossed)
    assert all(f"phase {p}: source {s} reaches" in " ".join(passing) for p, s in crossed)
    assert verify_export(phased)[0] == []


def test_verify_checks_every_phase(phased: Path, tmp_path: Path) -> None:
    manifest = load_manifest(phased)
    manifest["phases"][1]["sources"][1]["ratio"] = 0.3
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    problems, _ = verify_export(tmp_path)
    assert any(p.startswith("phase decay: source en: ratio 0.3") for p in problems), problems
    del manifest["phases"]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert "phases: not the 2 phases of the config" in verify_export(tmp_path)[0]


def test_the_sampler_draws_each_phase_at_its_ratios_then_stops(phased: Path) -> None:
    sampler = MixtureSampler(phased, seq_len=SEQ_LEN, seed=0)
    samples = list(sampler)
    assert sampler.samples == len(samples) == 300 + 201  # the decay's last token: one more
    stable, decay = samples[:300], samples[300:]
    assert {s.phase for s in stable} == {"stable"} and {s.phase for s in decay} == {"decay"}
    assert Counter(s.source for s in stable) == {"en": 270, "zh": 30}
    assert Counter(s.source for s in decay) == {"zh": 161, "en": 40}
    for source in ("en", "zh"):  # each stream runs on across the boundary, without gaps
        positions = [s.position for s in samples if s.source == source]
        assert positions == list(range(0, SEQ_LEN * len(positions), SEQ_LEN))


def test_ranks_share_each_phase_and_never_a_slice(phased: Path) -> None:
    world = 4
    ranks = [
        list(MixtureSampler(phased, SEQ_LEN, seed=2, rank=r, world_size=world))
        for r in range(world)
    ]
    per_rank = {len(samples) for samples in ranks}
    assert per_rank == {-(-19_200 // (SEQ_LEN * world)) + -(-12_801 // (SEQ_LEN * world))}
    slices = [(s.source, s.position) for samples in ranks for s in samples]
    assert len(set(slices)) == len(slices)


@pytest.mark.parametrize("stop", [1, 299, 300, 301, 450])
def test_resuming_across_the_phase_boundary_continues_exactly(phased: Path, stop: int) -> None:
    uninterrupted = list(MixtureSampler(phased, SEQ_LEN, seed=1))
    first = MixtureSampler(phased, SEQ_LEN, seed=1)
    head = take(first, stop)
    state = json.loads(json.dumps(first.state_dict()))
    tail = list(MixtureSampler(phased, SEQ_LEN, seed=1, state=state))
    assert len(head) + len(tail) == len(uninterrupted)
    for a, b in zip(head + tail, uninterrupted, strict=True):
        assert (a.index, a.phase, a.source, a.position) == (b.index, b.phase, b.source, b.position)
        assert np.array_equal(a.tokens, b.tokens)


@pytest.mark.parametrize(
    "change",
    [
        {"phase": 2},  # there are two phases
        {"phase": 0},  # sample 350 is past the stable phase's 300
        {"phase_taken": [10, 41]},  # 50 samples since the decay began, not 51
        {"phase_taken": None},
    ],
)
def test_a_saved_state_in_the_wrong_phase_is_refused(phased: Path, change: dict) -> None:
    sampler = MixtureSampler(phased, SEQ_LEN)
    take(sampler, 350)
    state = {**sampler.state_dict(), **change}
    with pytest.raises(ValueError, match="saved sampler state is malformed"):
        MixtureSampler(phased, SEQ_LEN, state=state)


@pytest.mark.parametrize(
    ("mixture", "message"),
    [
        ({**PHASED, "sources": [{"name": "zh", "ratio": 1}, {"name": "en"}]}, "per phase"),
        ({**PHASED, "token_budget": 10}, "sum of their tokens"),
        ({**PHASED, "phases": [{"name": "a", "tokens": 1, "ratios": {"code": 1}}]}, "not sources"),
        ({**PHASED, "phases": [{"name": "a", "tokens": 1, "ratios": {"zh": 0.5}}]}, "sum to 1"),
        ({**PHASED, "phases": PHASED["phases"] * 2}, "phase names must be unique"),
        ({"sources": [{"name": "zh"}]}, "need a ratio"),
    ],
)
def test_a_phase_config_that_cannot_be_followed_is_refused(mixture: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MixtureConfig.model_validate(mixture)
