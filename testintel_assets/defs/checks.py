"""Asset checks: the seed's SLOs (ERROR) and ingestion hygiene (WARN).

Checks are not blocking: a breached SLO is news for the team, not a reason to stop computing the
decisions downstream. The alert sensor (defs/sensors.py) posts failed evaluations to the webhook,
since a failed non-blocking check never fails its run.
A check judges the newest day of the run (a backfill's last partition) and lists every day's value
in its metadata.
"""

import dagster as dg
import polars as pl

from resources.catalog import CatalogResource
from testintel_assets.defs.common import WAREHOUSE_POOL, markdown_table, window
from testintel_assets.defs.derive.flakes import FLAKE_WINDOW
from testintel_assets.partitions import daily_partitions
from testintel_assets.scoring import gates
from testintel_assets.scoring.gaps import top_flows_by_usage


def _days(context: dg.AssetCheckExecutionContext) -> list:
    start, end = context.partition_time_window
    return pl.date_range(start.date(), end.date(), interval="1d", closed="left", eager=True).to_list()


def _slo_result(
    measure: pl.DataFrame, threshold: float, comparator: str, what: str, offenders_label: str
) -> dg.AssetCheckResult:
    latest = measure.sort("day").tail(1).row(0, named=True)
    value, detail = latest["value"], latest["detail"] or ""
    metadata = {
        "day": str(latest["day"]),
        "threshold": threshold,
        "per_day": markdown_table(measure.select("day", "value"), limit=400),
    }
    if value is None:
        return dg.AssetCheckResult(
            passed=True, description=f"{what}: no data for {latest['day']}", metadata=metadata
        )
    passed = value >= threshold if comparator == ">=" else value <= threshold
    metadata["value"] = float(value)
    metadata[offenders_label] = detail
    return dg.AssetCheckResult(
        passed=bool(passed),
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{what} on {latest['day']}: {value:.2%} (target {comparator} {threshold:.0%})",
        metadata=metadata,
    )


@dg.asset_check(asset="flake_stats", partitions_def=daily_partitions, pool=WAREHOUSE_POOL)
def blocking_flake_rate_slo(
    context: dg.AssetCheckExecutionContext, catalog: CatalogResource, flake_stats: pl.DataFrame
) -> dg.AssetCheckResult:
    """SLO: flaky failures are at most 2% of test executions in blocking pipelines."""
    slo = catalog.load().scoring.slo
    measure = gates.blocking_flake_rate(flake_stats, _days(context))
    return _slo_result(
        measure, slo.max_blocking_flake_rate, "<=", "flake rate in blocking pipelines", "flaky_tests"
    )


@dg.asset_check(
    asset="test_results",
    partitions_def=daily_partitions,
    pool=WAREHOUSE_POOL,
    additional_ins={"test_meta": dg.AssetIn(partition_mapping=window(FLAKE_WINDOW))},
)
def critical_flow_stability_slo(
    context: dg.AssetCheckExecutionContext,
    catalog: CatalogResource,
    test_results: pl.DataFrame,
    test_meta: pl.DataFrame,
) -> dg.AssetCheckResult:
    """SLO: at least 95% of first attempts pass among tests of critical flows."""
    config = catalog.load()
    measure = gates.critical_flow_stability(test_results, test_meta, config, _days(context))
    return _slo_result(
        measure,
        config.scoring.slo.min_critical_flow_stability,
        ">=",
        "critical-flow stability",
        "failing_tests",
    )


@dg.asset_check(
    asset="coverage_by_flow",
    partitions_def=daily_partitions,
    pool=WAREHOUSE_POOL,
    additional_ins={"flow_usage": dg.AssetIn()},
)
def top_n_coverage_slo(
    context: dg.AssetCheckExecutionContext,
    catalog: CatalogResource,
    coverage_by_flow: pl.DataFrame,
    flow_usage: pl.DataFrame,
) -> dg.AssetCheckResult:
    """SLO: each of the Top-N flows by usage has at least 80% blended coverage."""
    config = catalog.load()
    top = top_flows_by_usage(flow_usage, config.scoring.top_n)
    measure = gates.top_n_coverage(coverage_by_flow, top, _days(context))
    return _slo_result(measure, config.scoring.slo.min_top_n_coverage, ">=", "Top-N flow coverage", "flows")


@dg.asset_check(asset="ci_runs", partitions_def=daily_partitions, pool=WAREHOUSE_POOL)
def no_rejected_artifacts(ci_runs: pl.DataFrame) -> dg.AssetCheckResult:
    """Every landed artifact was ingested; rejected ones are listed with the reason."""
    rejected = ci_runs.filter(pl.col("status") == "rejected")
    return dg.AssetCheckResult(
        passed=rejected.is_empty(),
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{rejected.height} rejected artifact(s)",
        metadata={
            "rejected": rejected.height,
            "artifacts": markdown_table(rejected.select("day", "artifact_path", "reason"), limit=100),
        },
    )
