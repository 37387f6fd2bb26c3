"""defect_density and change_rate: how often each flow and component breaks and changes."""

import dagster as dg
import polars as pl

from resources.catalog import CatalogResource
from testintel_assets.configuration import load_catalog
from testintel_assets.defs.common import ASSET_DEFAULTS, markdown_table, window
from testintel_assets.partitions import days_of
from testintel_assets.scoring.changes import change_rate_for_days
from testintel_assets.scoring.defects import defect_density_for_days

# A day without a tracker pull reads the newest snapshot of the last week; component sizes (KLOC)
# come from the newest coverage reports of the same week.
SNAPSHOT_LOOKBACK_DAYS = 7
CHANGE_WINDOW_DAYS = load_catalog().scoring.changes.window_days


@dg.asset(
    group_name="derived",
    ins={
        "defects": dg.AssetIn(partition_mapping=window(SNAPSHOT_LOOKBACK_DAYS)),
        "coverage_files": dg.AssetIn(partition_mapping=window(SNAPSHOT_LOOKBACK_DAYS)),
    },
    **ASSET_DEFAULTS,
)
def defect_density(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    defects: pl.DataFrame,
    coverage_files: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    """Open, new, closed and severity-weighted defects per flow and component over the defect
    window, per week and per KLOC, normalised 0..1 across flows."""
    days = days_of(context)
    frame = defect_density_for_days(defects, coverage_files, catalog.load(), days)
    latest = frame.filter((pl.col("day") == days[-1]) & (pl.col("scope") == "flow"))
    latest = latest.sort("weighted_defects", descending=True)
    return dg.Output(
        frame,
        metadata={
            "open_defects": int(latest["open_defects"].sum() or 0),
            "by_flow": markdown_table(
                latest.select("flow", "open_defects", "weighted_defects", "defect_norm")
            ),
        },
    )


@dg.asset(
    group_name="derived",
    ins={"code_changes": dg.AssetIn(partition_mapping=window(CHANGE_WINDOW_DAYS))},
    **ASSET_DEFAULTS,
)
def change_rate(
    context: dg.AssetExecutionContext, catalog: CatalogResource, code_changes: pl.DataFrame
) -> dg.Output[pl.DataFrame]:
    """Commits, files and lines changed per flow and component over the change window, 0..1."""
    days = days_of(context)
    frame = change_rate_for_days(code_changes, catalog.load(), days)
    latest = frame.filter((pl.col("day") == days[-1]) & (pl.col("scope") == "flow"))
    return dg.Output(
        frame,
        metadata={
            "flows_changed": latest.filter(pl.col("commits") > 0).height,
            "by_flow": markdown_table(
                latest.sort("commits", descending=True).select("flow", "commits", "change_norm")
            ),
        },
    )
