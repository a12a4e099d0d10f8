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
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import background

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "core", "pipeline", "stages", "tokenizer")
SAMPLES = REPO / "data_samples"


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    where: str  # `pipeline.__file__` as the venv's python imports it outside the checkout
    run_dir: Path  # outside the checkout: pipeline.yaml, work/
    run: subprocess.CompletedProcess[str]  # `datapipe run pipeline.yaml` from run_dir


def build_wheel(tmp: Path) -> Path:
    """The wheel built from a copy of the sources (a build never writes into the checkout)."""
    source = tmp / "source"
    source.mkdir(parents=True)
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(
                REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copyfile(REPO / name, source / name)
    out = tmp / "dist"
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out)]
    checked(background.run([*command, str(source)], tmp, 600))
    [built] = out.glob("datapipe-*.whl")
    return built


def make_venv(wheel: Path, root: Path) -> Path:
    """A new virtualenv with the wheel installed; its dependencies are this environment's,
    seen through a path entry (not its .pth files, so not the editable install)."""
    checked(background.run([sys.executable, "-m", "venv", str(root)], root.parent, 300))
    python = root / "bin" / "python"
    install = [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
    checked(background.run([*install, str(wheel)], root.parent, 300))
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(checked(background.run([str(python), "-c", purelib], root.parent, 60)).strip())
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return root


def checked(done: subprocess.CompletedProcess[str]) -> str:
    """`check=True`: the command's stdout, or CalledProcessError."""
    done.check_returncode()
    return done.stdout


def install_and_run(tmp: Path) -> Installed:
    """Build the wheel, install it into a new virtualenv, and run a pipeline with it from a
    directory outside the checkout."""
    wheel = build_wheel(tmp / "wheel")
    venv = make_venv(wheel, tmp / "venv")
    run_dir = tmp / "run"
    run_dir.mkdir()
    python = str(venv / "bin/python")
    where = "import pipeline, stages; print(pipeline.__file__)"
    where = checked(background.run([python, "-c", where], run_dir, 120))
    config = run_dir / "pipeline.yaml"
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
    datapipe = [str(venv / "bin/datapipe"), "run", str(config), "--executor", "local"]
    done = background.run([*datapipe, "--no-progress"], run_dir, 900)
    return Installed(wheel, venv, where, run_dir, done)


def start_background(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Called when the session's tests are collected: the build, install and run (a minute or
    more, other processes only) run while the rest of the suite does."""
    background.submit("wheel", install_and_run, tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    return background.result("wheel", lambda: install_and_run(tmp_path_factory.mktemp("wheel")))


def test_the_wheel_holds_every_data_file_the_code_reads(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    shipped = [p for p in REPO.glob("stages/**/lists/*.txt")]
    shipped += [p for p in REPO.glob("pipeline/report/templates/**/*") if p.is_file()]
    missing = [str(p.relative_to(REPO)) for p in shipped if str(p.relative_to(REPO)) not in names]
    assert shipped and not missing


def test_the_installed_package_runs_a_pipeline_outside_the_checkout(installed: Installed) -> None:
    where, done = installed.where, installed.run
    assert where.startswith(str(installed.venv)), where  # the wheel's copy, not the checkout
    assert done.returncode == 0, done.stderr[-4000:]
    assert "match manifest.json" in done.stderr
    assert (installed.run_dir / "work/report.html").stat().st_size > 10_000  # templates rendered
