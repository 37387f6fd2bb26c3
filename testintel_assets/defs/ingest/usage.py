"""Production usage -> usage_events, usage_users, usage_rejects, per day."""

from collections.abc import Iterator
from datetime import UTC, date, datetime

import dagster as dg
import polars as pl

from resources.amplitude import AmplitudeResource
from resources.catalog import CatalogResource
from resources.landing import LandingResource
from resources.mixpanel import MixpanelResource
from testintel_assets.defs.common import markdown_table, source_tables
from testintel_assets.landing.usage import read_usage_days
from testintel_assets.parsers.usage import top_unmapped_routes
from testintel_assets.partitions import days_of

USAGE_TABLES = {
    "usage_events": "Requests and events per flow, route, platform, browser, persona and tier, from "
    "access logs, OTel traces, Mixpanel and Amplitude; static, health and bot traffic flagged, not dropped.",
    "usage_users": "Hashed user keys (salted HMAC) per flow and source: distinct users across days.",
    "usage_rejects": "Lines or files of usage inputs that became no event, counted per file and reason.",
}


def _needs_pull(landing: LandingResource, source: str, day: date) -> bool:
    """Export APIs serve any past day; a day is pulled once, when nothing has landed for it yet."""
    folder = landing.path / source / day.isoformat()
    return day < datetime.now(UTC).date() and not (folder.is_dir() and any(folder.iterdir()))


@dg.multi_asset(**source_tables(USAGE_TABLES))
def usage_sources(
    context: dg.AssetExecutionContext,
    landing: LandingResource,
    catalog: CatalogResource,
    mixpanel: MixpanelResource,
    amplitude: AmplitudeResource,
) -> Iterator[dg.Output[pl.DataFrame]]:
    days = days_of(context)
    for source, resource in (("mixpanel", mixpanel), ("amplitude", amplitude)):
        if not resource.configured:
            continue
        for day in days:
            if _needs_pull(landing, source, day):
                context.log.info(f"pulling {source} for {day} into landing/{source}/{day}/ (raw first)")
                resource.land_day(landing.path, day)
    frames = read_usage_days(landing.path, days, catalog.load())
    events = frames["usage_events"]
    app = events.filter(pl.col("traffic") == "app")
    app_events = int(app["events"].sum() or 0)
    unmapped = int(app.filter(pl.col("flow") == "unmapped")["events"].sum() or 0)
    yield dg.Output(
        events,
        output_name="usage_events",
        metadata={
            "events": int(events["events"].sum() or 0),
            "unmapped_share": unmapped / app_events if app_events else 0.0,
            "top_unmapped_routes": markdown_table(top_unmapped_routes(events, limit=20)),
        },
    )
    yield dg.Output(frames["usage_users"], output_name="usage_users")
    rejects = frames["usage_rejects"]
    yield dg.Output(
        rejects,
        output_name="usage_rejects",
        metadata={"rejected_lines": int(rejects["lines"].sum() or 0), "rejected": markdown_table(rejects)},
    )
