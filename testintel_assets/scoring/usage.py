"""flow_usage: production usage per flow over the trailing window (config/scoring.yaml usage.window_days).

For each as-of day D the window is the W days D-W+1 .. D. Only human traffic counts (traffic == "app":
no bots, health checks, static assets or garbage requests). Per flow (docs/usage.md, "Window math"):
- the *primary source* is the best source that saw the flow in the window, in the order
  mixpanel > amplitude > otel > access_logs (intentional user actions before raw requests);
  events, errors, users, platform share and tier weight come from that source;
- daily_events_p95 is the nearest-rank 95th percentile of the W daily counts, days without events
  counting as 0;
- usage_norm is, for every source present in the window, the flow's p95 divided by the largest p95 of
  any catalogued flow in that source, averaged over those sources (0..1; null for `unmapped`);
- users merges the per-day bottom-k sketches of the primary source (exact below 1024 users);
- top_platform / platform_share is the seed's PlatformDominance: the client with most events, where a
  client is the platform (ios, android, api) or, for the web, `web/<browser family>`;
- tier_weight is the event-weighted mean of usage.tier_weights over customer tiers.
One call handles any number of as-of days (a 90-day backfill is one call, not 90).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta

import polars as pl

from testintel_assets.configuration import Catalog
from testintel_assets.parsers.routes import UNMAPPED
from testintel_assets.parsers.usage import estimate_users
from testintel_assets.schemas import FLOW_USAGE, conform, empty

SOURCE_PRIORITY = ("mixpanel", "amplitude", "otel", "access_logs")
_KEYS = ["as_of", "source", "flow"]


def _windowed(frame: pl.DataFrame, as_of: pl.DataFrame, window_days: int) -> pl.DataFrame:
    """Each row once per as-of day whose window contains the row's day."""
    bounds = as_of.with_columns(window_start=pl.col("as_of") - pl.duration(days=window_days - 1))
    joined = frame.join_where(
        bounds, pl.col("day") <= pl.col("as_of"), pl.col("day") >= pl.col("window_start")
    )
    return joined.drop("window_start")


def _p95_of_window(counts: pl.Expr, window_days: int) -> pl.Expr:
    """Nearest-rank p95 over `window_days` values of which only the non-zero ones are listed."""
    rank = math.ceil(0.95 * window_days)
    index = pl.lit(rank) - (pl.lit(window_days) - counts.len()) - 1
    return (
        pl.when(index >= 0).then(counts.sort().get(index.clip(0, None), null_on_oob=True)).otherwise(0)
    ).cast(pl.Float64)


def flow_usage(
    usage_events: pl.DataFrame,
    usage_users: pl.DataFrame,
    as_of: date | Sequence[date],
    catalog: Catalog,
) -> pl.DataFrame:
    """FLOW_USAGE rows for each as-of day (one row per catalogued flow, plus `unmapped` when seen)."""
    days = [as_of] if isinstance(as_of, date) else list(as_of)
    settings = catalog.scoring.usage
    window = settings.window_days
    if not days or usage_events.is_empty():
        return empty(FLOW_USAGE)
    as_of_frame = pl.DataFrame({"as_of": days}, schema={"as_of": pl.Date}).unique()
    app = usage_events.filter((pl.col("traffic") == "app") & pl.col("flow").is_not_null())
    app = app.filter(pl.col("day") > min(days) - timedelta(days=window), pl.col("day") <= max(days))
    # Down to the grain the measures need before each day is copied into its windows.
    app = app.group_by("day", "source", "flow", _client().alias("client"), "tier").agg(
        pl.col("events").sum(), pl.col("errors").sum()
    )
    windowed = _windowed(app, as_of_frame, window)
    if windowed.is_empty():
        return empty(FLOW_USAGE)

    daily = windowed.group_by([*_KEYS, "day"]).agg(pl.col("events").sum(), pl.col("errors").sum())
    per_source = daily.group_by(_KEYS).agg(
        pl.col("events").sum(),
        pl.col("errors").sum(),
        pl.col("day").n_unique().cast(pl.Int32).alias("days_with_usage"),
        _p95_of_window(pl.col("events").filter(pl.col("events") > 0), window).alias("daily_events_p95"),
    )
    norms = _usage_norm(per_source, catalog)
    primary = (
        per_source.with_columns(
            rank=pl.col("source").replace_strict(
                {name: index for index, name in enumerate(SOURCE_PRIORITY)}, default=len(SOURCE_PRIORITY)
            )
        )
        .sort("as_of", "flow", "rank", "source")
        .group_by("as_of", "flow", maintain_order=True)
        .agg(pl.all().exclude("rank").first(), pl.col("source").alias("sources"))
    )
    result = (
        _catalog_grid(as_of_frame.filter(pl.col("as_of").is_in(primary["as_of"].unique().implode())), catalog)
        .join(primary, on=["as_of", "flow"], how="full", coalesce=True)
        .join(norms, on=["as_of", "flow"], how="left")
        .join(_users(usage_users, as_of_frame, window), on=_KEYS, how="left")
        .join(_platform_share(windowed), on=_KEYS, how="left")
        .join(_tier_weight(windowed, settings.tier_weights), on=_KEYS, how="left")
    )
    result = result.with_columns(
        pl.col("events", "errors").fill_null(0),
        pl.col("daily_events_p95").fill_null(0.0),
        pl.col("days_with_usage").fill_null(0),
        pl.col("sources").fill_null(pl.lit([], pl.List(pl.String))),
        pl.when(pl.col("flow") == UNMAPPED)
        .then(None)
        .otherwise(pl.col("usage_norm").fill_null(0.0))
        .alias("usage_norm"),
        pl.col("users").fill_null(0),
        pl.col("tier_weight").fill_null(settings.tier_weights.get("unknown", 0.5)),
        pl.lit(window, pl.Int32).alias("window_days"),
        pl.col("as_of").alias("day"),
    )
    return conform(result.sort("day", "flow"), FLOW_USAGE)


def _catalog_grid(as_of: pl.DataFrame, catalog: Catalog) -> pl.DataFrame:
    flows = pl.DataFrame({"flow": [flow.name for flow in catalog.flows.flows]}, schema={"flow": pl.String})
    return as_of.join(flows, how="cross")


def _usage_norm(per_source: pl.DataFrame, catalog: Catalog) -> pl.DataFrame:
    """Mean over the sources present in each window of p95 / max p95 of catalogued flows."""
    mapped = per_source.filter(pl.col("flow") != UNMAPPED)
    peaks = mapped.group_by("as_of", "source").agg(pl.col("daily_events_p95").max().alias("peak"))
    grid = peaks.select("as_of", "source").join(
        _catalog_grid(peaks.select("as_of").unique(), catalog), on="as_of"
    )
    shares = grid.join(mapped, on=_KEYS, how="left").join(peaks, on=["as_of", "source"])
    return shares.group_by("as_of", "flow").agg(
        pl.when(pl.col("peak") > 0)
        .then(pl.col("daily_events_p95").fill_null(0.0) / pl.col("peak"))
        .otherwise(0.0)
        .mean()
        .alias("usage_norm")
    )


def _users(usage_users: pl.DataFrame, as_of: pl.DataFrame, window: int) -> pl.DataFrame:
    if usage_users.is_empty():
        return pl.DataFrame(
            schema={"as_of": pl.Date, "source": pl.String, "flow": pl.String, "users": pl.Int64}
        )
    return estimate_users(_windowed(usage_users, as_of, window), _KEYS)


def _client() -> pl.Expr:
    """The platform, with the browser family for the web: `ios`, `android`, `api`, `web/Safari`."""
    return (
        pl.when(pl.col("platform") == "web")
        .then(pl.concat_str([pl.lit("web/"), pl.col("browser").fill_null("unknown")]))
        .otherwise(pl.col("platform").fill_null("unknown"))
    )


def _platform_share(windowed: pl.DataFrame) -> pl.DataFrame:
    per_client = windowed.group_by([*_KEYS, "client"]).agg(pl.col("events").sum())
    return (
        per_client.sort([*_KEYS, "events", "client"], descending=[False, False, False, True, False])
        .group_by(_KEYS, maintain_order=True)
        .agg(
            pl.col("client").first().alias("top_platform"),
            (pl.col("events").first() / pl.col("events").sum()).alias("platform_share"),
        )
    )


def _tier_weight(windowed: pl.DataFrame, weights: dict[str, float]) -> pl.DataFrame:
    unknown = weights.get("unknown", 0.5)
    weight = pl.col("tier").replace_strict(weights, default=unknown, return_dtype=pl.Float64)
    return windowed.group_by(_KEYS).agg(
        ((weight * pl.col("events")).sum() / pl.col("events").sum()).alias("tier_weight")
    )
