"""Benchmark: flake_stats on 90 days x 20,000 tests x 20 runs a day (36 M attempt rows and reruns).

Run: `.venv/bin/python benchmarks/bench_flakes.py [--tests 20000 --days 90 --runs 20 --repeat 3]
[--ids int]` (`--ids int`: the same history with integer test and run ids, as in the anchor).

Generates a realistic history with testintel_assets.scoring.simulate (pytest-style reruns, random
order, outages, regressions; one Parquet file per day under benchmarks/.data/, reused when
present), then times each contender in its own subprocess so peak memory (ru_maxrss) is its own:

- `duckdb_anchor`: the baseline of research/performance-anchors.md section 3, measured here:
  DuckDB SQL computing fail rate, flips and same-commit evidence per test over every row.
- `testintel_one_window`: flake_stats_for_days for the last day with a window covering all days,
  i.e. every signal of docs/flakes.md over every row (the anchor's workload, plus more signals).
- `testintel_backfill`: flake_stats_for_days for all days with the configured 14-day window, what
  a single-run backfill of the flake_stats asset computes.

Both also run on the first `--small-days` days (about 10 M rows) to show how time grows with rows.
The machine has 2 cores shared with other work: numbers are noisy, compare ratios in one run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import polars as pl

from testintel_assets.configuration import Flakes
from testintel_assets.scoring.simulate import CiHistory, Population, meta, simulate_days

DATA = Path(__file__).resolve().parent / ".data"

# The anchor's population: 90 % near-stable, about 10 % flaky at 2-30 %, a few failing for stretches.
BENCH_POPULATION = Population(
    flaky=0.095,
    order_dependent=0.0,
    broken=0.0,
    regressed=0.005,
    skipped=0.02,
    late=0.0,
    flaky_rate=(0.02, 0.3),
    stable_rate=0.0005,
    regression_days=(2, 6),
)

DUCKDB_ANCHOR = """
with r as (
  select test_id, sha, started_at as ts, run_id, attempt, status in ('failed', 'error') as fail
  from read_parquet({files}) where status in ('passed', 'failed', 'error')
),
w as (
  select test_id, fail,
    fail <> lag(fail) over (partition by test_id order by ts, run_id, attempt) as flip,
    fail and max(case when not fail then ts end) over (partition by test_id, sha) > ts as samecommit
  from r
)
select test_id, avg(fail::int) as rate, sum(flip::int) as flips, sum(samecommit::int) as samecommit
from w group by test_id
"""


def history(tests: int, days: int, runs: int) -> CiHistory:
    return CiHistory(
        tests=tests, days=days, runs_per_day=runs, reruns=1, outage_rate=0.003, population=BENCH_POPULATION
    )


def generate(spec: CiHistory) -> Path:
    folder = DATA / f"flakes-{spec.tests}x{spec.days}x{spec.runs_per_day}-seed{spec.seed}"
    done = folder / "_complete"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows = 0
    for frame in simulate_days(spec):
        frame.write_parquet(folder / f"day={frame['day'][0]}.parquet", row_group_size=1_000_000)
        rows += frame.height
    meta(spec).write_parquet(folder / "_meta.parquet")
    done.write_text(str(rows))
    print(f"generated {rows:,} rows in {time.perf_counter() - started:.0f} s -> {folder}", flush=True)
    return folder


def with_integer_ids(folder: Path) -> Path:
    """A copy whose test_id and run_id are integers (the anchor's headline input had INT32 ids)."""
    target = folder.with_name(folder.name + "-intids")
    done = target / "_complete"
    if done.exists():
        return target
    target.mkdir(exist_ok=True)
    codes = pl.read_parquet(folder / "_meta.parquet").select("test_id").with_row_index("code")
    for path in sorted(folder.glob("day=*.parquet")):
        frame = pl.read_parquet(path).join(codes, on="test_id", how="left", maintain_order="left")
        frame.with_columns(
            pl.col("code").cast(pl.Int32).alias("test_id"), pl.col("run_id").cast(pl.Int64)
        ).drop("code").write_parquet(target / path.name, row_group_size=1_000_000)
    (target / "_meta.parquet").write_bytes((folder / "_meta.parquet").read_bytes())
    done.write_text((folder / "_complete").read_text())
    return target


def day_files(folder: Path, days: int) -> list[str]:
    return sorted(str(path) for path in folder.glob("day=*.parquet"))[:days]


def contender(name: str, folder: Path, days: int, spec: CiHistory) -> dict:
    from testintel_assets.scoring.flakes import flake_stats_for_days

    files = day_files(folder, days)
    started = time.perf_counter()
    if name == "duckdb_anchor":
        import duckdb

        connection = duckdb.connect()
        connection.execute("set threads = 2")
        listed = "[" + ", ".join(f"'{path}'" for path in files) + "]"
        out_rows = connection.sql(DUCKDB_ANCHOR.format(files=listed)).pl().height
    else:
        last = spec.start + timedelta(days=days - 1)
        if name == "testintel_one_window":
            params, out_days = Flakes(window_days=days), [last]
        else:
            params, out_days = Flakes(), [spec.start + timedelta(days=i) for i in range(days)]
        frame = flake_stats_for_days(
            pl.scan_parquet(files), pl.read_parquet(folder / "_meta.parquet"), out_days, params
        )
        out_rows = frame.height
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "contender": name,
        "days": days,
        "rows": pl.scan_parquet(files).select(pl.len()).collect().item(),
        "out_rows": out_rows,
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,  # the whole process: imports, reading, computing
        "peak_mib": usage.ru_maxrss / 1024,
    }


def measure(name: str, args: argparse.Namespace, days: int) -> dict:
    runs = []
    for _ in range(args.repeat):
        out = subprocess.run(
            [sys.executable, __file__, "--child", name, "--child-days", str(days), *_spec_args(args)],
            capture_output=True,
            text=True,
        )
        if out.returncode:
            raise SystemExit(f"contender {name} failed:\n{out.stderr}")
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = min(runs, key=lambda run: run["wall_s"])
    best["wall_s_all"] = [round(run["wall_s"], 2) for run in runs]
    best["peak_mib"] = max(run["peak_mib"] for run in runs)
    return best


def _spec_args(args: argparse.Namespace) -> list[str]:
    return ["--tests", str(args.tests), "--days", str(args.days), "--runs", str(args.runs), "--ids", args.ids]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tests", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--small-days", type=int, default=25, help="the ~10 M-row point of the growth check")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--ids",
        choices=["string", "int"],
        default="string",
        help="test_id/run_id as strings (the schema) or integers",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-days", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    spec = history(args.tests, args.days, args.runs)
    folder = generate(spec)
    if args.ids == "int":
        folder = with_integer_ids(folder)
    if args.child:
        print(json.dumps(contender(args.child, folder, args.child_days, spec)))
        return
    print(
        f"ids: {args.ids}; 2 shared cores: timings are noisy; best of {args.repeat} runs, peak is the worst run's"
    )
    header = (
        f"{'contender':<22}{'days':>5}{'rows':>13}{'out rows':>10}{'wall s':>9}{'cpu s':>8}"
        f"{'Mrows/s':>9}{'peak MiB':>10}{'vs duckdb':>11}"
    )
    print(header)
    for days in (args.small_days, args.days):
        baseline = measure("duckdb_anchor", args, days)
        for name in ("duckdb_anchor", "testintel_one_window", "testintel_backfill"):
            result = baseline if name == "duckdb_anchor" else measure(name, args, days)
            print(
                f"{name:<22}{days:>5}{result['rows']:>13,}{result['out_rows']:>10,}{result['wall_s']:>9.2f}"
                f"{result['cpu_s']:>8.1f}"
                f"{result['rows'] / result['wall_s'] / 1e6:>9.2f}{result['peak_mib']:>10,.0f}"
                f"{result['wall_s'] / baseline['wall_s']:>10.2f}x   all runs {result['wall_s_all']}",
                flush=True,
            )


if __name__ == "__main__":
    main()
