"""What a user meets first: --help, config errors that name the key, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.config import ConfigError, load_config
from tests.conftest import REPO


def test_help_lists_commands_and_stage_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "ingest" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["ingest", "--help"])
    help_text = capsys.readouterr().out
    for option in (
        "--extractor {resiliparse,trafilatura}",
        "--max-text-bytes",
        "--ray-address",
        "--executor {ray,local}",
        "--no-main-content",
    ):
        assert option in help_text


def test_python_dash_m_pipeline_works() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "--help"], capture_output=True, text=True, cwd=REPO
    )
    assert done.returncode == 0 and "datapipe" in done.stdout


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("inputs: [x]\nstages: [ingest]\nwork_dri: w\n", "work_dri: Extra inputs"),
        ("inputs: [x]\nstages:\n  - ingest: {extractor: lynx}\n", "stages.0.ingest.extractor"),
        ("inputs: [x]\nstages:\n  - ingest: {max_text_bytes: -1}\n", "max_text_bytes"),
        ("inputs: [x]\nstages: [dedupe]\n", "unknown stage 'dedupe'"),
        ("inputs: [x]\nstages: [ingest]\nexecutor: {kind: spark}\n", "executor.kind"),
        ("stages: [ingest]\n", "inputs: required"),
        ("inputs: [x]\nstages: ingest\n", "stages: expected a list"),
    ],
)
def test_config_errors_name_the_bad_key(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_cli_reports_errors_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("inputs: [x]\nstages:\n  - ingest: {extractor: lynx}\n")
    assert main(["run", str(path)]) == 2
    assert "stages.0.ingest.extractor" in capsys.readouterr().err
    missing = [
        "ingest",
        "--input",
        str(tmp_path / "nope"),
        "--output",
        str(tmp_path / "o"),
        "--executor",
        "local",
    ]
    assert main(missing) == 2
    assert "does not exist" in capsys.readouterr().err


def test_shipped_configs_are_valid() -> None:
    for path in sorted((REPO / "configs").glob("*.yaml")):
        config = load_config(path)
        reading_inputs = [stages for _, inputs, stages in config.chains() if inputs]
        assert reading_inputs and all(stages[0].name == "ingest" for stages in reading_inputs)


def test_one_stage_from_the_command_line(tmp_path: Path, real_data: Path) -> None:
    args = [
        "ingest",
        "--input",
        str(real_data / "samples/cc/whirlwind.warc.gz"),
        "--output",
        str(tmp_path / "out"),
        "--executor",
        "local",
        "--source",
        "crawl",
        "--no-progress",
    ]
    assert main(args) == 0
    assert (tmp_path / "out/_SUCCESS").exists()
