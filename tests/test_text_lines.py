"""The line table (stages/text/lines.py) equals the string definitions the rules were written
with: `text.split("\\n")`, `str.strip`, `re.split(r"\\n{2,}", text.strip())` and the first
occurrence of equal strings. Any difference would change a filter decision."""

from __future__ import annotations

import re

from stages.filter.rules import _bullet_and_ellipsis_lines
from stages.text import DocView
from stages.text.lines import duplicate_spans
from tests.real_texts import crafted_documents, real_documents

LINE_CASES = [
    "",
    "\n",
    "a\n\nb\n\n\nc\n \nd",  # a line of one space does not break a paragraph
    "  lead\n\n\n  trail  \n\n",
    "dup\ndup\n dup\ndup \n\ndup\ndup",
    "\u3000全角\u3000\n\xa0nbsp\xa0\n\x1c\x1dfile separators\x1f\n\x85next line",
]


def duplicates(items: list[str]) -> tuple[int, int]:
    """The definition: (items seen before, characters in those repeats)."""
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count += 1
            chars += len(item)
        else:
            seen.add(item)
    return count, chars


TEXTS = LINE_CASES + [text for text, _ in real_documents(per_file=100) + crafted_documents()]


def _spans(text: str, starts: list[int], ends: list[int]) -> list[str]:
    return [text[a:b] for a, b in zip(starts, ends, strict=True)]


def test_lines_and_their_stripped_spans_are_split_and_strip() -> None:
    for text in TEXTS:
        table = DocView(text, None).line_table
        lines = text.split("\n")
        assert _spans(text, table.starts.tolist(), table.ends.tolist()) == lines
        stripped = _spans(text, table.content_starts.tolist(), table.content_ends.tolist())
        assert stripped == [line.strip() for line in lines]
        assert table.nonblank.tolist() == [bool(line.strip()) for line in lines]


def test_paragraph_spans_are_the_regex_split() -> None:
    for text in TEXTS:
        starts, ends = DocView(text, None).paragraph_spans
        expected = re.split(r"\n{2,}", text.strip())
        assert _spans(text, starts.tolist(), ends.tolist()) == expected, text[:80]


def test_duplicates_are_counted_exactly() -> None:
    for text in TEXTS:
        doc = DocView(text, None)
        cp, _ = doc.code_points
        table = doc.line_table
        nonblank = table.nonblank
        assert table.duplicates(cp, nonblank) == duplicates(doc.nonempty_lines)
        assert duplicate_spans(cp, *doc.paragraph_spans) == duplicates(doc.paragraphs)


def test_bullet_ellipsis_and_terminal_lines_are_the_string_tests() -> None:
    bullets = ("•", "-", "*", "·", "●")
    cases = ["x ...\n ...\n..\n. ..\n….\n - a\n\t•b\nc-\n…  \n...", *TEXTS]
    for text in cases:
        doc = DocView(text, None)
        lines = text.split("\n")
        expected = (
            sum(line.lstrip().startswith(bullets) for line in lines),
            sum(line.rstrip().endswith(("...", "…")) for line in lines),
        )
        assert _bullet_and_ellipsis_lines(doc) == expected, text[:80]


def test_leading_digits_are_the_regex() -> None:
    leading_digit = re.compile(r"^\W*\d")
    for text in ["  12 likes\n--3\n_4\n٣ views\n²\n a1\n", *TEXTS]:
        doc = DocView(text, None)
        flags = doc.line_table.leading_digits(doc.code_points[1])
        expected = [bool(leading_digit.match(line.strip())) for line in text.split("\n")]
        assert flags.tolist() == expected, text[:80]
