"""Compression ratio: how much of a text a general-purpose compressor cannot predict from the
text itself, a cheap density signal (the Yi report's "compression rate").

Repetitive pages (listings, templated spam, boilerplate repeated down the page) compress far
better than prose; garbled or random text compresses worse. The ratio is zstd's compressed size
of the UTF-8 text over its size, with the frame's fixed overhead (the size of an empty frame)
subtracted, so a short text is not penalised for the header every frame carries. Frames carry
no checksum or content size, so the overhead is the same for every text. docs/scorers.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import zstandard

LEVEL = 3  # zstd's default: >100 MB/s here, and its ratio ranks texts as the slow levels do


@cache
def _compressor() -> tuple[zstandard.ZstdCompressor, int]:
    params = {"level": LEVEL, "write_checksum": False, "write_content_size": False}
    compressor = zstandard.ZstdCompressor(**params)
    return compressor, len(compressor.compress(b""))


def compression_ratios(texts: Sequence[str]) -> list[float]:
    """Compressed bytes over UTF-8 bytes of each text (0 for an empty text)."""
    compressor, overhead = _compressor()
    ratios = []
    for text in texts:
        raw = text.encode("utf-8", "surrogatepass")
        size = len(compressor.compress(raw)) - overhead
        ratios.append(size / len(raw) if raw else 0.0)
    return ratios
