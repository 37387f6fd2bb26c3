"""`testintel demo`: generate the sample organisation, backfill it in one run, print the report."""

from __future__ import annotations

import argparse
import time
from datetime import date

from testintel_assets.cli.backfill import run_backfill
from testintel_assets.demo.generate import generate
from testintel_assets.instance import dagster_home
from testintel_assets.report import build_report
from testintel_assets.settings import landing_dir, testintel_home, warehouse_path


def _handle(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    days = generate(landing_dir(), days=args.days, end=args.end, seed=args.seed)
    generated = time.perf_counter()
    print(
        f"wrote {len(days)} days ({days[0]}..{days[-1]}) of Acme Shop into {landing_dir()} "
        f"in {generated - started:.1f} s"
    )
    if args.no_materialize:
        return 0
    result = run_backfill(days[0], days[-1])
    print(
        f"materialised every asset for {len(days)} days in one run ({result.run_id}) "
        f"in {time.perf_counter() - generated:.1f} s: {'ok' if result.success else 'FAILED'}"
    )
    if not result.success:
        return 1
    print()
    print(build_report(warehouse_path()))
    print()
    print(f"warehouse: {warehouse_path()}  (DuckDB; schema testintel)")
    print(f"landing:   {landing_dir()}")
    print(f"dagster:   {dagster_home(testintel_home())}")
    print("next:      `make dev` opens the Dagster UI at http://127.0.0.1:3000 on this same home")
    return 0


def register(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser("demo", help="generate the sample organisation and materialise it")
    parser.add_argument("--days", type=int, default=30, help="days of history to generate (default 30)")
    parser.add_argument("--end", type=date.fromisoformat, default=None, help="last day (default yesterday)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-materialize", action="store_true", help="only write the landing folder")
    parser.set_defaults(handler=_handle)
