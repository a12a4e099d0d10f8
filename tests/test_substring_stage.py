"""The substring stage end to end, against a brute-force oracle written from the semantics alone.

Oracle (spans mode): tokens are `TOKEN.findall` (the documented reference tokenization); the
corpus is every document in order (input shard, row); a dict maps every tuple of `k`
consecutive tokens of one document to its occurrences in corpus order. `remove_all` removes
every token covered by an occurrence of a tuple seen twice or more, `keep_first` every token
covered by an occurrence that is not its tuple's first. A removed run of tokens is cut from its
first token's start to the next kept token's start (or the end of the text), as a UTF-8 byte
range of the original text. A document with something removed and fewer than
`min_remaining_tokens` tokens left in the cut text is rejected (`substring_too_short`, original
text); otherwise it is kept cut. Lines mode: lines with content, identity the line's
whitespace-separated words; a removed line goes with its newline (the last line: with the
line break before it, "\r\n" included).

The stage must agree exactly: kept and rejected documents in order with their texts, ranges
and reason, the step statistics (windows, repeated occurrences, windows removed, no hash
collision) and the counters; kept + rejected = documents in; every string valid UTF-8.
Corpora: (1) seeded random ones (small vocabulary, pasted runs, CJK, emoji, whitespace
variants, several shards of several record batches, partitions 1/2/5, both policies),
hand-made edge cases, recombined real Wikipedia sentences (English and Chinese) at the default
min_length 50; (2) a real English and a real Chinese footer planted into real documents;
(3) lines mode; (4) the same bytes for any partition count and on Ray.
"""

from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import stages.substring.store as substring_store
import stages.substring.windows as substring_windows
from core.schema import DOCUMENT_FIELDS
from core.shards import list_shards, read_table
from pipeline.executor import Executor, LocalExecutor, RayExecutor
from pipeline.runner import StageFailed, StageRun, run_stage
from stages.substring.spans import TOKEN
from stages.substring.stage import SubstringConfig
from tests.planted import load_originals
from tests.test_minhash_stage import write_stage_dir
from tests.test_runner import stage_files

REASON = "substring_too_short"
Shards = Sequence[Sequence[dict[str, str]]]


# --- the oracle -----------------------------------------------------------------------------


@dataclass
class Outcome:
    # in corpus order: kept (id, text, ranges) and rejected (id, text, ranges, reason)
    kept: list[tuple[str, str, list[list[int]]]]
    rejected: list[tuple[str, str, list[list[int]], str]]
    steps: dict[str, int]  # documents, windows, repeated_window_occurrences, windows_removed
    counters: dict[str, int]  # documents_cut, tokens_removed, bytes_removed (non-zero only)


def byte_tokens(text: str) -> list[tuple[str, int]]:
    """Every token of `text` with the UTF-8 byte offset where it starts."""
    out, chars, position = [], 0, 0
    for match in TOKEN.finditer(text):
        position += len(text[chars : match.start()].encode())
        chars = match.start()
        out.append((match.group(), position))
    return out


def byte_runs(marked: Sequence[bool]) -> list[list[int]]:
    """[start, end) of every maximal run of marked bytes."""
    runs: list[list[int]] = []
    for i, flag in enumerate(marked):
        if flag and runs and runs[-1][1] == i:
            runs[-1][1] = i + 1
        elif flag:
            runs.append([i, i + 1])
    return runs


def span_cuts(text: str, removed: set[int]) -> list[list[int]]:
    """Removed tokens as byte ranges: each run from its first token to the next kept token."""
    starts = [start for _, start in byte_tokens(text)] + [len(text.encode())]
    ranges: list[list[int]] = []
    for i in sorted(removed):
        if ranges and ranges[-1][1] == starts[i]:  # the run goes on
            ranges[-1][1] = starts[i + 1]
        else:
            ranges.append([starts[i], starts[i + 1]])
    return ranges


def content_lines(text: str) -> list[tuple[str, int, int]]:
    """(identity, start byte, end byte without the newline) of every line with content."""
    out, position = [], 0
    for line in text.split("\n"):
        size = len(line.encode())
        if line.split():
            out.append((" ".join(line.split()), position, position + size))
        position += size + 1
    return out


def line_cuts(text: str, removed: set[int]) -> list[list[int]]:
    """Removed lines (indexes among the lines with content) with their newline, as ranges."""
    encoded = text.encode()
    size = len(encoded)
    marked = [False] * size
    for index, (_, lo, hi) in enumerate(content_lines(text)):
        if index in removed:
            if hi < size:
                hi += 1
            elif lo > 0:
                lo -= 2 if encoded[lo - 2 : lo] == b"\r\n" else 1
            marked[lo:hi] = [True] * (hi - lo)
    return byte_runs(marked)


def cut_text(text: str, ranges: Sequence[Sequence[int]]) -> str:
    """`text` without the UTF-8 byte ranges (sorted, disjoint)."""
    encoded, pieces, last = text.encode(), [], 0
    for lo, hi in ranges:
        pieces.append(encoded[last:lo])
        last = hi
    return (b"".join(pieces) + encoded[last:]).decode()


def oracle(
    shards: Shards,
    mode: str = "spans",
    min_length: int = 50,
    policy: str = "remove_all",
    min_remaining_tokens: int = 50,
) -> Outcome:
    docs = [(row["id"], row["text"]) for rows in shards for row in rows]
    occurrences: dict[Any, list[tuple[int, int]]] = defaultdict(list)  # unit -> (doc, index)
    for d, (_, text) in enumerate(docs):
        if mode == "spans":
            words = [word for word, _ in byte_tokens(text)]
            units: list[Any] = [
                tuple(words[i : i + min_length]) for i in range(len(words) - min_length + 1)
            ]
        else:
            units = [identity for identity, _, _ in content_lines(text)]
        for i, unit in enumerate(units):
            occurrences[unit].append((d, i))
    removed: list[set[int]] = [set() for _ in docs]
    windows = repeated = dropped = 0
    for places in occurrences.values():
        windows += len(places)
        if len(places) < 2:
            continue
        repeated += len(places)
        chosen = places if policy == "remove_all" else places[1:]
        dropped += len(chosen)
        for d, i in chosen:
            removed[d].update(range(i, i + min_length) if mode == "spans" else [i])
    kept, rejected = [], []
    counters = {"documents_cut": 0, "tokens_removed": 0, "bytes_removed": 0}
    for (doc_id, text), gone in zip(docs, removed, strict=True):
        if not gone:
            kept.append((doc_id, text, []))
            continue
        ranges = span_cuts(text, gone) if mode == "spans" else line_cuts(text, gone)
        shortened = cut_text(text, ranges)
        left = len(TOKEN.findall(shortened))
        if left < min_remaining_tokens:
            rejected.append((doc_id, text, ranges, REASON))
            continue
        kept.append((doc_id, shortened, ranges))
        counters["documents_cut"] += 1
        counters["tokens_removed"] += len(TOKEN.findall(text)) - left
        counters["bytes_removed"] += len(text.encode()) - len(shortened.encode())
    steps = {
        "documents": len(docs),
        "windows": windows,
        "repeated_window_occurrences": repeated,
        "windows_removed": dropped,
        "hash_collisions": 0,
    }
    return Outcome(kept, rejected, steps, {k: v for k, v in counters.items() if v})


# --- running the stage ------------------------------------------------------------------------


def write_input(path: Path, shards: Shards, batch_rows: int | None = None) -> Path:
    """A finished input stage directory (tests/test_minhash_stage.write_stage_dir), each shard
    rewritten as record batches of `batch_rows` rows, so batches start at rows other than 0."""
    write_stage_dir(path, shards)
    if batch_rows is not None:
        for shard in list_shards(path):
            table = pa.ipc.open_stream(shard.read_bytes()).read_all()  # not memory-mapped
            with pa.OSFile(str(shard), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as w:
                w.write_table(table, max_chunksize=batch_rows)
    return path


def substring(
    inputs: Path, output: Path, executor: Executor | None = None, **config: Any
) -> dict[str, Any]:
    run = StageRun("substring", SubstringConfig(**config), [str(inputs)], str(output))
    return run_stage(run, executor or LocalExecutor(), progress=False)


def _table(shards: list[Path]) -> pa.Table | None:
    if not shards:
        return None
    table = read_table(shards)
    table.validate(full=True)  # UTF-8 of every string column included
    return table


def stage_outcome(output: Path) -> tuple[list, list]:
    """(kept, rejected) of a finished substring stage directory, as the oracle gives them."""
    kept, rejected = [], []
    table = _table(list_shards(output))
    if table is not None:
        assert table.schema.names == [f.name for f in DOCUMENT_FIELDS] + ["substring_removed"]
        assert table["url"].to_pylist() == table["id"].to_pylist()  # other columns untouched
        kept = [
            (row["id"], row["text"], row["substring_removed"])
            for row in table.select(["id", "text", "substring_removed"]).to_pylist()
        ]
    table = _table(list_shards(output / "rejected"))
    if table is not None:
        rejected = [
            (row["id"], row["text"], row["substring_removed"], row["reason"])
            for row in table.select(["id", "text", "substring_removed", "reason"]).to_pylist()
        ]
    return kept, rejected


def check_against_oracle(
    shards: Shards,
    output: Path,
    stats: dict[str, Any],
    collisions: bool = False,
    **config: Any,
) -> Outcome:
    """The stage's output and statistics are exactly the oracle's; counts reconcile; no hash
    collision (unless `collisions`: some)."""
    expected = oracle(shards, **config)
    if collisions:
        assert stats["steps"]["hash_collisions"] > 0
        expected.steps["hash_collisions"] = stats["steps"]["hash_collisions"]
    kept, rejected = stage_outcome(output)
    assert kept == expected.kept
    assert rejected == expected.rejected
    steps = stats["steps"]
    assert {k: steps[k] for k in expected.steps} == expected.steps
    assert {k: v for k, v in stats["counters"].items() if v} == expected.counters
    assert stats["docs_in"] == stats["docs_kept"] + stats["docs_rejected"] == steps["documents"]
    assert stats["docs_kept"] == len(kept) and stats["docs_rejected"] == len(rejected)
    assert stats["rejected_by_reason"] == ({REASON: len(rejected)} if rejected else {})
    return expected


def run_and_check(
    shards: Shards,
    root: Path,
    batch_rows: int | None = None,
    collisions: bool = False,
    **config: Any,
) -> Outcome:
    """Run the stage on `shards` and check it against the oracle."""
    inputs = write_input(root / "in", shards, batch_rows)
    stats = substring(inputs, root / "out", **config)
    partitions = config.pop("partitions", None) or len(shards)
    assert stats["steps"]["partitions"] == partitions
    return check_against_oracle(shards, root / "out", stats, collisions, **config)


def as_shards(*texts_per_shard: Sequence[str]) -> list[list[dict[str, str]]]:
    """Rows with ids `s<shard>-<row>`."""
    return [
        [{"id": f"s{s}-{r}", "text": text} for r, text in enumerate(texts)]
        for s, texts in enumerate(texts_per_shard)
    ]


def texts_of(outcome: Outcome) -> dict[str, str]:
    return {doc_id: text for doc_id, text, _ in outcome.kept}


# --- (1) random corpora ----------------------------------------------------------------------

# Words: Latin, Greek, Hangul (words), Han, kana, half-width kana and a 4-byte Han character
# of Extension B (tokens alone), emoji and punctuation (words); "x中" is two tokens. Separators,
# "" gluing words ("🙂🙂" is one token)
PIECES = [
    *"abcdef", "中", "文", "字", "の", "ｱ", "𠮷", "🙂", "naïve", "x中", "Ωμ", "한국", "—", "。",
]  # fmt: skip
SEPARATORS = [" "] * 8 + ["  ", "\n", "\t", " \n\n ", "\u3000", "\xa0", "\r\n", ""]


def random_corpus(rng: random.Random, k: int) -> list[list[dict[str, str]]]:
    """2-4 shards of 0-10 documents of 0-30 words from a small vocabulary (so short repeats
    happen by chance); most with a pasted run of k-2 to k+10 words of an earlier document (so
    longer repeats happen too), a fifth little more than that run (so that removal leaves few
    tokens); words joined by random whitespace (so equal spans are spaced differently) or
    glued; a few empty and whitespace-only documents."""
    vocab = rng.sample(PIECES, rng.randint(3, len(PIECES)))
    words_of: list[list[str]] = []
    shards = []
    for s in range(rng.randint(2, 4)):
        rows = []
        for r in range(rng.randint(0, 10)):
            words = [rng.choice(vocab) for _ in range(rng.randint(0, 30))]
            sources = [w for w in words_of if w]
            if sources and rng.random() < 0.7:
                source = rng.choice(sources)
                lo = rng.randrange(len(source))
                pasted = source[lo : lo + rng.randint(max(k - 2, 1), k + 10)]
                if rng.random() < 0.3:
                    words = words[: rng.randint(0, 2)]
                at = rng.randint(0, len(words))
                words[at:at] = pasted
            words_of.append(words)
            text = "".join(w + rng.choice(SEPARATORS) for w in words)
            if rng.random() < 0.1:
                text = rng.choice(["", "  ", "\n\t\n"])
            rows.append({"id": f"s{s}-{r}", "text": rng.choice(["", " ", "\n"]) + text})
        shards.append(rows)
    return shards


@pytest.mark.parametrize("partitions", [1, 2, 5])
@pytest.mark.parametrize("policy", ["remove_all", "keep_first"])
def test_random_corpora_match_the_oracle(policy: str, partitions: int, tmp_path: Path) -> None:
    """Six seeded random corpora over several shards (record batches of 1-4 rows), min_length
    3-8, min_remaining_tokens 0-8: the output is exactly the oracle's."""
    removed = rejected = 0
    for seed in range(6):
        rng = random.Random(f"{policy}-{partitions}-{seed}")
        k = rng.randint(3, 8)
        shards = random_corpus(rng, k)
        config = {
            "min_length": k,
            "min_remaining_tokens": rng.choice([0, 3, 8, 15]),
            "policy": policy,
            "partitions": partitions,
        }
        out = run_and_check(shards, tmp_path / str(seed), rng.randint(1, 4), **config)
        removed += out.steps["windows_removed"]
        rejected += len(out.rejected)
    assert removed > 0 and rejected > 0  # the corpora exercise both


SPAN = "one two three four five six seven eight nine ten"


@pytest.mark.parametrize("partitions", [1, 2, 5])
@pytest.mark.parametrize("policy", ["remove_all", "keep_first"])
def test_repeats_straddling_shards_batches_and_partitions(
    policy: str, partitions: int, tmp_path: Path
) -> None:
    """A 10-token span in the last row of shard 0 (its second record batch), the first row of
    shard 1, and in part (7 tokens, then 3: below min_length 4) in shard 2; its 7 windows hash
    to different partitions. keep_first keeps it where it first occurs (shard 0), and removes
    the 7-token part, whose windows all occurred before."""
    shards = as_shards(
        ["p q r", "s t u", f"alpha beta {SPAN}"],
        [f"{SPAN} gamma", "lone"],
        ["x", "u v four five six seven eight nine ten w", "y seven eight nine z"],
        [],  # an empty shard
    )
    out = run_and_check(
        shards, tmp_path, 2, min_length=4, policy=policy, partitions=partitions,
        min_remaining_tokens=0,
    )  # fmt: skip
    texts = texts_of(out)
    assert texts["s2-1"] == "u v w"
    assert texts["s2-2"] == "y seven eight nine z"
    if policy == "remove_all":
        assert (texts["s0-2"], texts["s1-0"]) == ("alpha beta ", "gamma")
    else:
        assert (texts["s0-2"], texts["s1-0"]) == (f"alpha beta {SPAN}", "gamma")


@pytest.mark.parametrize("policy", ["remove_all", "keep_first"])
def test_overlapping_repeats_and_repeats_inside_one_document(policy: str, tmp_path: Path) -> None:
    """Repeated windows that overlap are removed as their union; "A B C A B C" repeats its
    own window; the first of a window in corpus order is the earlier shard, then the earlier
    row, then the earlier token (for keep_first)."""
    shards = as_shards(
        ["p A B C D E q", "r A B C s", "t C D E u", "X Y Z X Y Z", "G H I J G H I J G H"],
        ["B C D E v", "Q R S Q R S Q R S Q"],
    )
    out = run_and_check(shards, tmp_path, 2, min_length=3, policy=policy, min_remaining_tokens=0)
    texts = texts_of(out)
    if policy == "remove_all":
        assert texts["s0-0"] == "p q"
        assert texts["s0-3"] == ""
        assert texts["s1-0"] == "v"
    else:
        assert texts["s0-0"] == "p A B C D E q"
        assert texts["s0-1"] == "r s"
        assert texts["s0-2"] == "t u"
        assert texts["s0-3"] == "X Y Z "
        assert texts["s0-4"] == "G H I J "
        assert texts["s1-0"] == "v"
        assert texts["s1-1"] == "Q R S "


def test_whitespace_variants_are_the_same_span(tmp_path: Path) -> None:
    """Spaces, tabs, newlines, CRLF, no-break and ideographic spaces between the same tokens:
    one span; the cut takes the whitespace after the span, never the one before."""
    variants = [
        "lead one two three four five tail",
        "lead2  one\ttwo\nthree\r\nfour\u3000five\xa0 tail2",
        "one\n\ntwo three    four five",
        "\n  one two three four five\n",
        "one two three four fiv tail3",  # a different token: not the span
    ]
    out = run_and_check(as_shards(variants[:2], variants[2:]), tmp_path, min_length=5,
                        min_remaining_tokens=0)  # fmt: skip
    assert [text for _, text, _ in out.kept] == [
        "lead tail", "lead2  tail2", "", "\n  ", "one two three four fiv tail3"
    ]  # fmt: skip


def test_chinese_emoji_and_mixed_scripts(tmp_path: Path) -> None:
    """Every Han/kana character is a token, emoji and punctuation runs are tokens of their
    own: a repeated span of 4+ characters is removed wherever it is, with or without spaces; byte
    ranges count UTF-8 bytes (3 per Han character, 4 per emoji)."""
    shards = as_shards(
        [
            "今天天气很好，我们去公园散步吧。",
            "他说：今天天气很好🙂🙂然后回家",
            "カタカナのテストです",
        ],
        ["今 天 天 气 很 好", "昨天天气很好，我们去公园玩", "ab中文字cd ok 中文字测试"],
        ["新的カタカナのテスト文", "🙂🙂然后回家吧", "ok 中文字测试 ab"],
    )
    out = run_and_check(shards, tmp_path, 2, min_length=4, min_remaining_tokens=0)
    texts = texts_of(out)
    assert texts["s0-0"] == "散步吧。"
    assert texts["s1-0"] == ""
    assert texts["s0-1"] == "他说："
    ranges = {doc_id: r for doc_id, _, r in out.kept}
    assert ranges["s0-1"] == [[len("他说：".encode()), len(shards[0][1]["text"].encode())]]


def test_a_cut_between_unspaced_tokens_glues_them(tmp_path: Path) -> None:
    """Surprising but by definition: a removed Han run between two unspaced Latin tokens is
    cut up to the next kept token, so "ab" and "cd" become the token "abcd". The tokens left
    are those of the cut text: 2 here ("abcd", "end"), although 3 tokens were kept, so with
    min_remaining_tokens 3 the document is rejected, and `tokens_removed` counts 5 for the 4
    removed characters."""
    shards = as_shards(["ab中文字测cd end"], ["中文字测"])
    out = run_and_check(shards, tmp_path / "a", min_length=4, min_remaining_tokens=2)
    assert out.kept[0][1] == "abcd end"
    assert out.counters["tokens_removed"] == 5
    out = run_and_check(shards, tmp_path / "b", min_length=4, min_remaining_tokens=3)
    assert [doc_id for doc_id, *_ in out.rejected] == ["s0-0", "s1-0"]


def test_rejected_documents_keep_their_text_and_untouched_ones_their_length(
    tmp_path: Path,
) -> None:
    """A document left with fewer than min_remaining_tokens tokens is rejected with its
    original text and the ranges that would have been cut; a short document with nothing
    removed is kept whatever its length; min_remaining_tokens 0 keeps even empty results."""
    shards = as_shards(["w1 w2 w3 w4 k1 k2", "w1 w2 w3 w4 k3"], ["short", "w1 w2 w3 w4"])
    out = run_and_check(shards, tmp_path / "a", min_length=4, min_remaining_tokens=2)
    assert out.kept == [("s0-0", "k1 k2", [[0, 12]]), ("s1-0", "short", [])]
    assert sorted(out.rejected) == [
        ("s0-1", "w1 w2 w3 w4 k3", [[0, 12]], REASON),
        ("s1-1", "w1 w2 w3 w4", [[0, 11]], REASON),
    ]
    out = run_and_check(shards, tmp_path / "b", min_length=4, min_remaining_tokens=0)
    assert out.rejected == [] and out.kept[3] == ("s1-1", "", [[0, 11]])


@pytest.mark.parametrize("mode", ["spans", "lines"])
def test_hash_collisions_never_remove_unique_text(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With window and line hashes cut down to 3 values, nearly every window collides with
    others: verification token by token (line by line) keeps the output exactly the oracle's,
    and the collisions are counted."""
    real_spans, real_lines = substring_windows.span_units, substring_windows.line_units

    def weak(find: Any) -> Any:
        def weak_find(*args: Any) -> int:
            found = find(*args)
            hashes = args[4]  # the finder's first output array
            hashes[:found] %= np.uint64(3)
            return found

        return weak_find

    monkeypatch.setattr(substring_windows, "span_units", lambda width: weak(real_spans(width)))
    monkeypatch.setattr(substring_windows, "line_units", weak(real_lines))
    for seed, policy in enumerate(["remove_all", "keep_first"] * 2):
        rng = random.Random(f"collisions-{seed}")
        k = rng.randint(3, 6)
        shards = random_corpus(rng, k) if mode == "spans" else random_line_corpus(rng)
        config = {"mode": mode, "min_length": k, "policy": policy, "partitions": 2}
        run_and_check(shards, tmp_path / str(seed), 3, True, min_remaining_tokens=0, **config)


def test_chunk_files_and_reopened_shards_change_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows written one chunk file per record batch, and a repeats task that keeps one
    input shard mapped at a time (the others closed and reopened as copies are compared): the
    output is still exactly the oracle's."""
    monkeypatch.setattr(substring_windows, "CHUNK_BYTES", 1)
    monkeypatch.setattr(substring_store, "OPEN_TEXTS", 1)
    for seed, policy in enumerate(["remove_all", "keep_first"] * 2):
        rng = random.Random(f"chunks-{seed}")
        k = rng.randint(3, 6)
        config = {"min_length": k, "policy": policy, "partitions": 3, "min_remaining_tokens": 0}
        run_and_check(random_corpus(rng, k), tmp_path / str(seed), rng.randint(1, 3), **config)


def test_chunks_hold_whole_documents_and_cut_record_batches() -> None:
    """The windows step's chunks list every document once, in order; each but the last holds
    `size` bytes or more, and less without its last document, wherever batches begin."""
    rng = np.random.default_rng(1)
    for _ in range(200):
        batches, position = [], int(rng.integers(0, 50))
        for _ in range(rng.integers(0, 6)):
            offsets = position + np.r_[0, np.cumsum(rng.integers(0, 30, rng.integers(0, 8)))]
            batches.append(offsets)
            position = int(offsets[-1] + rng.integers(0, 9))  # other columns between batches
        size = int(rng.integers(1, 60))
        chunks = list(substring_windows._chunks(iter(batches), size))
        found = [(s.tolist(), e.tolist()) for s, e in chunks]
        starts = [x for s, _ in found for x in s]
        ends = [x for _, e in found for x in e]
        assert starts == [x for b in batches for x in b[:-1].tolist()]
        assert ends == [x for b in batches for x in b[1:].tolist()]
        for s, e in found[:-1]:
            held = sum(e) - sum(s)
            assert held >= size > held - (e[-1] - s[-1])


def test_a_compressed_input_shard_is_refused(tmp_path: Path) -> None:
    """The repeats step reads the text where the input shard holds it, so an IPC stream with
    compressed buffers (never written by datapipe) is an error that says so."""
    inputs = write_input(tmp_path / "in", as_shards(["a b c d e f", "a b c d e f"]))
    shard = list_shards(inputs)[0]
    table = pa.ipc.open_stream(shard.read_bytes()).read_all()
    options = pa.ipc.IpcWriteOptions(compression="lz4")
    with (
        pa.OSFile(str(shard), "wb") as sink,
        pa.ipc.new_stream(sink, table.schema, options=options) as w,
    ):
        w.write_table(table)
    with pytest.raises(StageFailed, match="not stored in place"):
        substring(inputs, tmp_path / "out", min_length=3)


@pytest.mark.parametrize(
    ("texts", "config"),
    [
        (["too short"], {}),  # no document reaches min_length: no window at all
        (["a b c d e f"], {"min_length": 3, "partitions": 5}),  # 4 windows, 5 partitions
        (["one line"], {"mode": "lines", "partitions": 2}),
    ],
)
def test_a_partition_without_windows_is_not_an_error(
    texts: list[str], config: dict[str, Any], tmp_path: Path
) -> None:
    """A corpus of short documents, or more partitions than windows, removes nothing."""
    inputs = write_input(tmp_path / "in", as_shards(texts))
    stats = substring(inputs, tmp_path / "out", **config)
    assert stats["docs_kept"] == len(texts)
    assert stage_outcome(tmp_path / "out")[0] == [(f"s0-{i}", t, []) for i, t in enumerate(texts)]


# --- real text: recombined sentences of Wikipedia, default min_length 50 -----------------------


def english_sentences(path: Path) -> list[str]:
    """WikiText-2 paragraphs cut after each " . " (its tokenized form)."""
    sentences = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("="):
            sentences += [s for s in re.split(r"(?<= \.) ", line) if len(s.split()) >= 4]
    return sentences


def chinese_sentences(real_data: Path) -> list[str]:
    """CMRC 2018 paragraphs cut after each "。"."""
    sentences = []
    with (real_data / "reference/cmrc2018_zh_wikipedia.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            text = json.loads(line)["text"]
            sentences += [s for s in re.split(r"(?<=。)", text) if len(s) >= 6]
    return sentences


def passage(sentences: list[str], start: int, min_tokens: int) -> str:
    """Consecutive sentences from `start` with at least `min_tokens` tokens."""
    picked: list[str] = []
    while len(TOKEN.findall(" ".join(picked))) < min_tokens:
        picked.append(sentences[start + len(picked)])
    return " ".join(picked)


def prefix(text: str, tokens: int) -> str:
    """`text` up to the end of its `tokens`-th token."""
    return text[: list(TOKEN.finditer(text))[tokens - 1].end()]


@pytest.fixture(scope="module")
def real_corpus(real_data: Path) -> list[list[dict[str, str]]]:
    """96 documents in 4 shards, each 1 or 3-8 random sentences of one language (English
    WikiText-2 or Chinese Wikipedia) with, in most, one or two of 4 passages per language
    (consecutive sentences, 55 to about 110 tokens), or a prefix of 35 tokens or more of one,
    inserted between sentences, English ones re-wrapped at random: long repeated spans,
    shorter ones, and whatever repeats the random draws make."""
    rng = random.Random(7)
    pools = {
        "en": english_sentences(real_data / "reference/wikitext2-test.txt")[:1500],
        "zh": chinese_sentences(real_data)[:1500],
    }
    passages = {
        lang: [passage(pool, rng.randrange(len(pool) - 20), rng.choice([55, 70, 90]))
               for _ in range(4)]
        for lang, pool in pools.items()
    }  # fmt: skip
    shards = []
    for s in range(4):
        rows = []
        for r in range(24):
            lang = rng.choice(["en", "zh"])
            parts = rng.choices(pools[lang], k=rng.choice([1, 3, 4, 5, 6, 7, 8]))
            for _ in range(rng.choice([0, 1, 1, 2])):
                planted = rng.choice(passages[lang])
                if rng.random() < 0.25:
                    planted = prefix(planted, rng.randint(35, len(TOKEN.findall(planted)) - 1))
                if lang == "en" and rng.random() < 0.5:  # re-wrapped
                    planted = re.sub(" ", lambda _: rng.choice([" ", "\n", "  "]), planted)
                parts.insert(rng.randint(0, len(parts)), planted)
            separator = rng.choice([" ", "\n", "\n\n"]) if lang == "en" else rng.choice(["", "\n"])
            rows.append({"id": f"s{s}-{r:02d}", "text": separator.join(parts)})
        shards.append(rows)
    return shards


@pytest.fixture(scope="module")
def real_inputs(
    real_corpus: list[list[dict[str, str]]], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    return write_input(tmp_path_factory.mktemp("real") / "in", real_corpus, batch_rows=7)


@pytest.fixture(scope="module")
def real_reference(
    real_corpus: list[list[dict[str, str]]], real_inputs: Path
) -> tuple[Path, dict[str, Any]]:
    """One run with the default config (remove_all, min_length 50, a partition per shard)."""
    output = real_inputs.parent / "out"
    return output, substring(real_inputs, output)


def test_real_text_matches_the_oracle(
    real_corpus: list[list[dict[str, str]]], real_reference: tuple[Path, dict[str, Any]]
) -> None:
    """Default config on recombined real sentences: exactly the oracle; long spans are cut in
    both languages, some documents are rejected, and repeats shorter than 50 tokens stay."""
    output, stats = real_reference
    out = check_against_oracle(real_corpus, output, stats)
    cut = [doc_id for doc_id, _, ranges in out.kept if ranges]
    assert len(cut) >= 20 and len(out.rejected) >= 5
    originals = {row["id"]: row["text"] for rows in real_corpus for row in rows}
    assert any(re.search(r"[一-鿿]", originals[doc_id]) for doc_id in cut)
    assert any(not re.search(r"[一-鿿]", originals[doc_id]) for doc_id in cut)
    # some repeats are shorter than min_length and stay: with min_length 30 more is cut
    removed = {doc_id: ranges for doc_id, _, ranges, *_ in out.kept + out.rejected}
    shorter = oracle(real_corpus, min_length=30)
    assert any(
        sum(hi - lo for lo, hi in ranges) > sum(hi - lo for lo, hi in removed[doc_id])
        for doc_id, _, ranges, *_ in shorter.kept + shorter.rejected
    )


def test_real_text_keep_first_matches_the_oracle(
    real_corpus: list[list[dict[str, str]]], real_inputs: Path, tmp_path: Path
) -> None:
    stats = substring(real_inputs, tmp_path / "out", policy="keep_first")
    out = check_against_oracle(real_corpus, tmp_path / "out", stats, policy="keep_first")
    assert out.steps["windows_removed"] < out.steps["repeated_window_occurrences"]


# --- (4) determinism ------------------------------------------------------------------------


def steps_but_partitions(stats: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stats["steps"].items() if k != "partitions"}


@pytest.mark.parametrize("partitions", [1, 3])
def test_partitions_do_not_change_the_output(
    partitions: int, real_inputs: Path, real_reference: tuple[Path, dict[str, Any]],
    tmp_path: Path,
) -> None:  # fmt: skip
    """1 or 3 partitions write the bytes of the 4-partition reference, with the same stats."""
    output, ref_stats = real_reference
    stats = substring(real_inputs, tmp_path / "out", partitions=partitions)
    assert stats["steps"]["partitions"] == partitions
    assert steps_but_partitions(stats) == steps_but_partitions(ref_stats)
    assert stats["counters"] == ref_stats["counters"]
    assert stage_files(tmp_path / "out") == stage_files(output)


@pytest.mark.ray
def test_ray_and_local_executors_write_identical_substring_output(
    real_inputs: Path,
    real_reference: tuple[Path, dict[str, Any]],
    ray_executor: RayExecutor,
    tmp_path: Path,
) -> None:
    """Embedded Ray with 2 CPUs and 3 partitions writes the bytes of the local reference."""
    output, ref_stats = real_reference
    stats = substring(real_inputs, tmp_path / "out", ray_executor, partitions=3)
    assert steps_but_partitions(stats) == steps_but_partitions(ref_stats)
    assert stats["counters"] == ref_stats["counters"]
    assert stage_files(tmp_path / "out") == stage_files(output)


# --- (2) planted boilerplate in real documents --------------------------------------------------


def english_footer(real_data: Path) -> str:
    """A 60+ word notice made of real sentences (WikiText-2 valid, detokenized a little)."""
    text = passage(english_sentences(real_data / "reference/wikitext2-valid.txt"), 3, 72)
    return re.sub(r" ([,.;:'])", r"\1", text.replace(" @-@ ", "-"))


def chinese_footer(real_data: Path, exclude: set[str]) -> str:
    """80 characters of Chinese (Han and punctuation, from and to a Han character) of a
    Chinese Wikipedia paragraph not among the documents."""
    with (real_data / "reference/cmrc2018_zh_wikipedia.jsonl").open(encoding="utf-8") as lines:
        texts = [json.loads(line)["text"] for line in lines]
    for text in reversed(texts):
        match = re.search(r"[一-鿿][一-鿿，、；：“”（）《》]{78}[一-鿿]", text)
        if text not in exclude and match is not None:
            return match.group()
    raise AssertionError("no footer")


def plant(
    texts: list[str], footer: str, lang: str, rng: random.Random
) -> tuple[list[str], list[list[list[int]]]]:
    """`footer` inserted into three texts in four (twice into the first, re-wrapped with other
    line breaks into every third), each time between two tokens (English: before a word, or at
    the very start or end; Chinese: between two Han characters) whose neighbours differ from
    every other insertion's, so that exactly the footers repeat. Returns the texts and the
    byte ranges the stage must cut: each footer with the whitespace after it."""
    taken: set[tuple[str, str]] = set()
    planted, where = [], []
    for n, text in enumerate(texts):
        if n % 4 == 3:
            planted.append(text)
            where.append([])
            continue
        if lang == "en":
            spots = [m.start() for m in re.finditer(r"\S+", text)] + [len(text)]
        else:
            spots = [m.start() + 1 for m in re.finditer(r"(?=[一-鿿]{2})", text)]
        chosen: list[int] = []
        fixed = {1: spots[0], 2: spots[-1]}.get(n) if lang == "en" else None
        while len(chosen) < (2 if n == 0 else 1):
            spot, fixed = (rng.choice(spots), None) if fixed is None else (fixed, None)
            before, after = TOKEN.findall(text[:spot])[-1:], TOKEN.findall(text[spot:])[:1]
            sides = {("<", token) for token in before} | {(">", token) for token in after}
            if not sides & taken:  # else a shared neighbour would repeat too: draw again
                taken |= sides
                chosen.append(spot)
        pieces, ranges, last = [], [], 0
        for spot in sorted(set(chosen)):
            copy = footer
            if lang == "en" and n % 3 == 0:
                copy = re.sub(" ", lambda _: rng.choice([" ", "\n", " \n"]), footer)
            head = text[last:spot]
            if lang == "zh":
                piece, tail = copy, ""
            elif spot < len(text):
                piece, tail = copy, " "
            else:  # at the end: after a newline; the cut keeps that newline
                head, piece, tail = head + "\n", copy, ""
            offset = len("".join(pieces).encode()) + len(head.encode())
            ranges.append([offset, offset + len((piece + tail).encode())])
            pieces += [head, piece, tail]
            last = spot
        planted.append("".join(pieces) + text[last:])
        where.append(ranges)
    return planted, where


def footer_pattern(footer: str) -> str:
    """The footer whatever whitespace separates its words."""
    return r"\s+".join(map(re.escape, footer.split()))


def without_repeats(texts: list[str], count: int) -> list[str]:
    """The first `count` texts that repeat no 50-token span, within or between them (a C4
    page can repeat itself)."""
    rows = [{"id": str(i), "text": t} for i, t in enumerate(texts)]
    repeating = {int(doc_id) for doc_id, _, ranges in oracle([rows]).kept if ranges}
    chosen = [t for i, t in enumerate(texts) if i not in repeating][:count]
    assert len(chosen) == count
    assert (
        oracle([[{"id": str(i), "text": t} for i, t in enumerate(chosen)]]).steps[
            "repeated_window_occurrences"
        ]
        == 0
    )
    return chosen


def test_planted_boilerplate_is_removed_exactly(real_data: Path, tmp_path: Path) -> None:
    """A 60+ word English notice of real sentences planted into 30 of 40 real C4 pages and an
    80-character Chinese one into 18 of 24 Chinese Wikipedia paragraphs (at random places,
    re-wrapped in some, twice in one): remove_all with the defaults removes every copy and
    nothing else; a document that ended with the footer differs from its original only by
    whitespace at the cut. keep_first keeps each footer's first copy only."""
    rng = random.Random(11)
    english = without_repeats(load_originals(real_data, "en", 42, 150), 40)
    chinese = without_repeats(load_originals(real_data, "zh", 24, 300), 24)
    en_footer, zh_footer = english_footer(real_data), chinese_footer(real_data, set(chinese))
    assert len(en_footer.split()) >= 60 and len(TOKEN.findall(zh_footer)) >= 60
    en_texts, en_where = plant(english, en_footer, "en", rng)
    zh_texts, zh_where = plant(chinese, zh_footer, "zh", rng)
    originals = dict(
        [(f"en{i:02d}", t) for i, t in enumerate(english)]
        + [(f"zh{i:02d}", t) for i, t in enumerate(chinese)]
    )
    where = dict(zip(originals, en_where + zh_where, strict=True))
    rows = [{"id": i, "text": t} for i, t in zip(originals, en_texts + zh_texts, strict=True)]
    shards = [rows[0::3], rows[1::3], rows[2::3]]
    inputs = write_input(tmp_path / "in", shards, batch_rows=8)

    stats = substring(inputs, tmp_path / "all")
    out = check_against_oracle(shards, tmp_path / "all", stats)
    assert out.rejected == []
    assert len(out.kept) == len(rows)
    for doc_id, text, ranges in out.kept:
        assert ranges == where[doc_id], doc_id
        if doc_id == "en02":  # the footer was at the end: the newline before it stays
            assert text == originals[doc_id] + "\n"
        else:
            assert text == originals[doc_id], doc_id

    # keep_first: the first document (corpus order: shard, row) with each footer keeps its
    # first copy; every other copy goes
    stats = substring(inputs, tmp_path / "first", policy="keep_first")
    out = check_against_oracle(shards, tmp_path / "first", stats, policy="keep_first")
    planted = {row["id"]: row["text"] for row in rows}
    firsts = [next(row["id"] for rs in shards for row in rs if row["id"].startswith(lang)
                   and where[row["id"]]) for lang in ("en", "zh")]  # fmt: skip
    assert firsts[0] == "en00"  # planted twice: the second copy goes
    for doc_id, text, ranges in out.kept:
        expected = where[doc_id][1:] if doc_id in firsts else where[doc_id]
        assert ranges == expected, doc_id
        assert text == cut_text(planted[doc_id], expected), doc_id


# --- (3) lines mode ---------------------------------------------------------------------------

LINES = ["Home | About | Contact", "Cookies help us deliver our services.", "ok", "中文 行", "🙂"]


def random_line_corpus(rng: random.Random) -> list[list[dict[str, str]]]:
    """Documents of 0-8 lines: boilerplate lines with random spacing, unique lines, blank and
    whitespace-only lines; CRLF and a trailing newline now and then."""
    shards = []
    for s in range(rng.randint(2, 4)):
        rows = []
        for r in range(rng.randint(0, 7)):
            lines = []
            for n in range(rng.randint(0, 8)):
                kind = rng.random()
                if kind < 0.5:
                    words = rng.choice(LINES).split()
                    line = "".join(rng.choice([" ", "  ", "\t", "\u3000"]) + w for w in words)
                    line = line[rng.randint(0, 1) :] + rng.choice(["", " ", "\r"])
                elif kind < 0.75:
                    line = f"unique {s} {r} {n}"
                else:
                    line = rng.choice(["", " ", "\t", "\u3000", "\r"])
                lines.append(line)
            text = "\n".join(lines) + rng.choice(["", "\n"])
            rows.append({"id": f"s{s}-{r}", "text": text})
        shards.append(rows)
    return shards


@pytest.mark.parametrize("policy", ["remove_all", "keep_first"])
def test_lines_mode_random_corpora_match_the_oracle(policy: str, tmp_path: Path) -> None:
    """Random line corpora, partitions 1, 2 and 5: exactly the lines oracle (min_length,
    50 by default, plays no part in lines mode)."""
    removed = 0
    for seed in range(6):
        rng = random.Random(f"lines-{policy}-{seed}")
        config = {
            "mode": "lines",
            "policy": policy,
            "partitions": [1, 2, 5][seed % 3],
            "min_remaining_tokens": rng.choice([0, 2, 5]),
        }
        out = run_and_check(random_line_corpus(rng), tmp_path / str(seed), 3, **config)
        removed += out.steps["windows_removed"]
    assert removed > 0


def test_lines_mode_explicit_cases(tmp_path: Path) -> None:
    """A line repeated with other spacing is the same line; whitespace-only lines are never
    removed (only a removed neighbour's newline goes); the last line goes with the newline
    before it; keep_first keeps the first copy in corpus order."""
    shards = as_shards(
        ["intro\nCookies  help\tus\n \nbody one\n", "Cookies help us\n\u3000\n  "],
        ["body two\n  Cookies help us  \r\nend", "x\nCookies help us"],
    )
    out = run_and_check(shards, tmp_path / "all", mode="lines", min_remaining_tokens=0)
    assert [text for _, text, _ in out.kept] == [
        "intro\n \nbody one\n", "\u3000\n  ", "body two\nend", "x"
    ]  # fmt: skip
    out = run_and_check(
        shards, tmp_path / "first", mode="lines", policy="keep_first", min_remaining_tokens=0
    )
    assert [text for _, text, _ in out.kept] == [
        "intro\nCookies  help\tus\n \nbody one\n", "\u3000\n  ", "body two\nend", "x"
    ]  # fmt: skip
