"""Seeded, order-free random draws: the same key and seed give the same number on any worker,
in any order, so sampling and keep decisions never depend on sharding or scheduling."""

from __future__ import annotations

import hashlib


def unit_hash(seed: int, purpose: str, key: str) -> float:
    """A uniform number in [0, 1) from BLAKE2b of (seed, purpose, key)."""
    digest = hashlib.blake2b(f"{seed}:{purpose}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2.0**64
