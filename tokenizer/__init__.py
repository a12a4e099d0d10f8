"""Tokenizer training and encoding (sentencepiece BPE); filled in by the tokenizer issue."""
