"""LDA topics and the downsampling of low-information topics (docs/topics.md)."""
