"""Exact sub-document dedup: repeated spans of at least N tokens (docs/dedup.md)."""
