#!/usr/bin/env python
"""Filter stage throughput against datatrove's Gopher + C4 + FineWeb quality filters.

Builds a ~10 MB corpus of real English web documents from the shared JSONL samples (repeated
to size), then measures on one core, interleaved and repeated, on the same documents:

  (a)  datatrove: GopherRepetitionFilter, GopherQualityFilter, C4QualityFilter,
       FineWebQualityFilter with our thresholds, chained as its pipeline runs them; English
       tokenizer as shipped (spaCy `blank("en")` + sentencizer)
  (a') the same four datatrove filters given our regex tokenizer (informative only: how much
       of the gap is tokenization)
  (b)  our same four rule sets through DocView (English, no language ID)
  (c)  our whole FilterStage.process_batch: normalization, URL lists, language ID, all rule
       sets, safety lexicon, PII

and reports docs/s and MB/s per core, ratios to (a), PASS/FAIL of (b) and (c) against the
target (at least 2x datatrove's throughput), and how often datatrove's keep/drop decision
equals ours for the same four rule sets.

    python bench/bench_filter.py [--repeats 3] [--target-mb 10] [--update-docs] [--profile]
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

# common.py sits next to this file (the script's directory is first on sys.path).
from common import (
    MB,
    Timing,
    argument_parser,
    count_outcomes,
    paired_ratio,
    pass_fail,
    pin_to_one_cpu,
    profile_text,
    read_jsonl,
    record_batches,
    report_header,
    run_context,
    run_interleaved_keeping_results,
    shared_dir,
    update_docs_section,
)

from stages.filter.langid import identify
from stages.filter.rules import (
    C4,
    FineWeb,
    GopherQuality,
    GopherRepetition,
    Rejection,
    apply_c4,
    check_fineweb,
    check_gopher_quality,
    check_gopher_repetition,
)
from stages.filter.stage import FilterConfig, FilterStage
from stages.text import SENTENCE_END, DocView, tokenize

SPEED_TARGET = 2.0  # (b) and (c) must process at least 2x the documents per second of (a)
ENGLISH_MIN_SCORE = 0.65  # FineWeb's English threshold, also our FilterConfig default
RULE_SETS = ("gopher_repetition", "gopher_quality", "c4", "fineweb")
# Ours, as compared: datatrove's C4QualityFilter has no bad-word check (C4BadWordsFilter is a
# separate step that downloads its list), so (b) leaves it out; (c) keeps it.
OUR_C4 = C4(reject_bad_words=False)
GOPHER_REPETITION, GOPHER_QUALITY, FINEWEB = GopherRepetition(), GopherQuality(), FineWeb()


def _limit(value: int | None) -> int:
    return -1 if value is None else value  # datatrove's C4QualityFilter: -1 disables


def datatrove_settings() -> dict[str, dict[str, object]]:
    """Arguments of datatrove's four filters (by class name) that give our thresholds."""
    rep, qual, c4, fw = GOPHER_REPETITION, GOPHER_QUALITY, OUR_C4, FINEWEB
    return {
        "GopherRepetitionFilter": {
            "dup_line_frac": rep.max_dup_line_frac,
            "dup_para_frac": rep.max_dup_para_frac,
            "dup_line_char_frac": rep.max_dup_line_char_frac,
            "dup_para_char_frac": rep.max_dup_para_char_frac,
            "top_n_grams": tuple(sorted(rep.max_top_ngram_char_frac.items())),
            "dup_n_grams": tuple(sorted(rep.max_dup_ngram_char_frac.items())),
        },
        "GopherQualityFilter": {
            "min_doc_words": qual.min_doc_words,
            "max_doc_words": qual.max_doc_words,
            "min_avg_word_length": qual.min_avg_word_length,
            "max_avg_word_length": qual.max_avg_word_length,
            "max_symbol_word_ratio": qual.max_symbol_word_ratio,
            "max_bullet_lines_ratio": qual.max_bullet_lines_ratio,
            "max_ellipsis_lines_ratio": qual.max_ellipsis_lines_ratio,
            "max_non_alpha_words_ratio": qual.min_alpha_words_ratio,  # misnamed: a minimum
            "min_stop_words": qual.min_stop_words,
            "stop_words": list(qual.stop_words),
        },
        "C4QualityFilter": {
            "remove_citations": True,
            "filter_no_terminal_punct": c4.drop_lines_without_terminal_punct,
            "min_num_sentences": _limit(c4.min_num_sentences),
            "min_words_per_line": _limit(c4.min_words_per_line),
            "max_word_length": _limit(c4.max_word_length),
            "filter_lorem_ipsum": c4.reject_lorem_ipsum,
            "filter_javascript": c4.drop_javascript_lines,
            "filter_curly_bracket": c4.reject_curly_bracket,
            "filter_policy": c4.drop_policy_lines,
        },
        "FineWebQualityFilter": {
            "line_punct_thr": fw.min_line_punct_ratio,
            "short_line_thr": fw.max_short_line_ratio,
            "short_line_length": fw.short_line_chars,
            "char_duplicates_ratio": fw.max_dup_line_char_ratio,
            "new_line_ratio": fw.max_newline_word_ratio,
        },
    }


def datatrove_changes() -> str:
    """Where our thresholds differ from datatrove's defaults, for the report."""
    import datatrove.pipeline.filters as filters

    changed = []
    for cls_name, kwargs in datatrove_settings().items():
        params = inspect.signature(getattr(filters, cls_name)).parameters
        defaults = {name: params[name].default for name in kwargs}
        defaults["stop_words"] = ["the", "be", "to", "of", "and", "that", "have", "with"]
        diff = [f"`{k}={v}`" for k, v in kwargs.items() if k in params and defaults[k] != v]
        if diff:
            changed.append(f"{cls_name} " + ", ".join(diff))
    return "; ".join(changed) or "none"


def _ccnet_url(row: dict) -> str | None:
    return row.get("metadata", {}).get("url")


def _dolma_url(row: dict) -> str | None:
    return row.get("metadata", {}).get("warc_url")


SOURCES: tuple[tuple[str, str, Callable[[dict], str | None]], ...] = (
    ("samples/cc/llamafactory_c4_demo.jsonl", "c4 (LLaMA-Factory demo)", lambda _: None),
    ("samples/cc/dolma_CC-MAIN-2019-30_00140.jsonl.gz", "dolma CC 2019-30", _dolma_url),
    ("samples/cc/ccnet_en_head_CC-MAIN-2020-16_0091.jsonl.gz", "ccnet en head", _ccnet_url),
    ("samples/cc/datajuicer_redpajama-c4-refined.jsonl", "RedPajama C4", lambda _: None),
)


# --- corpus ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Doc:
    id: str
    text: str
    url: str | None
    source: str  # shared file name
    offset: int  # line number in the shared file


@dataclass
class Corpus:
    originals: list[Doc]
    copies: int
    selection: list[tuple[str, int, int]]  # (source label, documents read, English kept)

    @property
    def docs(self) -> list[Doc]:
        return [
            Doc(f"{d.id}#{copy}", d.text, d.url, d.source, d.offset)
            for copy in range(self.copies)
            for d in self.originals
        ]

    @property
    def text_bytes(self) -> int:
        return sum(len(d.text.encode()) for d in self.originals) * self.copies

    def describe(self) -> str:
        per = ", ".join(f"{label} {kept} of {read}" for label, read, kept in self.selection)
        unique = sum(len(d.text.encode()) for d in self.originals)
        return (
            f"{len(self.originals)} real English web documents ({unique / MB:.2f} MB of UTF-8 "
            f"text) from the shared JSONL samples ({per} documents), repeated {self.copies} "
            f"times in order = {len(self.originals) * self.copies:,} documents, "
            f"{self.text_bytes / MB:.1f} MB"
        )


def build_corpus(target_mb: float) -> Corpus:
    """English documents of the shared samples (lid.176 label en, p >= 0.65), repeated."""
    root = shared_dir()
    originals: list[Doc] = []
    selection = []
    for rel, label, url_of in SOURCES:
        path = root / rel
        read = kept = 0
        for offset, row in enumerate(read_jsonl(path)):
            text = row.get("text") or ""
            read += 1
            lang, score = identify(text)
            if lang != "en" or score < ENGLISH_MIN_SCORE:
                continue
            kept += 1
            doc_id = f"{path.name}:{offset}"
            originals.append(Doc(doc_id, text, url_of(row), path.name, offset))
        selection.append((label, read, kept))
    per_copy = sum(len(d.text.encode()) for d in originals)
    copies = max(1, round(target_mb * MB / per_copy))
    return Corpus(originals, copies, selection)


# --- (a), (a'): datatrove ---------------------------------------------------------------------


def _regex_tokenizer() -> object:
    """A datatrove WordTokenizer (built lazily: the class needs datatrove)."""
    from datatrove.utils.word_tokenizers import WordTokenizer

    class RegexTokenizer(WordTokenizer):
        """Our word regex (`stages.text.tokenize`) and sentence-end regex."""

        def word_tokenize(self, text: str) -> list[str]:
            return tokenize(text, "en")

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            spans, start = [], 0
            for match in SENTENCE_END.finditer(text):
                spans.append((start, match.end()))
                start = match.end()
            if text[start:].strip() or not spans:
                spans.append((start, len(text)))
            return spans

        def sent_tokenize(self, text: str) -> list[str]:
            return [text[a:b].strip() for a, b in self.span_tokenize(text)]

    return RegexTokenizer("en")


def datatrove_filters(tokenizer: object | None = None) -> list:
    """The four filters, fresh (datatrove keeps per-run stats in them)."""
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )
    from datatrove.utils.typeshelper import Languages

    language = tokenizer if tokenizer is not None else Languages.english
    settings = datatrove_settings()
    return [
        cls(language=language, **settings[cls.__name__])
        for cls in (
            GopherRepetitionFilter,
            GopherQualityFilter,
            C4QualityFilter,
            FineWebQualityFilter,
        )
    ]


def run_datatrove(docs: list[Doc], tokenizer: object | None = None) -> int:
    """As timed: Documents through the four filters' `run` generators, as a pipeline chains
    them (stats, timing and all); returns the number of documents kept."""
    from datatrove.data import Document

    stream: Iterator = (Document(text=d.text, id=d.id, metadata={"url": d.url}) for d in docs)
    for step in datatrove_filters(tokenizer):
        stream = step.run(stream)
    return sum(1 for _ in stream)


def datatrove_decisions(docs: list[Doc], tokenizer: object | None = None) -> list[str | None]:
    """Untimed: per document, None (kept) or `<rule set>:<datatrove reason>`."""
    from datatrove.data import Document

    filters = datatrove_filters(tokenizer)
    out: list[str | None] = []
    for d in docs:
        doc, reason = Document(text=d.text, id=d.id), None
        for name, step in zip(RULE_SETS, filters, strict=True):
            result = step.filter(doc)
            if result is not True:
                reason = f"{name}:{result[1] if isinstance(result, tuple) else 'dropped'}"
                break
        out.append(reason)
    return out


def datatrove_alone(docs: list[Doc]) -> dict[str, list[str | None]]:
    """Untimed: each datatrove filter alone on the original text (per document, so its
    word-tokenization cache is shared as in a pipeline); None (kept) or its reason."""
    from datatrove.data import Document

    filters = datatrove_filters()
    out: dict[str, list[str | None]] = {name: [] for name in RULE_SETS}
    for d in docs:
        for name, step in zip(RULE_SETS, filters, strict=True):
            result = step.filter(Document(text=d.text, id=d.id))
            reason = result[1] if isinstance(result, tuple) else "dropped"
            out[name].append(None if result is True else str(reason))
    return out


# --- (b), (c): ours ---------------------------------------------------------------------------


def _no_bad_words(_: str) -> Counter[str]:
    return Counter()


def our_rules(text: str) -> Rejection | None:
    """(b) for one document: the four rule sets chained as `FilterStage._apply_rules` does
    (C4 edits the text that FineWeb then judges), English, no language ID."""
    doc = DocView(text, "en")
    rejection = check_gopher_repetition(doc, GOPHER_REPETITION) or check_gopher_quality(
        doc, GOPHER_QUALITY
    )
    if rejection:
        return rejection
    edited, _, rejection = apply_c4(doc, OUR_C4, _no_bad_words)
    if rejection:
        return rejection
    return check_fineweb(DocView(edited, "en"), FINEWEB)


def run_ours(texts: list[str]) -> int:
    return sum(our_rules(text) is None for text in texts)


def our_alone(texts: list[str], rule_set: str) -> list[str | None]:
    out: list[str | None] = []
    for text in texts:
        doc = DocView(text, "en")
        if rule_set == "gopher_repetition":
            rejection = check_gopher_repetition(doc, GOPHER_REPETITION)
        elif rule_set == "gopher_quality":
            rejection = check_gopher_quality(doc, GOPHER_QUALITY)
        elif rule_set == "c4":
            rejection = apply_c4(doc, OUR_C4, _no_bad_words)[2]
        else:
            rejection = check_fineweb(doc, FINEWEB)
        out.append(rejection.reason.partition(":")[2] if rejection else None)
    return out


# --- agreement ------------------------------------------------------------------------------


@dataclass
class Agreement:
    n: int
    both_keep: int
    both_drop: int
    only_dt_drops: int  # datatrove drops, we keep
    only_we_drop: int  # we drop, datatrove keeps
    dt_only_reasons: Counter[str]
    our_only_reasons: Counter[str]

    @property
    def kept_theirs(self) -> int:
        return self.both_keep + self.only_we_drop

    @property
    def rate(self) -> float:
        return (self.both_keep + self.both_drop) / self.n


def agreement(theirs: list[str | None], ours: list[str | None]) -> Agreement:
    a = Agreement(len(ours), 0, 0, 0, 0, Counter(), Counter())
    for dt, us in zip(theirs, ours, strict=True):
        if dt is None and us is None:
            a.both_keep += 1
        elif dt is not None and us is not None:
            a.both_drop += 1
        elif dt is not None:
            a.only_dt_drops += 1
            a.dt_only_reasons[dt] += 1
        else:
            a.only_we_drop += 1
            a.our_only_reasons[str(us)] += 1
    return a


def _top(reasons: Counter[str], k: int = 3) -> str:
    return ", ".join(f"`{r}` {n}" for r, n in reasons.most_common(k)) or "–"


@dataclass
class Check:
    chained: Agreement
    chained_regex: Agreement  # (a') against (b): what is left once tokenization is the same
    alone: dict[str, Agreement]
    our_kept: int
    stage_counts: Counter[str]


def check_outputs(corpus: Corpus) -> Check:
    """Untimed pass on the unique documents (also the warm-up): decisions and agreement."""
    docs, texts = corpus.originals, [d.text for d in corpus.originals]
    regex = _regex_tokenizer()
    theirs = datatrove_decisions(docs)
    theirs_regex = datatrove_decisions(docs, regex)
    ours: list[str | None] = []
    for text in texts:
        rejection = our_rules(text)
        ours.append(rejection.reason if rejection else None)
    theirs_alone = datatrove_alone(docs)
    alone = {name: agreement(theirs_alone[name], our_alone(texts, name)) for name in RULE_SETS}
    stage_counts = count_outcomes(FilterStage(FilterConfig()), record_batches(docs))
    if sum(stage_counts.values()) != len(docs):
        raise RuntimeError("the filter stage lost documents")
    return Check(
        agreement(theirs, ours),
        agreement(theirs_regex, ours),
        alone,
        ours.count(None),
        stage_counts,
    )


def check_timed_results(corpus: Corpus, check: Check, results: dict[str, set[object]]) -> None:
    """The timed runs (datatrove's chained `run` generators, our batches) must have made the
    decisions the untimed per-document pass reports, on every copy."""
    copies = corpus.copies
    expected = {
        "a": copies * check.chained.kept_theirs,
        "a2": copies * check.chained_regex.kept_theirs,
        "b": copies * check.our_kept,
        "c": copies * check.stage_counts["kept"],
    }
    for key, kept in expected.items():
        if results[key] != {kept}:
            raise RuntimeError(f"({key}) kept {results[key]} documents, expected {kept}")


# --- timing ---------------------------------------------------------------------------------


def measure(corpus: Corpus, repeats: int) -> tuple[dict[str, Timing], dict[str, set[object]]]:
    """Times the four jobs; also returns what each run kept, to check against the decisions."""
    docs = corpus.docs
    texts = [d.text for d in docs]
    batches = record_batches(docs)
    stage = FilterStage(FilterConfig())
    count_outcomes(stage, batches[:1])  # loads lists and the fastText model outside the timing
    regex = _regex_tokenizer()
    jobs: dict[str, Callable[[], object]] = {
        "a": lambda: run_datatrove(docs),
        "a2": lambda: run_datatrove(docs, regex),
        "b": lambda: run_ours(texts),
        "c": lambda: count_outcomes(stage, batches)["kept"],
    }
    return run_interleaved_keeping_results(jobs, repeats)


def profile_stage(corpus: Corpus, top: int = 25) -> str:
    """cProfile of (c) on one copy of the corpus: where the whole stage spends its time."""
    batches = record_batches(corpus.originals)
    stage = FilterStage(FilterConfig())
    count_outcomes(stage, batches[:1])
    return profile_text(lambda: count_outcomes(stage, batches), top)


# --- report ---------------------------------------------------------------------------------

ROWS = (
    ("a", "(a) datatrove, 4 filters", "spaCy tokenizer as shipped; `run` generators chained"),
    ("a2", "(a′) datatrove, our tokenizer", "(a) given our word and sentence regexes"),
    ("b", "(b) ours, same 4 rule sets", "`DocView`, English, no language ID"),
    ("c", "(c) ours, whole `FilterStage`", "`process_batch`: all steps, 1,000-row batches"),
)


def speed_table(corpus: Corpus, timings: dict[str, Timing]) -> str:
    n, size = len(corpus.originals) * corpus.copies, corpus.text_bytes
    lines = [
        "| measurement | what it runs | median s | docs/s | MB/s | CPU s | spread | speed vs (a) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, label, what in ROWS:
        t = timings[key]
        speedup = 1.0 if key == "a" else paired_ratio(timings["a"], t)
        lines.append(
            f"| {label} | {what} | {t.median:.2f} | {n / t.median:,.0f} | "
            f"{size / MB / t.median:.2f} | {statistics.median(t.cpu):.2f} | "
            f"{t.spread:.0%} | {speedup:.2f}× |"
        )
    return "\n".join(lines)


def verdict(timings: dict[str, Timing]) -> tuple[str, bool]:
    parts, ok = [], True
    for key in ("b", "c"):
        speedup = paired_ratio(timings["a"], timings[key])
        passed = speedup >= SPEED_TARGET
        ok &= passed
        parts.append(f"({key}) {speedup:.2f}× {pass_fail(passed)}")
    target = f"Target: at least {SPEED_TARGET:.0f}× datatrove's throughput (a)"
    return f"{target}: " + ", ".join(parts) + ".", ok


def agreement_table(check: Check) -> str:
    lines = [
        "| rule sets | agree | both keep | both drop | only datatrove drops (its reasons) "
        "| only we drop (our reasons) |",
        "|---|---:|---:|---:|---|---|",
    ]

    def row(label: str, a: Agreement) -> str:
        return (
            f"| {label} | {a.rate:.1%} | {a.both_keep} | {a.both_drop} | {a.only_dt_drops}: "
            f"{_top(a.dt_only_reasons)} | {a.only_we_drop}: {_top(a.our_only_reasons)} |"
        )

    lines.append(row("**all 4 chained**, (a) vs (b)", check.chained))
    for name, a in check.alone.items():
        lines.append(row(f"{name} alone", a))
    lines.append(row("all 4 chained, (a′) vs (b)", check.chained_regex))
    return "\n".join(lines)


def stage_outcome(check: Check, n: int) -> str:
    counts = Counter(check.stage_counts)
    kept = counts.pop("kept", 0)
    by_step: Counter[str] = Counter()
    for reason, count in counts.items():
        by_step[reason.partition(":")[0]] += count
    steps = ", ".join(f"{step} {count}" for step, count in by_step.most_common())
    return (
        f"(c) keeps {kept} of {n} unique documents (rejected by {steps or 'nothing'}); "
        f"(b) keeps {check.our_kept}, (a) {check.chained.kept_theirs}, "
        f"(a′) {check.chained_regex.kept_theirs}"
    )


def same_tokenizer(timings: dict[str, Timing]) -> str:
    rules = paired_ratio(timings["a2"], timings["b"])
    tokenizer = paired_ratio(timings["a"], timings["a2"])
    stage = paired_ratio(timings["a2"], timings["c"])
    source = (
        "comes from tokenization (spaCy against one regex), not from faster rule code"
        if rules < 1.5
        else "comes from both tokenization and faster rule code"
    )
    return (
        f"Same tokenizer, rule code only: (b) runs at {rules:.2f}× the speed of (a′), and (a′) "
        f"at {tokenizer:.2f}× the speed of (a); the whole stage (c) runs at {stage:.2f}× the speed "
        f"of (a′). So most of the speed-up of (b) and (c) over (a) {source}."
    )


def report(corpus: Corpus, timings: dict[str, Timing], check: Check, ctx: dict[str, str]) -> str:
    target_line, _ = verdict(timings)
    n = len(corpus.originals)
    dt_changes = datatrove_changes()
    return f"""\
{report_header(ctx)}
- Corpus: {corpus.describe()}. English = fastText lid.176 label `en` with p ≥ 0.65 (FineWeb's
  language filter), selected once before timing, so (c) runs every step on every document.
- datatrove as shipped: in this version its English word and sentence tokenizer is spaCy
  `blank("en")` with the rule-based `sentencizer` (its `tokenizer_assignment.csv`; its NLTK
  tokenizer, which needs punkt, is assigned to no language), so nothing is downloaded.
- Same rules: datatrove's four filters get our thresholds (`stages.filter.rules` defaults);
  where these differ from datatrove's defaults: {dt_changes}. (b) leaves out our C4 bad-word
  check, which datatrove's C4QualityFilter does not have; (c) keeps it.
- (a′): a datatrove `WordTokenizer` passed as the filters' `language`, whose words are
  `stages.text.tokenize(text, "en")` and whose sentences end at our sentence-end
  regex; same filters and thresholds as (a).
- Decisions: {stage_outcome(check, n)}.
- Method: {ctx["repeats"]} repetitions of (a), (a′), (b), (c) interleaved (order rotated),
  one process on one core; medians of wall time, CPU s = median process CPU time, spread =
  (max − min) / median; speed vs (a) = median of per-repetition time ratios (a)/(x).

{speed_table(corpus, timings)}

{target_line}

{same_tokenizer(timings)}

Agreement on the {n} unique documents (keep/drop, datatrove vs ours; "alone" = that rule set
by itself on the original text; reasons are each side's first failing rule):

{agreement_table(check)}
"""


DISAGREEMENT_NOTES = """\
Why decisions differ (same thresholds, different details; the (a′) row, datatrove with our
tokenizer, shows what is left once tokens are the same):

- Gopher alpha-word ratio, the main cause. datatrove computes "words with a letter / words"
  over all tokens, punctuation tokens included (spaCy makes every `.`, `,`, `(` a token), so
  pages with much punctuation fall under 0.8 (`gopher_below_alpha_threshold`); we compute it
  over words only. With our tokenizer (a′) datatrove drops even more: our punctuation runs
  are tokens for it too.
- Gopher n-grams. datatrove's n-grams include punctuation tokens and its top n-gram length
  counts the joining spaces; ours count the words' characters only. On short product pages
  this puts datatrove over the top 3-/4-gram limits where we are under.
- C4 sentences and line words. datatrove counts spaCy sentences in each kept line, and a line
  with no sentence end is still one sentence; we count sentence ends (`. ! ? …`) in the kept
  text. Pages of short unpunctuated lines (credits, product specs, quoted captions) pass
  datatrove's 3-sentence minimum and fail ours. Words per line: datatrove splits on
  whitespace, we count regex words (`en:1964-1968` is 1 word there, 3 here).
- FineWeb line punctuation. datatrove tests the line as it is against its stop characters
  (`. ! ?` and other scripts' full stops); we right-strip the line and also accept closing
  quotes and `…`, so lines like `…what You Were’` or `warm up. ` (trailing no-break space)
  count as punctuated here.
- C4 lorem ipsum (and curly bracket, when enabled): datatrove looks only at lines that
  survived the line filters, we look at the whole document.
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argument_parser(__doc__, repeats=3, check=True)
    parser.add_argument("--target-mb", type=float, default=10.0, help="MB of text in the corpus")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of (c)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import datatrove  # noqa: F401
        import spacy  # noqa: F401
    except ImportError as err:
        sys.exit(f"{err.name} is missing: pip install -e '.[bench]' spacy")
    pinning = pin_to_one_cpu(args.cpu)
    started = time.perf_counter()
    corpus = build_corpus(args.target_mb)
    print(f"corpus ({time.perf_counter() - started:.1f}s): {corpus.describe()}", file=sys.stderr)
    check = check_outputs(corpus)
    print(f"check done ({time.perf_counter() - started:.1f}s)", file=sys.stderr)
    timings, results = measure(corpus, args.repeats)
    check_timed_results(corpus, check, results)
    packages = ("datatrove", "spacy", "pyarrow", "fasttext-numpy2", "ftfy")
    context = run_context(pinning, packages, args.repeats)
    text = report(corpus, timings, check, context) + "\n" + DISAGREEMENT_NOTES
    print(text)
    if args.profile:
        print(profile_stage(corpus))
    if args.update_docs:
        title = "## Filter stage vs datatrove (`bench/bench_filter.py`)\n\n"
        update_docs_section("bench_filter", title + text)
    print(f"total {time.perf_counter() - started:.0f}s", file=sys.stderr)
    _, ok = verdict(timings)
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
