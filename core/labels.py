"""Pages labelled by a reader (docs/rubric.md): keep or drop, a category and an educational
grade, with a tune/test split. `datapipe evaluate` measures a run against them; train-quality
can learn from the tune split."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import storage

CATEGORIES = (
    "good_prose",
    "reference",
    "news",
    "forum",
    "product_listing",
    "ad",
    "seo_spam",
    "boilerplate",
    "generated",
    "adult",
    "fragment",
)
SPLITS = ("tune", "test")


class LabelError(ValueError):
    """A labels file that does not follow docs/rubric.md."""


@dataclass(frozen=True)
class Label:
    id: str
    lang: str
    category: str
    keep: bool
    edu: int
    split: str | None


def read_labels(path: str | Path, split: str | None = None) -> dict[str, Label]:
    """The labels of `path` (JSON lines), those of one split if `split` is given."""
    path = storage.local_copy(path)  # a file on object storage: this node's copy
    labels: dict[str, Label] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        label = _label(json.loads(line), f"{path}:{number}")
        if label.id in labels:
            raise LabelError(f"{path}:{number}: id {label.id!r} is labelled twice")
        if split is None or label.split == split:
            labels[label.id] = label
    return labels


def _label(row: dict[str, Any], where: str) -> Label:
    category, keep, edu = row.get("category"), row.get("keep"), row.get("edu")
    split = row.get("split")
    if category not in CATEGORIES:
        raise LabelError(f"{where}: category {category!r} is not one of {', '.join(CATEGORIES)}")
    if not isinstance(keep, bool):
        raise LabelError(f"{where}: keep must be true or false, not {keep!r}")
    if edu not in (0, 1, 2, 3) or isinstance(edu, bool):
        raise LabelError(f"{where}: edu must be 0, 1, 2 or 3, not {edu!r}")
    if split is not None and split not in SPLITS:
        raise LabelError(f"{where}: split must be tune or test, not {split!r}")
    return Label(str(row["id"]), str(row.get("lang") or "other"), category, keep, edu, split)


def labelled_texts(pages: str | Path, labels: dict[str, Label]) -> Iterator[tuple[str, Label]]:
    """(text, label) of each page of `pages` (JSON lines, gzip or plain: `id`, `text`) that
    has a label."""
    path = storage.local_copy(pages)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            page = json.loads(line)
            label = labels.get(str(page["id"]))
            if label is not None:
                yield page["text"], label


def fold_of(page_id: str) -> int:
    """The page's cross-fitting fold (0 or 1), from a hash of its id: a model fitted on one
    fold scores the other, so no page is scored by a model that saw it."""
    return hashlib.blake2b(page_id.encode("utf-8"), digest_size=8).digest()[0] % 2
