"""The encode stage: every document's token ids, shard-parallel, with the trained tokenizer.

Adds `input_ids` (uint16 when the vocabulary has at most 65,536 pieces, else uint32; with the
end-of-document id appended if configured) and `num_tokens`. The sentencepiece model is loaded
once per worker process (`Tokenizer.load` is cached). Nothing is rejected: an empty document
encodes to no tokens (plus the end-of-document id).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
from pydantic import Field

from pipeline.schema import with_columns, with_fields
from stages.base import BatchOutput, StageConfig, TransformStage, split_by_rejections
from tokenizer.encode import Tokenizer


class EncodeConfig(StageConfig):
    tokenizer: str = Field(description="sentencepiece model (PREFIX.model of train-tokenizer)")
    append_eos: bool = Field(True, description="end every document with </s>")


class EncodeStage(TransformStage):
    name = "encode"
    summary = "token ids of every document with the trained tokenizer"
    config_class = EncodeConfig

    def __init__(self, config: EncodeConfig) -> None:
        super().__init__(config)
        self.config: EncodeConfig = config
        self.tokenizer = Tokenizer.load(config.tokenizer)
        self.ids_type = pa.uint16() if self.tokenizer.dtype == np.uint16 else pa.uint32()

    def dependencies(self) -> list[str]:
        return [self.config.tokenizer]

    def output_schema(self, input_schema: pa.Schema | None) -> pa.Schema:
        assert input_schema is not None
        ids = pa.field("input_ids", pa.large_list(self.ids_type))
        return with_fields(input_schema, [ids, pa.field("num_tokens", pa.int32())])

    def process_batch(self, batch: pa.RecordBatch) -> BatchOutput:
        texts = batch.column("text").to_pylist()
        flat, lengths = self.tokenizer.encode_documents(texts, self.config.append_eos)
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        ids = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(flat, self.ids_type))
        values = {"input_ids": ids, "num_tokens": lengths.astype(np.int32)}
        kept = with_columns(batch, self.output_schema(batch.schema), values)
        counters = Counter({"tokens": int(lengths.sum())})
        return split_by_rejections(kept, [None] * kept.num_rows, counters)
