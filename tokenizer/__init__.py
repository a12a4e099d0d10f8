"""The tokenizer: a sentencepiece BPE trained on a mixture-aware sample (train.py), batch
encoding (encode.py) and its report (report.py). docs/tokenizer.md."""
