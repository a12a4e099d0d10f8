"""The tokenizer report: what the vocabulary is made of and how well it compresses each
language's held-out text."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypedDict

from stages.text import CJK_CHAR
from tokenizer.encode import Tokenizer
from tokenizer.train import CONTROL_TOKENS


class VocabularyComposition(TypedDict):
    vocab_size: int
    pieces: dict[str, int]  # kind (control, special, byte, digit, cjk, other) -> pieces
    shares: dict[str, float]


class LanguageCompression(TypedDict):
    documents: int
    bytes_per_token: float
    chars_per_token: float


class TrainingSample(TypedDict):
    source_bytes: dict[str, int]  # text per source in the inputs
    sampled_bytes: dict[str, int]
    sample_rates: dict[str, float]
    heldout_bytes: int
    warnings: list[str]


class TokenizerReport(TypedDict):
    """The tokenizer report, PREFIX.json next to PREFIX.model (train-tokenizer writes it)."""

    model: str  # path of PREFIX.model
    vocab_size: int
    requested_vocab_size: int
    dtype: str  # the token id type: uint16 or uint32
    token_ids: dict[str, int]  # control and special pieces -> id
    training_mb: float
    train_seconds: float
    sample: TrainingSample
    composition: VocabularyComposition
    compression: dict[str, LanguageCompression]  # by lang
    config: dict[str, Any]  # the TokenizerConfig


_BYTE_PIECE = re.compile(r"^<0x[0-9A-F]{2}>$")


def vocabulary_composition(tok: Tokenizer, special_tokens: Sequence[str]) -> VocabularyComposition:
    kinds: dict[str, int] = defaultdict(int)
    special = set(special_tokens)
    control = set(CONTROL_TOKENS)
    for piece in tok.processor.id_to_piece(list(range(tok.vocab_size))):  # one call
        if piece in control:
            kinds["control"] += 1
        elif piece in special:
            kinds["special"] += 1
        elif _BYTE_PIECE.match(piece):
            kinds["byte"] += 1
        elif piece.isdigit():
            kinds["digit"] += 1
        elif CJK_CHAR.search(piece):
            kinds["cjk"] += 1
        else:
            kinds["other"] += 1
    total = tok.vocab_size
    return {
        "vocab_size": total,
        "pieces": dict(sorted(kinds.items())),
        "shares": {k: round(v / total, 4) for k, v in sorted(kinds.items())},
    }


def compression(tok: Tokenizer, heldout_file: Path) -> dict[str, LanguageCompression]:
    """Bytes and characters per token, per `lang`, on the held-out documents."""
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # docs, bytes, chars, tokens
    with heldout_file.open() as lines:
        for line in lines:
            doc = json.loads(line)
            text, lang = doc["text"], doc.get("lang") or "unknown"
            tokens = len(tok.processor.encode(text))
            entry = sums[lang]
            entry[0] += 1
            entry[1] += len(text.encode())
            entry[2] += len(text)
            entry[3] += tokens
    return {
        lang: {
            "documents": docs,
            "bytes_per_token": round(nbytes / max(tokens, 1), 3),
            "chars_per_token": round(chars / max(tokens, 1), 3),
        }
        for lang, (docs, nbytes, chars, tokens) in sorted(sums.items())
    }
