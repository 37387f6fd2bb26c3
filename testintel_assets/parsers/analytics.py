"""Product-analytics exports (Mixpanel, Amplitude) as JSON lines -> usage rows, vectorised with JSON paths.

Each export line is one event. A `Spec` names, per usage dimension, the JSON paths to try in order; the
event name maps to a flow through flows[].events (exact, then by normalised label, then `unmapped`).
User ids are replaced by salted HMAC keys and every free-text value passes the privacy scrub before it
can reach a column. A line that is not a JSON object is counted as rejected; when it is the last line
of the input it is reported as truncated (an interrupted download), and the rest is kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from testintel_assets.configuration import Catalog, normalise_label
from testintel_assets.parsers.access_logs import line_chunks, lines_frame
from testintel_assets.parsers.routes import UNMAPPED
from testintel_assets.parsers.usage import (
    ROW_SCHEMA,
    UNKNOWN,
    GroupCodes,
    UsageAggregator,
    UsageParsed,
)
from testintel_assets.privacy import pii_salt, scrub_series, user_keys

_TEXT_DIMENSIONS = ("browser", "persona", "tier", "plan", "device", "app_version", "locale", "experiment_id")


@dataclass(frozen=True)
class Spec:
    """Where one export format keeps each field (JSON paths tried in order)."""

    source: str
    event: tuple[str, ...]
    user: tuple[str, ...]
    os: tuple[str, ...]
    fields: dict[str, tuple[str, ...]]


def _json(paths: Iterable[str]) -> pl.Expr:
    return pl.coalesce([pl.col("line").str.json_path_match(path) for path in paths])


def _platform(os_name: pl.Expr, browser: pl.Expr) -> pl.Expr:
    """ios / android from the OS; web when a browser is named; api otherwise; unknown without both."""
    lowered = os_name.str.to_lowercase()
    return (
        pl.when(lowered.str.contains("ios|ipados|iphone|ipad"))
        .then(pl.lit("ios"))
        .when(lowered.str.contains("android"))
        .then(pl.lit("android"))
        .when(browser.is_not_null())
        .then(pl.lit("web"))
        .when(os_name.is_not_null())
        .then(pl.lit("api"))
        .otherwise(pl.lit(UNKNOWN))
    )


def _flows(events: pl.Series, catalog: Catalog) -> pl.Series:
    by_label = {normalise_label(event): flow for event, flow in catalog.flow_by_event.items()}
    mapping = {
        event: catalog.flow_by_event.get(event) or by_label.get(normalise_label(event)) or UNMAPPED
        for event in events.drop_nulls().unique().to_list()
    }
    return events.replace_strict(mapping, default=UNMAPPED, return_dtype=pl.String)


def _rows(
    lines: pl.DataFrame, spec: Spec, catalog: Catalog, salt: bytes
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(usage rows, per-line reasons) for one chunk of export lines."""
    parsed = lines.with_columns(
        valid=pl.col("line").str.starts_with("{") & pl.col("line").str.json_path_match("$").is_not_null(),
        event=_json(spec.event),
        user=_json(spec.user),
        os=_json(spec.os),
        **{name: _json(paths) for name, paths in spec.fields.items()},
    )
    reasons = parsed.select(
        "line_no",
        pl.when(pl.col("line").str.strip_chars() == "")
        .then(pl.lit("blank line"))
        .when(~pl.col("valid"))
        .then(pl.lit("not a JSON object"))
        .when(pl.col("event").is_null())
        .then(pl.lit("JSON object without an event name"))
        .alias("reason"),
    )
    events = parsed.filter(reasons["reason"].is_null())
    rows = events.with_columns(
        flow=_flows(events["event"], catalog),
        event=scrub_series(events["event"]),
        user_key=user_keys(events["user"], salt),
        platform=_platform(pl.col("os"), pl.col("browser")),
        **{name: scrub_series(events[name]) for name in _TEXT_DIMENSIONS if name in events.columns},
        traffic=pl.lit("app"),
        source=pl.lit(spec.source),
        format=pl.lit(spec.source),
    )
    rows = rows.select(
        [
            (pl.col(name) if name in rows.columns else pl.lit(None)).cast(dtype).alias(name)
            for name, dtype in ROW_SCHEMA.items()
        ]
    )
    return rows, reasons


def read_export_lines(
    chunks: Iterable[tuple[str, Iterable[pl.DataFrame]]],
    spec: Spec,
    day: date,
    catalog: Catalog,
    salt: bytes | None,
) -> UsageParsed:
    """Aggregate (file name, line-frame chunks) pairs of one export into usage_events rows."""
    salt = salt if salt is not None else pii_salt()
    codes = GroupCodes()
    aggregator = UsageAggregator(day, codes.decode)
    for name, frames in chunks:
        reasons: list[pl.DataFrame] = []
        last_line: int | None = None
        for lines in frames:
            rows, chunk_reasons = _rows(lines, spec, catalog, salt)
            if rows.height:
                aggregator.add(codes.encode(rows))
            reasons.append(chunk_reasons.filter(pl.col("reason").is_not_null()))
            last_line = lines["line_no"].max() if lines.height else last_line
        bad = pl.concat(reasons) if reasons else pl.DataFrame()
        if bad.height:
            bad = bad.with_columns(
                pl.when((pl.col("line_no") == last_line) & (pl.col("reason") == "not a JSON object"))
                .then(pl.lit("truncated last line (incomplete JSON; the export was cut off)"))
                .otherwise(pl.col("reason"))
                .alias("reason")
            )
            summary = bad.group_by("reason").agg(
                pl.len().cast(pl.Int64).alias("lines"), pl.col("line_no").min().alias("first_line")
            )
            aggregator.reject(name, spec.source, summary.sort("first_line"))
    return aggregator.finish()


def file_line_frames(path: Path) -> Iterable[pl.DataFrame]:
    """Line frames of a plain or gzip JSON-lines file, chunk by chunk."""
    first = 1
    for chunk in line_chunks(path):
        frame = lines_frame(chunk, first)
        first += frame.height
        yield frame


def bytes_line_frames(content: bytes) -> Iterable[pl.DataFrame]:
    """Line frames of an in-memory JSON-lines document (one chunk: exports are read member by member)."""
    if content.strip():
        yield lines_frame(content, 1)
