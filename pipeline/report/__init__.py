"""`datapipe report WORK_DIR`: one self-contained HTML page about a pipeline run.

    datapipe report work [--output work/report.html]

Reads what the stages leave in the work directory and a few columns of the last document
stage's shards, and writes a page that needs nothing else: styles and two inline scripts in
the file, plots as inline SVG, nothing from the network (the page's Content-Security-Policy
forbids it). A missing stage or file leaves a note in its section, never an error.

    run.py        the work directory: stage directories, manifest, tokenizer report, and the
                  stages' own summaries, typed by the stage modules that write them
    documents.py  one pass over the final document shards: languages, lengths, scores
    sections.py   one function per section: the values its template shows
    charts.py     bar, histogram and stacked charts as SVG geometry
    display.py    number formatting; control and bidi characters made visible
    page.py       the Jinja environment (autoescape) and the page; templates/ holds the HTML
    cli.py        the `datapipe report` subcommand

docs/report.md.
"""

from pipeline.report.cli import add_report_parser
from pipeline.report.page import REPORT_FILE, SECTIONS, render_report, write_report

__all__ = ["REPORT_FILE", "SECTIONS", "add_report_parser", "render_report", "write_report"]
