"""minhash: corpus-wide MinHash near-duplicate removal (signatures so far)."""
