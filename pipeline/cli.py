"""`datapipe`: run the whole pipeline from a YAML config, or one stage.

    datapipe run configs/default.yaml [--work-dir DIR] [--executor ray|local] [--ray-address A]
    datapipe ingest --input PATH... --output DIR [stage options]
    datapipe train-quality --input DIR --positive REF... --output DIR   # a model, as a stage
    datapipe export --input DIR --tokenizer MODEL --output DIR [--mixture YAML]
    datapipe verify EXPORT_DIR
    datapipe status WORK_DIR
    datapipe report WORK_DIR            # HTML report (datapipe run writes it at the end)
    datapipe evaluate WORK_DIR --labels FILE   # decisions vs labelled pages (docs/rubric.md)
    datapipe mix-search EXPORT_DIR      # rank candidate mixture ratios (docs/mixtures.md)

Each stage's options are generated from its config model, so `datapipe <stage> --help` always
lists exactly what the YAML accepts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import types
import typing
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from core import storage
from core.locks import StageBusy
from core.manifest import verify_export
from core.stagedir import NotAStageDirectory
from pipeline.config import ConfigError, PipelineConfig, load_config, validate_stage_config
from pipeline.estimate import add_estimate_arguments, estimate_command
from pipeline.evaluate import add_evaluate_parser
from pipeline.executor import Executor, RaySettings
from pipeline.mix_search import add_mix_search_parser
from pipeline.report import add_report_parser, write_report
from pipeline.runner import (
    StageFailed,
    StageRun,
    make_executor,
    run_pipeline,
    run_stage,
    summary_line,
)
from pipeline.status import add_status_parser
from stages import STAGE_CLASSES, load_plugins, stage_class
from stages.base import SourceStage


def _add_executor_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("execution")
    group.add_argument(
        "--executor",
        choices=["ray", "local"],
        help="ray (default): embedded local Ray or --ray-address; local: in-process, for debugging",
    )
    group.add_argument("--ray-address", help="join an existing Ray cluster (e.g. ray://head:10001)")
    group.add_argument("--max-concurrency", type=int, help="tasks in flight (default: CPUs)")
    group.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _unwrap_optional(annotation: Any) -> Any:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def issubclass_safe(annotation: Any, cls: type) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, cls)


def _holds_models(annotation: Any) -> bool:
    return any(issubclass_safe(arg, BaseModel) for arg in typing.get_args(annotation))


def _json_or_path(value: str) -> Any:
    """A structured option given inline as JSON, or else the path of a file the stage's config
    reads (e.g. `--mixture mixture.yaml`)."""
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def _add_field_option(parser: argparse.ArgumentParser, name: str, field: FieldInfo) -> None:
    flag = "--" + name.replace("_", "-")
    annotation = _unwrap_optional(field.annotation)
    origin = typing.get_origin(annotation)
    if field.is_required():
        help_text = f"{field.description or ''} (required)".strip()
    else:
        default = field.get_default(call_default_factory=True)
        shown = "built-in, see docs/" if isinstance(default, BaseModel) else repr(default)
        help_text = f"{field.description or ''} (default: {shown})".strip()
    kwargs: dict[str, Any] = {
        "dest": name,
        "default": None,
        "help": help_text,
        "required": field.is_required(),
    }
    if annotation is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    elif origin is Literal:
        kwargs["choices"] = list(typing.get_args(annotation))
    elif origin in (tuple, list) and not _holds_models(annotation):
        kwargs["nargs"] = "+"
    elif issubclass_safe(annotation, BaseModel):
        kwargs.update(type=_json_or_path, metavar="JSON|FILE")  # a model: inline or a YAML file
    elif origin in (tuple, list, dict):
        kwargs.update(type=json.loads, metavar="JSON")  # structured values: one JSON argument
    elif annotation in (int, float, str):
        kwargs["type"] = annotation
    parser.add_argument(flag, **kwargs)


def _add_stage_parser(sub: Any, name: str) -> None:
    cls = stage_class(name)
    parser = sub.add_parser(name, help=cls.summary, description=cls.summary)
    parser.add_argument(
        "--input",
        nargs="+",
        required=True,
        metavar="PATH",
        help="input files or directories (a previous stage's output directory)",
    )
    parser.add_argument("--output", required=True, metavar="DIR", help="this stage's directory")
    if issubclass(cls, SourceStage):
        parser.add_argument(
            "--shard-target-mb",
            type=float,
            default=128.0,
            help="start a new output shard past this size (default: 128)",
        )
    parser.add_argument(
        "--plugins",
        nargs="+",
        default=[],
        metavar="MODULE",
        help="modules that register filter rules (docs/extending.md)",
    )
    options = parser.add_argument_group(f"{name} options (same keys as in the YAML config)")
    for field_name, field in cls.config_class.model_fields.items():
        _add_field_option(options, field_name, field)
    _add_executor_options(parser)
    parser.set_defaults(handler=_run_one_stage, stage=name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="datapipe",
        description="Turn raw web crawl into training-ready token shards.",
        epilog="Start with: datapipe run configs/default.yaml",
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    run = sub.add_parser(
        "run",
        help="run the stages of a YAML config in order",
        description="Run the configured stages in order; finished work is "
        "skipped, so rerunning after a crash resumes.",
    )
    run.add_argument("config", help="pipeline YAML (see configs/default.yaml)")
    run.add_argument("--work-dir", help="override work_dir from the config")
    _add_executor_options(run)
    run.set_defaults(handler=_run_config)
    for name in STAGE_CLASSES:
        _add_stage_parser(sub, name)
    verify = sub.add_parser(
        "verify",
        help="recheck an export directory against its manifest",
        description="Recheck every shard of an export directory (checksum, documents, tokens, "
        "token ids within the vocabulary) against manifest.json; exit 1 naming each mismatch.",
    )
    verify.add_argument("output_dir", metavar="OUTPUT_DIR", help="the export stage's directory")
    verify.set_defaults(handler=_verify)
    estimate = sub.add_parser(
        "estimate",
        help="run on a sample of the inputs; predict documents, tokens, time, memory, disk",
        description="Run the configured pipeline on a deterministic sample of its inputs and "
        "predict, for the whole input, each stage's documents and text kept, tokens per "
        "mixture source, core-hours, peak memory per task and disk, with intervals "
        "(docs/scaling.md).",
    )
    add_estimate_arguments(estimate)
    _add_executor_options(estimate)
    estimate.set_defaults(handler=_estimate)
    add_status_parser(sub)
    add_report_parser(sub)
    add_evaluate_parser(sub)
    add_mix_search_parser(sub)
    return parser


def _ray_settings(args: argparse.Namespace, base: RaySettings) -> RaySettings:
    return RaySettings(
        address=args.ray_address or base.address,
        num_cpus=base.num_cpus,
        max_concurrency=args.max_concurrency or base.max_concurrency,
        max_retries=base.max_retries,
        object_store_mb=base.object_store_mb,
    )


def _config_executor(args: argparse.Namespace, config: PipelineConfig) -> Executor:
    """The executor a config names, with the command line's options over it."""
    ex = config.executor
    base = RaySettings(
        ex.ray_address, ex.num_cpus, ex.max_concurrency, ex.max_retries, ex.object_store_mb
    )
    return make_executor(args.executor or ex.kind, _ray_settings(args, base))


def _run_config(args: argparse.Namespace) -> None:
    config = load_config(args.config)
    if args.work_dir:
        config = config.model_copy(update={"work_dir": args.work_dir})
    executor = _config_executor(args, config)
    try:
        run_pipeline(config, executor, progress=not args.no_progress)
    finally:
        executor.close()
        # also of a failed run: what finished, and where and why it stopped
        with contextlib.suppress(Exception):
            print(f"report: {write_report(config.work_dir)}", file=sys.stderr)


def _estimate(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    executor = _config_executor(args, config)
    try:
        return estimate_command(args, config, executor)
    finally:
        executor.close()


def _run_one_stage(args: argparse.Namespace) -> None:
    try:
        load_plugins(args.plugins)
    except (ImportError, ValueError) as err:
        raise ConfigError(str(err)) from None
    fields = stage_class(args.stage).config_class.model_fields
    options = {name: getattr(args, name) for name in fields if getattr(args, name) is not None}
    config = validate_stage_config(args.stage, options, args.stage)
    shard_target_mb = getattr(args, "shard_target_mb", 128.0)
    run = StageRun(
        args.stage,
        config,
        args.input,
        args.output,
        int(shard_target_mb * 2**20),
        plugins=tuple(args.plugins),
    )
    executor = make_executor(args.executor or "ray", _ray_settings(args, RaySettings()))
    try:
        stats = run_stage(run, executor, progress=not args.no_progress)
    finally:
        executor.close()
    print(summary_line(stats, args.output), file=sys.stderr)


def _verify(args: argparse.Namespace) -> int:
    if not storage.is_dir(args.output_dir):
        raise FileNotFoundError(f"no export directory {args.output_dir}")
    problems, checked = verify_export(args.output_dir)
    for problem in problems:
        print(f"MISMATCH {problem}", file=sys.stderr)
    if problems:
        print(f"datapipe verify: {args.output_dir}: {len(problems)} problems", file=sys.stderr)
        return 1
    tokenizer = "tokenizer checksum ok" if checked["tokenizer_checked"] else "tokenizer not found"
    print(
        f"datapipe verify: {args.output_dir}: OK, {checked['shards']} shards, "
        f"{checked['documents']:,} documents, {checked['tokens']:,} tokens ({tokenizer})",
        file=sys.stderr,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status = args.handler(args)
    except (ConfigError, NotAStageDirectory, FileNotFoundError, ValueError, StageBusy) as err:
        print(f"datapipe: error: {err}", file=sys.stderr)
        return 2
    except StageFailed as err:
        print(f"datapipe: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # a full disk, a read-only path, an unreachable cluster
        where = f": {err.filename}" if err.filename else ""
        print(f"datapipe: error: {err.strerror or err}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # finished tasks are kept: the same command resumes
        print("datapipe: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    return status or 0
