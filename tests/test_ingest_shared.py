"""Every real Common Crawl sample in data_samples/ ingests, and nothing is lost: for each file,
kept + rejected equals the documents an independent reader (warcio, fastwarc, json) counts."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pytest
from fastwarc.warc import ArchiveIterator as FastArchiveIterator
from fastwarc.warc import WarcRecordType
from warcio.archiveiterator import ArchiveIterator

from stages.ingest.stage import IngestConfig, IngestStage
from tests.conftest import SAMPLES

DOCUMENT_TYPES = {"response", "resource", "conversion"}
FILES = sorted(p for p in (SAMPLES / "samples").rglob("*") if p.is_file())


def warcio_counts(path: Path) -> Counter[str]:
    with open(path, "rb") as stream:
        return Counter(record.rec_type for record in ArchiveIterator(stream))


def fastwarc_document_count(path: Path) -> int:
    wanted = WarcRecordType.response | WarcRecordType.resource | WarcRecordType.conversion
    with open(path, "rb") as stream:
        return sum(1 for _ in FastArchiveIterator(stream, record_types=wanted))


def json_line_count(path: Path) -> int:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        return sum(1 for line in lines if line.strip())


def ingest(path: Path) -> tuple[int, int, Counter[str], Counter[str]]:
    kept = rejected = 0
    reasons: Counter[str] = Counter()
    counters: Counter[str] = Counter()
    for out in IngestStage(IngestConfig()).read_file(str(path)):
        kept += out.kept.num_rows
        rejected += out.rejected.num_rows
        reasons.update(out.rejected.column("reason").to_pylist())
        counters.update(out.counters)
    return kept, rejected, reasons, counters


def test_all_samples_are_present() -> None:
    names = {p.name for p in FILES}
    assert "resiliparse_CC-MAIN-2020-34_00395.warc.gz" in names
    assert "dolma_CC-MAIN-2019-30_00140.jsonl.gz" in names
    assert len(FILES) >= 11


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_sample_reconciles_with_independent_reader(path: Path) -> None:
    kept, rejected, reasons, counters = ingest(path)
    if ".warc" in path.name:
        types = warcio_counts(path)
        expected = sum(n for kind, n in types.items() if kind in DOCUMENT_TYPES)
        assert fastwarc_document_count(path) == expected
        skipped = {k.removeprefix("skipped_record:"): n for k, n in counters.items()}
        assert skipped == {k: n for k, n in types.items() if k not in DOCUMENT_TYPES}
    else:
        expected = json_line_count(path)
    assert kept + rejected == expected
    assert "malformed_warc_record" not in reasons and "corrupt_input" not in reasons


def test_real_html_pages_yield_text_in_their_language(real_data: Path) -> None:
    path = real_data / "samples/cc/resiliparse_CC-MAIN-2020-34_00395.warc.gz"
    batches = list(IngestStage(IngestConfig()).read_file(str(path)))
    texts = [t for b in batches for t in b.kept.column("text").to_pylist()]
    assert len(texts) == 16
    cjk = [t for t in texts if sum("\u4e00" <= ch <= "\u9fff" for ch in t) > 20]
    # The sample is mostly Chinese pages, several in gb2312/GBK: decoding must get them right.
    assert len(cjk) >= 8
    assert all("\ufffd" not in t[:2000] for t in cjk)


def test_dolma_and_ccnet_layouts_map_to_typed_columns(real_data: Path) -> None:
    stage = IngestStage(IngestConfig())
    [dolma] = stage.read_file(str(real_data / "samples/cc/dolma_CC-MAIN-2019-30_00140.jsonl.gz"))
    row = dolma.kept.slice(0, 1).to_pylist()[0]
    assert row["url"] == "16thfleet.wikidot.com/chatter:anewhome"
    assert row["crawl_date"] == "2019-07-17T13:39:42.000Z"
    assert json.loads(row["meta"])["id"] == "blj5uzvcoa4iybpd5o6kom5nir6ngmoj"
    [ccnet] = stage.read_file(
        str(real_data / "samples/cc/ccnet_en_head_CC-MAIN-2020-16_0091.jsonl.gz")
    )
    row = ccnet.kept.slice(0, 1).to_pylist()[0]
    assert row["text"].startswith("We will be starting to hold weekly teleconferences")
    assert json.loads(row["meta"])["metadata"]["bucket"] == "head"


def test_warc_1_0_angle_bracketed_uris_are_unwrapped(real_data: Path) -> None:
    # wget writes `WARC-Target-URI: <https://...>`; URL rules need the bare URI.
    path = real_data / "samples/web/dolma_wget_sample-0000.warc.gz"
    urls = [
        u
        for b in IngestStage(IngestConfig()).read_file(str(path))
        for u in b.kept.column("url").to_pylist()
    ]
    assert urls and all(u.startswith("http") for u in urls)


def ingested_ids(path: Path, share: float) -> tuple[set[str], Counter[str]]:
    ids: set[str] = set()
    counters: Counter[str] = Counter()
    for out in IngestStage(IngestConfig(sample_share=share)).read_file(str(path)):
        ids.update(out.kept.column("id").to_pylist() + out.rejected.column("id").to_pylist())
        counters.update(out.counters)
    return ids, counters


@pytest.mark.parametrize(
    "name", ["dolma_CC-MAIN-2019-30_00140.jsonl.gz", "resiliparse_CC-MAIN-2020-34_00395.warc.gz"]
)
def test_a_document_sample_is_nested_and_counts_what_it_leaves(name: str) -> None:
    """`sample_share` (what `datapipe estimate --by documents` sets): a share of the records
    by a hash of their id, a smaller share's inside a larger one's; the records left are
    counted, and the raw bytes of records taken and left add up to the whole file's."""
    path = SAMPLES / "samples" / "cc" / name
    everything, _ = ingested_ids(path, 1.0)
    half, counted = ingested_ids(path, 0.5)
    quarter, _ = ingested_ids(path, 0.25)
    assert quarter < half < everything
    assert len(half) + counted["sampled_out"] == len(everything)
    assert 0.25 < len(half) / len(everything) < 0.75
    if name.endswith(".jsonl.gz"):  # the raw bytes are the decompressed file's
        with gzip.open(path, "rb") as file:
            size = len(file.read())
        assert counted["sampled_bytes"] + counted["sampled_out_bytes"] == size
    else:
        assert counted["sampled_bytes"] > 0 and counted["sampled_out_bytes"] > 0
