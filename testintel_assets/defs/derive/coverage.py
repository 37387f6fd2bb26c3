"""Coverage per component and flow, and the coverage delta of pre-merge runs on touched components."""

import dagster as dg
import polars as pl

from resources.catalog import CatalogResource
from testintel_assets import schemas
from testintel_assets.defs.common import ASSET_DEFAULTS, markdown_table, window
from testintel_assets.defs.derive.flakes import FLAKE_WINDOW
from testintel_assets.partitions import days_of
from testintel_assets.scoring.coverage import (
    coverage_by_component_for_days,
    coverage_by_flow_for_days,
)
from testintel_assets.scoring.coverage import (
    coverage_delta as delta_of_run,
)

# A day without CI runs keeps the newest coverage of the last week rather than dropping to zero,
# and a pre-merge run compares against the newest base-branch coverage of the same week.
COVERAGE_LOOKBACK_DAYS = 7


@dg.asset(
    group_name="derived",
    ins={"coverage_files": dg.AssetIn(partition_mapping=window(COVERAGE_LOOKBACK_DAYS))},
    **ASSET_DEFAULTS,
)
def coverage_by_component(
    context: dg.AssetExecutionContext, catalog: CatalogResource, coverage_files: pl.DataFrame
) -> dg.Output[pl.DataFrame]:
    """Line, branch, function and blended coverage per component (shards merged, latest per sha)."""
    days = days_of(context)
    frame = coverage_by_component_for_days(coverage_files, days, catalog.load(), COVERAGE_LOOKBACK_DAYS)
    latest = frame.filter(pl.col("day") == days[-1]).sort("blended_coverage", nulls_last=True)
    return dg.Output(
        frame,
        metadata={
            "components": latest.height,
            "lowest": markdown_table(
                latest.select("component", "line_rate", "branch_rate", "blended_coverage")
            ),
        },
    )


@dg.asset(
    group_name="derived",
    ins={
        "coverage_files": dg.AssetIn(partition_mapping=window(COVERAGE_LOOKBACK_DAYS)),
        "test_meta": dg.AssetIn(partition_mapping=window(FLAKE_WINDOW)),
    },
    **ASSET_DEFAULTS,
)
def coverage_by_flow(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    coverage_files: pl.DataFrame,
    test_meta: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    """Coverage of the components behind each flow (flows.yaml plus the components its tests name)."""
    days = days_of(context)
    frame = coverage_by_flow_for_days(coverage_files, days, catalog.load(), test_meta, COVERAGE_LOOKBACK_DAYS)
    latest = frame.filter(pl.col("day") == days[-1]).sort("blended_coverage", nulls_last=True)
    return dg.Output(
        frame,
        metadata={
            "flows_with_coverage": latest.filter(pl.col("blended_coverage").is_not_null()).height,
            "lowest": markdown_table(latest.select("flow", "line_rate", "branch_rate", "blended_coverage")),
        },
    )


@dg.asset(
    group_name="derived",
    ins={"coverage_files": dg.AssetIn(partition_mapping=window(COVERAGE_LOOKBACK_DAYS))},
    **ASSET_DEFAULTS,
)
def coverage_delta(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    ci_runs: pl.DataFrame,
    coverage_files: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    """Per pre-merge run: coverage of each touched component against the base branch's newest."""
    config = catalog.load()
    base_branch = config.scoring.coverage.base_branch
    runs = ci_runs.filter((pl.col("kind") == "run") & (pl.col("status") == "ingested"))
    runs = runs.filter(pl.col("branch") != base_branch)
    rows_of_run = coverage_files.partition_by("run_id", as_dict=True)
    # Only the base branch's reports can be a base: handing just those over keeps each run cheap.
    base = coverage_files.filter(pl.col("branch") == base_branch)
    parts = []
    for run in runs.iter_rows(named=True):
        run_rows = rows_of_run.get((run["run_id"],))
        if run_rows is None:
            continue
        history = base.filter(pl.col("day") <= run["day"])
        parts.append(delta_of_run(run_rows, history, config, changed_files=run["changed_files"] or None))
    frame = schemas.stack(parts, schemas.COVERAGE_DELTA)
    dropped = frame.filter(pl.col("delta_blended") < 0)
    return dg.Output(
        frame,
        metadata={
            "runs_compared": frame.filter(pl.col("status") == "compared")["run_id"].n_unique(),
            "coverage_drops": dropped.height,
            "drops": markdown_table(dropped.select("run_id", "component", "base_blended", "head_blended")),
        },
    )
