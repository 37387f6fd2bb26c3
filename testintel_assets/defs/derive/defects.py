"""defect_density and change_rate: how often each flow breaks and changes."""

import dagster as dg
import polars as pl

from resources.catalog import CatalogResource
from testintel_assets.defs.common import ASSET_DEFAULTS, markdown_table, window
from testintel_assets.partitions import days_of
from testintel_assets.scoring.interim import change_rate_for_days, defect_density_for_days

# A day without a tracker pull reads the newest snapshot of the last week.
SNAPSHOT_LOOKBACK_DAYS = 7
CHANGE_WINDOW_DAYS = 30


@dg.asset(
    group_name="derived",
    ins={"defects": dg.AssetIn(partition_mapping=window(SNAPSHOT_LOOKBACK_DAYS))},
    **ASSET_DEFAULTS,
)
def defect_density(
    context: dg.AssetExecutionContext, catalog: CatalogResource, defects: pl.DataFrame
) -> dg.Output[pl.DataFrame]:
    """Open, new and severity-weighted defects per flow, normalised 0..1 across flows."""
    days = days_of(context)
    frame = defect_density_for_days(defects, days, catalog.load())
    latest = frame.filter(pl.col("day") == days[-1]).sort("weighted_defects", descending=True)
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
    """Changes per flow over the last 30 days, normalised 0..1 across flows."""
    frame = change_rate_for_days(code_changes, days_of(context), catalog.load())
    return dg.Output(frame, metadata={"flows_changed": frame["flow"].n_unique()})
