"""score: learned quality scorers (quality classifier, perplexity, safety, coherence)."""
