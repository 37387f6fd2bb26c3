"""Defect tracker snapshots -> defects, and code changes -> code_changes, per day."""

import dagster as dg
import polars as pl

from resources.catalog import CatalogResource
from resources.landing import LandingResource
from testintel_assets.defs.common import ASSET_DEFAULTS
from testintel_assets.landing.ci import complete_run_folders, read_run_info
from testintel_assets.landing.defects import code_changes_from_runs, read_defect_days
from testintel_assets.parsers import ArtifactRejected
from testintel_assets.partitions import days_of


@dg.asset(group_name="sources", **ASSET_DEFAULTS)
def defects(
    context: dg.AssetExecutionContext, landing: LandingResource, catalog: CatalogResource
) -> dg.Output[pl.DataFrame]:
    """The tracker as pulled each day (a snapshot per partition, so status changes are kept)."""
    frame = read_defect_days(landing.path, days_of(context), catalog.load())
    return dg.Output(
        frame,
        metadata={
            "defects": frame.height,
            "open": frame.filter(pl.col("status_category") != "done").height,
            "unmapped": frame.filter(pl.col("flow") == "unmapped").height,
        },
    )


@dg.asset(group_name="sources", **ASSET_DEFAULTS)
def code_changes(
    context: dg.AssetExecutionContext, landing: LandingResource, catalog: CatalogResource
) -> dg.Output[pl.DataFrame]:
    """Files touched per commit, from run.json changed_files."""
    runs = []
    for day in days_of(context):
        for run_dir in complete_run_folders(landing.path, day):
            try:
                info = read_run_info(run_dir / "run.json")
            except ArtifactRejected:
                continue  # recorded as rejected by ci_artifacts
            runs.append((day, {"sha": info.sha, "changed_files": list(info.changed_files)}))
    frame = code_changes_from_runs(runs, catalog.load())
    return dg.Output(frame, metadata={"files_changed": frame.height})
