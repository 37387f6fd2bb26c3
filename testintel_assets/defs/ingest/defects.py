"""Defect tracker snapshots -> defects, and git history or run.json -> code_changes, per day."""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl

from resources.catalog import CatalogResource
from resources.git import GitRepository
from resources.jira import JiraResource
from resources.landing import LandingResource
from resources.linear import LinearResource
from testintel_assets import schemas
from testintel_assets.defs.common import ASSET_DEFAULTS
from testintel_assets.landing.ci import run_documents
from testintel_assets.parsers.git_log import changes_from_runs
from testintel_assets.parsers.jira import jira_defects
from testintel_assets.parsers.linear import linear_defects
from testintel_assets.partitions import days_of


def pull_is_due(day: date) -> bool:
    """A tracker pull records the tracker as it is now, so only today's and yesterday's partitions
    (the nightly schedule's) may pull; older days are read from what landed back then."""
    return day >= datetime.now(UTC).date() - timedelta(days=1)


@dg.asset(group_name="sources", **ASSET_DEFAULTS)
def defects(
    context: dg.AssetExecutionContext,
    landing: LandingResource,
    catalog: CatalogResource,
    jira: JiraResource,
    linear: LinearResource,
) -> dg.Output[pl.DataFrame]:
    """The trackers as pulled each day: a snapshot per partition, so status changes are kept."""
    config = catalog.load()
    parts = []
    for day in days_of(context):
        if jira.base_url and pull_is_due(day):
            context.log.info(f"pulling Jira for {day} (raw pages land in landing/jira/{day}/ first)")
            jira.pull(landing.path, day)
        if linear.api_key and pull_is_due(day):
            context.log.info(f"pulling Linear for {day} (raw pages land in landing/linear/{day}/ first)")
            linear.pull(landing.path, day)
        parts.append(jira_defects(landing.path / "jira" / day.isoformat(), day, config, jira.fields()))
        parts.append(
            linear_defects(landing.path / "linear" / day.isoformat(), day, config, linear.label_groups())
        )
    frame = pl.concat([schemas.conform(part, schemas.DEFECTS) for part in parts])
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
    context: dg.AssetExecutionContext, landing: LandingResource, catalog: CatalogResource, git: GitRepository
) -> dg.Output[pl.DataFrame]:
    """Lines touched per commit and file: from the git clone when one is configured, else from the
    changed_files that CI runs name in run.json."""
    days = days_of(context)
    if git.configured:
        frame = git.code_changes(days[0], days[-1], catalog.load())
        source = f"git log of {git.path}"
    else:
        frame = changes_from_runs(run_documents(landing.path, days), catalog.load())
        source = "run.json changed_files"
    return dg.Output(
        frame,
        metadata={"files_changed": frame.height, "commits": frame["sha"].n_unique(), "source": source},
    )
