"""Test-health views and the pure functions behind the flake SLO asset checks (docs/flakes.md).

Views: flake trends by owner and by component, CI time wasted by flaky failures, the slowest
tests and their share of CI time, never-failing and always-failing tests. Checks return
(passed, value, offenders) so an asset check can put the offending tests in its metadata.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import NamedTuple

import polars as pl

from testintel_assets import schemas
from testintel_assets.configuration import Catalog, Flakes
from testintel_assets.scoring.flakes import EXECUTED, FAILED, without_infra_reports
from testintel_assets.scoring.quarantine import ownership


class CheckResult(NamedTuple):
    passed: bool
    value: float
    offenders: pl.DataFrame


def _latest_component(meta: pl.DataFrame) -> pl.DataFrame:
    return meta.sort("day").group_by("test_id").agg(pl.col("component").drop_nulls().last())


def flake_trends(flake_stats: pl.DataFrame, meta: pl.DataFrame, catalog: Catalog) -> pl.DataFrame:
    """Per day and owner team, and per day and component: flaky and broken tests, flake rates."""
    if flake_stats.is_empty():
        return schemas.empty(schemas.FLAKE_TRENDS)
    tagged = flake_stats.join(
        ownership(flake_stats["test_id"], meta, catalog).select("test_id", "owner"), on="test_id", how="left"
    ).join(_latest_component(meta), on="test_id", how="left")
    flaky = pl.col("flake_class") == "flaky"
    parts = []
    for dimension in ("owner", "component"):
        parts.append(
            tagged.with_columns(pl.col(dimension).fill_null("unknown").alias("value"))
            .group_by("day", "value")
            .agg(
                pl.len().alias("tests"),
                flaky.sum().alias("flaky_tests"),
                (pl.col("flake_class") == "broken").sum().alias("broken_tests"),
                pl.col("runs").sum().alias("runs"),
                pl.col("failures").filter(flaky).sum().alias("flaky_failures"),
                pl.col("blocking_runs").sum(),
                pl.col("blocking_flaky_failures").sum(),
            )
            .with_columns(
                pl.lit(dimension).alias("dimension"),
                (pl.col("flaky_tests") / pl.col("tests")).alias("flaky_share"),
                (pl.col("blocking_flaky_failures") / pl.col("blocking_runs").clip(lower_bound=1)).alias(
                    "blocking_flake_rate"
                ),
            )
        )
    return schemas.conform(pl.concat(parts), schemas.FLAKE_TRENDS).sort("day", "dimension", "value")


def ci_time_wasted(results: pl.DataFrame, flake_stats: pl.DataFrame, params: Flakes) -> pl.DataFrame:
    """Per day: CI time of runs that failed only because of flaky tests, and time spent rerunning.

    A run failed when some test had no passing attempt; it failed only because of flakes when
    every such test is classed flaky that day (Datadog's "time wasted": the duration of failed
    sessions whose failures were all flaky). Run duration is the sum of its executions' times.
    Infrastructure-failure reports are neither flaky nor counted as wasted by flakes.
    """
    executed = results.filter(
        pl.col("status").is_in(EXECUTED) & pl.col("day").is_in(flake_stats["day"].unique().implode())
    )
    if executed.is_empty():
        return schemas.empty(schemas.CI_TIME_WASTED)
    executed = without_infra_reports(executed, params)
    verdicts = flake_stats.select("day", "test_id", (pl.col("flake_class") == "flaky").alias("flaky"))
    per_test = (
        executed.group_by("day", "run_id", "test_id")
        .agg(
            (~pl.col("status").is_in(FAILED)).any().alias("passed"),
            pl.col("duration_ms").fill_null(0).sum().alias("ms"),
            pl.col("duration_ms").filter(pl.col("attempt") > 0).fill_null(0).sum().alias("rerun_ms"),
        )
        .join(verdicts, on=["day", "test_id"], how="left")
    )
    runs = per_test.group_by("day", "run_id").agg(
        pl.col("ms").sum(),
        pl.col("rerun_ms").filter(pl.col("flaky").fill_null(False)).sum().alias("flaky_rerun_ms"),
        (~pl.col("passed")).any().alias("failed"),
        (pl.col("passed") | pl.col("flaky").fill_null(False)).all().alias("only_flaky"),
    )
    hours = 3_600_000
    per_day = runs.group_by("day").agg(
        pl.len().alias("runs"),
        pl.col("failed").sum().alias("failed_runs"),
        (pl.col("failed") & pl.col("only_flaky")).sum().alias("flaky_only_failed_runs"),
        (pl.col("ms").sum() / hours).alias("ci_hours"),
        (pl.col("ms").filter(pl.col("failed") & pl.col("only_flaky")).sum() / hours).alias("wasted_hours"),
        (pl.col("flaky_rerun_ms").sum() / hours).alias("flaky_rerun_hours"),
    )
    return schemas.conform(
        per_day.with_columns(
            (pl.col("wasted_hours") / pl.col("ci_hours")).fill_nan(0.0).alias("wasted_share")
        ),
        schemas.CI_TIME_WASTED,
    ).sort("day")


def slowest_tests(results: pl.DataFrame, day: date, window_days: int, top: int = 20) -> pl.DataFrame:
    """The `top` tests by total execution time over the window, and their share of all test time."""
    window = results.filter(
        pl.col("day").is_between(day - timedelta(days=window_days - 1), day)
        & pl.col("status").is_in(EXECUTED)
    )
    if window.is_empty():
        return schemas.empty(schemas.SLOWEST_TESTS)
    total = window["duration_ms"].fill_null(0).sum() or 1.0
    ranked = (
        window.group_by("test_id")
        .agg(
            pl.len().alias("executions"),
            pl.col("duration_ms").fill_null(0).sum().alias("total_ms"),
            pl.col("duration_ms").mean().alias("mean_ms"),
            pl.col("duration_ms").quantile(0.95).alias("p95_ms"),
        )
        .sort(["total_ms", "test_id"], descending=[True, False])
        .head(top)
        .with_columns(
            pl.lit(day).alias("day"),
            pl.lit(window_days).alias("window_days"),
            pl.int_range(1, pl.len() + 1).cast(pl.Int32).alias("rank"),
            (pl.col("total_ms") / total).alias("share_of_ci_time"),
        )
        .with_columns(pl.col("share_of_ci_time").cum_sum().alias("cumulative_share"))
    )
    return schemas.conform(ranked, schemas.SLOWEST_TESTS)


def outcome_extremes(flake_stats: pl.DataFrame, params: Flakes) -> pl.DataFrame:
    """Tests that never failed and tests that always failed in the window (enough runs to say)."""
    enough = pl.col("ci_runs") >= params.min_runs
    kind = (
        pl.when(enough & (pl.col("failures") == 0))
        .then(pl.lit("never_failing"))
        .when(enough & (pl.col("failures") == pl.col("runs")))
        .then(pl.lit("always_failing"))
    )
    return schemas.conform(
        flake_stats.with_columns(kind.alias("kind")).filter(pl.col("kind").is_not_null()),
        schemas.OUTCOME_EXTREMES,
    ).sort("day", "kind", "test_id")


def check_blocking_flake_rate(flake_stats: pl.DataFrame, day: date, catalog: Catalog) -> CheckResult:
    """SLO: flaky failures / executions in blocking pipelines <= slo.max_blocking_flake_rate."""
    today = flake_stats.filter(pl.col("day") == day)
    value = today["blocking_flaky_failures"].sum() / max(today["blocking_runs"].sum(), 1)
    offenders = today.filter(pl.col("blocking_flaky_failures") > 0).sort(
        ["blocking_flaky_failures", "test_id"], descending=[True, False]
    )
    columns = ["test_id", "flow", "blocking_flaky_failures", "blocking_runs", "flake_score", "flake_reason"]
    return CheckResult(value <= catalog.scoring.slo.max_blocking_flake_rate, value, offenders.select(columns))


def check_critical_flow_stability(
    results: pl.DataFrame, meta: pl.DataFrame, catalog: Catalog, day: date
) -> CheckResult:
    """SLO: share of the day's first attempts that pass, over tests of critical flows."""
    critical = [flow.name for flow in catalog.flows.flows if flow.criticality == "critical"]
    flows = meta.sort("day").group_by("test_id").agg(pl.col("flow").drop_nulls().last())
    first = (
        results.filter((pl.col("day") == day) & (pl.col("attempt") == 0) & pl.col("status").is_in(EXECUTED))
        .join(flows, on="test_id")
        .with_columns(
            pl.col("flow").map_elements(catalog.canonical_flow, return_dtype=pl.String).alias("flow")
        )
        .filter(pl.col("flow").is_in(critical))
    )
    failed = pl.col("status").is_in(FAILED)
    value = 1.0 if first.is_empty() else 1 - first.select(failed.mean()).item()
    offenders = (
        first.group_by("test_id", "flow")
        .agg(pl.len().alias("first_attempts"), failed.sum().alias("first_attempt_failures"))
        .filter(pl.col("first_attempt_failures") > 0)
        .with_columns((1 - pl.col("first_attempt_failures") / pl.col("first_attempts")).alias("pass_rate"))
        .sort(["first_attempt_failures", "test_id"], descending=[True, False])
    )
    return CheckResult(value >= catalog.scoring.slo.min_critical_flow_stability, value, offenders)


def check_sla_breaches(quarantine: pl.DataFrame, day: date) -> CheckResult:
    """Quarantine entries past their SLA on `day` (target: none)."""
    breached = quarantine.filter((pl.col("day") == day) & pl.col("breached")).sort("due", "test_id")
    columns = ["test_id", "owner", "escalate_to", "since", "due", "state", "reason"]
    return CheckResult(breached.is_empty(), float(breached.height), breached.select(columns))
