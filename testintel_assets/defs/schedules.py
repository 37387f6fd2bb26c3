"""The nightly pull: yesterday's usage, defects and code changes, and what derives from them."""

from datetime import timedelta

import dagster as dg

from testintel_assets.partitions import day_key

PULLED_SOURCES = ["usage_events", "usage_users", "usage_rejects", "defects", "code_changes"]

nightly_pull_job = dg.define_asset_job(
    "nightly_pull",
    selection=dg.AssetSelection.assets(*PULLED_SOURCES).downstream(),
    description="Pull Mixpanel/Amplitude/Jira/Linear (raw responses land first), then re-derive the day.",
)


@dg.schedule(
    job=nightly_pull_job,
    cron_schedule="0 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def nightly_pull_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """At 03:00 UTC the previous day is complete in every source."""
    yesterday = day_key(context.scheduled_execution_time - timedelta(days=1))
    return dg.RunRequest(run_key=f"nightly:{yesterday}", partition_key=yesterday)
