"""`datapipe report WORK_DIR [--output FILE]`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from core import storage
from pipeline.report.page import write_report


def add_report_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "report",
        help="write a self-contained HTML report of a run (funnel, rejections, mixture...)",
        description="one self-contained HTML page about a pipeline run (docs/report.md)",
    )
    parser.add_argument("work_dir", metavar="WORK_DIR", help="the pipeline's work_dir")
    parser.add_argument(
        "--output",
        metavar="FILE",
        help="where to write it (default: WORK_DIR/report.html)",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    path = write_report(args.work_dir, args.output)
    print(f"wrote {path} ({storage.size(path) / 1000:,.0f} kB)", file=sys.stderr)
    return 0
