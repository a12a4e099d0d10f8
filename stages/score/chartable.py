"""What Python says of each character, as tables indexed by code point, filled lazily.

The score stage's kernels work on numpy arrays of code points (UTF-32) and look characters up
in these tables instead of calling `re` or `str` methods per character. Each fact is the one
Python gives (`re`'s `\\w`, `\\s` and `\\d`, `str.isalnum`, `str.lower`...), asked once per
process and code point. Unlike `stages.text.class_table`, which asks about all 1.1M code points
up front (half a second, paid by every task process), only the code points that occur are
asked about: a few thousand on a real corpus, in milliseconds. The tables are `np.zeros`, so
only their pages for code points seen become resident.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numba
import numpy as np

from stages.text import HAN_CHAR, PUNCTUATION
from stages.text.codepoints import NO_LOWER

# Flag bits of `flags`, each true of the character itself...
WORD = 1  # re's \w (str.isalnum or "_")
SPACE = 2  # re's \s (str.isspace)
ALNUM = 4  # str.isalnum
HAN = 8  # scripts.HAN_CHAR, what `count_han` counts
PUNCT = 16  # in punctuation.PUNCTUATION, what `DocView.words` strips
# ... or of its lower case (when that is one character: see `lower`)
LOWER_ALNUM = 32  # str.isalnum
LOWER_NUMBER = 64  # re's \d or one of ".,:/%-" (coherence's number tokens)
LOWER_DECIMAL = 128  # re's \d (perplexity's normalization writes it as "0")
LOWER_SPACE = 256  # re's \s
# NO_LOWER (imported) is `lower` of a character whose str.lower is not one character (İ -> i̇)
# or depends on its neighbours (Σ -> σ or final ς): text holding one is lower-cased by Python
# instead.

_N_CODEPOINTS = 0x110000
_SIGMA = 0x3A3
_NUMBER_CHARS = frozenset(".,:/%-")
_DIGIT = re.compile(r"\d")
_WORD = re.compile(r"\w")
_SPACE = re.compile(r"\s")

_known = np.zeros(_N_CODEPOINTS, dtype=bool)
_flags = np.zeros(_N_CODEPOINTS, dtype=np.uint16)
_lower = np.zeros(_N_CODEPOINTS, dtype=np.int32)


def _facts(code: int) -> tuple[int, int]:
    """(flags, lower) of one code point, from Python's own definitions."""
    char = chr(code)
    flags = (
        WORD * bool(_WORD.match(char))
        | SPACE * bool(_SPACE.match(char))
        | ALNUM * char.isalnum()
        | HAN * bool(HAN_CHAR.match(char))
        | PUNCT * (char in PUNCTUATION)
    )
    lowered = char.lower()
    if len(lowered) != 1 or code == _SIGMA:
        return flags, NO_LOWER
    decimal = _DIGIT.match(lowered) is not None
    flags |= (
        LOWER_ALNUM * lowered.isalnum()
        | LOWER_NUMBER * (decimal or lowered in _NUMBER_CHARS)
        | LOWER_DECIMAL * decimal
        | LOWER_SPACE * bool(_SPACE.match(lowered))
    )
    return flags, ord(lowered)


def learn(cp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (flags, lower) tables, filled for every code point of `cp` (read them, do not
    write them)."""
    for code in _unknown(cp, _known).tolist():
        _flags[code], _lower[code] = _facts(code)
    return _flags, _lower


@numba.njit(cache=True, nogil=True)
def _unknown(cp: np.ndarray, known: np.ndarray) -> np.ndarray:
    """The code points of `cp` not known yet, each once; they are marked known."""
    new = [np.int64(c) for c in range(0)]
    for c in cp:
        if not known[c]:
            known[c] = True
            new.append(np.int64(c))
    return np.array(new, dtype=np.int64)


def codepoints(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Code points of the texts, concatenated (uint32), and each text's bounds in them:
    text i is `cp[bounds[i]:bounds[i + 1]]`. surrogatepass: a str from Python (not Arrow) may
    hold a lone surrogate."""
    encoded = b"".join(text.encode("utf-32-le", "surrogatepass") for text in texts)
    bounds = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, texts), np.int64, len(texts)), out=bounds[1:])
    return np.frombuffer(encoded, dtype=np.uint32), bounds


def decode(cp: np.ndarray) -> str:
    return cp.tobytes().decode("utf-32-le", "surrogatepass")
