"""Compression ratio: how much of a text a general-purpose compressor cannot predict from the
text itself, a cheap density signal (the Yi report's "compression rate").

Repetitive pages (listings, templated spam, boilerplate repeated down the page) compress far
better than prose; garbled or random text compresses worse. The raw ratio is zstd's compressed
size of the UTF-8 text over its size, with the frame's fixed overhead (the size of an empty
frame) subtracted; frames carry no checksum or content size, so that overhead is the same for
every text. A compressor finds more to reuse in a longer text, so even prose compresses better
the longer it is (0.77 at 128 bytes of English, 0.42 at 16 KiB): the score divides the raw
ratio by what Wikipedia prose of the same length and script gets (`REFERENCE_RATIOS`), so 1 is
as dense as encyclopedia prose whatever the length, below 1 repetitive, above 1 dense or random.
docs/scorers.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import zstandard

from stages.text import CHARACTER_LANGS, JIEBA_LANGS

LEVEL = 3  # zstd's default: >100 MB/s here, and its ratio ranks texts as the slow levels do
# Median raw ratio of 200 windows of 2**6 ... 2**17 bytes of data_samples/wiki (articles joined
# by blank lines), English and Chinese; tests/test_score_compression.py measures them again.
REFERENCE_LENGTHS = 2.0 ** np.arange(6, 18)
REFERENCE_RATIOS = {
    "latin": (1.0, 0.773, 0.682, 0.625, 0.559, 0.514, 0.474, 0.444, 0.416, 0.396, 0.383, 0.373),
    "cjk": (1.0, 1.0, 0.871, 0.793, 0.708, 0.647, 0.604, 0.574, 0.552, 0.549, 0.529, 0.515),
}


@cache
def _compressor() -> tuple[zstandard.ZstdCompressor, int]:
    params = {"level": LEVEL, "write_checksum": False, "write_content_size": False}
    compressor = zstandard.ZstdCompressor(**params)
    return compressor, len(compressor.compress(b""))


def raw_ratios(texts: Sequence[str]) -> np.ndarray:
    """Compressed bytes (frame overhead off) over UTF-8 bytes of each text (0 if empty), and
    the byte lengths."""
    compressor, overhead = _compressor()
    ratios = np.zeros(len(texts))
    sizes = np.zeros(len(texts))
    for i, text in enumerate(texts):
        raw = text.encode("utf-8", "surrogatepass")
        sizes[i] = len(raw)
        if raw:
            ratios[i] = (len(compressor.compress(raw)) - overhead) / len(raw)
    return np.stack([ratios, sizes])


def reference_ratio(sizes: np.ndarray, script: str) -> np.ndarray:
    """What reference prose of these byte lengths gets (interpolated in log length; held at
    the ends of the measured range)."""
    table = np.array(REFERENCE_RATIOS[script])
    return np.interp(np.log2(np.maximum(sizes, 1)), np.log2(REFERENCE_LENGTHS), table)


def compression_ratios(texts: Sequence[str], langs: Sequence[str | None]) -> list[float]:
    """Each text's raw ratio over the reference ratio of its length and script (0: empty)."""
    ratios, sizes = raw_ratios(texts)
    cjk = np.array([lang in JIEBA_LANGS or lang in CHARACTER_LANGS for lang in langs], bool)
    expected = np.where(cjk, reference_ratio(sizes, "cjk"), reference_ratio(sizes, "latin"))
    return (ratios / expected).tolist()
