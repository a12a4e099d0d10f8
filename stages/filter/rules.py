"""The heuristic rule sets, each rule with its published default and a named reason.

A rule set is a config model (thresholds; `None` disables a rule) and a function that returns
a `Rejection` or None. Reasons are `<rule set>:<threshold name>`, so the reason in a rejected
row names the exact knob to turn. Line-editing sets (RefinedWeb corrections, C4 lines) return
the edited text too. Where each default comes from: docs/filters.md.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from pydantic import BaseModel, ConfigDict, field_validator

from stages.filter.ngrams import repetition_chars
from stages.text import TERMINAL_PUNCTUATION, DocView, count_words


@dataclass(frozen=True)
class Rejection:
    reason: str
    detail: str


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True


def _over(value: float, limit: float | None) -> bool:
    return limit is not None and value > limit


def _under(value: float, limit: float | None) -> bool:
    return limit is not None and value < limit


def _reject(rule_set: str, name: str, value: float, limit: Any) -> Rejection:
    shown = f"{value:.3f}" if isinstance(value, float) else str(value)
    return Rejection(f"{rule_set}:{name}", f"{shown} vs {limit}")


# --- text quality: garbled text, special symbols, script (Yi's rules, Chinese specifics) ---


class TextQuality(RuleSet):
    max_garbled_char_ratio: float | None = 0.01
    max_special_char_ratio: float | None = 0.25
    min_cjk_char_ratio: float | None = None  # set for Chinese in LANGUAGE_DEFAULTS


def check_text_quality(doc: DocView, cfg: TextQuality) -> Rejection | None:
    """Garbled characters; special characters (neither word characters, whitespace nor
    punctuation: symbols, emoji, box drawing: their share is high in spam, menus and
    mis-extracted pages); for Chinese, the share of Han characters among letters and digits."""
    chars = max(len(doc.text), 1)
    garbled = doc.analysis.garbled_chars / chars
    if _over(garbled, cfg.max_garbled_char_ratio):
        return _reject(
            "text_quality", "max_garbled_char_ratio", garbled, cfg.max_garbled_char_ratio
        )
    if cfg.max_special_char_ratio is not None:
        special = doc.analysis.special_chars / chars
        if special > cfg.max_special_char_ratio:
            return _reject(
                "text_quality", "max_special_char_ratio", special, cfg.max_special_char_ratio
            )
    if cfg.min_cjk_char_ratio is not None:
        letters = doc.analysis.alnum_chars or 1
        cjk = doc.han_chars / letters
        if cjk < cfg.min_cjk_char_ratio:
            return _reject("text_quality", "min_cjk_char_ratio", cjk, cfg.min_cjk_char_ratio)
    return None


# --- Gopher quality (Rae et al. 2021, appendix A.1.1) ---


class GopherQuality(RuleSet):
    min_doc_words: int | None = 50
    max_doc_words: int | None = 100_000
    min_avg_word_length: float | None = 3
    max_avg_word_length: float | None = 10
    max_symbol_word_ratio: float | None = 0.1
    max_bullet_lines_ratio: float | None = 0.9
    max_ellipsis_lines_ratio: float | None = 0.3
    min_alpha_words_ratio: float | None = 0.8
    min_stop_words: int | None = 2
    stop_words: tuple[str, ...] = ("the", "be", "to", "of", "and", "that", "have", "with")


def check_gopher_quality(doc: DocView, cfg: GopherQuality) -> Rejection | None:
    analysis = doc.analysis
    n_words = analysis.n_words
    if _under(n_words, cfg.min_doc_words):
        return _reject("gopher_quality", "min_doc_words", n_words, cfg.min_doc_words)
    if _over(n_words, cfg.max_doc_words):
        return _reject("gopher_quality", "max_doc_words", n_words, cfg.max_doc_words)
    if n_words == 0:
        return None
    avg = int(analysis.word_lengths.sum()) / n_words
    if _under(avg, cfg.min_avg_word_length):
        return _reject("gopher_quality", "min_avg_word_length", avg, cfg.min_avg_word_length)
    if _over(avg, cfg.max_avg_word_length):
        return _reject("gopher_quality", "max_avg_word_length", avg, cfg.max_avg_word_length)
    n_tokens = analysis.n_tokens
    hashes = doc.text.count("#") / n_tokens
    ellipses = (doc.text.count("...") + doc.text.count("…")) / n_tokens
    if _over(max(hashes, ellipses), cfg.max_symbol_word_ratio):
        value = max(hashes, ellipses)
        return _reject("gopher_quality", "max_symbol_word_ratio", value, cfg.max_symbol_word_ratio)
    lines = doc.line_table
    n_lines = len(lines.starts)
    if _over(lines.bullet_lines / n_lines, cfg.max_bullet_lines_ratio):
        ratio = lines.bullet_lines / n_lines
        return _reject(
            "gopher_quality", "max_bullet_lines_ratio", ratio, cfg.max_bullet_lines_ratio
        )
    ellipsis_lines = lines.ellipsis_lines / n_lines
    if _over(ellipsis_lines, cfg.max_ellipsis_lines_ratio):
        limit = cfg.max_ellipsis_lines_ratio
        return _reject("gopher_quality", "max_ellipsis_lines_ratio", ellipsis_lines, limit)
    alpha = analysis.alpha_words / n_words
    if _under(alpha, cfg.min_alpha_words_ratio):
        return _reject("gopher_quality", "min_alpha_words_ratio", alpha, cfg.min_alpha_words_ratio)
    if cfg.min_stop_words is not None:
        found = _stop_words_found(doc, frozenset(cfg.stop_words), cfg.min_stop_words)
        if found < cfg.min_stop_words:
            return _reject("gopher_quality", "min_stop_words", found, cfg.min_stop_words)
    return None


def _stop_words_found(doc: DocView, stop_words: frozenset[str], enough: int) -> int:
    """Distinct stop words among the document's lower-cased words, counted up to `enough`
    (a page that passes has them in its first lines: no need to read on)."""
    found: set[str] = set()
    starts, ends = doc.analysis.word_starts, doc.analysis.word_ends
    for chunk in range(0, len(starts), _STOP_WORD_CHUNK):
        part = slice(chunk, chunk + _STOP_WORD_CHUNK)
        for start, end in zip(starts[part].tolist(), ends[part].tolist(), strict=True):
            word = doc.text[start:end].lower()
            if word in stop_words:
                found.add(word)
                if len(found) >= enough:
                    return len(found)
    return len(found)


_STOP_WORD_CHUNK = 256  # words read at a time: a page that passes has its stop words early


# --- Gopher repetition (Rae et al. 2021, table A1) ---


class GopherRepetition(RuleSet):
    max_dup_line_frac: float | None = 0.3
    max_dup_para_frac: float | None = 0.3
    max_dup_line_char_frac: float | None = 0.2
    max_dup_para_char_frac: float | None = 0.2
    max_top_ngram_char_frac: dict[int, float] = {2: 0.2, 3: 0.18, 4: 0.16}
    max_dup_ngram_char_frac: dict[int, float] = {
        5: 0.15,
        6: 0.14,
        7: 0.13,
        8: 0.12,
        9: 0.11,
        10: 0.10,
    }

    @field_validator("max_top_ngram_char_frac", "max_dup_ngram_char_frac")
    @classmethod
    def _n_is_positive(cls, limits: dict[int, float]) -> dict[int, float]:
        if any(n < 1 for n in limits):
            raise ValueError(f"n-gram sizes are 1 or more, not {sorted(limits)}")
        return limits


def check_gopher_repetition(doc: DocView, cfg: GopherRepetition) -> Rejection | None:
    """Paragraphs and non-blank lines that repeat an earlier one (as a share of them, and of
    the text's characters), then the n-gram measures."""
    text_chars = max(len(doc.text), 1)
    lines = doc.line_table
    for unit, items, count, chars in (
        ("para", lines.paragraphs, lines.duplicate_paragraphs, lines.duplicate_paragraph_chars),
        ("line", lines.nonblank_lines, lines.duplicate_lines, lines.duplicate_line_chars),
    ):
        frac_limit = getattr(cfg, f"max_dup_{unit}_frac")
        char_limit = getattr(cfg, f"max_dup_{unit}_char_frac")
        if items and _over(count / items, frac_limit):
            return _reject("gopher_repetition", f"max_dup_{unit}_frac", count / items, frac_limit)
        if _over(chars / text_chars, char_limit):
            return _reject(
                "gopher_repetition", f"max_dup_{unit}_char_frac", chars / text_chars, char_limit
            )
    # Fractions of the document's characters, as Gopher and datatrove define them.
    top = sorted(cfg.max_top_ngram_char_frac.items())
    duplicated = sorted(cfg.max_dup_ngram_char_frac.items())
    top_chars, dup_chars = repetition_chars(
        doc.analysis, tuple(n for n, _ in top), tuple(n for n, _ in duplicated)
    )
    measures = [("top", n, lim, c) for (n, lim), c in zip(top, top_chars, strict=True)]
    measures += [("dup", n, lim, c) for (n, lim), c in zip(duplicated, dup_chars, strict=True)]
    for kind, n, limit, chars in measures:
        if chars / text_chars > limit:
            name = f"max_{kind}_{n}gram_char_frac"
            return _reject("gopher_repetition", name, chars / text_chars, limit)
    return None


# --- RefinedWeb line-wise corrections (Penedo et al. 2023, appendix G.2) ---


class RefinedWebLines(RuleSet):
    max_removed_words_frac: float = 0.05
    max_words_for_pattern_lines: int = 10


_COUNTER_LINE = re.compile(
    # `(?:\s*[unit])?\s*`, not `\s*[unit]?\s*`: two adjacent `\s*` backtrack quadratically
    # on a long run of spaces (a 16,000-space line took 23 s).
    r"^\W*\d[\d,.]*(?:\s*[kKmMwW万千])?\s*(likes?|comments?|shares?|views?|replies|repl(y|ies)|"
    r"retweets?|followers?|points?|votes?|reads?|赞|点赞|评论|条评论|阅读|浏览|次浏览|人浏览|"
    r"分享|收藏|回复|关注|人关注|粉丝)\W*$",
    re.IGNORECASE,
)
_NAVIGATION_LINE = re.compile(
    r"^\W*(sign[ -]?in|sign[ -]?up|log[ -]?in|log[ -]?out|register|read more|continue reading|"
    r"share (this|on)|subscribe|click here|skip to|back to top|previous( post)?|next( post)?|"
    r"登录|登陆|登入|注册|註冊|阅读全文|閱讀全文|阅读更多|閱讀更多|查看更多|點擊查看|点击查看|"
    r"点击进入|返回顶部|返回頂部|分享到|上一篇|下一篇|上一页|下一页|上一頁|下一頁|首页|首頁|"
    r"加入收藏|设为首页|設為首頁|您可能也会喜欢|您可能也會喜歡|相关文章|相關文章)"
    r"|items? in (your )?cart|add to cart|all rights reserved|购物车|購物車|版权所有|版權所有",
    re.IGNORECASE,
)


def _lines_to_remove(doc: DocView, words: np.ndarray, cfg: RefinedWebLines) -> np.ndarray:
    """Per line: remove it? Non-blank lines without a letter (digits, punctuation, symbols),
    of at most one word, mostly capitals among their letters (CJK letters have no case and
    count against), or matching the counter or (if short) the navigation pattern. Only the
    lines the counts leave undecided meet a regex: a counter line starts with a digit, a
    navigation line has few words."""
    table = doc.line_table
    remove, undecided = _marked_lines(
        words,
        doc.analysis.line_letters,
        doc.analysis.line_upper_letters,
        table.nonblank,
        table.leading_digits,
        cfg.max_words_for_pattern_lines,
    )
    if not len(undecided):
        return remove
    pending = zip(
        undecided.tolist(),
        table.content_starts[undecided].tolist(),
        table.content_ends[undecided].tolist(),
        table.leading_digits[undecided].tolist(),
        (words[undecided] <= cfg.max_words_for_pattern_lines).tolist(),
        strict=True,
    )
    for line, start, end, counter_like, short in pending:
        stripped = doc.text[start:end]
        remove[line] = bool(
            (counter_like and _COUNTER_LINE.match(stripped))
            or (short and _NAVIGATION_LINE.search(stripped))
        )
    return remove


@numba.njit(cache=True, nogil=True)
def _marked_lines(
    words: np.ndarray,
    letters: np.ndarray,
    upper: np.ndarray,
    nonblank: np.ndarray,
    leading_digits: np.ndarray,
    max_pattern_words: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(lines removed by their counts, non-blank lines left for the patterns)."""
    remove = np.zeros(words.shape[0], dtype=np.bool_)
    undecided = np.empty(words.shape[0], dtype=np.int64)
    pending = 0
    for i in range(words.shape[0]):
        if not nonblank[i]:
            continue
        if letters[i] == 0 or words[i] <= 1 or (upper[i] >= 3 and 2 * upper[i] > letters[i]):
            remove[i] = True
        elif leading_digits[i] or words[i] <= max_pattern_words:
            undecided[pending] = i
            pending += 1
    return remove, undecided[:pending]


def correct_refinedweb_lines(
    doc: DocView, cfg: RefinedWebLines
) -> tuple[DocView, int, Rejection | None]:
    """Drop navigation, counter, one-word and all-caps lines; (edited document, lines removed,
    rejection)."""
    words = np.asarray(doc.line_words, dtype=np.int64)
    remove = _lines_to_remove(doc, words, cfg)
    removed_lines = int(remove.sum())
    frac = int(words[remove].sum()) / max(int(words[doc.line_table.nonblank].sum()), 1)
    if frac > cfg.max_removed_words_frac:
        limit = cfg.max_removed_words_frac
        return doc, removed_lines, _reject("refinedweb", "max_removed_words_frac", frac, limit)
    keep = ~remove
    table = doc.line_table
    spans = zip(table.starts[keep].tolist(), table.ends[keep].tolist(), strict=True)
    kept = [doc.text[a:b] for a, b in spans]
    return _joined_lines(kept, words[keep].tolist(), doc.lang), removed_lines, None


def _joined_lines(lines: list[str], line_words: list[int], lang: str | None) -> DocView:
    """The lines joined and stripped, with their word counts (blank lines stripped away at
    either end have none)."""
    joined = "\n".join(lines)
    text = joined.strip()
    first = joined[: len(joined) - len(joined.lstrip())].count("\n")
    return DocView(text, lang, line_words[first : first + text.count("\n") + 1])


# --- C4 (Raffel et al. 2020, section 2.2) ---


class C4(RuleSet):
    min_words_per_line: int | None = 3
    max_word_length: int | None = 1000
    # Off by default, as in FineWeb (section 3.5): it removed too much good text there and here.
    drop_lines_without_terminal_punct: bool = False
    min_num_sentences: int | None = 3  # C4 used 5; see docs/filters.md
    reject_lorem_ipsum: bool = True
    # Off by default: on the 2019 crawl sample 9 of its 10 rejections were good text (math,
    # code, essays with one brace); C4 used it to drop code. See docs/filters.md.
    reject_curly_bracket: bool = False
    drop_javascript_lines: bool = True
    drop_policy_lines: bool = True
    reject_bad_words: bool = True
    # C4 rejected on one hit; that removes essays that quote a swear word once and text about
    # abuse (Dodge et al. 2021). Spam repeats its vocabulary, so a few hits are required.
    min_bad_word_hits: int = 3


_CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]|\[编辑\]|\[来源请求\]", re.I)
POLICY_PHRASES = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
    "隐私政策",
    "使用条款",
    "隐私条款",
    "免责声明",
    "使用cookie",
)


_C4_LINE_PHRASES = re.compile("|".join(map(re.escape, ("javascript", *POLICY_PHRASES))))


@functools.cache
def _longer_word(limit: int) -> re.Pattern[str]:
    """A word (a run of non-space characters, what `str.split()` yields) of over `limit`."""
    return re.compile(rf"\S{{{limit + 1},}}")


def _c4_keeps_line(line: str, words: int, phrases: bool, cfg: C4) -> bool:
    """`words` counts the line's words; `phrases`: the document may hold a policy phrase."""
    limit = cfg.max_word_length
    if limit is not None and len(line) > limit and _longer_word(limit).search(line):
        return False
    if cfg.drop_lines_without_terminal_punct and (
        not line.endswith(TERMINAL_PUNCTUATION) or line.endswith(("...", "…"))
    ):
        return False
    if cfg.min_words_per_line is not None and words < cfg.min_words_per_line:
        return False
    if not phrases:
        return True
    lowered = line.lower()
    if cfg.drop_javascript_lines and "javascript" in lowered:
        return False
    return not (cfg.drop_policy_lines and any(p in lowered for p in POLICY_PHRASES))


def apply_c4(
    doc: DocView, cfg: C4, bad_word_hits: Callable[[str], Counter[str]]
) -> tuple[DocView, int, Rejection | None]:
    """C4's line filter then its document rules; (edited document, lines removed, rejection)."""
    lowered = doc.text.lower()
    if cfg.reject_lorem_ipsum and "lorem ipsum" in lowered:
        return doc, 0, Rejection("c4:reject_lorem_ipsum", "contains 'lorem ipsum'")
    if cfg.reject_curly_bracket and "{" in doc.text:
        return doc, 0, Rejection("c4:reject_curly_bracket", "contains '{'")
    if cfg.reject_bad_words:
        hits = bad_word_hits(doc.text)
        if sum(hits.values()) >= cfg.min_bad_word_hits:
            shown = ", ".join(f"{word} {n}" for word, n in hits.most_common(3))
            return doc, 0, Rejection("c4:reject_bad_words", shown)
    # Every citation mark has a "[": most texts have none and need no regex per line.
    cites = "[" in doc.text
    # A line holds a phrase only if the whole text does (citations cut first, as per line).
    phrases = bool(_C4_LINE_PHRASES.search(_CITATION.sub("", lowered) if cites else lowered))
    kept, kept_words, removed = [], [], 0
    for line, words in zip(doc.lines, doc.line_words, strict=True):
        line, citations = _CITATION.subn("", line) if cites else (line, 0)
        line = line.strip()
        if not line:
            continue
        if citations:  # "foo[1] bar": the cut changes the tokens
            words = count_words(line, doc.lang)
        if _c4_keeps_line(line, words, phrases, cfg):
            kept.append(line)
            kept_words.append(words)
        else:
            removed += 1
    text = "\n".join(kept)
    # Unchanged (no line dropped, every line already stripped): the views computed so far hold.
    edited = doc if text == doc.text else DocView(text, doc.lang, kept_words or [0])
    if _under(edited.sentences, cfg.min_num_sentences):
        limit = cfg.min_num_sentences
        return edited, removed, _reject("c4", "min_num_sentences", edited.sentences, limit)
    return edited, removed, None


# --- FineWeb (Penedo et al. 2024, section 3.5) ---


class FineWeb(RuleSet):
    min_line_punct_ratio: float | None = 0.12
    # A table row's cells count as lines for min_line_punct_ratio: an extractor that writes
    # tables as `| cell | cell |` rows (trafilatura) leaves no row ending in a full stop.
    table_cells_as_lines: bool = True
    max_short_line_ratio: float | None = 0.67
    short_line_chars: int = 30
    max_dup_line_char_ratio: float | None = 0.01
    max_newline_word_ratio: float | None = 0.3


def check_fineweb(doc: DocView, cfg: FineWeb) -> Rejection | None:
    """Over the non-blank lines: the share ending in terminal punctuation (after `rstrip`;
    a table row's cells counted as lines), of short lines, of characters in repeated lines;
    then line breaks per word."""
    table = doc.line_table
    lines = table.nonblank_lines
    if not lines:
        return Rejection("fineweb:empty", "no non-empty line")
    if cfg.table_cells_as_lines:
        punct = table.terminal_cells / max(table.cells, 1)
    else:
        punct = table.terminal_lines / lines
    if _under(punct, cfg.min_line_punct_ratio):
        return _reject("fineweb", "min_line_punct_ratio", punct, cfg.min_line_punct_ratio)
    nonblank = table.nonblank
    lengths = table.ends[nonblank] - table.starts[nonblank]
    short = int((lengths <= cfg.short_line_chars).sum()) / lines
    if _over(short, cfg.max_short_line_ratio):
        return _reject("fineweb", "max_short_line_ratio", short, cfg.max_short_line_ratio)
    newlines = len(table.starts) - 1
    dup_chars = table.duplicate_line_chars / max(len(doc.text) - newlines, 1)
    if _over(dup_chars, cfg.max_dup_line_char_ratio):
        return _reject("fineweb", "max_dup_line_char_ratio", dup_chars, cfg.max_dup_line_char_ratio)
    newlines /= max(doc.n_words, 1)
    if _over(newlines, cfg.max_newline_word_ratio):
        return _reject("fineweb", "max_newline_word_ratio", newlines, cfg.max_newline_word_ratio)
    return None


class Rules(BaseModel):
    """Every rule set with its thresholds; per-language values override these."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text_quality: TextQuality = TextQuality()
    gopher_repetition: GopherRepetition = GopherRepetition()
    gopher_quality: GopherQuality = GopherQuality()
    refinedweb: RefinedWebLines = RefinedWebLines()
    c4: C4 = C4()
    fineweb: FineWeb = FineWeb()


# Built-in per-language adjustments where a published English default does not translate;
# measured on Chinese Wikipedia (docs/filters.md). User overrides apply on top of these.
LANGUAGE_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "zh": {
        "text_quality": {"min_cjk_char_ratio": 0.3},
        "gopher_quality": {
            "min_avg_word_length": 1.0,
            "max_avg_word_length": 4.0,
            # Function words of modern and formal written Chinese (biographies use 为/于/之).
            "stop_words": (
                "的",
                "了",
                "是",
                "在",
                "和",
                "有",
                "也",
                "就",
                "不",
                "与",
                "这",
                "中",
                "为",
                "于",
                "以",
                "之",
                "其",
                "而",
                "被",
                "及",
                "等",
                "将",
                "对",
                "从",
                "到",
                "并",
            ),
        },
        "fineweb": {"short_line_chars": 15},
    },
}


# A user's document rule: the document and the rule's parameters from the config; returns None
# to pass the document, or the detail of its rejection (the reason is the rule's name).
UserRule = Callable[[DocView, dict[str, Any]], str | None]
USER_RULES: dict[str, UserRule] = {}


def register_rule(name: str) -> Callable[[UserRule], UserRule]:
    """Register a document rule under `name` (a decorator, for a plugin module); a filter
    config turns it on with `user_rules: {name: {parameters}}`. It runs after the built-in
    rule sets, and a rejected document's reason is `name`."""

    if ":" in name:  # every built-in reason is `family:rule`: a user's can never be one
        raise ValueError(f"a filter rule's name has no ':' ({name!r})")

    def register(rule: UserRule) -> UserRule:
        if USER_RULES.get(name, rule) is not rule:
            raise ValueError(f"a filter rule named {name!r} is already registered")
        USER_RULES[name] = rule
        return rule

    return register
