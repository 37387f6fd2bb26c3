"""Production usage -> usage_events: access logs, analytics exports and traces, per day."""

import dagster as dg
import polars as pl

from resources.catalog import CatalogResource
from resources.landing import LandingResource
from testintel_assets.defs.common import ASSET_DEFAULTS
from testintel_assets.landing.usage import read_usage_days
from testintel_assets.partitions import days_of


@dg.asset(group_name="sources", **ASSET_DEFAULTS)
def usage_events(
    context: dg.AssetExecutionContext, landing: LandingResource, catalog: CatalogResource
) -> dg.Output[pl.DataFrame]:
    """Requests and events per flow, route, platform, persona and tier, from every usage source."""
    frame = read_usage_days(landing.path, days_of(context), catalog.load())
    app = frame.filter(pl.col("traffic") == "app")
    return dg.Output(
        frame,
        metadata={
            "events": int(frame["events"].sum() or 0),
            "unmapped_share": float(
                (app.filter(pl.col("flow") == "unmapped")["events"].sum() or 0)
                / max(1, app["events"].sum() or 0)
            ),
        },
    )
