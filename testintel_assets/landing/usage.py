"""Usage sources in the landing zone -> usage_events rows (interim readers until issue 5 lands)."""

from __future__ import annotations

import gzip
import json
import re
from datetime import date
from pathlib import Path

import polars as pl

from testintel_assets import schemas
from testintel_assets.configuration import Catalog

_NGINX = re.compile(r'^\S+ \S+ \S+ \[[^\]]+\] "(?P<method>\S+) (?P<path>\S+) [^"]*" (?P<status>\d{3}) ')


def _routes(catalog: Catalog) -> list[tuple[re.Pattern[str], str]]:
    patterns = []
    for flow in catalog.flows.flows:
        for route in flow.routes:
            regex = re.escape(route).replace(r"\*", "[^?]*")
            regex = re.sub(r"\\\{[a-z_]+\\\}", "[^/?]+", regex)
            patterns.append((re.compile(f"^{regex}$"), flow.name))
    return patterns


def _access_log(path: Path, day: date, catalog: Catalog) -> pl.DataFrame:
    opener = gzip.open if path.suffix == ".gz" else open
    routes = _routes(catalog)
    counts: dict[tuple[str, str, str], list[int]] = {}
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            match = _NGINX.match(line)
            if not match:
                continue
            route = match["path"].split("?")[0]
            flow = next((name for pattern, name in routes if pattern.match(route)), "unmapped")
            traffic = "static" if route.startswith("/static") else ("health" if route[-1:] == "z" else "app")
            key = (flow, traffic, match["status"][0] + "xx")
            entry = counts.setdefault(key, [0, 0])
            entry[0] += 1
            entry[1] += match["status"].startswith("5")
    rows = [
        {
            "day": day,
            "flow": flow,
            "traffic": traffic,
            "status_class": status,
            "events": n,
            "errors": e,
            "source": "nginx",
            "platform": "web",
            "tier": "unknown",
        }
        for (flow, traffic, status), (n, e) in counts.items()
    ]
    return (
        schemas.conform(pl.DataFrame(rows), schemas.USAGE_EVENTS)
        if rows
        else schemas.empty(schemas.USAGE_EVENTS)
    )


def _mixpanel(path: Path, day: date, catalog: Catalog) -> pl.DataFrame:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        flow = catalog.flow_by_event.get(event["event"], "unmapped")
        rows.append(
            {
                "flow": flow,
                "route": event["event"],
                "tier": event["properties"].get("plan") or "unknown",
                "platform": event["properties"].get("mp_lib"),
                "user": event["properties"].get("distinct_id"),
            }
        )
    if not rows:
        return schemas.empty(schemas.USAGE_EVENTS)
    frame = (
        pl.DataFrame(rows)
        .group_by("flow", "route", "tier", "platform")
        .agg(pl.len().alias("events"), pl.col("user").n_unique().alias("users"))
    )
    return schemas.conform(
        frame.with_columns(
            pl.lit(day).alias("day"),
            pl.lit("mixpanel").alias("source"),
            pl.lit("app").alias("traffic"),
            pl.lit(0).alias("errors"),
        ),
        schemas.USAGE_EVENTS,
    )


def read_usage_days(landing_root: Path, days: list[date], catalog: Catalog) -> pl.DataFrame:
    parts = []
    for day in days:
        for path in sorted((landing_root / "access_logs" / day.isoformat()).glob("*")):
            parts.append(_access_log(path, day, catalog))
        for path in sorted((landing_root / "mixpanel" / day.isoformat()).glob("*.jsonl")):
            parts.append(_mixpanel(path, day, catalog))
    return pl.concat(parts) if parts else schemas.empty(schemas.USAGE_EVENTS)
