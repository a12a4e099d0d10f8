"""The encode stage: token ids for every document, lossless, uint16, with </s>, and the same
bytes through Ray and in-process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.executor import LocalExecutor, RayExecutor, RaySettings
from pipeline.runner import StageRun, run_stage
from pipeline.shards import list_shards, read_table
from pipeline.train_tokenizer import train_tokenizer
from stages.encode.stage import EncodeConfig
from tests.test_minhash_stage import write_stage_dir
from tests.test_runner import stage_files
from tokenizer.encode import Tokenizer
from tokenizer.train import TokenizerConfig


@pytest.fixture(scope="module")
def corpus(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A stage directory of real English and Chinese reference text, and a small tokenizer
    trained on it."""
    root = tmp_path_factory.mktemp("encode")
    with (shared / "reference/cmrc2018_zh_wikipedia.jsonl").open() as lines:
        chinese = [json.loads(line)["text"] for line in lines][:300:3]
    english = (shared / "reference/wikitext2-valid.txt").read_text().split("\n \n")[:200]
    texts = [t for t in chinese + english if t.strip()] + ["", "数字 12345 and emoji 🙂\t\x01"]
    rows = [{"id": f"d{i:04d}", "text": t} for i, t in enumerate(texts)]
    inputs = write_stage_dir(root / "in", [rows[::2], rows[1::2]])
    config = TokenizerConfig(
        vocab_size=3000, allow_smaller_vocabulary=True, character_coverage=0.995, heldout_share=0
    )
    train_tokenizer([str(inputs)], root / "tok" / "test", config)
    return inputs, root / "tok" / "test.model"


def encode(inputs: Path, model: Path, output: Path, executor: object) -> dict:
    run = StageRun("encode", EncodeConfig(tokenizer=str(model)), [str(inputs)], str(output))
    return run_stage(run, executor, progress=False)  # type: ignore[arg-type]


def test_every_document_round_trips_and_ends_with_eos(
    corpus: tuple[Path, Path], tmp_path: Path
) -> None:
    inputs, model = corpus
    stats = encode(inputs, model, tmp_path / "enc", LocalExecutor())
    table = read_table(list_shards(tmp_path / "enc"))
    tok = Tokenizer.load(str(model))
    assert table.schema.field("input_ids").type.value_type == "uint16"
    assert stats["docs_in"] == stats["docs_kept"] == table.num_rows
    eos = tok.processor.eos_id()
    for ids, text, count in zip(
        table.column("input_ids").to_pylist(),
        table.column("text").to_pylist(),
        table.column("num_tokens").to_pylist(),
        strict=True,
    ):
        assert ids[-1] == eos and len(ids) == count
        assert 0 not in ids  # byte fallback: never <unk>
        assert tok.decode(np.array(ids[:-1])) == text
    assert stats["counters"]["tokens"] == sum(table.column("num_tokens").to_pylist())


@pytest.mark.ray
def test_ray_and_local_encode_identically(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    inputs, model = corpus
    encode(inputs, model, tmp_path / "local", LocalExecutor())
    ray = RayExecutor(RaySettings(num_cpus=2))
    try:
        encode(inputs, model, tmp_path / "ray", ray)
    finally:
        ray.close()
    assert stage_files(tmp_path / "local") == stage_files(tmp_path / "ray")
