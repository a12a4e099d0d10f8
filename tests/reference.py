"""Readers for the reference corpora in ../shared/reference (the product's own readers)."""

from stages.score.corpus import cmrc_paragraphs, jsonl_texts, wikitext_articles

__all__ = ["cmrc_paragraphs", "jsonl_texts", "wikitext_articles"]
