"""A normal install works, not only the editable one: the built wheel, installed into a fresh
virtualenv, runs a pipeline from a directory outside the checkout. It is what a Ray
cluster's nodes install, so every data file the code reads (word lists, report templates)
must be inside it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "core", "pipeline", "stages", "tokenizer")
SAMPLES = REPO / "data_samples"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the sources (a build never writes into the checkout)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(
                REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copyfile(REPO / name, source / name)
    out = tmp / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(source)],
        check=True,
    )
    [built] = out.glob("datapipe-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv with the wheel installed; its dependencies are this environment's,
    seen through a path entry (not its .pth files, so not the editable install)."""
    root = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    python = root / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
    )
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return root


def test_the_wheel_holds_every_data_file_the_code_reads(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = [p for p in REPO.glob("stages/**/lists/*.txt")]
    shipped += [p for p in REPO.glob("pipeline/report/templates/**/*") if p.is_file()]
    missing = [str(p.relative_to(REPO)) for p in shipped if str(p.relative_to(REPO)) not in names]
    assert shipped and not missing


def test_the_installed_package_runs_a_pipeline_outside_the_checkout(
    venv: Path, tmp_path: Path
) -> None:
    where = subprocess.run(
        [str(venv / "bin/python"), "-c", "import pipeline, stages; print(pipeline.__file__)"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert where.startswith(str(venv)), where  # the wheel's copy, not the checkout
    config = tmp_path / "pipeline.yaml"
    config.write_text(
        json.dumps(
            {
                "inputs": [
                    str(SAMPLES / "samples/cc/llamafactory_c4_demo.jsonl"),
                    str(SAMPLES / "samples/cc/resiliparse_CC-MAIN-2020-34_00395.warc.gz"),
                    str(SAMPLES / "wiki/zhwiki_cmrc2018.jsonl"),
                ],
                "work_dir": "work",
                "stages": [
                    "ingest",
                    "filter",  # the shipped word lists
                    {"score": {"annotate_only": True}},  # the safety lexicon
                    "minhash",
                    "substring",
                    "topics",  # the shipped ad lexicon and stop words
                    {"train-tokenizer": {"vocab_size": 8000, "allow_smaller_vocabulary": True}},
                    "export",
                ],
            }
        )
    )
    done = subprocess.run(
        [str(venv / "bin/datapipe"), "run", str(config), "--executor", "local", "--no-progress"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "match manifest.json" in done.stderr
    assert (tmp_path / "work/report.html").stat().st_size > 10_000  # the templates rendered
