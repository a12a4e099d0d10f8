"""What a fixture builder returns, and the ground-truth label of each document."""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .corpus import Doc

Label = dict[str, object]
NO_TEXT_KINDS = frozenset({"redirect", "image", "pdf", "empty"})


@dataclass
class Fixture:
    """One generated file and its MANIFEST.json entry (``output.MANIFEST_FIELDS``)."""

    path: str  # relative to the output directory
    data: bytes
    format: str
    documents: int
    text_documents: int
    note: str  # what the file exercises, or how it is broken
    records: dict[str, int] = field(default_factory=dict)
    labels: list[Label] = field(default_factory=list)


def label(
    file: str, index: int, url: str | None, doc: Doc, encoding: str | None = "utf-8"
) -> Label:
    return {
        "file": file,
        "index": index,
        "url": url,
        "kind": doc.kind,
        "lang": doc.lang or None,
        "topic": doc.topic or None,
        "dup_of": doc.dup_of,
        "encoding": encoding,
    }


def count_with_text(labels: Sequence[Label]) -> int:
    return sum(label["kind"] not in NO_TEXT_KINDS for label in labels)


def jsonl(rows: Iterable[dict[str, object]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
