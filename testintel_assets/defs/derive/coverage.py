"""coverage_by_flow: blended coverage of the components behind each flow."""

import dagster as dg
import polars as pl

from resources.catalog import CatalogResource
from testintel_assets.defs.common import ASSET_DEFAULTS, markdown_table, window
from testintel_assets.partitions import days_of
from testintel_assets.scoring.interim import coverage_by_flow_for_days

# A day without CI runs keeps the newest coverage of the last week rather than dropping to zero.
COVERAGE_LOOKBACK_DAYS = 7


@dg.asset(
    group_name="derived",
    ins={"coverage_files": dg.AssetIn(partition_mapping=window(COVERAGE_LOOKBACK_DAYS))},
    **ASSET_DEFAULTS,
)
def coverage_by_flow(
    context: dg.AssetExecutionContext, catalog: CatalogResource, coverage_files: pl.DataFrame
) -> dg.Output[pl.DataFrame]:
    """Line, branch, function and blended coverage per flow."""
    days = days_of(context)
    frame = coverage_by_flow_for_days(coverage_files, days, catalog.load())
    latest = frame.filter(pl.col("day") == days[-1]).sort("blended_coverage")
    return dg.Output(
        frame,
        metadata={
            "flows_with_coverage": latest.height,
            "lowest": markdown_table(latest.select("flow", "line_rate", "branch_rate", "blended_coverage")),
        },
    )
