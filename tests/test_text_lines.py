"""The line table (stages/text/lines.py) equals the string definitions the rules were written
with: `text.split("\\n")`, `str.strip`, `re.split(r"\\n{2,}", text.strip())` and the first
occurrence of equal strings. Any difference would change a filter decision."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

from stages.text import TERMINAL_PUNCTUATION, DocView
from stages.text.punctuation import BULLETS
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


def test_line_and_paragraph_counts_are_the_string_definitions() -> None:
    cases = ["x ...\n ...\n..\n. ..\n….\n - a\n\t•b\nc-\n…  \n...", "a.\nb!\n「c」\nd;", *TEXTS]
    for text in cases:
        table = DocView(text, None).line_table
        lines = text.split("\n")
        nonblank = [line for line in lines if line.strip()]
        paragraphs = re.split(r"\n{2,}", text.strip())
        assert (
            table.nonblank_lines,
            table.bullet_lines,
            table.ellipsis_lines,
            table.terminal_lines,
            (table.duplicate_lines, table.duplicate_line_chars),
            table.paragraphs,
            (table.duplicate_paragraphs, table.duplicate_paragraph_chars),
        ) == (
            len(nonblank),
            sum(line.lstrip().startswith(BULLETS) for line in lines),
            sum(line.rstrip().endswith(("...", "…")) for line in lines),
            sum(line.rstrip().endswith(TERMINAL_PUNCTUATION) for line in lines),
            duplicates(nonblank),
            len(paragraphs),
            duplicates(paragraphs),
        ), text[:80]


def test_leading_digits_are_the_regex() -> None:
    leading_digit = re.compile(r"^\W*\d")
    for text in ["  12 likes\n--3\n_4\n٣ views\n²\n a1\n", *TEXTS]:
        flags = DocView(text, None).line_table.leading_digits
        expected = [bool(leading_digit.match(line.strip())) for line in text.split("\n")]
        assert flags.tolist() == expected, text[:80]


TABLE_CASES = [
    "| a | b. |\n|  |  |\n| c \\| d |\n|x|\n||\n|\n| 好。 |\n|a|b\na|b|\n| e \\|",
    "| only row, one cell. |",
    "text before.\n| 首页 | 新闻 |\n| 正文很长的一段文字，结束了。 |  |\nafter",
]


def _table_pages() -> list[str]:
    """Pages of the labelled set whose extractor wrote tables as `| cell |` rows."""
    path = Path(__file__).resolve().parents[1] / "data_samples/labels/pages.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as pages:
        texts = [json.loads(line)["text"] for line in pages]
    return [text for text in texts if "\n| " in text][:40]


def _cells(line: str) -> list[str]:
    """The definition: a table row's non-blank stripped cells, any other line itself."""
    line = line.strip()
    if len(line) >= 2 and line[0] == line[-1] == "|":
        return [cell.strip() for cell in re.split(r"(?<!\\)\|", line[1:-1]) if cell.strip()]
    return [line] if line else []


def test_table_cells_count_as_lines_by_the_string_definition() -> None:
    pages = _table_pages()
    assert len(pages) >= 20
    for text in TABLE_CASES + pages + TEXTS:
        table = DocView(text, None).line_table
        cells = [cell for line in text.split("\n") for cell in _cells(line)]
        terminal = sum(cell.endswith(TERMINAL_PUNCTUATION) for cell in cells)
        assert (table.cells, table.terminal_cells) == (len(cells), terminal), text[:80]
