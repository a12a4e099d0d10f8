"""Peak memory per task at 1x and 16x the same corpus (issue #20): bounded by the config, not by
the corpus.

The corpora: the documents of data_samples/ (samples and Wikipedia) that the default ingest and
filter keep, copied `--base` times (1x) and `--base` x `--scale` times, each copy but the first
with one token changed (ids suffixed), written as shards of `--shard-mb`. Each stage runs on
the corpus itself, not chained (so every global stage meets the whole corpus: chained, minhash
would hand a fraction of it on), on an embedded Ray of its own with every core (fresh
workers), with configs/default.yaml's settings but for the bounds of the training samples,
set below the 1x corpus (`TRAINING_BOUNDS`: the claim is that the config bounds a task, so
both corpora must reach the bound): filter, minhash, substring, topics, train-tokenizer, and
export, at both scales with the tokenizer trained at 1x (a tokenizer is export's input, like
its config: trained on other text it is another model of another size).
The executor resets each worker's peak-memory mark before a task,
so the peak each task records (`peak_rss_mb` in its marker) is its own: the table shows the
largest over a stage's tasks and steps at 1x and at the scale, and their ratio (the aim:
under 1.25).

    python bench/bench_scale.py [--base 4] [--scale 16] [--shard-mb 4] [--update-docs]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
from common import (
    OUT_DIR,
    REPO,
    command_line,
    machine_description,
    software_description,
    tokens_changed,
    update_docs_section,
)

sys.path.insert(0, str(REPO))

from core.shards import RollingShardWriter, list_shards, read_shard
from pipeline.config import load_config
from pipeline.executor import LocalExecutor, RayExecutor, RaySettings
from pipeline.runner import StageRun, run_stage

WORK = OUT_DIR / "scale"
BATCH_ROWS = 200  # rows per record batch written: a shard rolls over between batches
STAGES = ("filter", "minhash", "substring", "topics", "train-tokenizer", "export")
# The training stages' sample bounds, below the 1x corpus (~6,000 documents, ~20 MB of text).
TRAINING_BOUNDS = {"topics": {"sample_docs": 2_000}, "train-tokenizer": {"training_mb": 8}}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=int, default=4, help="copies in the 1x corpus (default 4)")
    parser.add_argument("--scale", type=int, default=16, help="the large corpus, x base (16)")
    parser.add_argument("--shard-mb", type=float, default=4.0, help="shard size (default 4)")
    parser.add_argument(
        "--changed",
        type=float,
        default=0.0,
        help="share of tokens changed per copy (default 0: one token, near-duplicates)",
    )
    parser.add_argument("--stages", nargs="+", default=list(STAGES), help="stages to run")
    parser.add_argument("--update-docs", action="store_true", help="write docs/benchmarks.md")
    return parser.parse_args(argv)


def default_configs() -> dict[str, Any]:
    """Each stage's config in configs/default.yaml (ingest's too), with `TRAINING_BOUNDS`."""
    config = load_config(REPO / "configs/default.yaml")
    return {
        entry.name: with_fields(entry.config, TRAINING_BOUNDS.get(entry.name, {}))
        for entry in config.stages
    }


def with_fields(config: Any, fields: dict[str, Any]) -> Any:
    return type(config).model_validate({**config.model_dump(), **fields})


def source_documents(configs: dict[str, Any]) -> tuple[list[dict[str, Any]], pa.Schema]:
    """The documents of data_samples/samples and data_samples/wiki that the default ingest
    and filter keep (with the columns the filter adds: lang), and their schema."""
    inputs = [str(REPO / "data_samples/samples"), str(REPO / "data_samples/wiki")]
    ingest, kept = WORK / "ingest", WORK / "filter"
    run_stage(StageRun("ingest", configs["ingest"], inputs, str(ingest)), LocalExecutor(), False)
    run_stage(
        StageRun("filter", configs["filter"], [str(ingest)], str(kept)), LocalExecutor(), False
    )
    batches = [b for shard in list_shards(kept) for b in read_shard(shard)]
    return [row for b in batches for row in b.to_pylist()], batches[0].schema


def write_corpus(
    rows: list[dict[str, Any]], schema: pa.Schema, scale: int, shard_mb: float, share: float
) -> tuple[Path, int]:
    """`scale` copies of `rows` (the first as is) as shards; the directory and text bytes."""
    directory = WORK / f"x{scale}" / "corpus"
    shutil.rmtree(directory.parent, ignore_errors=True)
    writer = RollingShardWriter(
        directory, schema, lambda n: f"part-{n:05d}.arrow", int(shard_mb * 2**20)
    )
    text_bytes = 0
    for copy in range(scale):
        rng = random.Random(copy)
        for start in range(0, len(rows), BATCH_ROWS):
            batch = []
            for row in rows[start : start + BATCH_ROWS]:
                text = row["text"] if copy == 0 else tokens_changed(row["text"], rng, share)
                batch.append({**row, "id": f"{row['id']}-{copy}", "text": text})
                text_bytes += len(text.encode())
            writer.write(pa.RecordBatch.from_pylist(batch, schema=schema))
    writer.close()
    return directory, text_bytes


def run_stages(
    corpus: Path, configs: dict[str, Any], names: list[str], tokenizer: Path
) -> dict[str, Any]:
    """Each stage on the corpus (export with `tokenizer`), on an embedded Ray of its own
    (fresh workers: nothing another stage loaded stays resident); per stage: its largest task
    peak, wall seconds, tasks."""
    root = corpus.parent
    found: dict[str, Any] = {}
    for name in names:
        config = configs[name]
        if name == "export":
            config = with_fields(config, {"tokenizer": str(tokenizer)})
        started = time.perf_counter()
        shards = [str(shard) for shard in list_shards(corpus)]
        executor = RayExecutor(RaySettings())
        try:
            stats = run_stage(StageRun(name, config, shards, str(root / name)), executor, False)
        finally:
            executor.close()
        steps = stats.get("step_seconds") or {}
        peaks = [stats.get("max_task_peak_rss_mb") or stats.get("peak_rss_mb") or 0.0]
        peaks += [s.get("max_task_peak_rss_mb") or 0.0 for s in steps.values()]
        found[name] = {
            "peak_mb": max(peaks),
            "wall": round(time.perf_counter() - started, 1),
            "tasks": len(stats.get("per_input") or []) or 1,
        }
        print(f"{root.name} {name}: {found[name]}", file=sys.stderr)
    return found


def table(corpora: dict[int, int], runs: dict[int, dict[str, Any]], scale: int) -> str:
    small, large = runs[1], runs[scale]
    lines = [
        f"| stage | largest task peak, 1x (MiB) | {scale}x (MiB) | ratio | tasks 1x / {scale}x |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in small:
        ratio = large[name]["peak_mb"] / small[name]["peak_mb"]
        lines.append(
            f"| {name} | {small[name]['peak_mb']:,.0f} | {large[name]['peak_mb']:,.0f} | "
            f"{ratio:.2f} | {small[name]['tasks']} / {large[name]['tasks']} |"
        )
    sizes = ", ".join(f"{k}x {v / 1e6:,.1f} MB of text" for k, v in sorted(corpora.items()))
    return "\n".join(lines) + f"\n\nCorpora: {sizes}."


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configs = default_configs()
    rows, schema = source_documents(configs)
    corpora, runs = {}, {}
    for scale in (1, args.scale):
        copies = args.base * scale
        corpus, corpora[scale] = write_corpus(rows, schema, copies, args.shard_mb, args.changed)
        tokenizer = WORK / f"x{args.base}" / "train-tokenizer" / "tokenizer.model"
        runs[scale] = run_stages(corpus, configs, args.stages, tokenizer)
    text = table(corpora, runs, args.scale)
    print(text)
    (WORK / "results.json").write_text(json.dumps({"corpora": corpora, "runs": runs}, indent=2))
    if args.update_docs:
        header = (
            f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n"
            f"- Machine: {machine_description()}; embedded Ray, every core\n"
            f"- Software: {software_description(('pyarrow', 'ray'))}\n"
            f"- Command: `{command_line()}`\n\n"
        )
        if args.changed:  # copies that are not near-duplicates: a section of their own
            title = f"copies with {args.changed:.0%} of their tokens changed"
            section = "bench_scale_distinct"
        else:
            title, section = "near-copies (one token changed)", "bench_scale"
        body = f"## Peak memory per task at 1x and 16x, {title} (`bench/bench_scale.py`)\n\n"
        update_docs_section(section, body + header + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
