"""The tokenizer (tokenizer/, `datapipe train-tokenizer`) trained on all of data_samples/ text.

Models are trained once per module on every document of data_samples/ (tests/shared_text.py:
the ingested samples plus the reference text, 2,635 documents, 8.7 MB): the 64,000-piece
vocabulary the pipeline uses (about 2 s here) and an 8,000-piece one (more byte fallback).
Checked on both: exact round trip of every document and of synthetic hard strings with no
<unk>, digits always single tokens (a seeded property test and the whole vocabulary), the
vocabulary size and special-token ids, identity normalization and no dummy prefix. Then:
not enough text (NotEnoughText, allow_smaller_vocabulary), the mixture sample, determinism,
reuse of an up-to-date model, the CLI, and loading the model with Hugging Face tokenizers /
transformers. Known defects are strict xfails whose reasons give a minimal repro.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import subprocess
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.integrity import CorruptModel, checksum_file
from pipeline.cli import main
from pipeline.executor import LocalExecutor
from pipeline.runner import StageRun, run_stage
from tests.conftest import REPO
from tests.shared_text import all_texts, build_shared_stages, reference_rows, stage_texts
from tests.test_minhash_stage import write_stage_dir
from tokenizer.encode import Tokenizer
from tokenizer.stage import describe_training, train_tokenizer
from tokenizer.train import (
    MIN_BYTES_PER_PIECE,
    MIN_VOCABULARY,
    NotEnoughText,
    TokenizerConfig,
    sample_budgets,
    vocabulary_for,
    write_sample,
)

SPECIAL_IDS = {"<unk>": 0, "<s>": 1, "</s>": 2, "<pad>": 3, "<|im_start|>": 4, "<|im_end|>": 5}
SMALL_VOCAB = 8000
ASCII_DIGIT = re.compile(r"[0-9]")
BYTE_PIECE = re.compile(r"^<0x[0-9A-F]{2}>$")

# Strings a web corpus holds sooner or later; every one must round-trip exactly with no <unk>.
SYNTHETIC = [
    "",
    " ",
    "\n",
    "hello",
    " hello",
    "  two  spaces  and trailing   ",
    "\n\nnewlines\r\nwindows\rmac\ttab\x0bvt\x0cff",
    "".join(map(chr, range(0x20))) + "\x7f" + "".join(map(chr, range(0x80, 0xA0))),
    "NUL\x00inside\x00text \x1b[31mANSI\x1b[0m",
    "emoji 😀 👩‍👩‍👧‍👦 👍🏽 🇯🇵🇫🇷 🏳️‍🌈 ❤️ 🫠",
    "CJK ext B-H: 𠀀𪚥𫝀𫠠𬺰𰀀𱍐𲎯 and compat 丽",  # U+20000.. U+3134F.., rarely seen
    "private use \ue000\uf8ff\U000f0000\U0010fffd noncharacters \ufffe\uffff",
    "tags \U000e0001\U000e0041 variation \ufe0f\U000e0100",
    "combining a\u0301e\u0308 and \u0301 alone, Hangul jamo \u1100\u1161\u11a8",
    "bidi \u202eevil\u202c \u200f\u200e zero width \u200b\u200c\u200d\u2060 BOM \ufeff",
    "spaces \u3000\xa0\u2009\u202f lines \u2028\u2029\x85",
    "mixed 中文English日本語한국어العربيةहिन्दीไทย",
    "<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
    "not special: <unk> <s> </s> <pad> <0x41> <|im_start <|im_end|",
    "x" * 10_000,
    "长" * 3000 + "\n" + "🙂" * 3000,
    "tab\tseparated\tvalues\t1\t2\t3\n" * 50,
]
# NFKC would change each of these; identity normalization must keep every character.
FOLDABLE = [
    "ＡＢＣ１２３",
    "ﬁnance ﬂow",
    "①②③ ⑴ ㈠",
    "㎏ ㎞ ㍿ ℡ ™",
    "\u212b \u2126 \u212a",  # angstrom, ohm, kelvin signs
    "ｶﾀｶﾅ ﾊﾞｲﾄ",
    "x² H₂O ½",
    "… ‥ ︙",
    "\u3000ideographic space",
    "Ｈｅｌｌｏ，　ｗｏｒｌｄ！",
]


def encode(tok: Tokenizer, text: str) -> list[int]:
    return tok.encode_batch([text])[0].tolist()


def piece_table(tok: Tokenizer) -> list[str]:
    return [tok.piece(i) for i in range(tok.vocab_size)]


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def model_proto(path: str | Path) -> Any:
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(Path(path).read_bytes())
    return proto


def rows(source: str, texts: list[str]) -> list[dict]:
    return [{"id": f"{source}-{n}", "text": t, "source": source} for n, t in enumerate(texts)]


# --- fixtures: all of data_samples/, trained once ------------------------------------------


@pytest.fixture(scope="module")
def corpus(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The two stage directories of all data_samples/ text (tests/shared_text.py)."""
    return [str(d) for d in build_shared_stages(tmp_path_factory.mktemp("real_data"), real_data)]


@pytest.fixture(scope="module")
def texts(corpus: list[str]) -> list[str]:
    return all_texts([Path(d) for d in corpus])


@pytest.fixture(scope="module")
def yi(corpus: list[str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The 64,000-piece tokenizer on all of data_samples/ (default options)."""
    return train_tokenizer(corpus, tmp_path_factory.mktemp("yi") / "yi", TokenizerConfig())


@pytest.fixture(scope="module")
def small(corpus: list[str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    cfg = TokenizerConfig(vocab_size=SMALL_VOCAB)
    return train_tokenizer(corpus, tmp_path_factory.mktemp("small") / "yi8k", cfg)


@pytest.fixture(params=["yi", "small"])
def trained(request: pytest.FixtureRequest) -> tuple[dict[str, Any], Tokenizer]:
    report = request.getfixturevalue(request.param)
    return report, Tokenizer.load(report["model"])


# --- vocabulary size, special tokens, dtype -------------------------------------------------


def test_64k_on_all_shared_text(yi: dict[str, Any], texts: list[str]) -> None:
    """The pipeline's configuration trains on data_samples/ as is: every document sampled (1%
    held out for the report), exactly 64,000 pieces, uint16 ids, a complete report."""
    assert not yi.get("skipped")
    tok = Tokenizer.load(yi["model"])
    assert tok.vocab_size == yi["vocab_size"] == yi["requested_vocab_size"] == 64_000
    assert tok.dtype is np.uint16 and yi["dtype"] == "uint16"
    sample = yi["sample"]
    assert set(sample["sample_rates"].values()) == {1.0}
    total = sum(len(t.encode()) for t in texts)
    # source_bytes: the training candidates (held-out documents excluded), all sampled
    assert sum(sample["source_bytes"].values()) + sample["heldout_bytes"] == total
    assert sample["sampled_bytes"] == sample["source_bytes"]
    assert 0 < sample["heldout_bytes"] < 0.05 * total
    assert yi["composition"]["vocab_size"] == 64_000
    assert sum(yi["composition"]["pieces"].values()) == 64_000
    assert yi["composition"]["pieces"]["byte"] == 256
    assert yi["composition"]["pieces"]["cjk"] > 5000  # a third of the text is Chinese
    assert yi["compression"] and all(c["bytes_per_token"] > 1 for c in yi["compression"].values())
    meta = json.loads(Path(yi["model"]).with_suffix(".json").read_text())
    assert meta == yi and meta["vocab_size"] == 64_000
    assert "trained 64,000 pieces" in describe_training(yi)


def test_vocabulary_size_and_special_token_ids(trained: tuple[dict, Tokenizer]) -> None:
    report, tok = trained
    assert tok.vocab_size == report["requested_vocab_size"]
    assert report["token_ids"] == SPECIAL_IDS
    proc = tok.processor
    assert {tok.piece(i): i for i in range(6)} == SPECIAL_IDS
    assert proc.is_unknown(0) and proc.unk_id() == 0
    assert (proc.bos_id(), proc.eos_id(), proc.pad_id()) == (1, 2, 3)
    assert all(proc.is_control(i) for i in (1, 2, 3))
    types = [p.type for p in model_proto(report["model"]).pieces[:6]]
    assert types == [2, 3, 3, 3, 3, 3]  # UNKNOWN, CONTROL x5 (the special tokens too)
    assert sum(BYTE_PIECE.match(p) is not None for p in piece_table(tok)) == 256


def test_special_tokens_in_text_are_ordinary_text(trained: tuple[dict, Tokenizer]) -> None:
    """Crawled text that spells a chat template must not forge its structure: the special
    tokens are control pieces, which a trainer inserts by id and text never encodes to."""
    _, tok = trained
    assert [tok.processor.piece_to_id(t) for t in ("<|im_start|>", "<|im_end|>")] == [4, 5]
    assert tok.control_ids() == [0, 1, 2, 3, 4, 5]
    chat = "<|im_start|>user\n你好, 12 apples?<|im_end|>\n<|im_start|>assistant\n"
    texts = [chat, "<|im_start|><|im_end|>", "<s> </s> <pad> <unk>", "<|im_start", "<|IM_START|>"]
    for text in texts:
        ids = encode(tok, text)
        assert not set(ids) & {0, 1, 2, 3, 4, 5}, text
        assert tok.decode(ids) == text


def test_encode_batch_returns_uint16_arrays(yi: dict[str, Any], texts: list[str]) -> None:
    tok = Tokenizer.load(yi["model"])
    assert Tokenizer.load(yi["model"]) is tok  # loaded once per process
    batch = tok.encode_batch(texts[:50], num_threads=2)
    assert all(isinstance(a, np.ndarray) and a.dtype == np.uint16 for a in batch)
    assert [a.tolist() for a in batch] == tok.processor.encode(texts[:50])


def test_vocabulary_over_65536_uses_uint32(
    corpus: list[str], tmp_path: Path, texts: list[str]
) -> None:
    report = train_tokenizer(corpus, tmp_path / "big", TokenizerConfig(vocab_size=65_537))
    tok = Tokenizer(report["model"])
    assert tok.vocab_size == 65_537 and report["dtype"] == "uint32"
    ids = tok.encode_batch(texts)
    assert ids[0].dtype == np.uint32
    assert max(int(a.max()) for a in ids if a.size) == 65_536  # the last piece is used


# --- round trip -----------------------------------------------------------------------------


def test_every_shared_document_round_trips_without_unk(
    trained: tuple[dict, Tokenizer], texts: list[str]
) -> None:
    _, tok = trained
    assert len(texts) >= 2600
    encoded = tok.encode_batch(texts)
    with_unk = [n for n, ids in enumerate(encoded) if (ids == 0).any()]
    changed = [n for n, ids in enumerate(encoded) if tok.decode(ids) != texts[n]]
    assert not with_unk, [texts[n][:80] for n in with_unk[:3]]
    assert not changed, [texts[n][:80] for n in changed[:3]]


@pytest.mark.parametrize("text", SYNTHETIC, ids=range(len(SYNTHETIC)))
def test_synthetic_strings_round_trip_without_unk(
    trained: tuple[dict, Tokenizer], text: str
) -> None:
    _, tok = trained
    ids = encode(tok, text)
    assert 0 not in ids
    assert tok.decode(ids) == text


def test_rare_characters_fall_back_to_bytes(yi: dict[str, Any]) -> None:
    tok = Tokenizer.load(yi["model"])
    ids = encode(tok, "𱍐")  # CJK extension H, U+31350: not in the vocabulary
    assert [tok.piece(i) for i in ids] == ["<0xF0>", "<0xB1>", "<0x8D>", "<0x90>"]


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="sentencepiece's whitespace meta symbol: U+2581 '▁' in the text decodes as a "
    "space. Repro: Tokenizer(m).decode(Tokenizer(m).encode_batch(['a▁b'])[0]) == 'a b'. "
    "Same in Llama's and Yi's tokenizers; no document of data_samples/ contains U+2581",
)
def test_lower_one_eighth_block_round_trips(yi: dict[str, Any]) -> None:
    tok = Tokenizer.load(yi["model"])
    assert tok.decode(encode(tok, "a▁b ▁▁")) == "a▁b ▁▁"


# --- digits ---------------------------------------------------------------------------------


def random_number(rng: random.Random) -> str:
    digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 25)))
    forms: list[Callable[[], str]] = [
        lambda: digits,
        lambda: f"{rng.randint(0, 10**6):,}",
        lambda: f"{rng.uniform(0, 1000):.{rng.randint(1, 6)}f}",
        lambda: f"{rng.randint(1900, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        lambda: f"+{rng.randint(1, 99)} ({rng.randint(100, 999)}) {rng.randint(0, 9999):04d}",
        lambda: f"v{rng.randint(0, 20)}.{rng.randint(0, 99)}.{rng.randint(0, 999)}",
        lambda: f"${rng.randint(0, 9999)}.{rng.randint(0, 99):02d}",
        lambda: f"{rng.randint(0, 100)}%",
        lambda: f"0x{rng.randint(0, 2**32):X}",
        lambda: f"第{rng.randint(1, 999)}章",
        lambda: f"{rng.randint(1, 12)}月{rng.randint(1, 31)}日",
        lambda: f"abc{digits}def",
        lambda: f"H{rng.randint(2, 9)}O{digits}",
        lambda: f"1e-{rng.randint(1, 30)}",
    ]
    return rng.choice(forms)()


def test_digits_are_always_single_tokens(trained: tuple[dict, Tokenizer], texts: list[str]) -> None:
    """Property test (seeded): random numbers in random real words, CJK text and punctuation;
    every ASCII digit of the text is a token of its own."""
    _, tok = trained
    pieces = piece_table(tok)
    rng = random.Random(20240131)
    words = rng.sample([w for t in texts[:1500] for w in t.split()], 20_000)
    glue = ["", "", " ", "  ", "\n", "-", ",", ".", "/", ":", "。", "，", "\t"]
    cases = []
    for _ in range(3000):
        parts = [rng.choice(words) if rng.random() < 0.6 else random_number(rng)]
        for _ in range(rng.randint(1, 12)):
            parts += [
                rng.choice(glue),
                rng.choice(words) if rng.random() < 0.5 else random_number(rng),
            ]
        cases.append("".join(parts))
    for text, ids in zip(cases, tok.encode_batch(cases), strict=True):
        tokens = [pieces[i] for i in ids]
        with_digit = [p for p in tokens if ASCII_DIGIT.search(p) and not BYTE_PIECE.match(p)]
        assert all(len(p) == 1 for p in with_digit), (text, with_digit)
        assert len(with_digit) == len(ASCII_DIGIT.findall(text)), text
        assert tok.decode(ids) == text


def test_no_piece_mixes_a_digit_with_anything(trained: tuple[dict, Tokenizer]) -> None:
    _, tok = trained
    pieces = [p for p in piece_table(tok) if not BYTE_PIECE.match(p)]
    assert set("0123456789") <= set(pieces)
    mixed = [p for p in pieces if ASCII_DIGIT.search(p) and len(p) > 1]
    assert not mixed, mixed[:20]


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="sentencepiece's split_digits splits ASCII 0-9 only: the 64k vocabulary learns "
    "multi-digit pieces of other scripts from the OSCAR sample, e.g. '००' and '▁२०' "
    "(Devanagari), '▁٢' (Arabic-Indic). Yi's tokenizer behaves the same",
)
def test_no_piece_mixes_a_unicode_decimal_digit_with_anything(yi: dict[str, Any]) -> None:
    tok = Tokenizer.load(yi["model"])
    mixed = [
        p
        for p in piece_table(tok)
        if len(p) > 1
        and not BYTE_PIECE.match(p)
        and any(unicodedata.category(c) == "Nd" for c in p)
        and not any("\u1000" <= c <= "\u109f" for c in p)  # Zawgyi uses Shan digits as marks
    ]
    assert not mixed, mixed


# --- normalization and whitespace -----------------------------------------------------------


def test_identity_normalization_and_no_dummy_prefix(trained: tuple[dict, Tokenizer]) -> None:
    report, tok = trained
    spec = model_proto(report["model"]).normalizer_spec
    assert spec.name == "identity" and not spec.precompiled_charsmap
    assert not spec.add_dummy_prefix and not spec.remove_extra_whitespaces
    for text in FOLDABLE:
        folded = unicodedata.normalize("NFKC", text)
        assert folded != text
        ids = encode(tok, text)
        assert tok.decode(ids) == text
        assert ids != encode(tok, folded), text
    assert "".join(tok.piece(i) for i in encode(tok, "ＡＢＣ１２３")) != "ABC123"
    hello = [tok.piece(i) for i in encode(tok, "hello")]
    assert not hello[0].startswith("▁"), hello
    assert tok.decode(encode(tok, "hello")) == "hello"
    assert tok.piece(encode(tok, " hello")[0]).startswith("▁")
    for text in ("a  b", "  lead", "trail  ", "a \n b"):
        assert tok.decode(encode(tok, text)) == text  # no whitespace collapsing


# --- not enough text ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def arxiv_stage(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The 11 RedPajama arXiv papers alone: 0.11 MB, about 1,100 pieces' worth."""
    arxiv = [r for r in reference_rows(real_data) if r["source"] == "arxiv"]
    return str(write_stage_dir(tmp_path_factory.mktemp("arxiv") / "stage", [arxiv]))


def test_not_enough_text_for_64k(arxiv_stage: str, tmp_path: Path) -> None:
    needed_mb = 64_000 * MIN_BYTES_PER_PIECE / 2**20
    with pytest.raises(NotEnoughText) as err:
        train_tokenizer([arxiv_stage], tmp_path / "yi", TokenizerConfig(vocab_size=64_000))
    message = str(err.value)
    assert f"needs at least {needed_mb:,.1f} MB" in message  # 6.1 MB
    assert "the sample has 0.11 MB" in message and "allow_smaller_vocabulary" in message
    assert not (tmp_path / "yi.model").exists()


def test_not_enough_text_even_for_a_smaller_vocabulary_suggests_what_is_left() -> None:
    """With allow_smaller_vocabulary already set, the error does not suggest setting it."""
    cfg = TokenizerConfig(vocab_size=64_000, allow_smaller_vocabulary=True)
    with pytest.raises(NotEnoughText) as err:
        vocabulary_for(cfg, training_bytes=1000)
    assert "set allow_smaller_vocabulary" not in str(err.value)
    assert "lower min_bytes_per_piece" in str(err.value)


def test_allow_smaller_vocabulary_trains_what_the_text_supports(
    arxiv_stage: str, tmp_path: Path
) -> None:
    cfg = TokenizerConfig(vocab_size=64_000, allow_smaller_vocabulary=True)
    report = train_tokenizer([arxiv_stage], tmp_path / "yi", cfg)
    training_bytes = sum(report["sample"]["sampled_bytes"].values())
    expected = training_bytes // MIN_BYTES_PER_PIECE
    assert MIN_VOCABULARY <= expected < 64_000
    assert report["vocab_size"] == vocabulary_for(cfg, training_bytes) == expected
    assert report["requested_vocab_size"] == 64_000
    assert Tokenizer(report["model"]).vocab_size == expected
    assert report["token_ids"] == SPECIAL_IDS
    assert f"trained {expected:,} pieces" in describe_training(report)


def test_not_enough_text_through_the_cli(
    arxiv_stage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The stage fails (exit 1) with the task's own message, on Ray as in-process."""
    args = ["train-tokenizer", "--input", arxiv_stage, "--output", str(tmp_path / "yi")]
    assert main(args) == 1
    assert "train-tokenizer training: NotEnoughText: " in (err := capsys.readouterr().err)
    assert "needs at least 6.1 MB" in err and "Traceback" not in err
    assert main([*args, "--allow-smaller-vocabulary"]) == 0
    assert re.search(r"trained 1,\d{3} pieces", capsys.readouterr().err)


def test_no_training_text_left_after_not_enough_text(arxiv_stage: str, tmp_path: Path) -> None:
    with pytest.raises(NotEnoughText):
        train_tokenizer([arxiv_stage], tmp_path / "yi", TokenizerConfig())
    assert not list(tmp_path.iterdir())  # no sample, no held-out file, no partial model


def test_vocabulary_for_boundaries() -> None:
    cfg = TokenizerConfig(vocab_size=8000)
    assert vocabulary_for(cfg, 8000 * MIN_BYTES_PER_PIECE) == 8000
    with pytest.raises(NotEnoughText, match=r"needs at least 0\.8 MB"):
        vocabulary_for(cfg, 8000 * MIN_BYTES_PER_PIECE - 1)
    smaller = TokenizerConfig(vocab_size=8000, allow_smaller_vocabulary=True)
    assert vocabulary_for(smaller, 8000 * MIN_BYTES_PER_PIECE - 1) == 7999
    assert vocabulary_for(smaller, MIN_VOCABULARY * MIN_BYTES_PER_PIECE) == MIN_VOCABULARY
    with pytest.raises(NotEnoughText):  # below the smallest vocabulary even when allowed
        vocabulary_for(smaller, MIN_VOCABULARY * MIN_BYTES_PER_PIECE - 1)
    denser = TokenizerConfig(vocab_size=8000, min_bytes_per_piece=50)  # a configured bound
    assert vocabulary_for(denser, 8000 * 50) == 8000
    with pytest.raises(NotEnoughText, match=r"\(50 bytes per piece\)"):
        vocabulary_for(denser, 8000 * 50 - 1)


def test_too_many_characters_for_the_vocabulary(real_data: Path, tmp_path: Path) -> None:
    """110 Chinese paragraphs support 1,547 pieces but hold more distinct characters than
    that: a NotEnoughText naming character_coverage, not a sentencepiece RuntimeError."""
    zh = [r for r in reference_rows(real_data) if r["source"] == "wiki_zh"][:110]
    stage = write_stage_dir(tmp_path / "zh", [zh])
    cfg = TokenizerConfig(allow_smaller_vocabulary=True)
    with pytest.raises(NotEnoughText, match="character_coverage"):
        train_tokenizer([str(stage)], tmp_path / "yi", cfg)


# --- the mixture sample ---------------------------------------------------------------------


def test_sample_budgets_follow_the_mixture() -> None:
    from collections import Counter

    totals = Counter({"a": 10_000_000, "b": 500_000})
    budgets, warnings = sample_budgets(totals, {"a": 0.5, "b": 0.5}, 2**30)
    assert budgets == {"a": 500_000, "b": 500_000}  # b is taken whole, a scaled to match
    assert len(warnings) == 1 and "b too small" in warnings[0]
    budgets, warnings = sample_budgets(totals, {"a": 0.5, "b": 0.5}, 400_000)  # plentiful
    assert budgets == pytest.approx({"a": 200_000, "b": 200_000}) and not warnings
    budgets, _ = sample_budgets(totals, {"a": 0.25, "b": 0.75}, 2**30)
    assert budgets["a"] * 3 == pytest.approx(budgets["b"]) and budgets["b"] == 500_000
    budgets, warnings = sample_budgets(totals, {}, 2**30)  # natural shares: everything
    assert budgets == pytest.approx({"a": 10_000_000, "b": 500_000}) and not warnings
    budgets, warnings = sample_budgets(totals, {"a": 0.5, "c": 0.5}, 2**30)
    assert budgets == {"a": 10_000_000, "b": 0.0}
    assert any("'c'" in w and "no documents" in w for w in warnings)


def chunks(texts: list[str], size: int) -> list[str]:
    return [t[i : i + size] for t in texts for i in range(0, len(t) - size + 1, size)]


def sampled_share(stage: Path, tmp: Path, seed: int) -> tuple[float, Any]:
    cfg = TokenizerConfig(mixture={"a": 0.5, "b": 0.5}, seed=seed)
    stats = write_sample([str(stage)], cfg, tmp / "train.txt", tmp / "heldout.jsonl")
    a, b = stats.sampled_bytes["a"], stats.sampled_bytes["b"]
    return a / (a + b), stats


def test_mixture_half_and_half_of_sources_of_very_different_sizes(
    corpus: list[str], real_data: Path, tmp_path: Path
) -> None:
    """Source a: 4.7 MB of web text, b: 0.25 MB of Chinese Wikipedia (19x smaller), both cut
    into 300-character documents (13,365 in all): 50/50 within 2 points for every seed
    (measured: 0.49 to 0.51 for seeds 1 to 10)."""
    web = chunks(stage_texts(Path(corpus[0])), 300)
    zh = chunks([r["text"] for r in reference_rows(real_data) if r["source"] == "wiki_zh"], 300)
    stage = write_stage_dir(tmp_path / "ab", [rows("a", web), rows("b", zh[:300])])
    for seed in range(1, 6):
        share, stats = sampled_share(stage, tmp_path, seed)
        assert stats.source_bytes["a"] > 15 * stats.source_bytes["b"]
        assert stats.sample_rates["b"] == 1.0 and stats.sample_rates["a"] < 0.06
        assert share == pytest.approx(0.5, abs=0.02), seed


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="each source's byte budget is met to within whole documents (its hash threshold "
    "is crossed by the document that fills it): with documents of up to 170 KB against a "
    "0.42 MB budget, mixture {a: 0.5, b: 0.5} gives a/(a+b) = 0.54 for seed 1 (a = the 1,365 "
    "ingested data_samples/ samples, b = 300 CMRC paragraphs)",
)
def test_mixture_half_and_half_on_whole_real_documents(
    corpus: list[str], real_data: Path, tmp_path: Path
) -> None:
    web = stage_texts(Path(corpus[0]))
    zh = [r["text"] for r in reference_rows(real_data) if r["source"] == "wiki_zh"][:300]
    stage = write_stage_dir(tmp_path / "ab", [rows("a", web), rows("b", zh)])
    for seed in range(1, 6):
        share, _ = sampled_share(stage, tmp_path, seed)
        assert share == pytest.approx(0.5, abs=0.03), seed


def test_mixture_sample_is_deterministic_for_a_seed(corpus: list[str], tmp_path: Path) -> None:
    cfg = TokenizerConfig(mixture={"cc": 0.4, "wiki_zh": 0.4, "wiki_en": 0.2}, training_mb=2)
    files = []
    for run in ("first", "second", "other-seed"):
        seed_cfg = cfg.model_copy(update={"seed": 7 if run == "other-seed" else 1})
        train, heldout = tmp_path / f"{run}.txt", tmp_path / f"{run}.jsonl"
        stats = write_sample(corpus, seed_cfg, train, heldout)
        files.append((sha256(train), sha256(heldout), stats.sampled_bytes, stats.sample_rates))
    assert files[0] == files[1]
    assert files[0][0] != files[2][0]  # another seed, another sample (same budgets)
    sampled = files[0][2]
    assert set(sampled) == {"cc", "wiki_zh", "wiki_en"}  # the other sources get rate 0
    assert sum(sampled.values()) < 2.5 * 2**20


# --- determinism, reuse, CLI ----------------------------------------------------------------


def pieces_and_scores(model: str | Path) -> list[tuple[str, float, int]]:
    return [(p.piece, p.score, p.type) for p in model_proto(model).pieces]


def test_training_is_deterministic(corpus: list[str], small: dict, tmp_path: Path) -> None:
    """Same inputs and seed: the same model file when retrained to the same prefix, and the
    same pieces and scores at any prefix and thread count."""
    cfg = TokenizerConfig(vocab_size=SMALL_VOCAB)
    first = train_tokenizer(corpus, tmp_path / "a", cfg)
    digest = sha256(first["model"])
    again = train_tokenizer(corpus, tmp_path / "a", cfg)
    assert sha256(again["model"]) == digest
    one_thread = train_tokenizer(corpus, tmp_path / "b", cfg.model_copy(update={"num_threads": 1}))
    assert pieces_and_scores(one_thread["model"]) == pieces_and_scores(first["model"])
    assert pieces_and_scores(small["model"]) == pieces_and_scores(first["model"])


@pytest.fixture(scope="module")
def two_cli_runs(corpus: list[str], tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """The .model file of `datapipe train-tokenizer` run twice, each in its own process, to
    a new stage directory each time."""
    models = []
    for run in range(2):
        output = tmp_path_factory.mktemp("cli-runs") / f"run-{run}"
        cmd = [sys.executable, "-m", "pipeline", "train-tokenizer", "--input", *corpus]
        cmd += ["--output", str(output), "--vocab-size", str(SMALL_VOCAB), "--executor", "local"]
        subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
        models.append((output / "tokenizer.model").read_bytes())
    return models


def test_runs_in_two_processes_train_the_same_model(two_cli_runs: list[bytes]) -> None:
    from sentencepiece import sentencepiece_model_pb2

    protos = []
    for data in two_cli_runs:
        proto = sentencepiece_model_pb2.ModelProto()
        proto.ParseFromString(data)
        protos.append(proto)
    assert [(p.piece, p.score) for p in protos[0].pieces] == [
        (p.piece, p.score) for p in protos[1].pieces
    ]
    assert protos[0].normalizer_spec == protos[1].normalizer_spec
    assert protos[0] == protos[1]  # all else, the training options included, is the same
    # No path of the run is recorded: the model's bytes do not depend on where it was trained.
    assert [(p.trainer_spec.model_prefix, list(p.trainer_spec.input)) for p in protos] == [
        ("", []),
        ("", []),
    ]


def test_model_file_is_byte_identical_across_runs(two_cli_runs: list[bytes]) -> None:
    assert hashlib.sha256(two_cli_runs[0]).digest() == hashlib.sha256(two_cli_runs[1]).digest()


def test_the_training_stage_resumes_like_every_stage(corpus: list[str], tmp_path: Path) -> None:
    """Skipped while its inputs and options are unchanged; a changed option or input retrains."""
    output = tmp_path / "train-tokenizer"

    def run(cfg: TokenizerConfig, inputs: list[str]) -> dict[str, Any]:
        return run_stage(StageRun("train-tokenizer", cfg, inputs, str(output)), LocalExecutor())

    cfg = TokenizerConfig(vocab_size=SMALL_VOCAB)
    first = run(cfg, corpus)
    model = Path(first["provides"]["tokenizer"])
    assert model == output / "tokenizer.model" and first["model"]["vocab_size"] == SMALL_VOCAB
    stamp = model.stat().st_mtime_ns
    assert run(cfg, corpus)["skipped"] and model.stat().st_mtime_ns == stamp
    changed = cfg.model_copy(update={"character_coverage": 0.999})
    assert not run(changed, corpus).get("skipped") and model.stat().st_mtime_ns != stamp
    assert run(changed, corpus)["skipped"]
    assert not run(changed, corpus[:1]).get("skipped")  # other inputs
    # a model damaged or removed since it was trained is trained again, not skipped
    damaged = bytearray(model.read_bytes())
    damaged[len(damaged) // 2] ^= 0x10
    model.write_bytes(bytes(damaged))
    assert not run(changed, corpus[:1]).get("skipped")
    assert run(changed, corpus[:1])["skipped"]
    model.unlink()
    assert not run(changed, corpus[:1]).get("skipped") and model.exists()


def test_cli_options(corpus: list[str], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "cli" / "tokenizer"
    args = ["train-tokenizer", "--executor", "local", "--input", *corpus]
    args += ["--output", str(out.parent), "--vocab-size", "6000"]
    args += ["--special-tokens", "<|im_start|>", "<|im_end|>", "<|endoftext|>"]
    args += ["--mixture", '{"cc": 0.5, "wiki_zh": 0.5}', "--character-coverage", "0.9995"]
    assert main(args) == 0
    assert "trained 6,000 pieces" in capsys.readouterr().err
    meta = json.loads(out.with_name("tokenizer.json").read_text())
    assert meta["token_ids"] == {**SPECIAL_IDS, "<|endoftext|>": 6}
    assert meta["config"]["mixture"] == {"cc": 0.5, "wiki_zh": 0.5}
    assert meta["config"]["character_coverage"] == 0.9995
    assert set(meta["sample"]["sampled_bytes"]) == {"cc", "wiki_zh"}
    tok = Tokenizer(str(out.with_name("tokenizer.model")))
    assert tok.processor.piece_to_id("<|endoftext|>") == 6 and tok.control_ids()[-1] == 6
    assert 6 not in encode(tok, "a<|endoftext|>b")
    assert main(args) == 0
    assert "already complete, skipped" in capsys.readouterr().err
    assert not list(out.parent.glob("*.tmp*"))  # no sample or temporary file left


# --- Hugging Face ---------------------------------------------------------------------------


def hf_tokenizers_from_spm(model_file: str) -> Any:
    """A `tokenizers.Tokenizer` equivalent to the sentencepiece BPE model: vocabulary and
    merges from the model proto (a merge per way of splitting a piece into two pieces,
    ranked by the merged piece's id, as transformers' SentencePieceExtractor does), byte
    fallback, spaces as '▁', no pre-tokenizer (no dummy prefix), the user-defined symbols
    as added tokens; control pieces are not matched in text (as in sentencepiece)."""
    from tokenizers import AddedToken, decoders, normalizers
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers.models import BPE

    proto = model_proto(model_file)
    vocab = {p.piece: i for i, p in enumerate(proto.pieces)}
    merges = sorted(
        (merged, vocab[piece[:k]], vocab[piece[k:]], piece[:k], piece[k:])
        for piece, merged in vocab.items()
        if proto.pieces[merged].type == 1  # NORMAL
        for k in range(1, len(piece))
        if piece[:k] in vocab and piece[k:] in vocab
    )
    hf = HFTokenizer(
        BPE(
            vocab=vocab,
            merges=[(left, right) for *_, left, right in merges],
            unk_token="<unk>",  # noqa: S106 a vocabulary token, not a password
            byte_fallback=True,
            fuse_unk=True,
        )
    )
    hf.normalizer = normalizers.Replace(" ", "▁")
    hf.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
    )
    user_defined = [p.piece for p in proto.pieces if p.type == 4]
    hf.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in user_defined])
    return hf


HF_TEXTS = [
    "hello",
    " hello  world ",
    "<|im_start|>user\n你好，世界！12345<|im_end|>",
    "ＡＢＣ１２３ 😀 𠀀 ﬁ",
    "a\x00b\r\n\tc",
    "<unk> <s> </s>",
]


def test_hugging_face_tokenizers_gives_the_same_ids(yi: dict[str, Any], texts: list[str]) -> None:
    pytest.importorskip("tokenizers")
    hf = hf_tokenizers_from_spm(yi["model"])
    tok = Tokenizer.load(yi["model"])
    docs = HF_TEXTS + SYNTHETIC + texts
    ours = [ids.tolist() for ids in tok.encode_batch(docs)]
    theirs = [e.ids for e in hf.encode_batch(docs, add_special_tokens=False)]
    differ = [n for n, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b]
    assert not differ, [docs[n][:60] for n in differ[:3]]
    assert hf.get_vocab_size() == 64_000
    assert [hf.decode(ids, skip_special_tokens=False) for ids in theirs[:200]] == docs[:200]


def test_transformers_llama_tokenizer_gives_the_same_ids(
    yi: dict[str, Any], texts: list[str], tmp_path: Path
) -> None:
    """Checked with transformers 5.23 (its LlamaTokenizer converts tokenizer.model with
    SentencePieceExtractor); skipped when transformers is not installed."""
    transformers = pytest.importorskip("transformers")
    shutil.copy(yi["model"], tmp_path / "tokenizer.model")
    hf = transformers.LlamaTokenizer.from_pretrained(
        str(tmp_path),
        legacy=False,
        add_bos_token=False,
        add_eos_token=False,
        add_prefix_space=False,  # no dummy prefix
        split_special_tokens=True,  # '<s>' in text is text, as in sentencepiece
    )
    tok = Tokenizer.load(yi["model"])
    assert len(hf) == 64_000
    for text in HF_TEXTS + texts[::25]:
        ids = hf.encode(text, add_special_tokens=False)
        assert ids == encode(tok, text), text[:60]
        assert hf.decode(ids) == text


def test_a_model_changed_since_training_is_refused(yi: dict[str, Any], tmp_path: Path) -> None:
    """The trainer seals the model with its checksum; a flipped byte is one line, not a crash."""
    model = tmp_path / "tokenizer.model"
    shutil.copy(yi["model"], model)
    shutil.copy(checksum_file(yi["model"]), checksum_file(model))
    assert Tokenizer(str(model)).vocab_size == 64_000
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x20
    model.write_bytes(bytes(data))
    with pytest.raises(CorruptModel, match=f"corrupt model {model}: .* retrain it"):
        Tokenizer(str(model))
