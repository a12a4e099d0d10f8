"""The `math` rule family: LaTeX sources (arXiv papers as RedPajama publishes them), judged by
checks that suit them instead of by prose rules (LaTeX lines end in commands and `$`, and
formulas repeat n-grams, so Gopher, C4 and FineWeb reject most papers).

RedPajama's arXiv pipeline edits the text (preamble, comments and bibliography cut, macros
expanded) and keeps what follows the first section; this family only checks: enough words,
more than acknowledgements and references, not a numeric dump, some mathematics. Each rule
yields its own verdict, so annotate mode records every one. Defaults: docs/filters.md,
"Profiles".
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np

from stages.filter.rules import Rejection, RuleSet, _over, _reject, _under
from stages.text import DIGIT, NONSPACE, DocView


class MathRules(RuleSet):
    min_words: int | None = 50
    reject_boilerplate_only: bool = True
    max_digit_fraction: float | None = 0.5
    min_math_spans: int | None = 1


# One `\s*` before the optional short title, not two around it (adjacent `\s*` backtrack
# quadratically on a run of spaces); the short title crosses no backslash, so a failed match
# stops at the next command.
_SECTION_TITLE = re.compile(r"\\(?:chapter|(?:sub)*section)\*?\s*(?:\[[^\]\\]*\]\s*)?\{([^{}]*)\}")
# Sections that hold no mathematics or argument of the paper's own.
_BOILERPLATE_TITLE = re.compile(
    r"\s*(?:acknowledge?ments?|references?|bibliography|funding|author contributions?|"
    r"conflicts? of interests?|competing interests?|data availability)\s*[.:]?\s*",
    re.IGNORECASE,
)
# Inline ($...$, \(...\)) and display ($$...$$, \[...\], equation-like environments) math.
# A \( or \[ span holds no opener of its kind, so a failed match stops at the next opener
# (linear time on a text of unclosed openers).
_MATH_SPAN = re.compile(
    r"\$\$.+?\$\$|(?<!\\)\$[^$]+?(?<!\\)\$"
    r"|\\\((?:[^\\]|\\[^()])*?\\\)|\\\[(?:[^\\]|\\[^\[\]])*?\\\]"
    r"|\\begin\{(?:equation|align|eqnarray|gather|multline|displaymath|math)\*?\}",
    re.DOTALL,
)


def math_rejections(doc: DocView, cfg: MathRules) -> Iterator[Rejection | None]:
    """Each rule's verdict on a LaTeX document."""
    if _under(doc.n_words, cfg.min_words):
        yield _reject("math", "min_words", doc.n_words, cfg.min_words)
    if cfg.reject_boilerplate_only:
        yield _boilerplate_only(doc.text)
    flags = doc.code_points[1]
    digits = int(np.count_nonzero(flags & DIGIT)) / max(int(np.count_nonzero(flags & NONSPACE)), 1)
    if _over(digits, cfg.max_digit_fraction):
        yield _reject("math", "max_digit_fraction", digits, cfg.max_digit_fraction)
    if cfg.min_math_spans is not None:
        yield _math_spans(doc.text, cfg.min_math_spans)


def _boilerplate_only(text: str) -> Rejection | None:
    """Every section of the document is acknowledgements, references or the like."""
    titles = _SECTION_TITLE.findall(text)
    if titles and all(_BOILERPLATE_TITLE.fullmatch(title) for title in titles):
        return Rejection("math:reject_boilerplate_only", ", ".join(titles))
    return None


def _math_spans(text: str, enough: int) -> Rejection | None:
    """Math spans counted up to `enough` (a paper has its first in its first paragraphs)."""
    found = 0
    for _ in _MATH_SPAN.finditer(text):
        found += 1
        if found >= enough:
            return None
    return _reject("math", "min_math_spans", found, enough)
