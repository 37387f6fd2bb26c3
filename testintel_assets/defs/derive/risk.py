"""risk_scores, top_n_gaps and release_readiness: the decisions the platform team acts on."""

import dagster as dg
import polars as pl

from resources.catalog import CatalogResource
from testintel_assets.defs.common import ASSET_DEFAULTS, markdown_table, window
from testintel_assets.defs.derive.flakes import FLAKE_WINDOW
from testintel_assets.partitions import days_of
from testintel_assets.scoring import gates
from testintel_assets.scoring.gaps import top_flows_by_usage
from testintel_assets.scoring.gaps import top_n_gaps as rank_gaps
from testintel_assets.scoring.risk import risk_scores as score_flows


@dg.asset(group_name="decisions", **ASSET_DEFAULTS)
def risk_scores(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    flow_usage: pl.DataFrame,
    coverage_by_flow: pl.DataFrame,
    defect_density: pl.DataFrame,
    change_rate: pl.DataFrame,
    flake_stats: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    """R per flow with every factor, and the automate/explore decision."""
    days = days_of(context)
    frame = score_flows(
        catalog.load(), days, flow_usage, coverage_by_flow, defect_density, change_rate, flake_stats
    )
    latest = frame.filter(pl.col("day") == days[-1])
    return dg.Output(
        frame,
        metadata={
            "max_risk": float(latest["risk_score"].max() or 0.0),
            "automate_now": latest.filter(pl.col("decision") == "automate now").height,
            "scores": markdown_table(
                latest.select("flow", "risk_score", "decision", "usage", "coverage_gap")
            ),
        },
    )


@dg.asset(group_name="decisions", **ASSET_DEFAULTS)
def top_n_gaps(
    context: dg.AssetExecutionContext, catalog: CatalogResource, risk_scores: pl.DataFrame
) -> dg.Output[pl.DataFrame]:
    """The Top-N flows per gap kind: usage x coverage, usage x defects, revenue x risk."""
    days = days_of(context)
    frame = rank_gaps(risk_scores, catalog.load())
    latest = frame.filter(pl.col("day") == days[-1])
    coverage_gaps = latest.filter(pl.col("gap_kind") == "usage_x_coverage")
    return dg.Output(
        frame,
        metadata={
            "gaps": latest.height,
            "top_gap_score": float(latest["gap_score"].max() or 0.0),
            "usage_x_coverage": markdown_table(coverage_gaps.select("rank", "flow", "gap_score", "reason")),
            "all": markdown_table(latest.select("gap_kind", "rank", "flow", "gap_score", "owner")),
        },
    )


@dg.asset(
    group_name="decisions",
    ins={"test_meta": dg.AssetIn(partition_mapping=window(FLAKE_WINDOW))},
    **ASSET_DEFAULTS,
)
def release_readiness(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    test_results: pl.DataFrame,
    test_meta: pl.DataFrame,
    flake_stats: pl.DataFrame,
    coverage_by_flow: pl.DataFrame,
    flow_usage: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    """Each gate's value against its threshold per day, and the release verdict."""
    days = days_of(context)
    config = catalog.load()
    frame = gates.release_readiness(
        days,
        config,
        gates.pre_merge_pass_rate(test_results, days),
        gates.blocking_flake_rate(flake_stats, config, days),
        gates.top_n_coverage(coverage_by_flow, top_flows_by_usage(flow_usage, config.scoring.top_n), days),
        gates.critical_flow_stability(test_results, test_meta, config, days),
    )
    latest = frame.filter(pl.col("day") == days[-1])
    verdict = latest.filter(pl.col("gate") == "release")
    return dg.Output(
        frame,
        metadata={
            "release_passes": bool(verdict["passed"].all()) if verdict.height else False,
            "gates_failed": latest.filter(~pl.col("passed") & (pl.col("gate") != "release")).height,
            "gates": markdown_table(latest.select("gate", "value", "comparator", "threshold", "passed")),
        },
    )
