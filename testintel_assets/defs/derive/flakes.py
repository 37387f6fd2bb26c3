"""flake_stats: per-test flake signals over the flake window, and the SLO checks on them."""

import dagster as dg
import polars as pl

from resources.catalog import CatalogResource
from testintel_assets.configuration import load_catalog
from testintel_assets.defs.common import ASSET_DEFAULTS, markdown_table, window
from testintel_assets.partitions import days_of
from testintel_assets.scoring.interim import flake_stats_for_days

FLAKE_WINDOW = load_catalog().scoring.flakes.window_days


@dg.asset(
    group_name="derived",
    ins={
        "test_results": dg.AssetIn(partition_mapping=window(FLAKE_WINDOW)),
        "test_meta": dg.AssetIn(partition_mapping=window(FLAKE_WINDOW)),
    },
    **ASSET_DEFAULTS,
)
def flake_stats(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    test_results: pl.DataFrame,
    test_meta: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    """Runs, failures, Wilson interval, same-sha flips, flip rate, flake score and class per test."""
    days = days_of(context)
    frame = flake_stats_for_days(test_results, test_meta, days, catalog.load().scoring.flakes)
    latest = frame.filter(pl.col("day") == days[-1])
    flaky = latest.filter(pl.col("flake_class") == "flaky").sort("flake_score", descending=True)
    return dg.Output(
        frame,
        metadata={
            "tests": latest.height,
            "flaky_tests": flaky.height,
            "broken_tests": latest.filter(pl.col("flake_class") == "broken").height,
            "flaky": markdown_table(flaky.select("test_id", "flow", "runs", "failures", "flake_score")),
        },
    )
