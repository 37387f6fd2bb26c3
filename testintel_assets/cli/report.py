"""`testintel report`: the short report from the warehouse (read-only)."""

from __future__ import annotations

import argparse
from datetime import date

from testintel_assets.report import build_report
from testintel_assets.settings import warehouse_path


def _handle(args: argparse.Namespace) -> int:
    print(build_report(warehouse_path(), args.day))
    return 0


def register(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser("report", help="print Top-5 gaps, flaky tests and the release verdict")
    parser.add_argument("--day", type=date.fromisoformat, default=None, help="default: the newest day")
    parser.set_defaults(handler=_handle)
