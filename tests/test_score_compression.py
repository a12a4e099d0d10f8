"""compression_ratio: zstd's compressed size over the UTF-8 size, the frame overhead taken off."""

from __future__ import annotations

import zstandard

from stages.score.compression import LEVEL, compression_ratios
from tests.real_texts import real_documents

DOCUMENTS = real_documents(per_file=40)


def test_the_ratio_is_the_compressed_size_without_the_frame_overhead() -> None:
    text = DOCUMENTS[0][0]
    raw = text.encode("utf-8")
    frame = zstandard.ZstdCompressor(level=LEVEL, write_checksum=False, write_content_size=False)
    expected = (len(frame.compress(raw)) - len(frame.compress(b""))) / len(raw)
    assert compression_ratios([text]) == [expected]
    assert compression_ratios([""]) == [0.0]


def test_repetition_compresses_and_prose_does_not() -> None:
    prose = [text for text, lang in DOCUMENTS if len(text) > 2000][:40]
    ratios = compression_ratios(prose)
    listing = "".join(
        f"Item {i}: blue cotton shirt, size M, price $19.99, in stock\n" for i in range(60)
    )
    spam = "Buy cheap watches! Best price! Click here now! " * 40
    assert max(compression_ratios([listing, spam])) < min(ratios)
    assert all(0.2 < r < 0.8 for r in ratios)
