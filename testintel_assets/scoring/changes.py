"""change_rate: how often each component and flow changed over a window, normalised 0..1.

For an as-of day d and window W (scoring.yaml changes.window_days, the seed's 30 days), over the
code_changes rows of days d-W+1..d:
- component scope: distinct commits touching the component's files, distinct files, lines added and
  deleted (null from run.json, which carries no line counts, and for binary files);
- flow scope: the same over the components flows.yaml lists for the flow (a shared component such
  as the web UI counts for every flow that lists it); every flow gets a row, zero when unchanged;
- change_norm = commits_per_week / the largest commits_per_week of the scope (0 when nothing changed).
Commits, not lines, drive the factor: line counts are missing from run.json and dominated by
generated files and renames, while the number of changes is what the risk literature ties to defects.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from testintel_assets import schemas
from testintel_assets.configuration import Catalog

FLOW_SCOPE = "flow"
COMPONENT_SCOPE = "component"


def _measures(window_days: int) -> list[pl.Expr]:
    return [
        pl.col("sha").drop_nulls().n_unique().cast(pl.Int64).alias("commits"),
        pl.col("file").drop_nulls().n_unique().cast(pl.Int64).alias("files_changed"),
        *[
            pl.when(pl.col(lines).is_not_null().any()).then(pl.col(lines).sum()).alias(lines)
            for lines in ("lines_added", "lines_deleted")
        ],
        (pl.col("sha").drop_nulls().n_unique() / (window_days / 7.0)).alias("commits_per_week"),
    ]


def _normalised(frame: pl.DataFrame) -> pl.DataFrame:
    unchanged = pl.col("commits").is_null()
    frame = frame.with_columns(
        pl.when(unchanged).then(0).otherwise(pl.col(c)).alias(c)
        for c in ("commits", "files_changed", "lines_added", "lines_deleted")
    ).with_columns(pl.col("commits_per_week").fill_null(0.0))
    largest = frame["commits_per_week"].max() or 0.0
    return frame.with_columns(
        change_norm=pl.col("commits_per_week") / largest if largest > 0 else pl.lit(0.0)
    )


def change_rate(code_changes: pl.DataFrame, catalog: Catalog, day: date) -> pl.DataFrame:
    """CODE_CHANGES (any days) -> CHANGE_RATE rows for `day`, flow scope first."""
    window_days = catalog.scoring.changes.window_days
    first = day - timedelta(days=window_days - 1)
    window = code_changes.filter(pl.col("day").is_between(first, day))
    flow_components = pl.DataFrame(
        [(flow.name, component) for flow in catalog.flows.flows for component in flow.components],
        schema={"flow": pl.String, "component": pl.String},
        orient="row",
    )
    every_flow = pl.DataFrame(
        {"flow": [flow.name for flow in catalog.flows.flows]}, schema={"flow": pl.String}
    )
    by_flow = every_flow.join(
        window.join(flow_components, on="component", how="inner")
        .group_by("flow")
        .agg(_measures(window_days)),
        on="flow",
        how="left",
    ).with_columns(scope=pl.lit(FLOW_SCOPE), component=pl.lit(None, dtype=pl.String))
    by_component = (
        window.filter(pl.col("component").is_not_null())
        .group_by("component")
        .agg(_measures(window_days))
        .with_columns(scope=pl.lit(COMPONENT_SCOPE), flow=pl.lit(None, dtype=pl.String))
    )
    rows = pl.concat(
        [
            schemas.conform(_normalised(by_flow).sort("flow"), schemas.CHANGE_RATE),
            schemas.conform(_normalised(by_component).sort("component"), schemas.CHANGE_RATE),
        ]
    )
    return rows.with_columns(
        day=pl.lit(day, dtype=schemas.DAY), window_days=pl.lit(window_days, dtype=pl.Int32)
    )


def change_rate_for_days(code_changes: pl.DataFrame, catalog: Catalog, days: list[date]) -> pl.DataFrame:
    """change_rate for each day of a partition range (a single-run backfill)."""
    frames = [change_rate(code_changes, catalog, day) for day in days]
    return pl.concat(frames) if frames else schemas.empty(schemas.CHANGE_RATE)
