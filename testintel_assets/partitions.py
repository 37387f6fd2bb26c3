"""The one daily partitioning every partitioned asset shares.

`end_offset=1` makes today's partition exist, so a CI run that landed this morning can be ingested
today instead of failing the sensor tick with an unknown partition.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import dagster as dg

from testintel_assets.settings import partitions_start_date

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=partitions_start_date().isoformat(), end_offset=1, timezone="UTC"
)

# A quarter of history becomes one run, not ninety (DESIGN.md: ~8 s against ~160 s).
single_run = dg.BackfillPolicy.single_run()


def days_of(context: dg.AssetExecutionContext) -> list[date]:
    """The partition days a (possibly multi-partition) run covers, oldest first."""
    window = context.partition_time_window
    first = window.start.date()
    count = (window.end.date() - first).days
    return [first + timedelta(days=offset) for offset in range(count)]


def day_key(day: date | datetime) -> str:
    return day.strftime("%Y-%m-%d")
