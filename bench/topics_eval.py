#!/usr/bin/env python
"""The topics stage on real ads and real reference text: what it removes, per setting.

Corpus (`tests/topics_corpus.py`, the builder tests/test_topics_stage.py uses; rebuilt from
../shared on every run, nothing copied into the repository): reference text (WikiText-2
articles, every 15th CMRC 2018 Chinese Wikipedia paragraph, RedPajama arXiv papers), ad /
listing / shop / SEO-spam pages chosen by hand from the C4, dolma, OSCAR and Chinese spam
WARC samples, and the ordinary web pages of the same samples, labelled by the documented
rule in that module (never by the stage's ad lexicon). The documents are dealt round-robin
into 4 shards of a finished input stage directory (`lang` from fastText lid.176).

Each setting runs the whole `topics` stage (local executor, this process pinned to one core)
for seeds 1-3 and reports the share of ad pages, reference documents and other web pages
removed (`topic_downsampled`), and the `train` step's wall time (dictionary, LdaModel,
topic table). The first setting (the stage's defaults, seed 1) is broken down per topic:
top words, the documents it dominates with their labels, its density and weight. Inference:
documents per second of `apply_batch` (tokens, bag of words, LDA inference, keep decisions)
over the corpus on one core, model loaded, median of --repeats.

    python bench/topics_eval.py [--repeats 3] [--update-docs]
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

# common.py sits next to this file (the script's directory is first on sys.path).
from common import (
    OUT_DIR,
    REPO,
    argument_parser,
    command_line,
    machine_description,
    pin_to_one_cpu,
    shared_dir,
    software_description,
    update_docs_section,
    utc_timestamp,
)

sys.path.insert(0, str(REPO))  # tests/topics_corpus.py: the corpus builder the tests use

from core.exchange import Exchange
from core.shards import list_shards, read_shard
from core.stagedir import CONFIG_FILE
from pipeline.executor import LocalExecutor
from pipeline.runner import StageRun, run_stage
from stages.topics.features import topic_tokens
from stages.topics.stage import TopicsConfig, TopicsStage
from tests.test_minhash_stage import write_stage_dir
from tests.topics_corpus import (
    AD,
    LABELS,
    REFERENCE,
    WEB,
    EvalDoc,
    build_corpus,
    describe,
    read_decisions,
    removal_rates,
    shards_of,
)

SECTION = "topics-eval"
DOCS_FILE = REPO / "docs" / "topics.md"
SHARDS = 4
SEEDS = (1, 2, 3)
SETTINGS: list[tuple[str, dict[str, Any]]] = [
    ("defaults (20 topics, 1 seeded commercial topic, mixture, jieba, threshold -1)", {}),
    ("no seeded topic", {"commercial_topics": 0}),
    ("10 topics", {"num_topics": 10}),
    ("Chinese bigrams", {"chinese": "bigrams"}),
    ("assign dominant", {"assign": "dominant"}),
    ("threshold -0.5", {"density_threshold": -0.5}),
]
PACKAGES = ("gensim", "numpy", "rjieba", "pyarrow")


def run_setting(inputs: Path, out: Path, options: dict[str, Any]) -> dict[str, Any]:
    shutil.rmtree(out, ignore_errors=True)
    config = TopicsConfig(**options)
    stats = run_stage(StageRun("topics", config, [str(inputs)], str(out)), LocalExecutor(), False)
    return stats


def percent(x: float) -> str:
    return f"{100 * x:.1f}%"


def spread(values: list[float]) -> str:
    """`mean (min-max)` in percent, or one value when all agree."""
    if max(values) == min(values):
        return percent(values[0])
    low, high = percent(min(values)), percent(max(values))
    return f"{percent(statistics.mean(values))} ({low}-{high})"


def topic_rows(docs: list[EvalDoc], stage_dir: Path) -> list[str]:
    """One markdown row per topic of a finished run."""
    table = json.loads((stage_dir / "model" / "topics.json").read_text())
    decisions = read_decisions(stage_dir)
    members: dict[int, list[EvalDoc]] = {}
    for doc in docs:
        members.setdefault(decisions[doc.id].topic, []).append(doc)
    rows = []
    for topic in table["topics"]:
        dominated = members.get(topic["topic"], [])
        labels = Counter(d.label for d in dominated)
        langs = Counter(d.lang for d in dominated)
        ads = f"{labels[AD]}/{len(dominated)}" if dominated else "0/0"
        firsts = [next((d for d in dominated if d.label == label), None) for label in LABELS]
        examples = "; ".join(
            f"{d.id} ({d.label}): {' '.join(d.text.split())[:36]}" for d in firsts if d
        )
        rows.append(
            f"| {topic['topic']} | {', '.join(topic['top_words'][:8])} | {len(dominated)} "
            f"(ref {labels[REFERENCE]}, web {labels[WEB]}; zh {langs['zh']}) | {ads} "
            f"| {topic['density']:+.3f} | {topic['weight']} | {examples.replace('|', '/')} |"
        )
    without = members.get(-1, [])
    if without:
        rows.append(f"| none | (no dictionary word) | {len(without)} | - | - | 1.0 (kept) | |")
    return rows


def inference_rate(inputs: Path, stage_dir: Path, repeats: int) -> tuple[float, float]:
    """(documents/s, MB/s) of `apply_batch` over every input batch, on this one core."""
    config = json.loads((stage_dir / CONFIG_FILE).read_text())["config"]
    stage = TopicsStage(TopicsConfig(**config))
    work = Exchange(stage_dir)
    batches = [
        (shard, batch)
        for shard, path in enumerate(list_shards(inputs))
        for batch in read_shard(path)
    ]
    docs = sum(b.num_rows for _, b in batches)
    size = sum(len(t.encode()) for _, b in batches for t in b.column("text").to_pylist())

    def once() -> float:
        started = time.perf_counter()
        for shard, batch in batches:
            stage.apply_batch(work, shard, 0, batch)
        return time.perf_counter() - started

    once()  # loads the model
    wall = statistics.median(once() for _ in range(repeats))
    return docs / wall, size / wall / 1e6


def lda_fit_seconds(inputs: Path, stage_dir: Path, repeats: int) -> float:
    """LdaModel alone, fitted as the stage fits it (the run's dictionary and parameters, every
    document of the corpus, which the default sample size takes whole)."""
    from gensim.corpora import Dictionary
    from gensim.models import LdaModel

    config = TopicsConfig(**json.loads((stage_dir / CONFIG_FILE).read_text())["config"])
    dictionary = Dictionary.load_from_text(str(stage_dir / "model" / "dictionary.txt"))
    texts = [
        text
        for path in list_shards(inputs)
        for batch in read_shard(path)
        for text in batch.column("text").to_pylist()
    ]
    bows = [dictionary.doc2bow(topic_tokens(text, config.chinese)) for text in texts]
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        LdaModel(
            corpus=bows,
            id2word=dictionary,
            num_topics=config.num_topics,
            passes=config.passes,
            iterations=config.iterations,
            random_state=config.seed,
            chunksize=2000,
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(__doc__, repeats=3)
    parser.add_argument("--out", type=Path, default=OUT_DIR / "topics-eval")
    args = parser.parse_args(argv)
    pinning = pin_to_one_cpu(args.cpu)
    started = time.perf_counter()
    docs = build_corpus(shared_dir())
    shutil.rmtree(args.out, ignore_errors=True)
    inputs = write_stage_dir(args.out / "in", shards_of(docs, SHARDS))
    print(describe(docs), file=sys.stderr)

    results = []
    for name, options in SETTINGS:
        per_seed: dict[str, list[float]] = {}
        train: list[float] = []
        wall: list[float] = []
        for seed in SEEDS:
            out = args.out / (f"run-{len(results)}" if seed == SEEDS[0] else "scratch")
            stats = run_setting(inputs, out, {**options, "seed": seed})
            train.append(stats["step_seconds"]["train"]["wall"])
            wall.append(stats["wall_seconds"])
            for key, rate in removal_rates(docs, read_decisions(out)).items():
                per_seed.setdefault(key, []).append(rate)
        results.append((name, options, per_seed, train, wall))
        print(
            f"{name}: ads {spread(per_seed[AD])}, reference {spread(per_seed[REFERENCE])}, "
            f"web {spread(per_seed[WEB])}; train {statistics.median(train):.2f} s",
            file=sys.stderr,
        )

    default_dir = args.out / "run-0"
    docs_per_s, mb_per_s = inference_rate(inputs, default_dir, args.repeats)
    lda_seconds = lda_fit_seconds(inputs, default_dir, args.repeats)
    total = time.perf_counter() - started

    counts = Counter(d.label for d in docs)
    lines = [
        f"Run {utc_timestamp()}: `{command_line()}`; {machine_description()}; {pinning}; "
        f"{total:.0f} s in all.",
        "",
        f"- Software: {software_description(PACKAGES)}.",
        f"- Corpus (`tests/topics_corpus.py`, real documents of `../shared`, labels by hand "
        f"from reading the pages, never from the stage's lexicon): {describe(docs)}. Ads are "
        f"{percent(counts[AD] / len(docs))} of the documents. 4 input shards.",
        "- Cells: share of each group's documents rejected as `topic_downsampled`, mean over "
        f"seeds {', '.join(map(str, SEEDS))} (min-max); train: median wall seconds of the "
        "`train` step (dictionary, LdaModel, topic table, model written); stage: median wall "
        "seconds of the whole stage (count, sample, train, apply).",
        "",
        "| setting | ads removed | reference removed | reference en / zh | other web removed "
        "| ads en / zh | train s | stage s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, _, per_seed, train, wall in results:
        lines.append(
            f"| {name} | {spread(per_seed[AD])} | {spread(per_seed[REFERENCE])} "
            f"| {spread(per_seed['reference en'])} / {spread(per_seed['reference zh'])} "
            f"| {spread(per_seed[WEB])} "
            f"| {spread(per_seed['ad en'])} / {spread(per_seed['ad zh'])} "
            f"| {statistics.median(train):.2f} | {statistics.median(wall):.2f} |"
        )
    lines += [
        "",
        f"Speed on one core, defaults: inference {docs_per_s:,.0f} documents/s "
        f"({mb_per_s:.2f} MB/s of text; tokens, bag of words, LDA inference, keep decisions; "
        f"median of {args.repeats}); LdaModel fit alone {lda_seconds:.2f} s for "
        f"{len(docs)} documents (20 topics, 5 passes).",
        "",
        "Topics of the default setting (seed 1): top words, the documents each dominates "
        "(by label and language), how many of them are ads, the topic's density (standardized "
        "across topics) and weight; the first dominated document of each label.",
        "",
        "| topic | top words | dominant documents | ads | density | weight | examples |",
        "|---|---|---|---|---|---|---|",
        *topic_rows(docs, default_dir),
    ]
    body = "\n".join(lines)
    print(body)
    (args.out / "report.md").write_text(body + "\n")
    if args.update_docs:
        if DOCS_FILE.exists():
            update_docs_section(SECTION, body, DOCS_FILE)
        else:  # the rest of the page is written by hand: start it with the section alone
            DOCS_FILE.write_text(f"<!-- {SECTION}:start -->\n{body}\n<!-- {SECTION}:end -->\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
