"""Health views and SLO check functions against hand-counted histories."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from testintel_assets import schemas
from testintel_assets.configuration import load_catalog
from testintel_assets.scoring.flake_health import (
    check_blocking_flake_rate,
    check_critical_flow_stability,
    check_sla_breaches,
    ci_time_wasted,
    flake_trends,
    outcome_extremes,
    slowest_tests,
)
from tests.unit.flakes.builders import START, frame, meta, run_rows

CATALOG = load_catalog()
PARAMS = CATALOG.scoring.flakes


def verdicts(day: date, **classes: str) -> pl.DataFrame:
    return schemas.conform(
        pl.DataFrame(
            {"day": [day] * len(classes), "test_id": list(classes), "flake_class": list(classes.values())}
        ),
        schemas.FLAKE_STATS,
    )


def test_ci_time_wasted_counts_runs_failed_only_by_flaky_tests() -> None:
    rows = (
        run_rows(0, {"flaky": "FF", "ok": "P"})  # failed only because of a flaky test: 3 s wasted
        + run_rows(1, {"flaky": "P", "broken": "F", "ok": "P"})  # failed for a real reason
        + run_rows(2, {"flaky": "FP", "ok": "P"})  # green after a rerun of the flaky test: 1 s rerun
        + run_rows(3, {"flaky": "P", "ok": "P"})
    )
    wasted = ci_time_wasted(
        frame(rows), verdicts(START, flaky="flaky", ok="healthy", broken="broken"), PARAMS
    )
    assert wasted.schema == schemas.CI_TIME_WASTED
    row = wasted.row(0, named=True)
    assert (row["runs"], row["failed_runs"], row["flaky_only_failed_runs"]) == (4, 2, 1)
    hour = 3_600_000
    assert row["ci_hours"] == pytest.approx(11_000 / hour)
    assert row["wasted_hours"] == pytest.approx(3_000 / hour)
    assert row["flaky_rerun_hours"] == pytest.approx(2_000 / hour)  # attempts 1 of runs 0 and 2
    assert row["wasted_share"] == pytest.approx(3 / 11)


def test_slowest_tests_rank_by_total_time_with_their_share() -> None:
    rows = [
        r | {"duration_ms": {"slow": 5000.0, "mid": 3000.0, "fast": 2000.0}[r["test_id"]]}
        for r in (
            run_rows(0, {"slow": "P", "mid": "P", "fast": "P"}, day=0)
            + run_rows(1, {"slow": "P", "fast": "P"}, day=1)
        )
    ]
    top = slowest_tests(frame(rows), START + timedelta(days=1), window_days=14, top=2)
    assert top.select("rank", "test_id", "executions", "total_ms").rows() == [
        (1, "slow", 2, 10000.0),
        (2, "fast", 2, 4000.0),
    ]
    assert top["share_of_ci_time"].to_list() == [pytest.approx(10 / 17), pytest.approx(4 / 17)]
    assert top["cumulative_share"][-1] == pytest.approx(14 / 17)
    assert slowest_tests(frame(rows), START + timedelta(days=30), 14).is_empty()


def test_never_and_always_failing_tests() -> None:
    stats = schemas.conform(
        pl.DataFrame(
            {
                "day": [START] * 4,
                "test_id": ["green", "red", "mixed", "young"],
                "ci_runs": [5, 5, 5, 1],
                "runs": [5, 9, 6, 1],
                "failures": [0, 9, 1, 0],
            }
        ),
        schemas.FLAKE_STATS,
    )
    extremes = outcome_extremes(stats, PARAMS)
    assert extremes.select("test_id", "kind").rows() == [
        ("red", "always_failing"),
        ("green", "never_failing"),
    ]


def test_flake_trends_by_owner_and_component() -> None:
    stats = schemas.conform(
        pl.DataFrame(
            {
                "day": [START] * 3,
                "test_id": ["a", "b", "c"],
                "flake_class": ["flaky", "healthy", "broken"],
                "runs": [10, 10, 4],
                "failures": [3, 0, 4],
                "blocking_runs": [10, 10, 0],
                "blocking_flaky_failures": [3, 0, 0],
            }
        ),
        schemas.FLAKE_STATS,
    )
    tags = schemas.conform(
        pl.DataFrame(
            {
                "day": [START] * 3,
                "test_id": ["a", "b", "c"],
                "owner": ["commerce", "commerce", None],
                "component": ["cart", "cart", None],
                "flow": ["cart", "cart", "search"],
            }
        ),
        schemas.TEST_META,
    )
    trends = flake_trends(stats, tags, CATALOG)
    commerce = trends.filter((pl.col("dimension") == "owner") & (pl.col("value") == "commerce")).row(
        0, named=True
    )
    assert (commerce["tests"], commerce["flaky_tests"], commerce["flaky_failures"]) == (2, 1, 3)
    assert commerce["blocking_flake_rate"] == pytest.approx(3 / 20)
    discovery = trends.filter((pl.col("dimension") == "owner") & (pl.col("value") == "discovery")).row(
        0, named=True
    )
    assert discovery["broken_tests"] == 1  # owner from the flow search
    assert set(trends.filter(pl.col("dimension") == "component")["value"]) == {"cart", "unknown"}


def test_blocking_flake_rate_check_names_the_offenders() -> None:
    stats = schemas.conform(
        pl.DataFrame(
            {
                "day": [START] * 3,
                "test_id": ["a", "b", "c"],
                "blocking_runs": [100, 100, 100],
                "blocking_flaky_failures": [4, 3, 0],
            }
        ),
        schemas.FLAKE_STATS,
    )
    result = check_blocking_flake_rate(stats, START, CATALOG)
    assert not result.passed and result.value == pytest.approx(7 / 300)
    assert result.offenders["test_id"].to_list() == ["a", "b"]
    assert check_blocking_flake_rate(stats.filter(pl.col("test_id") != "a"), START, CATALOG).passed


def test_critical_flow_stability_check_over_first_attempts() -> None:
    tags = meta({"pay": "payment", "cart": "basket", "prof": "profile"})  # basket is an alias of cart
    passes = {"pay": "P", "cart": "P", "prof": "F"}
    rows = [r for run in range(19) for r in run_rows(run, passes)] + run_rows(19, passes | {"cart": "FP"})
    result = check_critical_flow_stability(frame(rows), tags, CATALOG, START)
    assert result.value == pytest.approx(39 / 40) and result.passed  # profile is not critical
    assert result.offenders.select("test_id", "flow", "first_attempts", "first_attempt_failures").rows() == [
        ("cart", "cart", 20, 1)
    ]
    worse = frame(rows + run_rows(20, {"pay": "F", "cart": "F"}))
    assert not check_critical_flow_stability(worse, tags, CATALOG, START).passed


def test_sla_breach_check() -> None:
    quarantine = schemas.conform(
        pl.DataFrame({"day": [START, START], "test_id": ["late", "fine"], "breached": [True, False]}),
        schemas.QUARANTINE,
    )
    result = check_sla_breaches(quarantine, START)
    assert not result.passed and result.value == 1 and result.offenders["test_id"].to_list() == ["late"]
    assert check_sla_breaches(quarantine, START + timedelta(days=1)).passed
