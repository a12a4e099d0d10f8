"""Planted near-duplicate corpora built from real documents, and how to score a dedup run on them.

Used by tests/test_minhash_stage.py and bench/minhash_recall.py.

Corpus
------
Originals are real documents from the repository's real data (`data_samples/`): English C4 pages
(`samples/cc/llamafactory_c4_demo.jsonl`, at least `min_tokens` words) and Chinese Wikipedia
paragraphs (`reference/cmrc2018_zh_wikipedia.jsonl`, at least `min_tokens` Han characters).
Originals whose shingle sets overlap another original's (Jaccard >= 0.2: templated spam) are
left out, so that documents of different families are unrelated.

Each selected original starts a *family*: `copies` edited copies, each made from the original
or (one time in three) from an earlier copy of the family, at an edit rate from `RATES`
(taken in turn from a random start, then shuffled) so that exact Jaccard similarities span
about 0.4 to 1.0:

* English edits are word-level: a share `rate` of the words is substituted, deleted, or has a
  word inserted before it (equal odds), the new words drawn from the vocabulary of the whole
  English sample; whitespace around untouched words is kept.
* Chinese edits are character-level (Chinese has no spaces): the same operations on a share
  `rate` of the Han characters, new characters drawn from the whole Chinese sample.
* Every other copy is a *span* edit instead: one contiguous run of `5 * rate * tokens`
  tokens is replaced by as many random tokens (inserted boilerplate), which removes about
  as many shingles as scattered edits at `rate`.

`singletons` further originals per language get no copies: unrelated documents that a correct
dedup never removes.

Exact Jaccard
-------------
`reference_shingles` is an independent plain-Python shingling that follows the stage's
documented definition (docs/dedup.md) with the script known in advance rather than detected:
lower case, every digit folded to 0, tokens are `\\w+` runs (for Chinese, each character of
them), shingles are 5 consecutive tokens (a shorter document is one shingle). Similarity is
the Jaccard of the two sets of shingle *strings*, so it does not depend on the stage's hashes.

Scoring a run
-------------
From the minhash stage directory: a rejected row names its cluster (`cluster_id`) and keeper
(`keeper_id`); the keeper (kept) is in the cluster too; every other kept document is alone.
A pair of documents is *caught* when both are in the same cluster. See `evaluate`.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from core.shards import list_shards, read_table

# Edit rates of the copies, one each per family of 8 copies: Jaccard ~1.0 down to ~0.4.
RATES = (0.0, 0.003, 0.008, 0.015, 0.025, 0.04, 0.06, 0.085)
NGRAM = 5
SOURCES = {
    "en": "samples/cc/llamafactory_c4_demo.jsonl",
    "zh": "reference/cmrc2018_zh_wikipedia.jsonl",
}
BINS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
URL_PREFIX = "planted://"
_HAN = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class PlantedDoc:
    lang: str  # "en" or "zh"
    family: int  # index of the original among the language's originals
    copy: int  # 0: the original; -1: a singleton (original without copies)
    parent: int | None  # the copy this one was edited from
    rate: float  # edit rate applied to the parent
    style: str  # "original", "scattered" or "span"
    text: str

    @property
    def key(self) -> str:
        """Unique name, carried through the pipeline as the document's url."""
        return f"{self.lang}/{self.family:04d}/{self.copy}"


# --- independent shingling ----------------------------------------------------------------


def reference_tokens(text: str, lang: str) -> list[str]:
    runs = re.findall(r"\w+", re.sub(r"\d", "0", text.lower()))
    return [ch for run in runs for ch in run] if lang == "zh" else runs


def reference_shingles(text: str, lang: str, n: int = NGRAM) -> frozenset[str]:
    toks = reference_tokens(text, lang)
    if len(toks) < n:
        return frozenset([" ".join(toks)] if toks else [])
    return frozenset(" ".join(toks[i : i + n]) for i in range(len(toks) - n + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


# --- building the corpus --------------------------------------------------------------------


def _read_texts(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line)["text"] for line in lines if line.strip()]


def _script_ok(text: str, lang: str) -> bool:
    """The document is unambiguously in its script (so the stage shingles it as we do)."""
    word_chars = "".join(re.findall(r"\w+", text))
    han = len(_HAN.findall(word_chars))
    return han >= 0.9 * len(word_chars) if lang == "zh" else han == 0


def load_originals(real_data: Path, lang: str, count: int, min_tokens: int) -> list[str]:
    """The first `count` documents of the language's sample that are long enough, in their
    script, and unrelated to every earlier one (shingle Jaccard < 0.2)."""
    chosen: list[str] = []
    sets: list[frozenset[str]] = []
    for text in _read_texts(real_data / SOURCES[lang]):
        if len(chosen) == count:
            break
        if len(reference_tokens(text, lang)) < min_tokens or not _script_ok(text, lang):
            continue
        shingle_set = reference_shingles(text, lang)
        if any(jaccard(shingle_set, other) >= 0.2 for other in sets):
            continue
        chosen.append(text)
        sets.append(shingle_set)
    if len(chosen) < count:
        raise ValueError(f"only {len(chosen)} {lang} originals with >= {min_tokens} tokens")
    return chosen


def vocabulary(real_data: Path, lang: str) -> list[str]:
    """Replacement tokens: the sample's distinct words (English) or Han characters (Chinese)."""
    tokens: set[str] = set()
    for text in _read_texts(real_data / SOURCES[lang]):
        if lang == "zh":
            tokens.update(_HAN.findall(text))
        else:
            tokens.update(w for w in re.findall(r"[A-Za-z]+", text) if 3 <= len(w) <= 12)
    return sorted(tokens)


def _pieces(text: str, lang: str) -> tuple[list[str], list[int]]:
    """The text cut into pieces that concatenate back to it, and the indexes of the pieces
    that are editable tokens (words in English, Han characters in Chinese)."""
    if lang == "zh":
        pieces = list(text)
        return pieces, [i for i, p in enumerate(pieces) if _HAN.fullmatch(p)]
    pieces = re.findall(r"\S+|\s+", text)
    return pieces, [i for i, p in enumerate(pieces) if not p.isspace()]


def edit(
    text: str, lang: str, rate: float, style: str, vocab: Sequence[str], rng: random.Random
) -> str:
    """A copy of `text` with a share `rate` of its tokens edited (see the module docstring)."""
    pieces, editable = _pieces(text, lang)
    sep = "" if lang == "zh" else " "
    if rate == 0 or not editable:
        return text
    if style == "span":
        length = max(1, round(NGRAM * rate * len(editable)))
        start = rng.randrange(max(1, len(editable) - length))
        chosen = editable[start : start + length]
        for i in chosen:
            pieces[i] = rng.choice(vocab)
        if lang == "en":  # a replaced run of words reads as one block
            for i in range(chosen[0], chosen[-1]):
                if pieces[i].isspace():
                    pieces[i] = " "
        return "".join(pieces)
    n_edits = max(1, round(rate * len(editable)))
    for i in rng.sample(editable, min(n_edits, len(editable))):
        op = rng.randrange(3)
        if op == 0:  # substitute
            pieces[i] = rng.choice(vocab)
        elif op == 1:  # delete (with a following space)
            pieces[i] = ""
            if lang == "en" and i + 1 < len(pieces) and pieces[i + 1].isspace():
                pieces[i + 1] = ""
        else:  # insert before
            pieces[i] = rng.choice(vocab) + sep + pieces[i]
    return "".join(pieces)


def build_corpus(
    real_data: Path,
    families: int,
    copies: int,
    singletons: int,
    seed: int = 0,
    min_tokens: dict[str, int] | None = None,
    languages: Iterable[str] = ("en", "zh"),
) -> list[PlantedDoc]:
    """Families of edited copies and unrelated singletons in each language (module docstring)."""
    min_tokens = {"en": 150, "zh": 300, **(min_tokens or {})}
    docs: list[PlantedDoc] = []
    for lang in languages:
        rng = random.Random(f"{seed}-{lang}")
        originals = load_originals(real_data, lang, families + singletons, min_tokens[lang])
        vocab = vocabulary(real_data, lang)
        for family, text in enumerate(originals[:families]):
            texts = [text]
            docs.append(PlantedDoc(lang, family, 0, None, 0.0, "original", text))
            offset = rng.randrange(len(RATES))  # every rate in turn, from a random one
            rates = [RATES[(offset + i) % len(RATES)] for i in range(copies)]
            rng.shuffle(rates)
            for copy, rate in enumerate(rates, start=1):
                parent = rng.randrange(1, copy) if copy > 1 and rng.random() < 1 / 3 else 0
                style = "span" if copy % 2 == 0 else "scattered"
                copy_text = edit(texts[parent], lang, rate, style, vocab, rng)
                texts.append(copy_text)
                docs.append(PlantedDoc(lang, family, copy, parent, rate, style, copy_text))
        for i, text in enumerate(originals[families:]):
            docs.append(PlantedDoc(lang, families + i, -1, None, 0.0, "original", text))
    return docs


def write_jsonl(docs: Sequence[PlantedDoc], directory: Path, files: int, seed: int = 0) -> Path:
    """The documents shuffled into `files` JSONL files (`text`, `url` = planted://key), so a
    family's members land in different input files and shards."""
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    directory.mkdir(parents=True, exist_ok=True)
    for f in range(files):
        lines = [
            json.dumps({"text": docs[i].text, "url": URL_PREFIX + docs[i].key}, ensure_ascii=False)
            for i in order[f::files]
        ]
        (directory / f"planted-{f:02d}.jsonl").write_text("\n".join(lines) + "\n")
    return directory


# --- reading a minhash stage's outcome ----------------------------------------------------------


@dataclass
class Outcome:
    """Who ended where: document ids, the cluster of each clustered id, each cluster's keeper."""

    key_of: dict[str, str]  # document id -> planted key (from the url)
    kept: set[str]  # ids of kept documents
    rejected: dict[str, dict] = field(default_factory=dict)  # id -> reason_detail
    cluster_of: dict[str, str] = field(default_factory=dict)  # clustered id -> cluster id
    keeper_of: dict[str, str] = field(default_factory=dict)  # cluster id -> keeper id
    members: dict[str, list[str]] = field(default_factory=dict)  # cluster id -> member ids

    def same_cluster(self, a: str, b: str) -> bool:
        cluster = self.cluster_of.get(a)
        return cluster is not None and cluster == self.cluster_of.get(b)


def read_outcome(stage_dir: Path) -> Outcome:
    """The clusters of a finished minhash stage directory, checked for consistency: each
    cluster has one keeper, which is kept; the recorded sizes match the members found."""
    kept = read_table(list_shards(stage_dir))
    shards = list_shards(stage_dir / "rejected")
    rejected = read_table(shards) if shards else pa.table({"id": [], "url": [], "reason": []})
    key_of = {}
    for table in (kept, rejected):
        for doc_id, url in zip(table["id"].to_pylist(), table["url"].to_pylist(), strict=True):
            key_of[doc_id] = url.removeprefix(URL_PREFIX) if url else doc_id
    out = Outcome(key_of=key_of, kept=set(kept["id"].to_pylist()))
    details = rejected["reason_detail"].to_pylist() if rejected.num_rows else []
    for doc_id, reason, detail in zip(
        rejected["id"].to_pylist(), rejected["reason"].to_pylist(), details, strict=True
    ):
        assert reason == "minhash_duplicate", reason
        info = json.loads(detail)
        out.rejected[doc_id] = info
        cluster, keeper = info["cluster_id"], info["keeper_id"]
        assert out.keeper_of.setdefault(cluster, keeper) == keeper, "two keepers in a cluster"
        out.cluster_of[doc_id] = out.cluster_of[keeper] = cluster
    groups: dict[str, list[str]] = defaultdict(list)
    for doc_id, cluster in out.cluster_of.items():
        groups[cluster].append(doc_id)
    out.members = {cluster: sorted(ids) for cluster, ids in groups.items()}
    for cluster, keeper in out.keeper_of.items():
        assert keeper in out.kept, f"keeper {keeper} of {cluster} is not kept"
        assert cluster in out.members[cluster], "the cluster id is not one of its members"
        size = len(out.members[cluster])
        assert {out.rejected[i]["cluster_size"] for i in out.members[cluster] if i != keeper} == {
            size
        }
    assert not out.kept & set(out.rejected), "a document both kept and rejected"
    return out


# --- scoring --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    lang: str
    a: str  # planted keys
    b: str
    similarity: float  # exact Jaccard of the reference shingle sets


def family_pairs(docs: Sequence[PlantedDoc]) -> list[Pair]:
    """Every pair of documents of the same family, with its exact Jaccard."""
    sets = {d.key: reference_shingles(d.text, d.lang) for d in docs}
    by_family: dict[tuple[str, int], list[PlantedDoc]] = defaultdict(list)
    for d in docs:
        if d.copy >= 0:
            by_family[d.lang, d.family].append(d)
    pairs = []
    for (lang, _), members in sorted(by_family.items()):
        for i, x in enumerate(members):
            for y in members[i + 1 :]:
                pairs.append(Pair(lang, x.key, y.key, jaccard(sets[x.key], sets[y.key])))
    return pairs


def bin_label(similarity: float) -> str | None:
    for lo, hi in itertools.pairwise(BINS):
        if lo <= similarity < hi or (hi == 1.0 and similarity == 1.0):
            return f"{lo:.1f}-{hi:.1f}"
    return None


@dataclass
class Report:
    # (lang, bin) -> (caught, pairs); bins of exact Jaccard, and ">=t" for the threshold
    recall: dict[tuple[str, str], tuple[int, int]]
    # lang -> (rejected, justified, direct): see `evaluate`
    rejections: dict[str, tuple[int, int, int]]
    singletons_removed: list[str]  # keys of unrelated originals that were rejected
    mixed_clusters: list[str]  # clusters with members of more than one family

    @property
    def rejected(self) -> int:
        return sum(r for r, _, _ in self.rejections.values())

    @property
    def correct(self) -> int:
        return sum(c for _, c, _ in self.rejections.values())

    @property
    def precision(self) -> float:
        return self.correct / self.rejected if self.rejected else 1.0

    def precision_of(self, lang: str, direct: bool = False) -> float:
        rejected, justified, direct_count = self.rejections.get(lang, (0, 0, 0))
        return (direct_count if direct else justified) / rejected if rejected else 1.0

    def recall_at(self, lang: str, label: str) -> float:
        caught, total = self.recall.get((lang, label), (0, 0))
        return caught / total if total else float("nan")


def _family(key: str) -> str:
    return key.rsplit("/", 1)[0]


def evaluate(docs: Sequence[PlantedDoc], out: Outcome, threshold: float = 0.85) -> Report:
    """Recall by Jaccard bin and precision of one run.

    * Recall of a bin: among same-family pairs whose exact Jaccard is in the bin, the share
      that ended in the same cluster (one of them rejected with the other, or both rejected
      with the same keeper). Label `>=t`: all pairs with exact Jaccard >= threshold.
    * Precision: the share of rejected documents whose rejection is *justified*: the document
      and its keeper are in the same family and joined by a chain of same-family documents in
      which every consecutive pair has exact Jaccard >= threshold (single linkage at the
      threshold: exactly what clustering verified pairs into connected components promises).
      Counted per language of the rejected document, with `direct`: the stricter case of
      exact Jaccard >= threshold with the keeper itself.
    """
    pairs = family_pairs(docs)
    id_of = {key: doc_id for doc_id, key in out.key_of.items()}
    assert len(id_of) == len(docs), "documents lost or duplicated on the way"
    recall: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    similar: dict[str, set[str]] = defaultdict(set)  # key -> keys at >= threshold
    similarity: dict[tuple[str, str], float] = {}
    for p in pairs:
        caught = out.same_cluster(id_of[p.a], id_of[p.b])
        labels = [bin_label(p.similarity)]
        if p.similarity >= threshold:
            labels.append(f">={threshold}")
            similar[p.a].add(p.b)
            similar[p.b].add(p.a)
        for label in labels:
            if label is not None:
                recall[p.lang, label][0] += caught
                recall[p.lang, label][1] += 1
        similarity[p.a, p.b] = similarity[p.b, p.a] = p.similarity

    def reachable(start: str) -> set[str]:
        seen, todo = {start}, [start]
        while todo:
            for nxt in similar[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        return seen

    rejections: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for doc_id, info in out.rejected.items():
        key, keeper = out.key_of[doc_id], out.key_of[info["keeper_id"]]
        counts = rejections[key.split("/", 1)[0]]
        counts[0] += 1
        if _family(key) == _family(keeper) and keeper in reachable(key):
            counts[1] += 1
            counts[2] += similarity.get((key, keeper), 0.0) >= threshold
    singletons = {d.key for d in docs if d.copy == -1}
    mixed = [
        cluster
        for cluster, ids in out.members.items()
        if len({_family(out.key_of[i]) for i in ids}) > 1
    ]
    return Report(
        recall={k: (v[0], v[1]) for k, v in recall.items()},
        rejections={lang: (r, c, d) for lang, (r, c, d) in sorted(rejections.items())},
        singletons_removed=sorted(
            out.key_of[i] for i in out.rejected if out.key_of[i] in singletons
        ),
        mixed_clusters=mixed,
    )
