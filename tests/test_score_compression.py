"""compression_ratio: zstd's compressed size over the UTF-8 size (frame overhead off), over what
Wikipedia prose of the same length and script gets."""

from __future__ import annotations

import json

import numpy as np
import pytest
import zstandard

from stages.score.compression import (
    LEVEL,
    REFERENCE_LENGTHS,
    REFERENCE_RATIOS,
    compression_ratios,
    raw_ratios,
    reference_ratio,
)
from tests.conftest import SAMPLES
from tests.real_texts import real_documents

DOCUMENTS = real_documents(per_file=40)


def test_the_raw_ratio_is_the_compressed_size_without_the_frame_overhead() -> None:
    text = DOCUMENTS[0][0]
    raw = text.encode("utf-8")
    frame = zstandard.ZstdCompressor(level=LEVEL, write_checksum=False, write_content_size=False)
    expected = (len(frame.compress(raw)) - len(frame.compress(b""))) / len(raw)
    ratios, sizes = raw_ratios([text, ""])
    assert ratios.tolist() == [expected, 0.0] and sizes.tolist() == [len(raw), 0]
    assert compression_ratios([""], ["en"]) == [0.0]


@pytest.mark.parametrize(
    ("script", "path"),
    [("latin", "wiki/enwiki_wikitext2.jsonl"), ("cjk", "wiki/zhwiki_cmrc2018.jsonl")],
)
def test_the_reference_ratios_are_those_of_the_bundled_wikipedia(script: str, path: str) -> None:
    lines = (SAMPLES / path).read_text(encoding="utf-8").splitlines()
    stream = "\n\n".join(json.loads(line)["text"] for line in lines).encode()
    rng = np.random.default_rng(0)
    measured = []
    for n in REFERENCE_LENGTHS.astype(int):
        starts = rng.integers(0, len(stream) - n, 200)
        windows = [stream[s : s + n].decode("utf-8", "ignore") for s in starts]
        measured.append(float(np.median(raw_ratios(windows)[0])))
    assert measured == pytest.approx(REFERENCE_RATIOS[script], abs=0.01)
    assert reference_ratio(np.array([10.0, 2.0**20]), script).tolist() == [
        REFERENCE_RATIOS[script][0],
        REFERENCE_RATIOS[script][-1],
    ]


def test_prose_is_near_one_at_any_length_and_repetition_far_below() -> None:
    texts = [text for text, _ in DOCUMENTS if len(text) > 300]
    langs = [lang for text, lang in DOCUMENTS if len(text) > 300]
    ratios = compression_ratios(texts, langs)
    assert 0.85 < float(np.median(ratios)) < 1.15
    item = "blue cotton shirt, size M, price $19.99, in stock"
    listing = "".join(f"Item {i}: {item}\n" for i in range(60))
    spam = "Buy cheap watches! Best price! Click here now! " * 40
    assert max(compression_ratios([listing, spam], ["en", "en"])) < 0.5 < np.percentile(ratios, 5)
