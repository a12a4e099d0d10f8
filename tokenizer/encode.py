"""Encoding with a trained tokenizer: batches of texts to arrays of token ids.

Token ids are uint16 when the vocabulary fits (<= 65,536 pieces, e.g. Yi's 64,000), else
uint32. The processor is loaded once per process (`Tokenizer.load` caches by path), so a Ray
worker that encodes many shards loads the model once.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np

from core.integrity import check_sealed, local_model


class Tokenizer:
    def __init__(self, model_file: str) -> None:
        import sentencepiece as spm

        local = local_model(model_file)
        check_sealed(local)
        self.model_file = model_file
        self.processor = spm.SentencePieceProcessor(model_file=local)
        self.vocab_size = self.processor.get_piece_size()
        self.dtype = np.uint16 if self.vocab_size <= 2**16 else np.uint32

    @staticmethod
    @cache
    def load(model_file: str) -> Tokenizer:
        return Tokenizer(model_file)

    def encode_batch(self, texts: Sequence[str], num_threads: int = 1) -> list[np.ndarray]:
        """One thread encodes text by text in the calling thread: sentencepiece encodes a
        list in threads it starts per call, and each new thread may take another glibc
        malloc arena, so a Ray worker (dozens of threads of its own) kept ~90 MiB more after
        forty shards than after one (docs/scaling.md). Same speed: the encoding is the cost."""
        if num_threads == 1:
            encode = self.processor.encode
            return [np.asarray(encode(text), dtype=self.dtype) for text in texts]
        ids = self.processor.encode(list(texts), num_threads=num_threads)
        return [np.asarray(doc, dtype=self.dtype) for doc in ids]

    def encode_documents(
        self, texts: Sequence[str], append_eos: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every text's ids concatenated (each followed by `</s>` if `append_eos`) and each
        text's number of tokens: the flat layout of an Arrow list column."""
        encoded = self.encode_batch(texts)
        if append_eos:
            eos = self.dtype(self.processor.eos_id())
            encoded = [np.append(ids, eos) for ids in encoded]
        lengths = np.fromiter((len(ids) for ids in encoded), dtype=np.int64, count=len(encoded))
        flat = np.concatenate(encoded) if encoded else np.zeros(0, self.dtype)
        return flat, lengths

    def control_ids(self) -> list[int]:
        """Ids that text never encodes to: control pieces (<s>, </s>, <pad>, the special
        tokens) and <unk> (byte fallback spells every unknown character in bytes)."""
        proc = self.processor
        return [i for i in range(self.vocab_size) if proc.is_control(i) or proc.is_unknown(i)]

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        return self.processor.decode([int(i) for i in ids])

    def piece(self, token: int) -> str:
        return self.processor.id_to_piece(token)
