"""Top-N gaps: where customers go and the safety net is thin, ranked per kind of gap.

Kinds (docs/scoring.md):
- usage_x_coverage: Usage * (1 - blended coverage)
- usage_x_defects:  Usage * DefectDensity
- revenue_x_risk:   Revenue * R / 100
Each kind keeps its own Top-N; a flow with no usage, defects or revenue scores 0 and is left out.
"""

from __future__ import annotations

import polars as pl

from testintel_assets import schemas
from testintel_assets.configuration import Catalog

GAP_KINDS: dict[str, tuple[pl.Expr, str]] = {
    "usage_x_coverage": (
        pl.col("usage") * (1.0 - pl.col("coverage")),
        "usage {usage:.2f} x coverage {coverage:.0%}",
    ),
    "usage_x_defects": (
        pl.col("usage") * pl.col("defect_density"),
        "usage {usage:.2f} x defect density {defect_density:.2f}",
    ),
    "revenue_x_risk": (
        pl.col("revenue") * pl.col("risk_score") / 100.0,
        "revenue weight {revenue:.2f} x risk {risk_score:.0f}",
    ),
}


def top_n_gaps(risk_scores: pl.DataFrame, catalog: Catalog) -> pl.DataFrame:
    """The top `scoring.top_n` flows of each gap kind per day, from the factors in risk_scores."""
    owners = pl.DataFrame(
        {
            "flow": [flow.name for flow in catalog.flows.flows],
            "owner": [flow.owner or catalog.owners.default_owner for flow in catalog.flows.flows],
        }
    )
    base = risk_scores.with_columns((1.0 - pl.col("coverage_gap")).alias("coverage")).join(
        owners, on="flow", how="left"
    )
    ranked = []
    for kind, (score, template) in GAP_KINDS.items():
        scored = (
            base.with_columns(score.round(4).alias("gap_score"), pl.lit(kind).alias("gap_kind"))
            .filter(pl.col("gap_score") > 0)
            .with_columns(
                pl.col("gap_score")
                .rank(method="ordinal", descending=True)
                .over("day")
                .cast(pl.Int32)
                .alias("rank")
            )
            .filter(pl.col("rank") <= catalog.scoring.top_n)
        )
        reasons = [template.format(**row) for row in scored.iter_rows(named=True)]
        ranked.append(scored.with_columns(pl.Series("reason", reasons, dtype=pl.String)))
    frame = pl.concat([schemas.conform(part, schemas.TOP_N_GAPS) for part in ranked])
    return frame.sort("day", "gap_kind", "rank")


def top_flows_by_usage(flow_usage: pl.DataFrame, top_n: int) -> pl.DataFrame:
    """(day, flow) of the N most used flows per day: the flows the Top-N coverage SLO protects."""
    return (
        flow_usage.filter(pl.col("usage_norm") > 0)
        .with_columns(pl.col("usage_norm").rank(method="ordinal", descending=True).over("day").alias("_rank"))
        .filter(pl.col("_rank") <= top_n)
        .select("day", "flow")
    )
