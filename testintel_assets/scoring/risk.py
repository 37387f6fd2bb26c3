"""Risk score R per flow and day, with every factor kept so the score explains itself.

R = 100 * (w_usage*Usage + w_criticality*Criticality + w_failure_impact*FailureImpact
           + w_revenue*Revenue + w_defect_density*DefectDensity + w_change_rate*ChangeRate
           + w_coverage_gap*CoverageGap + w_platform_dominance*PlatformDominance
           - w_determinism*Determinism) / (w_usage + ... + w_platform_dominance), clipped to 0..100.

Every factor is in 0..1 (docs/scoring.md says where each comes from). A flow with no coverage data
has CoverageGap 1: unknown coverage is treated as no coverage, the conservative reading.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from testintel_assets import schemas
from testintel_assets.configuration import CRITICALITY_WEIGHT, Catalog

POSITIVE_FACTORS = [
    "usage",
    "criticality",
    "failure_impact",
    "revenue",
    "defect_density",
    "change_rate",
    "coverage_gap",
    "platform_dominance",
]


def flow_frame(catalog: Catalog, days: list[date]) -> pl.DataFrame:
    """(day, flow) for every configured flow with its static factors from flows.yaml."""
    flows = pl.DataFrame(
        {
            "flow": [flow.name for flow in catalog.flows.flows],
            "criticality": [CRITICALITY_WEIGHT[flow.criticality] for flow in catalog.flows.flows],
            "failure_impact": [flow.failure_impact for flow in catalog.flows.flows],
            "revenue": [flow.revenue_weight for flow in catalog.flows.flows],
            "owner": [flow.owner or catalog.owners.default_owner for flow in catalog.flows.flows],
        }
    )
    return pl.DataFrame({"day": days}, schema={"day": pl.Date}).join(flows, how="cross")


def determinism_by_flow(flake_stats: pl.DataFrame) -> pl.DataFrame:
    """Mean flake score of a flow's tests: how far its existing automation is from deterministic."""
    return (
        flake_stats.filter(pl.col("flow").is_not_null())
        .group_by("day", "flow")
        .agg(pl.col("flake_score").mean().fill_null(0.0).alias("determinism"))
    )


def decide(score: pl.Expr, catalog: Catalog) -> pl.Expr:
    decision = catalog.scoring.decision
    return (
        pl.when(score >= decision.automate_now)
        .then(pl.lit("automate now"))
        .when(score >= decision.automate_partial)
        .then(pl.lit("automate partial + explore"))
        .otherwise(pl.lit("explore only"))
    )


def risk_scores(
    catalog: Catalog,
    days: list[date],
    flow_usage: pl.DataFrame,
    coverage_by_flow: pl.DataFrame,
    defect_density: pl.DataFrame,
    change_rate: pl.DataFrame,
    flake_stats: pl.DataFrame,
) -> pl.DataFrame:
    """One row per configured flow and day; defect_density and change_rate contribute their flow rows."""
    weights = catalog.scoring.weights
    defect_density = defect_density.filter(pl.col("scope") == "flow")
    change_rate = change_rate.filter(pl.col("scope") == "flow")
    frame = (
        flow_frame(catalog, days)
        .join(
            flow_usage.select("day", "flow", pl.col("usage_norm").alias("usage"), "platform_share"),
            on=["day", "flow"],
            how="left",
        )
        .join(coverage_by_flow.select("day", "flow", "blended_coverage"), on=["day", "flow"], how="left")
        .join(
            defect_density.select("day", "flow", pl.col("defect_norm").alias("defect_density")),
            on=["day", "flow"],
            how="left",
        )
        .join(
            change_rate.select("day", "flow", pl.col("change_norm").alias("change_rate")),
            on=["day", "flow"],
            how="left",
        )
        .join(determinism_by_flow(flake_stats), on=["day", "flow"], how="left")
        .with_columns(
            pl.col("usage").fill_null(0.0),
            pl.col("defect_density").fill_null(0.0),
            pl.col("change_rate").fill_null(0.0),
            pl.col("determinism").fill_null(0.0),
            (1.0 - pl.col("blended_coverage").fill_null(0.0)).clip(0.0, 1.0).alias("coverage_gap"),
            pl.col("platform_share").fill_null(0.0).alias("platform_dominance"),
        )
    )
    total = sum(getattr(weights, factor) for factor in POSITIVE_FACTORS) or 1.0
    weighted = sum(pl.col(factor) * getattr(weights, factor) for factor in POSITIVE_FACTORS)
    score = (100.0 * (weighted - pl.col("determinism") * weights.determinism) / total).clip(0.0, 100.0)
    frame = frame.with_columns(score.round(2).alias("risk_score"))
    frame = frame.with_columns(decide(pl.col("risk_score"), catalog).alias("decision"))
    return schemas.conform(frame, schemas.RISK_SCORES).sort("day", "risk_score", descending=[False, True])
