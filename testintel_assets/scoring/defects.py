"""defect_density: defects per flow and component over a window, severity-weighted, per KLOC, 0..1.

For an as-of day d and window W (scoring.yaml defects.window_days):
- snapshot: the latest `defects` pull on or before d (else the earliest after it: tracker dates
  still tell what was open on d, so a backfill before the first pull is not empty);
- new: created on d-W+1..d; closed: resolved on d-W+1..d; open: created by d and not resolved by d
  (resolved = resolution date on or before d, or done without a date);
- weighted_defects: sum of severity weights over defects new in the window or open on d, so an old
  critical bug still weighs until it is fixed;
- defects_per_week = new / (W / 7); defects_per_kloc = (new or open) / KLOC, where a component's
  KLOC is the executable lines coverage reports count for its files (latest report per file by d);
- defect_norm = weighted_defects / the largest weighted_defects among the scope's rows (0 when none).
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from testintel_assets import schemas
from testintel_assets.configuration import Catalog
from testintel_assets.parsers.tracker import DONE, UNMAPPED

FLOW_SCOPE = "flow"
COMPONENT_SCOPE = "component"


def snapshot_for(defects: pl.DataFrame, day: date) -> pl.DataFrame:
    """The pull that best describes `day`: the latest on or before it, else the earliest after."""
    days = defects["day"].unique()
    before = days.filter(days <= day)
    chosen = before.max() if before.len() else days.min()
    return defects.filter(pl.col("day") == chosen)


def component_kloc(coverage_files: pl.DataFrame, day: date) -> pl.DataFrame:
    """(component, kloc) from each file's latest coverage report on or before `day`."""
    return (
        coverage_files.filter((pl.col("day") <= day) & pl.col("component").is_not_null())
        .filter(pl.col("day") == pl.col("day").max().over("file"))
        .group_by("file", "component")
        .agg(pl.col("lines_valid").max())
        .group_by("component")
        .agg(kloc=pl.col("lines_valid").sum() / 1000.0)
        .filter(pl.col("kloc") > 0)
    )


def _flags(snapshot: pl.DataFrame, day: date, window_days: int, weights: dict[str, float]) -> pl.DataFrame:
    first = day - timedelta(days=window_days - 1)
    created = pl.col("created_at").dt.date()
    resolved = pl.col("resolved_at").dt.date()
    resolved_by_day = (resolved <= day).fill_null(False) | (
        resolved.is_null() & (pl.col("status_category") == DONE)
    )
    flagged = snapshot.with_columns(
        new=created.is_between(first, day).fill_null(False),
        closed=resolved.is_between(first, day).fill_null(False),
        open=(created <= day).fill_null(True) & ~resolved_by_day,
        weight=pl.col("severity").replace_strict(
            weights, default=weights.get("unknown", 1.0), return_dtype=pl.Float64
        ),
    ).with_columns(active=pl.col("new") | pl.col("open"))
    return flagged.filter(pl.col("active") | pl.col("closed"))


def _measures(window_days: int) -> list[pl.Expr]:
    return [
        pl.col("open").sum().cast(pl.Int64).alias("open_defects"),
        pl.col("new").sum().cast(pl.Int64).alias("new_defects"),
        pl.col("closed").sum().cast(pl.Int64).alias("closed_defects"),
        (pl.col("new").sum() / (window_days / 7.0)).alias("defects_per_week"),
        pl.col("weight").filter(pl.col("active")).sum().alias("weighted_defects"),
        pl.col("active").sum().alias("active"),
    ]


def _normalised(frame: pl.DataFrame, among: pl.Expr) -> pl.DataFrame:
    largest = frame.filter(among)["weighted_defects"].max() or 0.0
    norm = pl.col("weighted_defects") / largest if largest > 0 else pl.lit(0.0)
    return frame.with_columns(defect_norm=pl.when(among).then(norm))


def defect_density(
    defects: pl.DataFrame, coverage_files: pl.DataFrame, catalog: Catalog, day: date
) -> pl.DataFrame:
    """DEFECTS (any number of pull days) + COVERAGE_FILES -> DEFECT_DENSITY rows for `day`."""
    window_days = catalog.scoring.defects.window_days
    weights = catalog.scoring.defects.severity_weights
    flow_names = [flow.name for flow in catalog.flows.flows]
    kloc = component_kloc(coverage_files, day)
    if defects.is_empty():
        flagged = schemas.empty(schemas.DEFECTS).with_columns(
            new=pl.lit(False),
            closed=pl.lit(False),
            open=pl.lit(False),
            weight=pl.lit(0.0),
            active=pl.lit(False),
        )
        snapshot_day = None
    else:
        snapshot = snapshot_for(defects, day)
        snapshot_day = snapshot["day"][0]
        flagged = _flags(snapshot, day, window_days, weights)

    flow_kloc = (
        pl.DataFrame(
            [(flow.name, component) for flow in catalog.flows.flows for component in flow.components],
            schema={"flow": pl.String, "component": pl.String},
            orient="row",
        )
        .join(kloc, on="component", how="inner")
        .group_by("flow")
        .agg(pl.col("kloc").sum())
    )
    every_flow = pl.DataFrame({"flow": [*flow_names, UNMAPPED]}, schema={"flow": pl.String})
    by_flow = (
        every_flow.join(flagged.group_by("flow").agg(_measures(window_days)), on="flow", how="left")
        .join(flow_kloc, on="flow", how="left")
        .with_columns(scope=pl.lit(FLOW_SCOPE), component=pl.lit(None, dtype=pl.String))
    )
    by_flow = _normalised(_zero_filled(by_flow), pl.col("flow") != UNMAPPED)
    by_component = (
        flagged.group_by("flow", "component")
        .agg(_measures(window_days))
        .join(kloc, on="component", how="left")
        .with_columns(scope=pl.lit(COMPONENT_SCOPE))
    )
    by_component = _normalised(_zero_filled(by_component), pl.lit(True))
    rows = pl.concat([by_flow, by_component.select(by_flow.columns)]).with_columns(
        day=pl.lit(day, dtype=schemas.DAY),
        window_days=pl.lit(window_days, dtype=pl.Int32),
        snapshot_day=pl.lit(snapshot_day, dtype=schemas.DAY),
        defects_per_kloc=pl.col("active") / pl.col("kloc"),
    )
    return schemas.conform(rows.sort("scope", "flow", "component", nulls_last=True), schemas.DEFECT_DENSITY)


def _zero_filled(frame: pl.DataFrame) -> pl.DataFrame:
    counts = ["open_defects", "new_defects", "closed_defects", "active"]
    return frame.with_columns(
        pl.col(counts).fill_null(0).cast(pl.Int64),
        pl.col("defects_per_week", "weighted_defects").fill_null(0.0),
    )


def defect_density_for_days(
    defects: pl.DataFrame, coverage_files: pl.DataFrame, catalog: Catalog, days: list[date]
) -> pl.DataFrame:
    """defect_density for each day of a partition range (a single-run backfill)."""
    frames = [defect_density(defects, coverage_files, catalog, day) for day in days]
    return pl.concat(frames) if frames else schemas.empty(schemas.DEFECT_DENSITY)
