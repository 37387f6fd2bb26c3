"""A slow, literal implementation of the flake signals: one window at a time, sorted rows.

The fast implementation must agree with it exactly; it reads like the definitions in docs/flakes.md.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from testintel_assets.configuration import Flakes
from testintel_assets.scoring.flakes import EXECUTED, FAILED


def infra_reports(results: pl.DataFrame, params: Flakes) -> pl.DataFrame:
    keys = ["run_id", "artifact_hash"] if "artifact_hash" in results.columns else ["run_id"]
    first = results.filter((pl.col("attempt") == 0) & pl.col("status").is_in(EXECUTED))
    per_report = first.group_by(keys).agg(
        pl.len().alias("tried"), pl.col("status").is_in(FAILED).sum().alias("failed")
    )
    return per_report.filter(
        (pl.col("tried") >= params.mass_failure_min_tests)
        & (pl.col("failed") >= params.mass_failure_ratio * pl.col("tried"))
    ).select(keys)


def signals(results: pl.DataFrame, day: date, params: Flakes) -> pl.DataFrame:
    lo = day - timedelta(days=params.window_days - 1)
    loaded = results.filter(pl.col("day").is_between(lo, day))
    infra = infra_reports(loaded, params)
    keys = infra.columns
    executed = loaded.filter(pl.col("status").is_in(EXECUTED))
    window = executed.join(infra, on=keys, how="anti", nulls_equal=True).with_columns(
        pl.col("status").is_in(FAILED).alias("fail")
    )
    run_order = (
        window.group_by("run_id")
        .agg(pl.col("day").min(), pl.col("started_at").min())
        .sort("day", "started_at", "run_id")
        .with_row_index("rank")
        .select("run_id", "rank")
    )
    rows = window.join(run_order, on="run_id").sort("test_id", "rank", "attempt")
    out = []
    decay = params.decay
    for (test_id,), group in rows.group_by("test_id", maintain_order=True):
        fails = group["fail"].to_list()
        days = group["day"].to_list()
        n = len(fails)
        flips = sum(fails[i] != fails[i - 1] for i in range(1, n))
        streaks = sum(fails[i] and (i == 0 or not fails[i - 1]) for i in range(n))
        weights = [decay ** (day - d).days for d in days]
        trans_w = sum(weights[1:])
        flips_w = sum(weights[i] for i in range(1, n) if fails[i] != fails[i - 1])
        per_run = group.group_by("rank", maintain_order=True).agg(
            pl.col("fail").first().alias("first_failed"),
            (~pl.col("fail")).any().alias("passed"),
            pl.col("attempt").first().alias("first_attempt"),
            (pl.col("attempt") == 1).any().alias("rerun"),
        )
        runs = per_run.filter(pl.col("first_attempt") == 0)
        first_failed, red = runs["first_failed"].to_list(), (runs["first_failed"] & ~runs["passed"]).to_list()
        k = min(params.last_runs, len(first_failed))
        last_run_failure = max((i for i in range(len(first_failed)) if first_failed[i]), default=None)
        last_fail = max((i for i in range(n) if fails[i]), default=None)
        by_sha = group.group_by("sha").agg(
            pl.col("fail").any().alias("f"), (~pl.col("fail")).any().alias("p")
        )
        by_run = group.group_by("run_id").agg(pl.col("fail").any() & (~pl.col("fail")).any())
        blocking = group.filter(pl.col("blocking"))
        out.append(
            {
                "test_id": test_id,
                "runs": n,
                "failures": sum(fails),
                "flips": flips,
                "fail_streaks": streaks,
                "flip_rate_decayed": flips_w / trans_w if n >= 2 and trans_w > 0 else 0.0,
                "ci_runs": len(first_failed),
                "rerun_runs": per_run["rerun"].sum(),
                "last_runs": k,
                "last_runs_failures": sum(first_failed[len(first_failed) - k :]),
                "last_runs_red": sum(red[len(red) - k :]),
                "trailing_passes": len(first_failed)
                if last_run_failure is None
                else len(first_failed) - 1 - last_run_failure,
                "last_failure_day": None if last_fail is None else days[last_fail],
                "same_sha_flips": by_sha.filter(pl.col("f") & pl.col("p")).height,
                "failing_shas": by_sha.filter(pl.col("f")).height,
                "rerun_flips": int(by_run["fail"].sum()),
                "blocking_runs": blocking.height,
                "infra_failures_excluded": executed.join(infra, on=keys, nulls_equal=True)
                .filter((pl.col("test_id") == test_id) & pl.col("status").is_in(FAILED))
                .height,
            }
        )
    return pl.DataFrame(out).with_columns(pl.lit(day).alias("day"))
