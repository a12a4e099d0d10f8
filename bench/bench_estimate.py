"""How far `datapipe estimate` is from the full run (issue #20: within 15% for documents,
tokens and disk), on a corpus of many files built from data_samples/.

The corpus: the documents the default ingest keeps from data_samples/samples and
data_samples/wiki, `--copies` times (every copy but the first with one token changed, so
minhash has near-duplicates to find, more of them the more of the corpus a run sees),
shuffled into `--files` gzipped JSONL files. The pipeline: configs/shared-samples.yaml (no
score models) on it, run whole, then estimated from samples of 1/16 and 1/4 of its files
(`--by files`) or of every file's documents (`--by documents`), all in-process. The table:
per stage the documents kept, the disk used and (export) the tokens, full run against each
estimate, the error and whether the full run's figure lies in the estimate's interval.

    python bench/bench_estimate.py [--copies 4] [--files 64] [--by files] [--update-docs]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from common import OUT_DIR, REPO, machine_description, tokens_changed, update_docs_section

sys.path.insert(0, str(REPO))

from core import storage
from core.shards import list_shards, read_shard
from pipeline.config import PipelineConfig, load_config
from pipeline.estimate import estimate
from pipeline.executor import LocalExecutor
from pipeline.runner import StageRun, run_pipeline, run_stage

WORK = OUT_DIR / "estimate"
SHARES = (1 / 16, 1 / 4)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=4, help="copies of each document (4)")
    parser.add_argument("--files", type=int, default=64, help="input files (64)")
    parser.add_argument("--by", choices=("files", "documents"), default="files")
    parser.add_argument("--update-docs", action="store_true", help="write docs/benchmarks.md")
    return parser.parse_args(argv)


def build_corpus(config: PipelineConfig, copies: int, files: int) -> Path:
    """The corpus's JSONL files, written once per (copies, files)."""
    directory = WORK / f"corpus-{copies}x-{files}"
    if directory.exists():
        return directory
    ingest = next(e for e in config.stages if e.name == "ingest")
    out = WORK / "ingest"
    inputs = [str(REPO / "data_samples/samples"), str(REPO / "data_samples/wiki")]
    run_stage(StageRun("ingest", ingest.config, inputs, str(out)), LocalExecutor(), False)
    rows = [r for s in list_shards(out) for b in read_shard(s) for r in b.to_pylist()]
    rng = random.Random(0)
    documents = [
        {
            "text": row["text"] if copy == 0 else tokens_changed(row["text"], rng, 0.0),
            "url": row["url"],
        }
        for copy in range(copies)
        for row in rows
    ]
    rng.shuffle(documents)
    tmp = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for index in range(files):
        with gzip.open(tmp / f"part-{index:03d}.jsonl.gz", "wt", encoding="utf-8") as out_file:
            for document in documents[index::files]:
                out_file.write(json.dumps(document, ensure_ascii=False) + "\n")
    tmp.rename(directory)
    return directory


def full_run(config: PipelineConfig) -> dict[str, Any]:
    """Per stage: documents kept, disk bytes; tokens per source."""
    results = run_pipeline(config, LocalExecutor(), progress=False)
    found: dict[str, Any] = {"stages": {}, "tokens": {}}
    for entry, stats in zip(config.stages, results, strict=True):
        directory = storage.join(config.work_dir, entry.name)
        disk = sum(f.size for f in storage.file_stats(directory, recursive=True).values())
        found["stages"][entry.name] = {"docs_kept": stats.get("docs_kept"), "disk": disk}
    manifest = json.loads(Path(config.work_dir, "export", "manifest.json").read_text())
    found["tokens"] = {s["name"]: s["tokens"] for s in manifest["sources"]}
    return found


def compare(full: dict[str, Any], predicted: dict[str, Any]) -> list[tuple[str, float, dict]]:
    """(what, the full run's figure, the prediction) for documents, disk and tokens."""
    rows = []
    for row in predicted["stages"]:
        name, actual = row["stage"], full["stages"][row["stage"]]
        if "docs_kept" in row:
            rows.append((f"{name} documents", actual["docs_kept"], row["docs_kept"]))
        rows.append((f"{name} disk", actual["disk"], row["disk_bytes"]))
    for source, tokens in full["tokens"].items():
        rows.append((f"tokens {source}", tokens, predicted["tokens_per_source"][source]))
    return rows


def table(full: dict[str, Any], predictions: dict[float, dict[str, Any]]) -> str:
    shares = sorted(predictions)
    head = "| figure | full run | " + " | ".join(
        f"estimate at 1/{round(1 / s)} (5-95%) | error | in interval" for s in shares
    )
    lines = [head + " |", "|---|---:|" + "---:|---:|:-:|" * len(shares)]
    worst = dict.fromkeys(shares, 0.0)
    per_share = {s: compare(full, predictions[s]) for s in shares}
    for i, (what, actual, _) in enumerate(per_share[shares[0]]):
        cells = [what, f"{actual:,.0f}"]
        for s in shares:
            value = per_share[s][i][2]
            error = value["estimate"] / actual - 1 if actual else 0.0
            if not what.endswith("disk") or "train" not in what:
                worst[s] = max(worst[s], abs(error))
            inside = "yes" if value["low"] <= actual <= value["high"] else "**no**"
            cells += [
                f"{value['estimate']:,.0f} ({value['low']:,.0f}-{value['high']:,.0f})",
                f"{error:+.1%}",
                inside,
            ]
        lines.append("| " + " | ".join(cells) + " |")
    summary = "; ".join(f"at 1/{round(1 / s)} the largest error is {worst[s]:.1%}" for s in shares)
    dedup = "; ".join(
        f"at 1/{round(1 / s)}: sample {m['sample']:.1%}, predicted "
        f"{m['whole input']['estimate']:.1%} ({m['whole input']['low']:.1%}-"
        f"{m['whole input']['high']:.1%})"
        for s in shares
        for m in [next(r for r in predictions[s]["stages"] if r["stage"] == "minhash")]
        for m in [m["duplicates_removed_share"]]
    )
    return "\n".join(lines) + f"\n\n{summary}. Near-duplicates removed by minhash, {dedup}."


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    base = load_config(REPO / "configs/shared-samples.yaml")
    corpus = build_corpus(base, args.copies, args.files)
    config = base.model_copy(update={"inputs": [str(corpus)], "work_dir": str(WORK / "full")})
    shutil.rmtree(WORK / "full", ignore_errors=True)
    full = full_run(config)
    predictions = {}
    for share in SHARES:
        work = WORK / f"sample-{round(1 / share)}"
        shutil.rmtree(work, ignore_errors=True)
        predictions[share] = estimate(
            config, share, args.by, LocalExecutor(), 1, 32, str(work), progress=False
        )
    docs = sum(1 for _ in corpus.iterdir())
    (WORK / f"results-{args.by}.json").write_text(
        json.dumps(
            {"full": full, "predictions": {str(k): v for k, v in predictions.items()}}, indent=2
        )
    )
    text = table(full, predictions)
    print(text)
    if args.update_docs:
        header = (
            f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n"
            f"- Machine: {machine_description()}; in-process executor\n"
            f"- Command: `python bench/bench_estimate.py --copies {args.copies} "
            f"--files {args.files} --by {args.by} --update-docs`\n"
            f"- Corpus: the default ingest of data_samples/samples and wiki, {args.copies} copies "
            f"(one token changed per copy), shuffled into {docs} gzipped JSONL files; pipeline: "
            f"configs/shared-samples.yaml; samples by {args.by}.\n\n"
        )
        body = (
            f"## `datapipe estimate --by {args.by}` against the full run "
            "(`bench/bench_estimate.py`)\n\n"
        )
        section = "bench_estimate" if args.by == "files" else f"bench_estimate_{args.by}"
        update_docs_section(section, body + header + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
