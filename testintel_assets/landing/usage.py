"""Usage sources in the landing zone -> usage_events, usage_users, usage_rejects for a set of days.

Layout: landing/access_logs/<day>/ (NGINX, ALB, CloudFront; plain or .gz), landing/otel/<day>/
(OTLP JSON), landing/mixpanel/<day>/ (raw export JSONL), landing/amplitude/<day>/ (export zip).
A file a reader refuses becomes a usage_rejects row with the reason; the rest of the day is read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import polars as pl

from testintel_assets import schemas
from testintel_assets.configuration import Catalog
from testintel_assets.parsers import ArtifactRejected
from testintel_assets.parsers.access_logs import access_log_files, read_access_logs
from testintel_assets.parsers.amplitude import read_amplitude_export
from testintel_assets.parsers.mixpanel import read_mixpanel_export
from testintel_assets.parsers.otel import read_otel_traces
from testintel_assets.parsers.usage import UsageParsed

USAGE_SOURCES = ("access_logs", "otel", "mixpanel", "amplitude")


def _rejected_file(day: date, path: Path, source: str, reason: str) -> UsageParsed:
    return UsageParsed(
        events=schemas.empty(schemas.USAGE_EVENTS),
        rejected=pl.DataFrame(
            {"day": [day], "file": [str(path)], "format": [source], "reason": [reason], "lines": [None]},
            schema_overrides={"lines": pl.Int64},
        ),
        users=schemas.empty(schemas.USAGE_USERS),
    )


def _per_file(
    files: list[Path], day: date, source: str, read: Callable[[Path], UsageParsed]
) -> list[UsageParsed]:
    parts = []
    for path in files:
        try:
            parts.append(read(path))
        except ArtifactRejected as exc:
            parts.append(_rejected_file(day, path, source, str(exc)))
    return parts


def read_usage_day(
    landing_root: Path, day: date, catalog: Catalog, salt: bytes | None = None
) -> list[UsageParsed]:
    folder = {source: landing_root / source / day.isoformat() for source in USAGE_SOURCES}
    parts = []
    logs = access_log_files(folder["access_logs"])
    if logs:
        parts.append(read_access_logs(logs, day, catalog, salt=salt))
    traces = access_log_files(folder["otel"])
    if traces:
        try:
            parts.append(read_otel_traces(traces, day, catalog, salt=salt))
        except ArtifactRejected as exc:
            parts.append(_rejected_file(day, folder["otel"], "otel", str(exc)))
    parts += _per_file(
        access_log_files(folder["mixpanel"]),
        day,
        "mixpanel",
        lambda path: read_mixpanel_export(path, day, catalog, salt=salt),
    )
    parts += _per_file(
        access_log_files(folder["amplitude"]),
        day,
        "amplitude",
        lambda path: read_amplitude_export(path, day, catalog, salt=salt),
    )
    return parts


def read_usage_days(
    landing_root: Path, days: list[date], catalog: Catalog, salt: bytes | None = None
) -> dict[str, pl.DataFrame]:
    """The three usage tables for the days, from every source that landed."""
    parts = [part for day in days for part in read_usage_day(landing_root, day, catalog, salt)]
    return {
        "usage_events": schemas.stack([part.events for part in parts], schemas.USAGE_EVENTS),
        "usage_users": schemas.stack([part.users for part in parts], schemas.USAGE_USERS),
        "usage_rejects": schemas.stack([part.rejected for part in parts], schemas.USAGE_REJECTS),
    }
