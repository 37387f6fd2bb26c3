"""Interim derivations, replaced module by module as the deeper implementations of issues 4-7 land."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from testintel_assets import schemas
from testintel_assets.configuration import Flakes


def _in_window(frame: pl.DataFrame, day: date, days: int) -> pl.DataFrame:
    return frame.filter(pl.col("day").is_between(day - timedelta(days=days - 1), day))


def flake_stats_for_days(
    results: pl.DataFrame, meta: pl.DataFrame, days: list[date], params: Flakes
) -> pl.DataFrame:
    flows = meta.sort("day").group_by("test_id").agg(pl.col("flow").last())
    parts = []
    for day in days:
        window = _in_window(results, day, params.window_days).filter(pl.col("status") != "skipped")
        if window.is_empty():
            continue
        failed = pl.col("status").is_in(["failed", "error"])
        per_sha = window.group_by("test_id", "sha").agg((failed.any() & (~failed).any()).alias("mixed"))
        stats = (
            window.group_by("test_id")
            .agg(
                pl.len().alias("runs"),
                failed.sum().alias("failures"),
                (pl.col("blocking").fill_null(False)).sum().alias("blocking_runs"),
            )
            .join(
                per_sha.group_by("test_id").agg(pl.col("mixed").sum().alias("same_sha_flips")), on="test_id"
            )
        )
        stats = stats.with_columns((pl.col("failures") / pl.col("runs")).alias("fail_rate"))
        cls = (
            pl.when(pl.col("runs") < params.min_runs)
            .then(pl.lit("new"))
            .when(pl.col("failures") == pl.col("runs"))
            .then(pl.lit("broken"))
            .when(pl.col("same_sha_flips") > 0)
            .then(pl.lit("flaky"))
            .otherwise(pl.lit("healthy"))
        )
        stats = stats.with_columns(cls.alias("flake_class"))
        blocking_flaky = (
            window.filter(pl.col("blocking").fill_null(False) & failed)
            .group_by("test_id")
            .agg(pl.len().alias("blocking_flaky_failures"))
        )
        stats = (
            stats.join(blocking_flaky, on="test_id", how="left")
            .with_columns(
                pl.when(pl.col("flake_class") == "flaky")
                .then(pl.col("blocking_flaky_failures").fill_null(0))
                .otherwise(0)
                .alias("blocking_flaky_failures"),
                pl.when(pl.col("flake_class") == "flaky")
                .then(pl.col("fail_rate"))
                .otherwise(0.0)
                .alias("flake_score"),
                pl.lit(day).alias("day"),
                pl.lit(params.window_days).alias("window_days"),
            )
            .join(flows, on="test_id", how="left")
        )
        parts.append(stats)
    return (
        pl.concat([schemas.conform(p, schemas.FLAKE_STATS) for p in parts])
        if parts
        else schemas.empty(schemas.FLAKE_STATS)
    )
