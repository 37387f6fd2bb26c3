"""Shared machinery of the usage readers: user-agent classes, mergeable aggregates, the output frames.

Every usage reader (access logs, OpenTelemetry, Mixpanel, Amplitude) turns its input, chunk by chunk,
into *usage rows* (one per request or event, columns `ROW_SCHEMA`) and feeds them to a
`UsageAggregator`. The aggregator keeps only mergeable partial aggregates, so memory is bounded by the
number of distinct groups, never by the number of lines:
- counts per group and latency bucket (a log-scale histogram with 2 % relative buckets, DDSketch-style),
  from which the p95 is read at the end;
- a bottom-k sketch (k = SKETCH_K) of keyed user hashes per group: exact below k users, about 3 %
  relative error above, and mergeable across chunks, files and days (docs/usage.md, "Distinct users").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import NamedTuple

import polars as pl
import ua_parser

from testintel_assets.schemas import USAGE_EVENTS, USAGE_REJECTS, USAGE_USERS, conform, empty

SKETCH_K = 1024
LATENCY_GAMMA = 1.02  # bucket i covers (gamma^(i-1), gamma^i] ms: p95 within 1 % of the exact value
UNKNOWN = "unknown"

# The usage_events columns a reader knows per request or event; the rest are aggregates.
DIMENSIONS = [
    name
    for name in USAGE_EVENTS
    if name not in ("day", "status_class", "events", "users", "errors", "p95_latency_ms")
]
# What each reader produces per request or event before aggregation.
ROW_SCHEMA = pl.Schema(
    {**{name: USAGE_EVENTS[name] for name in DIMENSIONS}, "latency_ms": pl.Float64, "user_key": pl.UInt64}
)
_FILLED = ["traffic", "platform", "browser", "persona", "tier"]


class UsageParsed(NamedTuple):
    """What a usage reader returns: usage_events rows, the rejected-lines summary, the user sketch."""

    events: pl.DataFrame
    rejected: pl.DataFrame
    users: pl.DataFrame


# ------------------------------------------------------------------------------ user agents
API_CLIENTS = frozenset(
    {
        "curl",
        "wget",
        "python requests",
        "python-requests",
        "python-urllib",
        "go-http-client",
        "java",
        "apache-httpclient",
        "axios",
        "node-fetch",
        "postmanruntime",
        "insomnia",
        "httpie",
        "libwww-perl",
        "ruby",
        "faraday",
        "guzzlehttp",
        "aiohttp",
        "httpx",
    }
)
PROBE_MARKERS = (
    "elb-healthchecker",
    "kube-probe",
    "googlehc",
    "consul health check",
    "uptimerobot",
    "pingdom",
    "statuscake",
    "site24x7",
    "amazon-route53-health-check",
    "blackbox exporter",
    "healthcheck",
)


@lru_cache(maxsize=100_000)
def classify_user_agent(user_agent: str | None) -> tuple[str, str, str | None]:
    """(platform, browser family, 'bot' | 'probe' | None) for one distinct user-agent string.

    platform: ios / android for native apps (non-browser clients on those OSes, WebViews), web for
    browsers on any OS, api for HTTP libraries and unknown non-browser clients, bot for crawlers.
    """
    if not user_agent or user_agent == "-":
        return UNKNOWN, UNKNOWN, None
    lowered = user_agent.lower()
    if any(marker in lowered for marker in PROBE_MARKERS):
        return "bot", user_agent.split("/", 1)[0][:40], "probe"
    result = ua_parser.parse(user_agent)
    browser = result.user_agent.family if result.user_agent else "Other"
    os_family = result.os.family if result.os else ""
    if result.device and result.device.family == "Spider":
        return "bot", browser, "bot"
    is_browser = lowered.startswith(("mozilla/", "opera/"))
    if os_family in ("iOS", "iPadOS") or "cfnetwork" in lowered or "alamofire" in lowered:
        return ("web" if is_browser else "ios"), browser, None
    if os_family == "Android" or lowered.startswith(("okhttp", "dalvik")):
        webview = "; wv)" in lowered or "WebView" in browser
        return ("android" if webview or not is_browser else "web"), browser, None
    if is_browser:
        return "web", browser, None
    if browser.lower() in API_CLIENTS or browser == "Other":
        return "api", browser if browser != "Other" else user_agent.split("/", 1)[0][:40], None
    return "api", browser, None


# ----------------------------------------------------------------------- mergeable aggregates
GROUP_BITS = 51  # readers hand UsageAggregator group codes below 2**GROUP_BITS
_SLOTS = 2048  # latency slot per group: 0 = no latency, bucket + _SLOT_OFFSET otherwise
_SLOT_OFFSET = 701  # buckets run from -700 (at or below 1 µs) to 1047 (just below 10^9 ms)
MERGE_ROWS = 1 << 24  # partial rows (8-16 bytes each) an aggregator holds before merging them


def latency_bucket(latency_ms: pl.Expr) -> pl.Expr:
    """Log-scale bucket index; latencies at or below 1 µs share bucket -700, absurd values are dropped."""
    return (
        pl.when((latency_ms > 0.001) & (latency_ms < 1e9))
        .then((latency_ms.log() / math.log(LATENCY_GAMMA)).ceil())
        .when((latency_ms >= 0) & (latency_ms < 1e9))
        .then(pl.lit(-700.0))
        .cast(pl.Int16)
    )


def _histogram_key(group: pl.Expr, latency_ms: pl.Expr) -> pl.Expr:
    """group * 2048 + latency slot: one u64 whose sort order is (group, bucket), so runs are counts."""
    slot = (latency_bucket(latency_ms).cast(pl.Int64) + _SLOT_OFFSET).fill_null(0).cast(pl.UInt64)
    return group.cast(pl.UInt64) * _SLOTS + slot


def _bucket_value(bucket: pl.Expr) -> pl.Expr:
    """The value that represents a bucket with the smallest worst-case relative error (DDSketch)."""
    upper = pl.lit(LATENCY_GAMMA).pow(bucket.cast(pl.Float64))
    return pl.when(bucket == -700).then(0.0).otherwise(2 * upper / (1 + LATENCY_GAMMA))


def bottom_k(frame: pl.DataFrame, keys: list[str], k: int = SKETCH_K) -> pl.DataFrame:
    """Per group of `keys`, the k smallest distinct user_key values (a KMV distinct-count sketch)."""
    return (
        frame.drop_nulls("user_key")
        .group_by(keys)
        .agg(pl.col("user_key").unique().bottom_k(k))
        .explode("user_key")
    )


def dimension_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """`group` plus every DIMENSIONS column (null where the source has no such dimension)."""
    return frame.select(
        "group",
        *[
            (pl.col(name) if name in frame.columns else pl.lit(None)).cast(ROW_SCHEMA[name]).alias(name)
            for name in DIMENSIONS
        ],
    )


class GroupCodes:
    """Opaque group codes for rows that carry their dimensions as columns (analytics, traces).

    A code is the 64-bit hash of the dimensions cut to GROUP_BITS: two groups of one read share a code
    with probability about groups^2 / 2^52 (2e-6 for 100,000 groups).
    """

    def __init__(self) -> None:
        self._tables: list[pl.DataFrame] = []

    def encode(self, rows: pl.DataFrame) -> pl.DataFrame:
        """`rows` (ROW_SCHEMA) -> (group, latency_ms, user_key); the dimensions are remembered."""
        rows = rows.with_columns(pl.col(_FILLED).fill_null(UNKNOWN)).with_columns(
            group=pl.struct(DIMENSIONS).hash() % (1 << GROUP_BITS)
        )
        self._tables.append(rows.select("group", *DIMENSIONS).unique("group"))
        return rows.select("group", "latency_ms", "user_key")

    def decode(self, groups: pl.Series) -> pl.DataFrame:
        frame = groups.to_frame("group")
        if self._tables:
            frame = frame.join(pl.concat(self._tables).unique("group"), on="group", how="left")
        return dimension_frame(frame)


@dataclass
class UsageAggregator:
    """Accumulates (group, latency_ms, user_key) rows chunk by chunk; `finish` decodes the groups.

    A chunk leaves one u64 histogram key per row (group and latency bucket) and its (group, user)
    pairs. Past a row budget they are merged: keys sorted and run-length counted into histogram
    counts, pairs cut to per-group bottom-k sketches. `decode` maps group codes (below
    2**GROUP_BITS) to the DIMENSIONS columns, so per-line work never touches strings twice.
    """

    day: date
    decode: Callable[[pl.Series], pl.DataFrame]
    _keys: list[pl.Series] = field(default_factory=list)
    _counts: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema={"key": pl.UInt64, "events": pl.Int64})
    )
    _users: list[pl.DataFrame] = field(default_factory=list)
    _rejected: list[pl.DataFrame] = field(default_factory=list)
    merge_rows: int = MERGE_ROWS  # partial rows held before the first merge

    def __post_init__(self) -> None:
        self._merge_at = self.merge_rows

    def add(self, rows: pl.DataFrame | pl.LazyFrame) -> None:
        frame = (
            rows.lazy()
            .select(_histogram_key(pl.col("group"), pl.col("latency_ms")).alias("key"), "group", "user_key")
            .collect(engine="in-memory")
        )
        self._keys.append(frame["key"])
        self._users.append(frame.select("group", "user_key").drop_nulls("user_key"))
        pending = sum(keys.len() for keys in self._keys) + sum(users.height for users in self._users)
        if pending > self._merge_at:
            self._merge()

    def reject(self, file: str, fmt: str, reasons: pl.DataFrame) -> None:
        """`reasons`: columns reason, lines, first_line for one file."""
        self._rejected.append(
            reasons.with_columns(file=pl.lit(file), format=pl.lit(fmt), day=pl.lit(self.day, pl.Date))
        )

    def _merge(self) -> None:
        """Fold the partials into counts and sketches; the next merge waits for twice their rows, so
        memory stays bounded by the budget, the groups and the sketches, and rows merge few times."""
        if self._keys:
            runs = pl.concat(self._keys).sort().rle().struct.unnest()
            runs = runs.select(pl.col("value").alias("key"), pl.col("len").cast(pl.Int64).alias("events"))
            if self._counts.height:
                runs = pl.concat([self._counts, runs]).group_by("key").agg(pl.col("events").sum())
            self._counts = runs
            self._keys = []
        if self._users:
            self._users = [bottom_k(pl.concat(self._users), ["group"])]
        self._merge_at = max(2 * (self._counts.height + self._users[0].height), self.merge_rows)

    def finish(self) -> UsageParsed:
        rejected = (
            conform(pl.concat(self._rejected), USAGE_REJECTS) if self._rejected else empty(USAGE_REJECTS)
        )
        if not self._keys and not self._counts.height:
            return UsageParsed(empty(USAGE_EVENTS), rejected, empty(USAGE_USERS))
        self._merge()
        counts = self._counts.with_columns(group=pl.col("key") // _SLOTS)
        users = self._users[0]
        dimensions = self.decode(counts["group"].unique())
        per_group_users = users.group_by("group").agg(_estimate(pl.col("user_key")).alias("users"))
        events = (
            _events_with_p95(counts)
            .join(per_group_users, on="group", how="left")
            .join(dimensions, on="group", how="left")
            .with_columns(
                day=pl.lit(self.day, pl.Date),
                errors=pl.when(pl.col("status") >= 500).then(pl.col("events")).otherwise(0),
                status_class=pl.when(pl.col("status").is_between(100, 599)).then(
                    (pl.col("status") // 100).cast(pl.String) + "xx"
                ),
            )
        )
        app_groups = dimensions.filter(pl.col("traffic") == "app").select("group", "source", "flow")
        app_users = users.join(app_groups, on="group").select("source", "flow", "user_key")
        sketch = bottom_k(app_users, ["source", "flow"]).with_columns(day=pl.lit(self.day, pl.Date))
        return UsageParsed(
            conform(events.sort(DIMENSIONS, nulls_last=True), USAGE_EVENTS),
            rejected,
            conform(sketch.sort("source", "flow", "user_key"), USAGE_USERS),
        )


def _estimate(keys: pl.Expr, k: int = SKETCH_K) -> pl.Expr:
    """Distinct count from one group's bottom-k keys: exact below k, (k-1)/(k-th smallest / 2^64) above."""
    count = keys.len()
    kth = keys.max()  # the sketch holds the k smallest keys, so its maximum is the k-th smallest
    return (
        pl.when(count < k)
        .then(count.cast(pl.Int64))
        .otherwise(
            (pl.lit(float(k - 1)) * pl.lit(2.0**64) / kth.cast(pl.Float64))
            .round()
            .cast(pl.Int64, strict=False)
        )
    )


def estimate_users(sketch: pl.DataFrame, keys: list[str], k: int = SKETCH_K) -> pl.DataFrame:
    """Distinct users per group of `keys` from bottom-k sketch rows (merging days or sources)."""
    merged = bottom_k(sketch.select([*keys, "user_key"]), keys, k)
    return merged.group_by(keys).agg(_estimate(pl.col("user_key"), k).alias("users"))


def _events_with_p95(counts: pl.DataFrame) -> pl.DataFrame:
    """Totals per group and the nearest-rank p95 read off each group's latency histogram.

    `counts`: key (group and slot, see _histogram_key), group, events.
    """
    totals = counts.group_by("group").agg(pl.col("events").sum())
    p95 = (
        counts.filter(pl.col("key") % _SLOTS > 0)
        .sort("key")
        .with_columns(
            cumulative=pl.col("events").cum_sum().over("group"),
            timed_total=pl.col("events").sum().over("group"),
        )
        .filter(pl.col("cumulative") >= (pl.col("timed_total") * 0.95).ceil())
        .group_by("group")
        .agg(pl.col("key").min())
        .select(
            "group",
            _bucket_value((pl.col("key") % _SLOTS).cast(pl.Int64) - _SLOT_OFFSET).alias("p95_latency_ms"),
        )
    )
    return totals.join(p95, on="group", how="left")


def top_unmapped_routes(events: pl.DataFrame, limit: int = 20) -> pl.DataFrame:
    """The busiest human routes and events that no flow claims: what to add to config/flows.yaml."""
    unmapped = events.filter((pl.col("flow") == "unmapped") & (pl.col("traffic") == "app"))
    total = unmapped["events"].sum() or 0
    return (
        unmapped.group_by("source", "route", "event")
        .agg(pl.col("events").sum(), pl.col("errors").sum())
        .with_columns(share=pl.col("events") / total if total else pl.lit(0.0))
        .sort(["events", "route"], descending=[True, False], nulls_last=True)
        .head(limit)
    )
