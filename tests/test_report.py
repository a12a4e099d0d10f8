"""`datapipe report`: a self-contained HTML page with every section, data escaped, nothing
fetched from the network, missing stages noted, and (when Chromium is installed) rendered by
a headless browser without errors."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pyarrow as pa
import pytest
from markupsafe import escape

from pipeline.report import SECTIONS, add_report_parser, render_report, write_report
from pipeline.report.display import clean
from pipeline.report.page import environment

# Tags the report may contain: anything else means data leaked into the markup.
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "script", "body", "main", "h1", "h2", "h3",
    "h4", "p", "b", "nav", "a", "section", "table", "thead", "tbody", "tr", "th", "td", "svg",
    "g", "text", "rect", "line", "details", "summary", "ul", "li", "span", "code", "br", "div",
}  # fmt: skip
HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "</svg><iframe src='https://evil.example/'></iframe>",
]


class _Markup(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def markup(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Markup()
    parser.feed(page)
    return parser.tags


def assert_self_contained(page: str, urls_in_text: bool = False) -> None:
    """No markup but the report's own, nothing loaded from anywhere; `urls_in_text`: the data
    holds URLs, which may then appear as (escaped) text."""
    tags = markup(page)
    assert {tag for tag, _ in tags} <= ALLOWED_TAGS, {tag for tag, _ in tags} - ALLOWED_TAGS
    for tag, attrs in tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        for name in ("src", "href", "xlink:href", "action", "data", "poster"):
            value = attrs.get(name)
            assert value is None or value.startswith("#"), (tag, name, value)
    scripts = [attrs for tag, attrs in tags if tag == "script"]
    assert len(scripts) == 2 and not any(scripts)  # the report's own two inline scripts
    assert "url(" not in page and "@import" not in page
    assert urls_in_text or ("http://" not in page and "https://" not in page)
    policy = next(a["content"] for t, a in tags if a.get("http-equiv") == "Content-Security-Policy")
    assert policy is not None and "default-src 'none'" in policy


@pytest.fixture(scope="module")
def report(shared_samples_run: Path) -> Path:
    return Path(write_report(shared_samples_run))


def test_report_shows_every_section_with_the_run_numbers(
    shared_samples_run: Path, report: Path
) -> None:
    assert report == shared_samples_run / "report.html"
    page = report.read_text()
    for key, title in SECTIONS:
        assert f'<section id="{key}"><h2>{escape(title)}</h2>' in page
    assert "could not be built" not in page
    stats = {
        s: json.loads((shared_samples_run / s / "stats.json").read_text())
        for s in ("ingest", "filter")
    }
    assert f"{stats['ingest']['docs_in']:,}" in page
    for reason in stats["filter"]["rejected_by_reason"]:
        assert escape(reason) in page
    manifest = json.loads((shared_samples_run / "export/manifest.json").read_text())
    assert f"{manifest['tokens']:,} tokens exported" in page
    for source in manifest["sources"]:
        assert f"<td>{source['name']}</td>" in page and f"{source['tokens']:,}" in page
    clusters = json.loads((shared_samples_run / "minhash/stats.json").read_text())["steps"][
        "cluster_sizes"
    ]
    assert all(f"{int(size):,} copies" in page for size in clusters)
    topics = json.loads((shared_samples_run / "topics/model/topics.json").read_text())["topics"]
    assert escape(", ".join(topics[0]["top_words"][:10])) in page
    tokenizer = json.loads((shared_samples_run / "train-tokenizer/tokenizer.json").read_text())
    assert f"{tokenizer['vocab_size']:,} pieces" in page
    assert "Vocabulary composition" in page and "bytes/token" in page
    assert "<h4>lang_score</h4>" in page and "document length" in page
    # The language table counts every exported document.
    lang_rows = re.findall(r"<tr><td>([^<]+)</td><td class=num>([\d,]+)</td>", page)
    assert sum(int(n.replace(",", "")) for _, n in lang_rows) >= manifest["documents"]
    assert page.count("<svg ") >= 8


def test_report_is_self_contained(report: Path) -> None:
    assert_self_contained(report.read_text())


def write_shard(path: Path, columns: dict[str, list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table(columns)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)


def stage_dir(work: Path, name: str, stats: dict, reads: str | None = None) -> Path:
    path = work / name
    path.mkdir(parents=True)
    inputs = [[str(work / reads / "part-00000-0000.arrow"), 0, 0]] if reads else []
    (path / "_config.json").write_text(json.dumps({"stage": name, "inputs": inputs}))
    (path / "stats.json").write_text(json.dumps({"stage": name, **stats}))
    (path / "_SUCCESS").write_text("x\n")
    return path


def counts(docs_in: int, kept: int, reasons: dict[str, int]) -> dict:
    return {
        "docs_in": docs_in,
        "docs_kept": kept,
        "docs_rejected": docs_in - kept,
        "rejected_by_reason": reasons,
        "kept_text_bytes": kept * 100,
        "wall_seconds": 0.1,
        "counters": {HOSTILE[1]: 1},
    }


def hostile_work_dir(work: Path) -> Path:
    """Every place a data-derived string reaches the report, holding markup."""
    stage_dir(work, "ingest", counts(10, 8, {HOSTILE[0]: 2}))
    stage_dir(work, "filter", counts(8, 6, {HOSTILE[2]: 1, "lang:not_allowed": 1}), "ingest")
    minhash = counts(6, 5, {"minhash_duplicate": 1})
    stage_dir(work, "minhash", {**minhash, "steps": {"cluster_sizes": {"2": 1}}}, "filter")
    topics = stage_dir(work, "topics", counts(5, 5, {}), "minhash")
    write_shard(
        topics / "part-00000-0000.arrow",
        {
            "id": [f"{i:032x}" for i in range(5)],
            "text": ["a" * 50, "b" * 500, "c" * 5000, HOSTILE[0], "\u202edrow"],
            "source": [HOSTILE[1]] * 5,
            "lang": ["en", "en", HOSTILE[0], None, "\u202ezh"],
            "quality_score": [0.1, 0.5, 0.9, None, float("nan")],
            "perplexity": [10.0, 100.0, 1000.0, 50.0, 5.0],
            "perplexity_bucket": ["head", HOSTILE[2], None, "tail", "tail"],
        },
    )
    table = {
        "density_threshold": -1.0,
        "features": [HOSTILE[0]],
        "topics": [
            {"topic": 0, "top_words": HOSTILE, "weight": 0.1, "weight_reason": HOSTILE[1]},
            {"topic": 1, "top_words": ["river"], "weight": 1.0, "weight_reason": "default"},
        ],
        "commercial_prior": {"threshold": HOSTILE[0]},
    }
    (topics / "model").mkdir()
    (topics / "model/topics.json").write_text(json.dumps(table))
    (work / "train-tokenizer").mkdir()
    tokenizer = {
        "vocab_size": 1000,
        "requested_vocab_size": 64000,
        "composition": {"pieces": {"other": 990, HOSTILE[2]: 10}},
        "compression": {HOSTILE[0]: {"documents": 1, "bytes_per_token": 3.0}},
        "sample": {"source_bytes": {HOSTILE[1]: 10}, "warnings": [HOSTILE[2]]},
        "token_ids": {HOSTILE[0]: 7},
    }
    (work / "train-tokenizer/tokenizer.json").write_text(json.dumps(tokenizer))
    export = stage_dir(work, "export", counts(5, 5, {}), "topics")
    manifest = {
        "tokens": 300,
        "documents": 5,
        "token_budget": 300,
        "max_epochs": 4,
        "sources": [
            {"name": HOSTILE[0], "ratio": 0.5, "tokens": 100, "target_tokens": 150, "epochs": 1.5},
            {"name": "web", "ratio": 0.5, "tokens": 200, "target_tokens": 150, "epochs": 0.75},
        ],
        "warnings": [HOSTILE[1]],
        "tokenizer": {"vocab_size": 1000, "dtype": HOSTILE[2]},
    }
    (export / "manifest.json").write_text(json.dumps(manifest))
    return work


def test_data_from_the_web_cannot_inject_markup(tmp_path: Path) -> None:
    page = render_report(hostile_work_dir(tmp_path / "work"))
    assert "could not be built" not in page
    assert "threshold unreadable" in page  # topics.json's commercial_prior, not a number
    for payload in HOSTILE:
        assert payload not in page
        assert escape(payload) in page
    assert "\u202e" not in page and "\\u202ezh" in page  # bidi overrides shown, not applied
    assert_self_contained(page, urls_in_text=True)


def test_markup_in_names_and_documents_is_escaped(tmp_path: Path) -> None:
    """A source name, a language and a document text holding a script, in a work directory
    whose own name is markup, come out as text."""
    work = tmp_path / "<img src=x onerror=alert(3)>"
    export = stage_dir(work, "export", counts(2, 2, {}))
    script = "<script>alert('x')</script>"
    write_shard(
        export / "part-00000-0000.arrow",
        {"text": [script, "plain"], "source": [script] * 2, "lang": [script, "en"]},
    )
    manifest = {"tokens": 10, "sources": [{"name": script, "tokens": 10, "target_tokens": 10}]}
    (export / "manifest.json").write_text(json.dumps(manifest))
    page = render_report(work)
    assert "could not be built" not in page
    assert script not in page and "<img" not in page
    assert page.count(str(escape(script))) >= 3  # languages: chart and table; mixture
    assert f"<title>datapipe report: {escape(work.name)}</title>" in page
    assert_self_contained(page)


def test_every_template_autoescapes() -> None:
    """The engine escapes every value, and no template opts out: the safe path is the only
    one (CSS and scripts are included files, not values)."""
    env = environment()
    assert env.autoescape is True
    for name in env.list_templates():
        source = env.loader.get_source(env, name)[0]
        for opt_out in ("|safe", "| safe", "autoescape false", "Markup"):
            assert opt_out not in source, (name, opt_out)


def test_missing_stages_are_noted_never_fatal(shared_samples_run: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    page = render_report(empty)
    assert page.count('class="note"') >= len(SECTIONS) and "could not be built" not in page
    assert "No export stage" in page and "No topics stage" in page

    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copytree(shared_samples_run / "ingest", partial / "ingest")
    shutil.copytree(shared_samples_run / "filter", partial / "filter")
    page = render_report(partial)
    assert "could not be built" not in page
    assert "From all" in page and "of filter/" in page  # distributions of the last stage
    assert "No finished minhash stage" in page and "no mixture yet" in page

    broken = tmp_path / "broken"
    shutil.copytree(shared_samples_run, broken, ignore=shutil.ignore_patterns("*.arrow"))
    (broken / "filter/stats.json").write_text("{not json")
    (broken / "export/manifest.json").write_text("[1, 2]")
    (broken / "topics/model/topics.json").write_text('{"topics": [1, {"topic": "x"}]}')
    minhash = json.loads((broken / "minhash/stats.json").read_text())
    minhash["steps"]["cluster_sizes"] = {"2": "many", "x": 3}
    (broken / "minhash/stats.json").write_text(json.dumps(minhash))
    (broken / "score").mkdir()  # a stage from another config, read by no later stage
    (broken / "score/_config.json").write_text(json.dumps({"stage": "score", "inputs": []}))
    (broken / "score/stats.json").write_text(json.dumps(counts(9, 9, {})))
    (broken / "score/_SUCCESS").write_text("x\n")
    page = Path(write_report(broken, tmp_path / "out/broken.html")).read_text()
    assert "stats.json is unreadable" in page and "manifest.json is not an object" in page
    assert "left over from an earlier run" in page
    assert "No stage with document shards" in page
    assert_self_contained(page)

    with pytest.raises(FileNotFoundError):
        write_report(tmp_path / "missing")


def test_a_retrained_tokenizer_is_noted_in_a_moved_work_directory(
    shared_samples_run: Path, tmp_path: Path
) -> None:
    """The tokenizer section compares the model beside its report with the one the export
    used, wherever the work directory now is (or was trained: a bucket run's scratch)."""
    moved = tmp_path / "moved"
    shutil.copytree(shared_samples_run, moved, ignore=shutil.ignore_patterns("*.arrow"))
    note = "export predates a retraining"
    assert note not in render_report(moved)
    (moved / "train-tokenizer/tokenizer.model").write_bytes(b"another model")
    assert note in render_report(moved)


def test_cli_subcommand(
    shared_samples_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="datapipe")
    add_report_parser(parser.add_subparsers())
    output = tmp_path / "run.html"
    args = parser.parse_args(["report", str(shared_samples_run), "--output", str(output)])
    assert args.handler(args) == 0
    assert output.stat().st_size > 10_000 and str(output) in capsys.readouterr().err


@pytest.fixture(scope="module")
def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    pytest.skip("chromium is not installed (Debian: apt-get install chromium; .ci/run does it)")


def _headless(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        browser,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)


def test_renders_in_headless_chromium(chromium: str, report: Path, tmp_path: Path) -> None:
    """The page's own script marks `data-rendered="ok"` once every chart has a size and
    collects script errors and Content-Security-Policy violations in `data-errors`."""
    browser = chromium
    hostile = tmp_path / "hostile.html"
    write_report(hostile_work_dir(tmp_path / "work"), hostile)
    for page in (report, hostile):
        logging = ("--enable-logging=stderr", "--v=0")
        dom = _headless(browser, tmp_path / "profile", *logging, "--dump-dom", page.as_uri())
        body = re.search(r"<body[^>]*>", dom.stdout)
        assert body, f"no DOM from chromium (exit {dom.returncode}): {dom.stderr[-2000:]}"
        assert 'data-rendered="ok"' in body.group(0), body.group(0)
        assert 'data-errors=""' in body.group(0), body.group(0)
        assert int(re.search(r'data-svgs="(\d+)"', body.group(0)).group(1)) >= 5
        console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
        assert not console, console  # the page logs nothing; errors and CSP blocks would
    artifacts = Path(os.environ.get("DATAPIPE_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    screenshot = artifacts / "report-screenshot.png"
    screenshot.unlink(missing_ok=True)
    shot = _headless(
        browser,
        tmp_path / "profile",
        f"--screenshot={screenshot}",
        "--window-size=1280,4000",
        report.as_uri(),
    )
    assert screenshot.exists(), f"no screenshot (exit {shot.returncode}): {shot.stderr[-2000:]}"
    assert (
        screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 50_000
    )
    if os.environ.get("DATAPIPE_ARTIFACTS"):
        shutil.copy(report, artifacts / "report.html")
    print(f"report screenshot: {screenshot}")


@pytest.mark.parametrize("mark", ["\u061c", "\u2066", "\u2069", "\u200e", "\u2028", "\u00ad"])
def test_every_bidi_and_format_character_is_shown_not_applied(mark: str) -> None:
    """U+061C (Arabic letter mark) in a counter key reordered its row; isolates too."""
    assert clean(f"alm{mark}4 3 2 1") == f"alm\\u{ord(mark):04x}4 3 2 1"


def test_a_stage_reading_a_directory_named_like_itself_renders(
    shared_samples_run: Path, tmp_path: Path
) -> None:
    """A Spark-style input directory (`_SUCCESS`, no `_config.json`) named `filter` looks
    like the filter stage's own output: the funnel must not follow that read forever."""
    from pipeline.executor import LocalExecutor
    from pipeline.runner import StageRun, run_stage
    from stages.filter.stage import FilterConfig

    data = tmp_path / "data" / "filter"
    data.mkdir(parents=True)
    shard = sorted((shared_samples_run / "ingest").glob("part-*.arrow"))[0]
    shutil.copy(shard, data / shard.name)
    (data / "_SUCCESS").write_text("")
    run = StageRun("filter", FilterConfig(), [str(data)], str(tmp_path / "work" / "filter"))
    run_stage(run, LocalExecutor(), False)
    assert "documents in" in render_report(tmp_path / "work")
