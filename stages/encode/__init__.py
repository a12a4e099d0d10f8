"""Token ids for every document with the trained tokenizer (docs/tokenizer.md)."""
