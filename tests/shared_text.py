"""All of data_samples/ (samples/ and reference/) as text, in stage directories a tokenizer
can be trained on.

* `samples`: every file of data_samples/samples through datapipe's ingest stage (JSONL documents,
  the HTML of the WARCs extracted with resiliparse, the WET), source `cc` or `web`
  (samples/web) — 1,365 documents, 4.9 MB.
* `reference`: WikiText-2 test and valid articles (WikiText's tokenization undone, as the
  score stage reads them), every CMRC 2018 Chinese Wikipedia paragraph as published and the
  RedPajama arXiv papers, source `wiki_en`, `wiki_zh`, `arxiv` — 1,239 documents, 3.8 MB.

`all_texts` also gives the documents ingest rejected (empty ones, non-HTML responses) so a
round trip covers every document. Used by tests/test_tokenizer.py and
bench/bench_tokenizer.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.shards import list_shards, read_shard
from pipeline.executor import LocalExecutor
from pipeline.runner import StageRun, run_stage
from stages.ingest.stage import IngestConfig
from stages.score.corpus import wikitext_articles
from tests.conftest import SAMPLES
from tests.test_minhash_stage import write_stage_dir

REFERENCE_SOURCES = {
    "wiki_en": ("reference/wikitext2-test.txt", "reference/wikitext2-valid.txt"),
    "wiki_zh": ("reference/cmrc2018_zh_wikipedia.jsonl",),
    "arxiv": ("reference/redpajama-arxiv-sample.jsonl",),
}
REFERENCE_LANG = {"wiki_en": "en", "wiki_zh": "zh", "arxiv": "en"}


def reference_rows(real_data: Path | None = None) -> list[dict]:
    """One row per reference document: id, text, source, lang, input_file, input_offset."""
    root = real_data or SAMPLES
    rows = []
    for source, files in REFERENCE_SOURCES.items():
        for rel in files:
            path = root / rel
            if path.suffix == ".txt":
                texts = wikitext_articles(path)
            else:
                with path.open(encoding="utf-8") as lines:
                    texts = [json.loads(line)["text"] for line in lines if line.strip()]
            rows += [
                {
                    "id": f"{path.name}:{n}",
                    "text": text,
                    "source": source,
                    "lang": REFERENCE_LANG[source],
                    "input_file": rel,
                    "input_offset": n,
                }
                for n, text in enumerate(texts)
            ]
    return rows


def build_shared_stages(out: Path, real_data: Path | None = None) -> list[Path]:
    """`out/samples` (the ingest stage on data_samples/samples) and `out/reference` (a stage
    directory of `reference_rows`), both finished stage directories."""
    root = real_data or SAMPLES
    samples = out / "samples"
    config = IngestConfig(source_by_file={"dolma_wget_sample-*": "web"})
    run_stage(
        StageRun("ingest", config, [str(root / "samples")], str(samples)), LocalExecutor(), False
    )
    reference = write_stage_dir(out / "reference", [reference_rows(root)])
    return [samples, reference]


def stage_texts(stage_dir: Path, rejected: bool = False) -> list[str]:
    """The `text` column of a stage directory's shards (or of its rejected shards)."""
    folder = stage_dir / "rejected" if rejected else stage_dir
    texts: list[str] = []
    if not folder.is_dir():
        return texts
    for shard in list_shards(folder):
        for batch in read_shard(shard):
            texts += batch.column("text").to_pylist()
    return texts


def all_texts(stage_dirs: list[Path]) -> list[str]:
    """Every document of the stage directories, kept and rejected."""
    return [text for d in stage_dirs for rej in (False, True) for text in stage_texts(d, rej)]
