"""The page: the Jinja environment (autoescaping, every value made visible), the inline
style and scripts allowed by the Content-Security-Policy, and the sections put together."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from jinja2.environment import TemplateModule
from markupsafe import Markup

from core import __version__, storage
from core.shards import atomic_write_bytes
from core.stagedir import read_run
from pipeline.report import sections
from pipeline.report.display import clean, fmt_int, number
from pipeline.report.documents import MAX_SHARDS, Distributions, scan_documents
from pipeline.report.run import Run, load_run
from pipeline.report.sections import Note, View
from pipeline.status import run_line

REPORT_FILE = "report.html"
SECTIONS: list[tuple[str, str]] = [
    ("stages", "Stages"),
    ("funnel", "Funnel: documents and text kept per stage"),
    ("rejections", "Rejections per stage"),
    ("languages", "Languages of the final documents"),
    ("distributions", "Lengths and scores of the final documents"),
    ("duplicates", "Duplicates"),
    ("topics", "Topics"),
    ("tokenizer", "Tokenizer"),
    ("mixture", "Final mixture: target vs actual tokens per source"),
    ("evaluation", "Evaluation against labelled pages"),
]


def _visible(value: Any) -> Any:
    """Every {{ value }} before it is escaped: data shown with its control and bidi
    characters made visible; rendered HTML (a macro's or section's output) passes as it is."""
    return value if hasattr(value, "__html__") else clean(value)


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("pipeline.report", "templates"),
        autoescape=True,
        finalize=_visible,
        undefined=StrictUndefined,  # a misspelt name raises (the section says so), never blank
        trim_blocks=True,
    )
    env.tests["note"] = lambda value: isinstance(value, Note)
    return env


# The page's only scripts (templates/head.js records errors and policy violations,
# templates/end.js marks the page rendered: what the browser test reads), inlined by the page
# template and allowed by their hashes. Included, not interpolated: our own code, not data.
SCRIPTS = ("head.js", "end.js")


@cache
def content_security_policy() -> str:
    env = environment()
    hashes = (_script_hash(env.get_template(name).render()) for name in SCRIPTS)
    return (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src {' '.join(hashes)}; base-uri 'none'; form-action 'none'"
    )


def _script_hash(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


def _note(note: Note) -> Markup:
    return environment().get_template("macros.html").make_module().note(note)


def _failure(err: Exception) -> Markup:
    return _note(Note(f"This section could not be built: {type(err).__name__}: {err}", "warn"))


def _render_section(key: str, build: Callable[[], View | Note]) -> Markup | TemplateModule:
    """A section's body (escaped HTML: both results render as they are in the page); one that
    fails to build shows why instead of taking the report down."""
    try:
        view = build()
        if isinstance(view, Note):
            return _note(view)
        return environment().get_template(f"sections/{key}.html").make_module(view)
    except Exception as err:  # a broken input file must not stop the report
        return _failure(err)


def _views(run: Run, dist: Distributions | None) -> dict[str, Callable[[], View | Note]]:
    return {
        "stages": lambda: sections.stages_view(run),
        "funnel": lambda: sections.funnel_view(run),
        "rejections": lambda: sections.rejections_view(run),
        "languages": lambda: sections.languages_view(dist),
        "distributions": lambda: sections.distributions_view(dist),
        "duplicates": lambda: sections.duplicates_view(run),
        "topics": lambda: sections.topics_view(run),
        "tokenizer": lambda: sections.tokenizer_view(run),
        "mixture": lambda: sections.mixture_view(run),
        "evaluation": lambda: sections.evaluation_view(run),
    }


SHARD_SECTIONS = ("languages", "distributions")  # built from the shard scan


def _headline(run: Run) -> str:
    if stopped := run_line(read_run(run.work)):
        return f"{stopped[0].upper()}{stopped[1:]}. Below: the stages that finished."
    chain = run.chain
    first_in = run.origin_docs(chain[-1]) if chain else None
    last_kept = number((chain[-1].stats or {}).get("docs_kept")) if chain else None
    if first_in is None or last_kept is None:
        headline = "no finished stage yet"
    else:
        headline = f"{fmt_int(first_in)} documents in → {fmt_int(last_kept)} kept after "
        headline += chain[-1].name
    if run.manifest and number(run.manifest.get("tokens")) is not None:
        headline += f" → {fmt_int(run.manifest['tokens'])} tokens exported"
    return headline


def render_report(work_dir: str | Path, max_shards: int = MAX_SHARDS) -> str:
    """The report page for `work_dir` as a string."""
    work = storage.absolute(work_dir)
    if not storage.is_dir(work):
        raise FileNotFoundError(f"{work_dir}: no such work directory")
    run = load_run(work)
    try:
        dist, scan_failure = scan_documents(run, max_shards), None
    except Exception as err:  # unreadable shards: the two sections that need them say so
        dist, scan_failure = None, _failure(err)
    views = _views(run, dist)
    bodies = [
        {
            "key": key,
            "title": title,
            "failure": scan_failure if key in SHARD_SECTIONS else None,
            "body": _render_section(key, views[key]),
        }
        for key, title in SECTIONS
    ]
    return (
        environment()
        .get_template("page.html")
        .render(
            csp=content_security_policy(),
            title=f"datapipe report: {storage.name(work)}",
            work_dir=work,
            generated=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            version=__version__,
            headline=_headline(run),
            sections=bodies,
        )
    )


def write_report(work_dir: str | Path, output: str | Path | None = None) -> str:
    """Write the HTML report of `work_dir` to `output` (default WORK_DIR/report.html); either
    may be on object storage."""
    page = render_report(work_dir)
    target = str(output) if output is not None else storage.join(work_dir, REPORT_FILE)
    storage.make_dirs(storage.parent(target))
    atomic_write_bytes(target, page.encode("utf-8", "replace"))
    return target
