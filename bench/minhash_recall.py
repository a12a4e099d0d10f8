#!/usr/bin/env python
"""MinHash dedup recall and precision on planted near-duplicates of real documents.

Corpus (built by `tests/planted.py`, the builder tests/test_minhash_stage.py uses, seeded and
rebuilt identically each run; nothing is copied into the repository): real originals from
the shared data, English C4 pages (`samples/cc/llamafactory_c4_demo.jsonl`, >= 150 words) and
Chinese Wikipedia paragraphs (`reference/cmrc2018_zh_wikipedia.jsonl`, >= 300 Han
characters), each unrelated to the others (shingle Jaccard < 0.2). Each of --families-en /
--families-zh originals gets --copies edited copies (from the original or, one time in three,
from an earlier copy) at edit rates 0-8.5% of the words (English) or characters (Chinese),
scattered substitutions / deletions / insertions or one replaced span; --singletons more
originals per language get no copy. The documents are shuffled into 8 JSONL files, ingested
(`ingest`, 500-row shards) and deduplicated by the `minhash` stage with its default config
(256 permutations, 28 bands x 9 rows, threshold 0.85), with `verify` on and then off, on the
local executor.

Ground truth: exact Jaccard of every same-family pair over an independent plain-Python
shingling (5-word or 5-character shingles, lower case, digits folded, punctuation dropped).
Recall of a bin: the share of same-family pairs with exact Jaccard in the bin that end in the
same cluster. Precision: the share of rejected documents joined to their keeper by a chain of
same-family documents each at exact Jaccard >= 0.85 with the next (single linkage at the
threshold, what clustering verified pairs promises); "keeper >= 0.85": the stricter share at
exact Jaccard >= 0.85 with the keeper itself.

    python bench/minhash_recall.py [--families-en 150] [--families-zh 350] [--update-docs]
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import sys
import time
from pathlib import Path

# common.py sits next to this file (the script's directory is first on sys.path).
from common import (
    OUT_DIR,
    REPO,
    command_line,
    machine_description,
    shared_dir,
    software_description,
    update_docs_section,
    utc_timestamp,
)

sys.path.insert(0, str(REPO))  # tests/planted.py: the corpus builder the tests use

from core.shards import list_shards, read_table
from pipeline.executor import LocalExecutor
from pipeline.runner import StageRun, run_stage
from stages.ingest.stage import IngestConfig
from stages.minhash.config import MinhashConfig, candidate_probability
from stages.minhash.lsh import band_keys
from stages.minhash.signatures import MinHasher
from tests.planted import (
    BINS,
    URL_PREFIX,
    PlantedDoc,
    Report,
    build_corpus,
    evaluate,
    family_pairs,
    read_outcome,
    write_jsonl,
)

DOCS_FILE = REPO / "docs" / "dedup.md"
SECTION = "minhash-recall"
LANGS = {"en": "English", "zh": "Chinese"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--families-en", type=int, default=150, help="English originals with copies"
    )
    parser.add_argument(
        "--families-zh", type=int, default=350, help="Chinese originals with copies"
    )
    parser.add_argument("--copies", type=int, default=8, help="edited copies per original")
    parser.add_argument("--singletons", type=int, default=30, help="originals without copies")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT_DIR / "minhash-recall")
    parser.add_argument("--update-docs", action="store_true", help=f"rewrite {DOCS_FILE.name}")
    return parser.parse_args(argv)


def build(args: argparse.Namespace) -> list[PlantedDoc]:
    docs: list[PlantedDoc] = []
    for lang, families in (("en", args.families_en), ("zh", args.families_zh)):
        docs += build_corpus(
            shared_dir(), families, args.copies, args.singletons, args.seed, languages=(lang,)
        )
    return docs


def diagnose_misses(docs: list[PlantedDoc], out: Path, verify: bool) -> dict[str, int]:
    """Why same-family pairs at exact Jaccard >= threshold ended in different clusters:
    recomputes every document's band keys as the stage does (same nodes: ingest shard order,
    then row) and looks at the buckets the two documents share."""
    config = MinhashConfig(verify=verify)
    bands, rows = config.bands_rows()
    outcome = read_outcome(out / f"minhash-verify-{'on' if verify else 'off'}")
    id_of = {key: doc_id for doc_id, key in outcome.key_of.items()}
    missed = [
        p
        for p in family_pairs(docs)
        if p.similarity >= config.threshold and not outcome.same_cluster(id_of[p.a], id_of[p.b])
    ]
    keys, texts, nodes = [], [], []
    for shard, path in enumerate(list_shards(out / "ingest")):
        table = read_table([path])
        keys += [url.removeprefix(URL_PREFIX) for url in table["url"].to_pylist()]
        texts += table["text"].to_pylist()
        nodes += [(shard << 32) | row for row in range(table.num_rows)]
    signatures = MinHasher(config.num_perm, config.seed).signatures(texts, config.shingles())
    band = band_keys(signatures, bands, rows)
    index = {key: i for i, key in enumerate(keys)}
    causes = {"no shared band": 0, "a shared band but not linked": 0}
    for p in missed:
        i, j = index[p.a], index[p.b]
        if any(band[i, b] == band[j, b] for b in range(bands)):
            causes["a shared band but not linked"] += 1
        else:
            causes["no shared band"] += 1
    return causes


def run(docs: list[PlantedDoc], out: Path) -> dict[bool, tuple[Report, dict]]:
    """Ingest the corpus, then minhash with verify on and off: {verify: (report, stats)}."""
    shutil.rmtree(out, ignore_errors=True)
    corpus = write_jsonl(docs, out / "input", files=8)
    ingest = StageRun("ingest", IngestConfig(batch_rows=500), [str(corpus)], str(out / "ingest"))
    ingested = run_stage(ingest, LocalExecutor(), progress=False)
    assert ingested["docs_kept"] == len(docs), "ingest dropped planted documents"
    results = {}
    for verify in (True, False):
        output = out / f"minhash-verify-{'on' if verify else 'off'}"
        config = MinhashConfig(verify=verify)
        stats = run_stage(
            StageRun("minhash", config, [str(out / "ingest")], str(output)), LocalExecutor(), False
        )
        results[verify] = (evaluate(docs, read_outcome(output), config.threshold), stats)
    return results


def _cell(caught_total: tuple[int, int] | None) -> str:
    if not caught_total or not caught_total[1]:
        return "—"
    caught, total = caught_total
    return f"{caught / total:.1%} ({caught:,}/{total:,})"


def report(
    docs: list[PlantedDoc],
    results: dict[bool, tuple[Report, dict]],
    misses: dict[bool, dict[str, int]],
    seconds: float,
) -> str:
    config = MinhashConfig()
    bands, rows = config.bands_rows()
    labels = [f"{lo:.1f}-{hi:.1f}" for lo, hi in itertools.pairwise(BINS)]
    at = f">={config.threshold}"
    header = (
        "| language | verify | "
        + " | ".join(f"J {label}" for label in labels)
        + f" | J ≥ {config.threshold} | precision | keeper ≥ {config.threshold} | rejected |"
    )
    lines = [header, "|---|---|" + "---:|" * (len(labels) + 4)]
    for lang, name in LANGS.items():
        for verify in (True, False):
            rep, _ = results[verify]
            rejected = rep.rejections.get(lang, (0, 0, 0))[0]
            cells = [_cell(rep.recall.get((lang, label))) for label in [*labels, at]]
            lines.append(
                f"| {name} | {'on' if verify else 'off'} | "
                + " | ".join(cells)
                + f" | {rep.precision_of(lang):.1%} | {rep.precision_of(lang, direct=True):.1%}"
                f" | {rejected:,} |"
            )
    curve = [
        f"{candidate_probability(lo, bands, rows):.1%}-{candidate_probability(hi, bands, rows):.1%}"
        for lo, hi in itertools.pairwise(BINS)
    ]
    lines.append(
        f"| S-curve P(candidate), {bands} x {rows} | (bin edges) | "
        + " | ".join(curve)
        + f" | ≥ {candidate_probability(config.threshold, bands, rows):.2%} | | | |"
    )
    by_lang = {lang: [d for d in docs if d.lang == lang] for lang in LANGS}
    pairs = family_pairs(docs)
    described = ". ".join(
        f"{LANGS[lang]}: {sum(d.copy == 0 for d in ds)} families + "
        f"{sum(d.copy == -1 for d in ds)} singletons = {len(ds):,} documents, "
        f"{sum(p.lang == lang for p in pairs):,} same-family pairs"
        for lang, ds in by_lang.items()
    )
    checks = []
    for verify in (True, False):
        rep, stats = results[verify]
        steps = stats["steps"]
        checks.append(
            f"verify {'on' if verify else 'off'}: {steps['edges']:,} edges, "
            f"{steps['pairs_verified']:,} pairs verified, "
            f"{steps['pairs_failing_verification']:,} failed verification, "
            f"{steps['clusters']:,} clusters, {stats['docs_rejected']:,} rejected, unrelated "
            f"originals removed: {len(rep.singletons_removed)}, clusters mixing families: "
            f"{len(rep.mixed_clusters)}, stage {stats['wall_seconds']:.1f} s; pairs at J ≥ "
            f"{config.threshold} missed: {sum(misses[verify].values())} ("
            + ", ".join(f"{cause}: {n}" for cause, n in misses[verify].items())
            + ")"
        )
    return "\n".join(
        [
            f"Run {utc_timestamp()}: `{command_line()}`; {machine_description()}; "
            f"{seconds:.0f} s in all.",
            "",
            f"- Software: {software_description(('numpy', 'pyarrow'))}.",
            f"- Corpus, built by {describe_corpus()}. {described}.",
            "- Cells: recall, the share of same-family pairs with exact Jaccard J in the bin "
            "that end in the same cluster (caught / pairs). Precision: the share of rejected "
            "documents joined to their keeper by a chain of documents each at exact J ≥ "
            f"{config.threshold} with the next; keeper ≥ {config.threshold}: at exact J ≥ "
            f"{config.threshold} with the keeper itself. Without verification every LSH "
            "candidate pair is clustered, so chains reach far below the threshold.",
            "",
            *lines,
            "",
            *[f"- {check}." for check in checks],
        ]
    )


def describe_corpus() -> str:
    return (
        "`tests/planted.py`: real originals from `../shared` (C4 pages of at least 150 "
        "words, CMRC 2018 Wikipedia paragraphs of at least 300 characters, mutually unrelated), "
        "each with edited copies at 0-8.5% word (English) or character (Chinese) edits, and "
        "unrelated originals without copies (singletons)"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    docs = build(args)
    results = run(docs, args.out)
    misses = {verify: diagnose_misses(docs, args.out, verify) for verify in (True, False)}
    text = report(docs, results, misses, time.perf_counter() - started)
    print(text)
    if args.update_docs:
        update_docs_section(SECTION, text, DOCS_FILE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
