"""`testintel backfill`: every asset and check over a day range in ONE run (single-run policy)."""

from __future__ import annotations

import argparse
import time
from datetime import date

import dagster as dg

from testintel_assets.instance import get_instance
from testintel_assets.partitions import day_key

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def run_backfill(
    first: date, last: date, instance: dg.DagsterInstance | None = None, log_level: str = "WARNING"
) -> dg.ExecuteInProcessResult:
    """One in-process run over [first, last], recorded in the instance so the UI shows it."""
    from testintel_assets.definitions import defs

    job = defs().resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=instance or get_instance(),
        tags={RANGE_START_TAG: day_key(first), RANGE_END_TAG: day_key(last), "testintel/backfill": "cli"},
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        raise_on_error=False,
    )


def _handle(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    result = run_backfill(args.start, args.end)
    seconds = time.perf_counter() - started
    days = (args.end - args.start).days + 1
    state = "succeeded" if result.success else "FAILED"
    print(f"backfill {args.start}..{args.end} ({days} days) {state} in {seconds:.1f} s, run {result.run_id}")
    return 0 if result.success else 1


def register(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser("backfill", help="materialise every asset for a day range in one run")
    parser.add_argument("--start", type=date.fromisoformat, required=True, help="first day, YYYY-MM-DD")
    parser.add_argument("--end", type=date.fromisoformat, required=True, help="last day, YYYY-MM-DD")
    parser.set_defaults(handler=_handle)
