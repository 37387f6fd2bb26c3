"""flow_usage: how much each flow is used over the usage window, normalised across flows."""

import dagster as dg
import polars as pl

from resources.catalog import CatalogResource
from testintel_assets.configuration import load_catalog
from testintel_assets.defs.common import ASSET_DEFAULTS, markdown_table, window
from testintel_assets.partitions import days_of
from testintel_assets.scoring.usage import flow_usage as usage_per_flow

USAGE_WINDOW = load_catalog().scoring.usage.window_days


@dg.asset(
    group_name="derived",
    ins={
        "usage_events": dg.AssetIn(partition_mapping=window(USAGE_WINDOW)),
        "usage_users": dg.AssetIn(partition_mapping=window(USAGE_WINDOW)),
    },
    **ASSET_DEFAULTS,
)
def flow_usage(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    usage_events: pl.DataFrame,
    usage_users: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    """Events, distinct users, p95 of daily counts, usage 0..1, platform dominance and tier weight
    per flow, over the usage window."""
    days = days_of(context)
    frame = usage_per_flow(usage_events, usage_users, days, catalog.load())
    latest = frame.filter(pl.col("day") == days[-1]).sort("usage_norm", descending=True)
    return dg.Output(
        frame,
        metadata={
            "flows_with_usage": latest.filter(pl.col("events") > 0).height,
            "top_flows": markdown_table(
                latest.select("flow", "events", "users", "usage_norm", "top_platform", "platform_share")
            ),
        },
    )
