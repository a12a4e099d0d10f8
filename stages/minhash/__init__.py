"""minhash: corpus-wide MinHash near-duplicate removal (stage.py; docs/dedup.md)."""
