"""Asset checks: the seed's SLOs (ERROR), quarantine SLAs and ingestion hygiene (WARN).

Checks are not blocking: a breached SLO is news for the team, not a reason to stop computing the
decisions downstream. The alert sensor (defs/sensors.py) posts failed evaluations to the webhook,
since a failed non-blocking check never fails its run. A check judges the newest day of its run
(a backfill's last partition) and puts the offending tests or flows in its metadata.
"""

from datetime import date, timedelta

import dagster as dg
import polars as pl

from resources.catalog import CatalogResource
from testintel_assets.defs.common import WAREHOUSE_POOL, markdown_table, window
from testintel_assets.defs.derive.flakes import FLAKE_WINDOW
from testintel_assets.partitions import daily_partitions
from testintel_assets.scoring.flake_health import (
    CheckResult,
    check_blocking_flake_rate,
    check_critical_flow_stability,
    check_sla_breaches,
)
from testintel_assets.scoring.gaps import top_flows_by_usage

CHECK_DEFAULTS: dict[str, object] = {"partitions_def": daily_partitions, "pool": WAREHOUSE_POOL}


def _last_day(context: dg.AssetCheckExecutionContext) -> date:
    """The newest partition of the run (the window's end is exclusive)."""
    return (context.partition_time_window.end - timedelta(days=1)).date()


def _result(
    outcome: CheckResult, day: date, what: str, target: str, severity: dg.AssetCheckSeverity
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=bool(outcome.passed),
        severity=severity,
        description=f"{what} on {day}: {outcome.value:.4g} (target {target})",
        metadata={
            "day": str(day),
            "value": float(outcome.value),
            "offenders": markdown_table(outcome.offenders, limit=50),
            "offender_count": outcome.offenders.height,
        },
    )


@dg.asset_check(asset="flake_stats", **CHECK_DEFAULTS)
def blocking_flake_rate_slo(
    context: dg.AssetCheckExecutionContext, catalog: CatalogResource, flake_stats: pl.DataFrame
) -> dg.AssetCheckResult:
    """SLO: flaky failures are at most 2% of test executions in blocking pipelines."""
    config, day = catalog.load(), _last_day(context)
    target = f"<= {config.scoring.slo.max_blocking_flake_rate:.0%}"
    outcome = check_blocking_flake_rate(flake_stats, day, config)
    return _result(outcome, day, "flake rate in blocking pipelines", target, dg.AssetCheckSeverity.ERROR)


@dg.asset_check(
    asset="test_results",
    additional_ins={"test_meta": dg.AssetIn(partition_mapping=window(FLAKE_WINDOW))},
    **CHECK_DEFAULTS,
)
def critical_flow_stability_slo(
    context: dg.AssetCheckExecutionContext,
    catalog: CatalogResource,
    test_results: pl.DataFrame,
    test_meta: pl.DataFrame,
) -> dg.AssetCheckResult:
    """SLO: at least 95% of first attempts pass among tests of critical flows."""
    config, day = catalog.load(), _last_day(context)
    target = f">= {config.scoring.slo.min_critical_flow_stability:.0%}"
    outcome = check_critical_flow_stability(test_results, test_meta, config, day)
    return _result(outcome, day, "critical-flow stability", target, dg.AssetCheckSeverity.ERROR)


@dg.asset_check(asset="coverage_by_flow", additional_ins={"flow_usage": dg.AssetIn()}, **CHECK_DEFAULTS)
def top_n_coverage_slo(
    context: dg.AssetCheckExecutionContext,
    catalog: CatalogResource,
    coverage_by_flow: pl.DataFrame,
    flow_usage: pl.DataFrame,
) -> dg.AssetCheckResult:
    """SLO: each of the Top-N flows by usage has at least 80% blended coverage."""
    config, day = catalog.load(), _last_day(context)
    threshold = config.scoring.slo.min_top_n_coverage
    top = top_flows_by_usage(flow_usage.filter(pl.col("day") == day), config.scoring.top_n)
    covered = top.join(
        coverage_by_flow.select("day", "flow", "blended_coverage"), on=["day", "flow"], how="left"
    )
    covered = covered.with_columns(pl.col("blended_coverage").fill_null(0.0))
    lowest = covered["blended_coverage"].min() if covered.height else 1.0  # no usage yet: nothing to protect
    outcome = CheckResult(
        passed=lowest >= threshold,
        value=lowest,
        offenders=covered.filter(pl.col("blended_coverage") < threshold).sort("blended_coverage"),
    )
    return _result(
        outcome, day, "lowest Top-N flow coverage", f">= {threshold:.0%}", dg.AssetCheckSeverity.ERROR
    )


@dg.asset_check(asset="quarantine", **CHECK_DEFAULTS)
def quarantine_sla_breaches(
    context: dg.AssetCheckExecutionContext, quarantine: pl.DataFrame
) -> dg.AssetCheckResult:
    """Quarantined tests past their SLA (48 h critical, 7 d others): escalate to the owner's EM."""
    day = _last_day(context)
    return _result(
        check_sla_breaches(quarantine, day), day, "SLA breaches", "= 0", dg.AssetCheckSeverity.WARN
    )


@dg.asset_check(asset="ci_runs", **CHECK_DEFAULTS)
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
