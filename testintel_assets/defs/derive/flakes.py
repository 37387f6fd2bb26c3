"""Flake management: per-test flake signals, evidence, the quarantine lane and CI health views."""

from datetime import timedelta

import dagster as dg
import polars as pl

from resources.catalog import CatalogResource
from testintel_assets import schemas
from testintel_assets.configuration import load_catalog, load_quarantine_overrides
from testintel_assets.defs.common import ASSET_DEFAULTS, markdown_table, window
from testintel_assets.partitions import days_of
from testintel_assets.scoring.flake_evidence import failure_signatures as signatures_of
from testintel_assets.scoring.flake_evidence import flake_evidence as evidence_of
from testintel_assets.scoring.flake_health import (
    ci_time_wasted as time_wasted,
)
from testintel_assets.scoring.flake_health import (
    flake_trends as trends,
)
from testintel_assets.scoring.flake_health import (
    outcome_extremes as extremes,
)
from testintel_assets.scoring.flake_health import (
    slowest_tests as slowest,
)
from testintel_assets.scoring.flakes import flake_stats_for_days
from testintel_assets.scoring.quarantine import quarantine_for_days

FLAKE_WINDOW = load_catalog().scoring.flakes.window_days
FLAKE_INPUTS = {
    "test_results": dg.AssetIn(partition_mapping=window(FLAKE_WINDOW)),
    "test_meta": dg.AssetIn(partition_mapping=window(FLAKE_WINDOW)),
}


@dg.asset(group_name="flakes", ins=FLAKE_INPUTS, **ASSET_DEFAULTS)
def flake_stats(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    test_results: pl.DataFrame,
    test_meta: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    """Per test over the flake window: fail rate with Wilson interval, same-sha evidence, flip rate,
    entropy, the combined flake score and the class (healthy, flaky, broken, new)."""
    days = days_of(context)
    frame = flake_stats_for_days(test_results, test_meta, days, catalog.load().scoring.flakes)
    latest = frame.filter(pl.col("day") == days[-1])
    flaky = latest.filter(pl.col("flake_class") == "flaky").sort("flake_score", descending=True)
    return dg.Output(
        frame,
        metadata={
            "tests": latest.height,
            "flaky_tests": flaky.height,
            "broken_tests": latest.filter(pl.col("flake_class") == "broken").height,
            "flaky": markdown_table(
                flaky.select("test_id", "flow", "runs", "failures", "flake_score", "flake_reason")
            ),
        },
    )


@dg.asset(
    group_name="flakes",
    ins={
        "previous": dg.AssetIn(
            key="quarantine",
            partition_mapping=dg.TimeWindowPartitionMapping(
                start_offset=-1, end_offset=-1, allow_nonexistent_upstream_partitions=True
            ),
        ),
        "test_meta": dg.AssetIn(partition_mapping=window(FLAKE_WINDOW)),
    },
    **ASSET_DEFAULTS,
)
def quarantine(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    previous: pl.DataFrame,
    flake_stats: pl.DataFrame,
    test_meta: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    """The quarantine lane per day: each day starts from the day before (a self-dependency), flaky
    tests enter with owner, SLA, due and escalation, healthy ones leave; config/quarantine.yaml wins."""
    days = days_of(context)
    before = previous.filter(pl.col("day") == days[0] - timedelta(days=1))
    frame = quarantine_for_days(
        flake_stats, test_meta, catalog.load(), days, load_quarantine_overrides(), before
    )
    latest = frame.filter(pl.col("day") == days[-1])
    active = latest.filter(pl.col("state").is_in(["quarantined", "pinned"]))
    return dg.Output(
        frame,
        metadata={
            "quarantined": active.height,
            "sla_breached": latest.filter(pl.col("breached")).height,
            "orphaned": latest.filter(pl.col("state") == "orphaned").height,
            "entries": markdown_table(latest.select("test_id", "state", "owner", "since", "due", "breached")),
        },
    )


@dg.asset(group_name="flakes", ins={"test_results": FLAKE_INPUTS["test_results"]}, **ASSET_DEFAULTS)
def flake_evidence(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    test_results: pl.DataFrame,
    flake_stats: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    """Why each flaky test is called flaky: its failing runs in the window with normalised messages."""
    frame = evidence_of(test_results, flake_stats, catalog.load().scoring.flakes)
    return dg.Output(frame, metadata={"failing_runs": frame.height, "tests": frame["test_id"].n_unique()})


@dg.asset(group_name="flakes", **ASSET_DEFAULTS)
def failure_signatures(
    context: dg.AssetExecutionContext, flake_evidence: pl.DataFrame
) -> dg.Output[pl.DataFrame]:
    """The top failure signatures per flaky test and across all of them."""
    days = days_of(context)
    frame = signatures_of(flake_evidence)
    latest = frame.filter(pl.col("day") == days[-1])
    return dg.Output(frame, metadata={"signatures": markdown_table(latest, limit=15)})


@dg.asset(group_name="flakes", ins={"test_meta": FLAKE_INPUTS["test_meta"]}, **ASSET_DEFAULTS)
def flake_trends(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    flake_stats: pl.DataFrame,
    test_meta: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    """Flaky and broken tests and flake rates per owner team and per component, day by day."""
    return dg.Output(trends(flake_stats, test_meta, catalog.load()))


@dg.asset(group_name="flakes", ins={"test_results": FLAKE_INPUTS["test_results"]}, **ASSET_DEFAULTS)
def ci_time_wasted(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    test_results: pl.DataFrame,
    flake_stats: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    """CI time of runs that failed only because of flaky tests, and time spent rerunning them."""
    days = days_of(context)
    frame = time_wasted(test_results, flake_stats, catalog.load().scoring.flakes).filter(
        pl.col("day").is_in(days)
    )
    latest = frame.filter(pl.col("day") == days[-1])
    return dg.Output(frame, metadata={"wasted_hours": float(latest["wasted_hours"].sum() or 0.0)})


@dg.asset(group_name="flakes", ins={"test_results": FLAKE_INPUTS["test_results"]}, **ASSET_DEFAULTS)
def slowest_tests(context: dg.AssetExecutionContext, test_results: pl.DataFrame) -> dg.Output[pl.DataFrame]:
    """The 20 slowest tests over the flake window and their share of CI time."""
    days = days_of(context)
    frame = schemas.stack([slowest(test_results, day, FLAKE_WINDOW) for day in days], schemas.SLOWEST_TESTS)
    latest = frame.filter(pl.col("day") == days[-1])
    return dg.Output(
        frame,
        metadata={
            "slowest": markdown_table(latest.select("rank", "test_id", "total_ms", "share_of_ci_time"))
        },
    )


@dg.asset(group_name="flakes", **ASSET_DEFAULTS)
def outcome_extremes(
    context: dg.AssetExecutionContext, catalog: CatalogResource, flake_stats: pl.DataFrame
) -> dg.Output[pl.DataFrame]:
    """Tests that never failed and tests that always failed in the window."""
    frame = extremes(flake_stats, catalog.load().scoring.flakes)
    return dg.Output(
        frame, metadata={"always_failing": frame.filter(pl.col("kind") == "always_failing").height}
    )
