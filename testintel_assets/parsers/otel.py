"""OpenTelemetry traces in OTLP/JSON (the collector's file exporter) -> usage_events rows.

Input files in `landing/otel/<day>/` hold either one ExportTraceServiceRequest per line (what the
`file` exporter writes) or a single pretty-printed document. Only server spans (kind 2 /
SPAN_KIND_SERVER) count as usage: each one is a request a client made. The route comes from
`http.route`, else `url.path` / `http.target` (query dropped), else the path in a `METHOD /path` span
name; the method, status, duration, `user_agent.original` and `enduser.id` come from the span and
`service.name` from its resource. Documents that carry logs or metrics instead of spans, and spans of
other kinds, are counted in the rejected summary with the reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from testintel_assets.configuration import Catalog
from testintel_assets.parsers import ArtifactRejected
from testintel_assets.parsers.routes import UNMAPPED, FlowMatcher, refine_route, route_expr
from testintel_assets.parsers.usage import (
    ROW_SCHEMA,
    GroupCodes,
    UsageAggregator,
    UsageParsed,
    classify_user_agent,
)
from testintel_assets.privacy import pii_salt, scrub_text, user_keys

SOURCE = "otel"
FLUSH_SPANS = 100_000
SERVER_KINDS = {2, "2", "SPAN_KIND_SERVER"}
_SPAN_NAME_ROUTE = re.compile(r"^([A-Z]+) (/\S*)$")
_OTHER_SIGNALS = {"resourceLogs": "logs", "resourceMetrics": "metrics", "resourceProfiles": "profiles"}


def _value(any_value: dict[str, Any]) -> Any:
    """The Python value of an OTLP AnyValue (intValue is a string in OTLP/JSON)."""
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in any_value:
            return any_value[key]
    if "intValue" in any_value:
        try:
            return int(any_value["intValue"])
        except (TypeError, ValueError):
            return None
    return None


def _attributes(items: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {
        item.get("key"): _value(item.get("value") or {}) for item in items or [] if isinstance(item, dict)
    }


def _documents(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed document): JSON lines, or the whole file as one pretty-printed document."""
    with path.open("rb") as handle:
        first = handle.readline()
    try:
        json.loads(first)
        whole_file = False
    except ValueError:
        whole_file = True
    if whole_file:
        try:
            yield 1, json.loads(path.read_bytes())
        except ValueError as exc:
            raise ArtifactRejected(f"{path.name}: not OTLP/JSON ({exc})") from exc
        return
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except ValueError:
                yield number, None


class _Spans:
    """Collects server spans as columns and flushes them to the aggregator in bounded batches."""

    def __init__(self, aggregator: UsageAggregator, codes: GroupCodes, catalog: Catalog, salt: bytes):
        self.aggregator, self.codes, self.catalog, self.salt = aggregator, codes, catalog, salt
        self.matcher = FlowMatcher(catalog)
        self.columns: dict[str, list[Any]] = {name: [] for name in _SPAN_COLUMNS}
        self.skipped: dict[str, int] = {}

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + count

    def add(self, service: str | None, span: dict[str, Any]) -> None:
        if span.get("kind") not in SERVER_KINDS:
            self.skip("not a server span (kind != SPAN_KIND_SERVER)")
            return
        attributes = _attributes(span.get("attributes"))
        target = attributes.get("http.route") or attributes.get("url.path") or attributes.get("http.target")
        name = str(span.get("name") or "")
        named = _SPAN_NAME_ROUTE.match(name)
        if target is None and named:
            target = named.group(2)
        try:
            duration = (int(span["endTimeUnixNano"]) - int(span["startTimeUnixNano"])) / 1e6
        except (KeyError, TypeError, ValueError):
            duration = None
        row = self.columns
        row["target"].append(str(target) if target is not None else None)
        row["event"].append(None if target is not None else scrub_text(name))
        row["service"].append(service)
        row["method"].append(
            attributes.get("http.request.method")
            or attributes.get("http.method")
            or (named.group(1) if named else None)
        )
        status = attributes.get("http.response.status_code", attributes.get("http.status_code"))
        row["status"].append(int(status) if isinstance(status, int | str) and str(status).isdigit() else None)
        row["latency_ms"].append(duration if duration is not None and duration >= 0 else None)
        row["user_agent"].append(attributes.get("user_agent.original") or attributes.get("http.user_agent"))
        row["user"].append(attributes.get("enduser.id") or attributes.get("user.id"))
        if len(row["target"]) >= FLUSH_SPANS:
            self.flush()

    def flush(self) -> None:
        if not self.columns["target"]:
            return
        spans = pl.DataFrame(self.columns, schema=_SPAN_COLUMNS)
        self.columns = {name: [] for name in _SPAN_COLUMNS}
        stage_one = spans.select(route_expr(pl.col("target")))["target"]
        routes = [refine_route(route) if route is not None else None for route in stage_one.to_list()]
        flows = [
            self._flow(route, event, service)
            for route, event, service in zip(routes, spans["event"], spans["service"], strict=True)
        ]
        agents = [classify_user_agent(agent) for agent in spans["user_agent"].to_list()]
        rows = spans.with_columns(
            route=pl.Series(routes, dtype=pl.String),
            flow=pl.Series(flows, dtype=pl.String),
            platform=pl.Series([agent[0] for agent in agents], dtype=pl.String),
            browser=pl.Series([agent[1] for agent in agents], dtype=pl.String),
            traffic=pl.Series(["bot" if agent[2] else "app" for agent in agents], dtype=pl.String),
            user_key=user_keys(spans["user"], self.salt),
            method=pl.col("method").str.to_uppercase(),
            source=pl.lit(SOURCE),
            format=pl.lit("otlp_json"),
        )
        rows = rows.select(
            [
                (pl.col(name) if name in rows.columns else pl.lit(None)).cast(dtype).alias(name)
                for name, dtype in ROW_SCHEMA.items()
            ]
        )
        self.aggregator.add(self.codes.encode(rows))

    def _flow(self, route: str | None, event: str | None, service: str | None) -> str:
        if route is not None:
            flow = self.matcher.flow_of(route)
            if flow != UNMAPPED:
                return flow
        return self.catalog.canonical_flow(event) or self.catalog.canonical_flow(service) or UNMAPPED


_SPAN_COLUMNS = {
    "target": pl.String,
    "event": pl.String,
    "service": pl.String,
    "method": pl.String,
    "status": pl.Int32,
    "latency_ms": pl.Float64,
    "user_agent": pl.String,
    "user": pl.String,
}


def _read_file(path: Path, spans: _Spans) -> None:
    for number, document in _documents(path):
        if not isinstance(document, dict):
            spans.skip("not a JSON object (malformed or truncated line)")
            continue
        signal = next((name for key, name in _OTHER_SIGNALS.items() if key in document), None)
        if signal is not None:
            spans.skip(f"OTLP {signal}, not traces (only resourceSpans carry requests)")
            continue
        if "resourceSpans" not in document:
            spans.skip(f"no resourceSpans in the document at line {number}")
            continue
        for resource_spans in document.get("resourceSpans") or []:
            service = _attributes((resource_spans.get("resource") or {}).get("attributes")).get(
                "service.name"
            )
            scopes = (
                resource_spans.get("scopeSpans") or resource_spans.get("instrumentationLibrarySpans") or []
            )
            for scope in scopes:
                for span in scope.get("spans") or []:
                    spans.add(service, span)


def read_otel_traces(
    paths: list[Path], day: date, catalog: Catalog, *, salt: bytes | None = None
) -> UsageParsed:
    """Parse OTLP/JSON files of one day; counts in rejected are spans or documents, per file and reason."""
    codes = GroupCodes()
    aggregator = UsageAggregator(day, codes.decode)
    spans = _Spans(aggregator, codes, catalog, salt if salt is not None else pii_salt())
    for path in paths:
        spans.skipped = {}
        try:
            _read_file(path, spans)
        except ArtifactRejected as exc:
            spans.skip(str(exc))
        spans.flush()
        if spans.skipped:
            reasons = pl.DataFrame(
                {"reason": list(spans.skipped), "lines": list(spans.skipped.values())},
                schema={"reason": pl.String, "lines": pl.Int64},
            )
            aggregator.reject(path.name, "otlp_json", reasons)
    return aggregator.finish()
