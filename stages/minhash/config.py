"""The minhash stage's configuration (docs/dedup.md) and the LSH parameters it implies."""

from __future__ import annotations

from pydantic import Field, model_validator

from stages.base import StageConfig
from stages.minhash.signatures import Scheme, ShingleConfig, optimal_bands


class MinhashConfig(StageConfig):
    threshold: float = Field(
        0.85, gt=0, lt=1, description="Jaccard similarity at which two documents are duplicates"
    )
    lsh_threshold: float = Field(
        0.65,
        gt=0,
        lt=1,
        description="bands x rows minimize the false positive + negative area around this "
        "(below `threshold`, so recall at `threshold` is >= 0.99; verification restores "
        "precision)",
    )
    num_perm: int = Field(256, ge=1, description="MinHash permutations")
    bands: int | None = Field(
        None, ge=1, description="LSH bands; with rows, overrides the choice from lsh_threshold"
    )
    rows: int | None = Field(None, ge=1, description="rows per band; given with bands")
    seed: int = Field(1, description="seed of the permutations (datasketch's)")
    scheme: Scheme = Field(
        "affine32", description="datasketch's permutation scheme (affine32: >= 2.0; legacy)"
    )
    ngram: int = Field(5, ge=1, description="words per shingle")
    cjk_ngram: int = Field(5, ge=1, description="characters per shingle in CJK documents")
    lowercase: bool = Field(True, description="lower-case before shingling")
    fold_digits: bool = Field(True, description="every digit becomes 0 before shingling")
    strip_punctuation: bool = Field(True, description="tokens are runs of word characters")
    verify: bool = Field(
        True, description="keep a candidate pair only if its exact shingle Jaccard >= threshold"
    )
    keeper_score: str | None = Field(
        "quality_score",
        description="column whose highest value keeps a cluster's copy (then smallest id); "
        "ignored when the input has no such column",
    )
    partitions: int | None = Field(
        None, ge=1, description="partitions of band keys and edges; None: one per input shard"
    )

    @model_validator(mode="after")
    def _bands_and_rows(self) -> MinhashConfig:
        if (self.bands is None) != (self.rows is None):
            raise ValueError("give both bands and rows, or neither (then they are chosen)")
        if self.bands is not None and self.bands * (self.rows or 0) > self.num_perm:
            raise ValueError(f"bands x rows = {self.bands * (self.rows or 0)} > num_perm")
        return self

    def bands_rows(self) -> tuple[int, int]:
        if self.bands is not None and self.rows is not None:
            return self.bands, self.rows
        return optimal_bands(self.lsh_threshold, self.num_perm)

    def shingles(self) -> ShingleConfig:
        return ShingleConfig(
            self.ngram, self.cjk_ngram, self.lowercase, self.fold_digits, self.strip_punctuation
        )


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """Probability that a pair at this Jaccard shares at least one band: the S-curve."""
    return float(1 - (1 - similarity**rows) ** bands)
