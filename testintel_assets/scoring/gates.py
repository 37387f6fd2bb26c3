"""SLO and gate measurements per day; the asset checks and release_readiness share them.

Each measure returns (day, value, detail) so a check can say which tests or flows broke it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import polars as pl

from testintel_assets import schemas
from testintel_assets.configuration import Catalog
from testintel_assets.scoring.flake_health import (
    CheckResult,
    check_blocking_flake_rate,
    check_critical_flow_stability,
)

MEASURE = pl.Schema({"day": pl.Date, "value": pl.Float64, "detail": pl.String})


def final_outcomes(test_results: pl.DataFrame) -> pl.DataFrame:
    """One row per (run, test, platform): the last attempt, i.e. what the pipeline saw."""
    return (
        test_results.sort("attempt")
        .group_by("day", "run_id", "pipeline", "blocking", "test_id", "platform")
        .agg(pl.col("status").last(), pl.col("attempt").max().alias("attempts"))
    )


def _with_day_grid(measure: pl.DataFrame, days: list[date]) -> pl.DataFrame:
    grid = pl.DataFrame({"day": days}, schema={"day": pl.Date})
    return schemas.conform(grid.join(measure, on="day", how="left"), MEASURE)


def pre_merge_pass_rate(test_results: pl.DataFrame, days: list[date]) -> pl.DataFrame:
    """Share of executed tests whose final attempt passed, over the day's pre-merge runs."""
    outcomes = final_outcomes(test_results.filter(pl.col("pipeline") == "pre-merge"))
    measure = (
        outcomes.filter(pl.col("status") != "skipped")
        .group_by("day")
        .agg(
            (pl.col("status") == "passed").mean().alias("value"),
            pl.col("test_id")
            .filter(pl.col("status") != "passed")
            .unique()
            .sort()
            .str.join(", ")
            .alias("detail"),
        )
    )
    return _with_day_grid(measure, days)


def _daily(days: list[date], measure: Callable[[date], CheckResult | None]) -> pl.DataFrame:
    """Per day: the check's value and its offending tests; null value on days without data."""
    rows = []
    for day in days:
        result = measure(day)
        offenders = result.offenders["test_id"].sort().str.join(", ").item() if result else None
        rows.append({"day": day, "value": result.value if result else None, "detail": offenders})
    return schemas.conform(pl.DataFrame(rows, schema=MEASURE), MEASURE)


def blocking_flake_rate(flake_stats: pl.DataFrame, catalog: Catalog, days: list[date]) -> pl.DataFrame:
    """Flaky failures / test executions in blocking pipelines over the flake window (the SLO check's)."""
    with_data = set(flake_stats["day"].unique())
    return _daily(
        days, lambda day: check_blocking_flake_rate(flake_stats, day, catalog) if day in with_data else None
    )


def critical_flow_stability(
    test_results: pl.DataFrame, test_meta: pl.DataFrame, catalog: Catalog, days: list[date]
) -> pl.DataFrame:
    """Share of first attempts that pass among tests of critical flows (the SLO check's)."""
    with_data = set(test_results["day"].unique())
    return _daily(
        days,
        lambda day: (
            check_critical_flow_stability(test_results, test_meta, catalog, day) if day in with_data else None
        ),
    )


def top_n_coverage(coverage_by_flow: pl.DataFrame, top_flows: pl.DataFrame, days: list[date]) -> pl.DataFrame:
    """The lowest blended coverage among the day's Top-N flows by usage, and those below target."""
    joined = top_flows.join(
        coverage_by_flow.select("day", "flow", "blended_coverage"), on=["day", "flow"], how="left"
    ).with_columns(pl.col("blended_coverage").fill_null(0.0))
    measure = joined.group_by("day").agg(
        pl.col("blended_coverage").min().alias("value"),
        pl.format("{} {}", pl.col("flow"), (pl.col("blended_coverage") * 100).round(0))
        .sort()
        .str.join(", ")
        .alias("detail"),
    )
    return _with_day_grid(measure, days)


def release_readiness(
    days: list[date],
    catalog: Catalog,
    pass_rate: pl.DataFrame,
    flake_rate: pl.DataFrame,
    coverage: pl.DataFrame,
    stability: pl.DataFrame,
) -> pl.DataFrame:
    """One row per gate and SLO and day, plus a `release` row that passes only when all of them pass."""
    slo = catalog.scoring.slo
    specs = [
        ("pre_merge_pass_rate", pass_rate, catalog.scoring.gates.min_pre_merge_pass_rate, ">="),
        ("blocking_flake_rate", flake_rate, slo.max_blocking_flake_rate, "<="),
        ("top_n_coverage", coverage, slo.min_top_n_coverage, ">="),
        ("critical_flow_stability", stability, slo.min_critical_flow_stability, ">="),
    ]
    parts = []
    for gate, measure, threshold, comparator in specs:
        value = pl.col("value")
        passed = value.is_not_null() & ((value >= threshold) if comparator == ">=" else (value <= threshold))
        parts.append(
            measure.with_columns(
                pl.lit(gate).alias("gate"),
                pl.lit(threshold).alias("threshold"),
                pl.lit(comparator).alias("comparator"),
                passed.alias("passed"),
                pl.when(value.is_null()).then(pl.lit("no data")).otherwise(pl.col("detail")).alias("detail"),
            )
        )
    frame = pl.concat([schemas.conform(part, schemas.RELEASE_READINESS) for part in parts])
    verdict = frame.group_by("day").agg(
        pl.lit("release").alias("gate"),
        pl.col("passed").all().alias("passed"),
        pl.col("gate").filter(~pl.col("passed")).sort().str.join(", ").alias("detail"),
    )
    verdict = verdict.with_columns(
        pl.when(pl.col("passed"))
        .then(pl.lit("all gates pass"))
        .otherwise("blocked by: " + pl.col("detail"))
        .alias("detail")
    )
    return pl.concat([frame, schemas.conform(verdict, schemas.RELEASE_READINESS)]).sort("day", "gate")
