"""Access logs -> usage_events: NGINX combined and JSON, gateway JSON lines, AWS ALB / ELB, CloudFront.

Files are read in chunks of CHUNK_BYTES (plain or gzip), each chunk is split into lines and parsed with
one vectorised regex (or tab split, or JSON path lookups) in Polars, and only mergeable aggregates
survive a chunk (parsers/usage.py), so a 1 GB day never sits in memory. Work that needs Python (route
refinement, flow matching, user-agent parsing, salted hashing of visitors) runs once per distinct value.

Every line is accounted for: it is a request in usage_events (static assets, health checks, bots and
garbage requests flagged in `traffic`) or a counted line in the rejected summary with its reason.
docs/usage.md lists the formats, the rules and the decisions.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

import polars as pl

from testintel_assets.configuration import Catalog
from testintel_assets.parsers import ArtifactRejected
from testintel_assets.parsers.routes import INVALID_ROUTE, UNMAPPED, FlowMatcher, refine_route, route_expr
from testintel_assets.parsers.usage import (
    UNKNOWN,
    UsageAggregator,
    UsageParsed,
    classify_user_agent,
    dimension_frame,
)
from testintel_assets.privacy import pii_salt, user_key

SOURCE = "access_logs"
CHUNK_BYTES = 16 << 20
SNIFF_BYTES = 65536

# What each format extractor yields per line; reason is null for a parsed request.
REQUEST_SCHEMA = pl.Schema(
    {
        "line_no": pl.Int64,
        "reason": pl.String,
        "visitor": pl.String,
        "method": pl.String,
        "target": pl.String,
        "status": pl.Int32,
        "user_agent": pl.String,
        "latency_ms": pl.Float64,
    }
)

# ----------------------------------------------------------------------------- formats
# One-pass regexes (each byte decides the next state) so Polars' regex engine extracts captures in a
# single forward scan; everything is anchored at the start of the line.
NGINX_RE = r'^([^\[]*)\[[^\]]*\] "([^"]*)" ([0-9]{3}|-) [^ ]* "[^"]*" "([^"]*)"'
NGINX_TAIL_RE = r" ([0-9]+\.[0-9]+)$"
ALB_RE = (
    r"^(?:(?:https?|h2|wss?|grpcs) )?[0-9]{4}-[0-9]{2}-[0-9]{2}T[^ ]+ [^ ]+ ([^ ]*):[0-9]+ [^ ]+ "
    r'([^ ]+) ([^ ]+) ([^ ]+) ([^ ]+) [^ ]+ [^ ]+ [^ ]+ "([^"]*)" "([^"]*)"'
)
REQUEST_LINE_RE = r"^([A-Za-z]+) ([^ ]+)"

_SNIFF_ALB = re.compile(rb"^(?:https?|h2|wss?|grpcs) \d{4}-\d\d-\d\dT\S+ \S+ ")
_SNIFF_ELB = re.compile(rb"^\d{4}-\d\d-\d\dT\S+ \S+ \S+:\d+ ")
_SNIFF_NGINX = re.compile(rb'\[\d\d/[A-Za-z]{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "')

_CLOUDFRONT_NAMES = {
    "method": ("cs-method",),
    "target": ("cs-uri-stem",),
    "status": ("sc-status",),
    "user_agent": ("cs(User-Agent)", "cs-user-agent"),
    "visitor": ("c-ip",),
    "latency": ("time-taken",),
}


@dataclass(frozen=True)
class LogFormat:
    """A recognised layout: its name and the extractor from (line_no, line) to REQUEST_SCHEMA."""

    name: str
    extract: Callable[[pl.DataFrame], pl.DataFrame]
    encoded_user_agents: bool = False


def _request_parts(request: pl.Expr) -> list[pl.Expr]:
    """METHOD and target of a request line; garbage ("", "-", "hello") yields null for both."""
    parts = request.str.splitn(" ", 3)
    target = parts.struct.field("field_1")
    return [
        pl.when(target.is_not_null()).then(parts.struct.field("field_0")).alias("method"),
        target.alias("target"),
    ]


def _seconds_to_ms(seconds: pl.Expr) -> pl.Expr:
    return (seconds.str.strip_chars().cast(pl.Float64, strict=False) * 1000).alias("latency_ms")


_NGINX_PREFIX_REASON = "not NGINX combined: remote_addr - remote_user missing before [time]"


def _nginx_regex(lines: pl.DataFrame) -> pl.DataFrame:
    """`combined` by regex: handles quoted X-Forwarded-For prefixes and other shifted layouts."""
    groups = pl.col("line").str.extract_groups(NGINX_RE)
    parsed = lines.select(
        "line_no",
        "line",
        groups.struct.field("1").alias("visitor"),
        groups.struct.field("2").alias("request"),
        groups.struct.field("3").alias("status"),
        groups.struct.field("4").alias("user_agent"),
    )
    return parsed.select(
        "line_no",
        pl.when(pl.col("line") == "")
        .then(pl.lit("blank line"))
        .when(pl.col("request").is_null())
        .then(pl.lit('not NGINX combined: expected [time] "request" status bytes "referer" "user-agent"'))
        .when(~pl.col("visitor").str.contains(" - ", literal=True))
        .then(pl.lit(_NGINX_PREFIX_REASON))
        .alias("reason"),
        "visitor",
        *_request_parts(pl.col("request")),
        pl.col("status").cast(pl.Int32, strict=False),
        "user_agent",
        _seconds_to_ms(pl.col("line").str.extract(NGINX_TAIL_RE)),
    )


def _nginx(lines: pl.DataFrame) -> pl.DataFrame:
    """`combined` (optionally with a vhost prefix and trailing fields such as $request_time).

    NGINX escapes `"` inside fields as \\x22, so splitting on the quote character finds the fields at
    memchr speed; lines whose layout differs (a quoted X-Forwarded-For prefix, quoted fields after the
    user agent, garbage) take the regex path instead.
    """
    fields = pl.col("parts").struct.field
    head, status_field = fields("field_0"), fields("field_2")
    status = status_field.str.slice(1, 3).cast(pl.Int32, strict=False)
    visitor = head.str.slice(0, head.str.find("[", literal=True))
    fast_ok = (
        head.str.ends_with("] ")
        & status.is_not_null()
        & (status_field.str.slice(4, 1) == " ")
        & (fields("field_4") == " ")
        & visitor.str.contains(" - ", literal=True)
        & ~fields("field_6").str.contains('"', literal=True)
    )
    split = lines.with_columns(parts=pl.col("line").str.splitn('"', 7)).with_columns(
        fast=fast_ok.fill_null(False)
    )
    fast = split.filter(pl.col("fast")).select(
        "line_no",
        pl.lit(None, pl.String).alias("reason"),
        visitor.alias("visitor"),
        *_request_parts(fields("field_1")),
        status.alias("status"),
        fields("field_5").alias("user_agent"),
        _seconds_to_ms(fields("field_6")),
    )
    slow = split.filter(~pl.col("fast"))
    return pl.concat([fast, _nginx_regex(slow.select("line_no", "line"))]) if slow.height else fast


def _json_field(*paths: str) -> pl.Expr:
    return pl.coalesce([pl.col("line").str.json_path_match(path) for path in paths])


def _json_lines(lines: pl.DataFrame) -> pl.DataFrame:
    """NGINX `log_format ... escape=json` (keys named after the variables) and gateway JSON lines."""
    request = _json_field("$.request")
    method = _json_field("$.request.method", "$.request_method", "$.method")
    target = _json_field("$.request.uri", "$.request.url", "$.request_uri", "$.uri", "$.path", "$.url")
    seconds = _json_field("$.request_time", "$.upstream_response_time")
    milliseconds = _json_field("$.latencies.request", "$.duration_ms", "$.latency_ms")
    parsed = lines.with_columns(
        valid=pl.col("line").str.starts_with("{") & pl.col("line").str.json_path_match("$").is_not_null(),
        request_method=method,
        request_target=target,
        request_line=request,
    ).with_columns(
        pl.when(pl.col("request_method").is_null() & pl.col("request_line").is_not_null())
        .then(pl.col("request_line").str.extract(REQUEST_LINE_RE, 1))
        .otherwise(pl.col("request_method"))
        .alias("method"),
        pl.when(pl.col("request_target").is_null() & pl.col("request_line").is_not_null())
        .then(pl.col("request_line").str.extract(REQUEST_LINE_RE, 2))
        .otherwise(pl.col("request_target"))
        .alias("target"),
        _json_field("$.status", "$.response.status", "$.status_code")
        .cast(pl.Int32, strict=False)
        .alias("status"),
    )
    return parsed.select(
        "line_no",
        pl.when(pl.col("line") == "")
        .then(pl.lit("blank line"))
        .when(~pl.col("valid"))
        .then(pl.lit("not a JSON object (malformed or truncated line)"))
        .when(pl.col("status").is_null() & pl.col("request_line").is_null() & pl.col("target").is_null())
        .then(pl.lit("JSON object without request fields (status, request or uri)"))
        .alias("reason"),
        pl.concat_str(
            [_json_field("$.remote_addr", "$.client_ip", "$.ip"), _json_field("$.remote_user")],
            separator=" ",
            ignore_nulls=True,
        ).alias("visitor"),
        "method",
        "target",
        "status",
        _json_field("$.http_user_agent", "$.user_agent", "$.request.headers['user-agent']", "$.agent").alias(
            "user_agent"
        ),
        pl.coalesce(
            milliseconds.cast(pl.Float64, strict=False), seconds.cast(pl.Float64, strict=False) * 1000
        ).alias("latency_ms"),
    )


def _alb(lines: pl.DataFrame) -> pl.DataFrame:
    """Application Load Balancer (http, https, h2, ws, wss, grpcs) and Classic ELB lines."""
    groups = pl.col("line").str.extract_groups(ALB_RE)
    timings = [groups.struct.field(str(index)).cast(pl.Float64, strict=False) for index in (2, 3, 4)]
    total = timings[0] + timings[1] + timings[2]
    return lines.select(
        "line_no",
        pl.when(pl.col("line") == "")
        .then(pl.lit("blank line"))
        .when(groups.struct.field("6").is_null())
        .then(pl.lit("not an ALB/ELB access log line"))
        .alias("reason"),
        groups.struct.field("1").alias("visitor"),
        *_request_parts(groups.struct.field("6")),
        groups.struct.field("5").cast(pl.Int32, strict=False).alias("status"),
        groups.struct.field("7").alias("user_agent"),
        # -1 in any timing means the request never reached a target: no latency for it.
        pl.when(pl.min_horizontal(timings) >= 0).then(total * 1000).alias("latency_ms"),
    )


def _cloudfront(field_names: list[str]) -> Callable[[pl.DataFrame], pl.DataFrame]:
    """Standard (and real-time) logs: tab-separated values in the order the #Fields header names."""
    index = {
        key: next((field_names.index(name) for name in names if name in field_names), None)
        for key, names in _CLOUDFRONT_NAMES.items()
    }
    missing = [key for key in ("method", "target", "status") if index[key] is None]

    def column(key: str) -> pl.Expr:
        position = index[key]
        if position is None:
            return pl.lit(None, pl.String)
        value = pl.col("fields").list.get(position, null_on_oob=True)
        return pl.when(value != "-").then(value)

    def extract(lines: pl.DataFrame) -> pl.DataFrame:
        reason_missing = (
            f"CloudFront log without HTTP request fields ({', '.join(missing)} absent from #Fields; "
            "RTMP streaming logs record connections, not requests)"
        )
        split = lines.with_columns(fields=pl.col("line").str.split("\t"))
        return split.select(
            "line_no",
            pl.when(pl.col("line") == "")
            .then(pl.lit("blank line"))
            .when(pl.col("line").str.starts_with("#"))
            .then(pl.lit("header line (#Version / #Fields)"))
            .when(pl.lit(bool(missing)))
            .then(pl.lit(reason_missing))
            .when(pl.col("fields").list.len() < len(field_names))
            .then(pl.lit(f"fewer tab-separated values than the {len(field_names)} #Fields names"))
            .alias("reason"),
            column("visitor").alias("visitor"),
            column("method").alias("method"),
            column("target").alias("target"),
            column("status").cast(pl.Int32, strict=False).alias("status"),
            column("user_agent").alias("user_agent"),
            (column("latency").cast(pl.Float64, strict=False) * 1000).alias("latency_ms"),
        )

    return extract


def sniff_format(head: bytes) -> LogFormat | None:
    """The layout of a log from its first bytes (decompressed), or None when unknown."""
    lines = [line.strip(b"\r") for line in head.split(b"\n")[:50] if line.strip()]
    fields_line = next((line for line in lines if line.startswith(b"#Fields:")), None)
    if fields_line is not None:
        names = fields_line.decode("utf-8", "replace")[len("#Fields:") :].split()
        return LogFormat("cloudfront", _cloudfront(names), encoded_user_agents=True)
    first = next((line for line in lines if not line.startswith(b"#")), b"")
    if first.startswith(b"{"):
        return LogFormat("json", _json_lines)
    if _SNIFF_ALB.match(first):
        return LogFormat("alb", _alb)
    if _SNIFF_ELB.match(first):
        return LogFormat("elb", _alb)
    if _SNIFF_NGINX.search(first):
        return LogFormat("nginx", _nginx)
    return None


# ----------------------------------------------------------------------------- reading
def _open(path: Path) -> BinaryIO:
    """The file, decompressed when it is gzip (recognised by its magic bytes, not its name)."""
    with path.open("rb") as probe:
        is_gzip = probe.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if is_gzip else path.open("rb")


def _raw_stream(path: Path) -> Iterator[bytes]:
    try:
        with _open(path) as handle:
            while block := handle.read(CHUNK_BYTES):
                yield block
    except (OSError, EOFError, zlib.error) as exc:
        raise ArtifactRejected(f"{path.name}: unreadable compressed data ({exc})") from exc


def line_chunks(path: Path) -> Iterator[bytes]:
    """Chunks that end on a line boundary (the last one may lack its newline)."""
    carry = b""
    for block in _raw_stream(path):
        block = carry + block
        cut = block.rfind(b"\n") + 1
        if cut == 0:
            carry = block
            continue
        carry = block[cut:]
        yield block[:cut]
    if carry:
        yield carry


def _head(path: Path) -> bytes:
    try:
        with _open(path) as handle:
            return handle.read(SNIFF_BYTES)
    except (OSError, EOFError, zlib.error) as exc:
        raise ArtifactRejected(f"{path.name}: unreadable compressed data ({exc})") from exc


def lines_frame(chunk: bytes, first_line: int) -> pl.DataFrame:
    """(line_no, line) for one chunk; invalid UTF-8 is replaced rather than failing the chunk."""
    try:
        frame = pl.read_lines(chunk, row_index_name="line_no", row_index_offset=first_line)
    except pl.exceptions.ComputeError:
        text = chunk.decode("utf-8", "replace").encode("utf-8")
        frame = pl.read_lines(text, row_index_name="line_no", row_index_offset=first_line)
    return frame.with_columns(pl.col("line_no").cast(pl.Int64))


_MIX = 0x9E3779B97F4A7C15  # odd 64-bit constant (golden ratio) to mix two keyed hashes into one
_NO_STATUS = 1023


class _Codes:
    """Per-read dictionaries that turn routes, user agents, methods and statuses into one u64 group code.

    group = route << 32 | user-agent class << 20 | method << 10 | status. Lines only carry integers
    through the aggregation; `decode` turns the surviving codes back into usage_events dimensions.
    """

    def __init__(self, matcher: FlowMatcher, salt: bytes) -> None:
        self.matcher = matcher
        self.salt = salt
        self.routes: dict[str, int] = {}
        self.route_rows: list[tuple[str, str, str | None]] = []
        self.agents: dict[tuple[str, str, str | None], int] = {}
        # keyed by Polars' in-process string hash: stable within one read, never stored
        self.agent_cache: dict[int, tuple[int, int]] = {}
        self.visitor_cache: dict[int, int] = {}
        self.methods: dict[str, int] = {}
        self.formats: dict[int, str] = {}
        self.invalid_route = self._route_code(INVALID_ROUTE)
        self.unknown_agent = self._agent_code(classify_user_agent(None))

    def _route_code(self, route: str) -> int:
        code = self.routes.get(route)
        if code is None:
            code = self.routes[route] = len(self.route_rows)
            flow = self.matcher.flow_of(route) if route != INVALID_ROUTE else UNMAPPED
            self.route_rows.append((route, flow, route_class(route) if route != INVALID_ROUTE else None))
        return code

    def _agent_code(self, classes: tuple[str, str, str | None]) -> int:
        code = self.agents.get(classes)
        if code is None:
            code = self.agents[classes] = min(len(self.agents), 4095)
        return code

    def targets(self, requests: pl.DataFrame) -> pl.DataFrame:
        """(target_hash, route_code) per distinct target: stage 1 vectorised, stage 2 per distinct route."""
        distinct = requests.select("target_hash", "target").drop_nulls("target").unique("target_hash")
        stage_one = distinct.select(route_expr(pl.col("target")))["target"].to_list()
        codes = [self._route_code(refine_route(route)) for route in stage_one]
        return distinct.select("target_hash", route_code=pl.Series(codes, dtype=pl.UInt64))

    def user_agents(self, requests: pl.DataFrame, encoded: bool) -> pl.DataFrame:
        """(agent_hash, agent_code, agent_key) per distinct user agent, each parsed once per read."""
        distinct = requests.select("agent_hash", "user_agent").drop_nulls("user_agent").unique("agent_hash")
        cache, rows = self.agent_cache, []
        for agent_hash, agent in distinct.iter_rows():
            cached = cache.get(agent_hash)
            if cached is None:
                text = unquote(unquote(agent)) if encoded else agent
                cached = cache[agent_hash] = (
                    self._agent_code(classify_user_agent(text)),
                    user_key(text, self.salt),
                )
            rows.append(cached)
        return pl.DataFrame(
            {
                "agent_hash": distinct["agent_hash"],
                "agent_code": pl.Series([row[0] for row in rows], dtype=pl.UInt64),
                "agent_key": pl.Series([row[1] for row in rows], dtype=pl.UInt64),
            }
        )

    def visitors(self, requests: pl.DataFrame) -> pl.DataFrame:
        """(visitor_hash, visitor_key): salted HMAC of each distinct client identity (IP, user, vhost)."""
        distinct = requests.select("visitor_hash", "visitor").drop_nulls("visitor").unique("visitor_hash")
        cache, salt, keys = self.visitor_cache, self.salt, []
        for visitor_hash, visitor in distinct.iter_rows():
            key = cache.get(visitor_hash)
            if key is None:
                key = cache[visitor_hash] = user_key(visitor.strip(), salt) if visitor.strip() else 0
            keys.append(key)
        return distinct.select("visitor_hash", visitor_key=pl.Series(keys, dtype=pl.UInt64))

    def method_code(self, methods: pl.Series) -> dict[str, int]:
        for method in methods.drop_nulls().unique().to_list():
            if method not in self.methods:
                self.methods[method] = min(len(self.methods) + 1, 1023)
        return self.methods

    def format_code(self, name: str) -> int:
        code = next((code for code, known in self.formats.items() if known == name), len(self.formats))
        self.formats[code] = name
        return code

    def decode(self, groups: pl.Series) -> pl.DataFrame:
        route = pl.DataFrame(
            self.route_rows,
            schema={"route": pl.String, "flow": pl.String, "route_class": pl.String},
            orient="row",
        ).with_row_index("route_code")
        agents = pl.DataFrame(
            {
                "agent_code": list(self.agents.values()),
                "platform": [key[0] for key in self.agents],
                "browser": [key[1] for key in self.agents],
                "ua_class": [key[2] for key in self.agents],
            },
            schema={
                "agent_code": pl.UInt32,
                "platform": pl.String,
                "browser": pl.String,
                "ua_class": pl.String,
            },
        ).unique("agent_code")
        methods = pl.DataFrame(
            {"method_code": [0, *self.methods.values()], "method": [None, *self.methods]},
            schema={"method_code": pl.UInt32, "method": pl.String},
        ).unique("method_code")
        formats = pl.DataFrame(
            {"format_code": list(self.formats), "format": list(self.formats.values())},
            schema={"format_code": pl.UInt32, "format": pl.String},
        )
        frame = groups.to_frame("group").with_columns(
            route_code=_field(pl.col("group"), 32, 24),
            format_code=_field(pl.col("group"), 56, 8),
            agent_code=_field(pl.col("group"), 20, 12),
            method_code=_field(pl.col("group"), 10, 10),
            status=_field(pl.col("group"), 0, 10).cast(pl.Int32),
        )
        frame = (
            frame.join(route, on="route_code", how="left")
            .join(agents, on="agent_code", how="left")
            .join(methods, on="method_code", how="left")
            .join(formats, on="format_code", how="left")
        )
        frame = frame.with_columns(
            status=pl.when(pl.col("status") != _NO_STATUS).then(pl.col("status")),
            traffic=pl.when(pl.col("route") == INVALID_ROUTE)
            .then(pl.lit("invalid"))
            .when((pl.col("route_class") == "health") | (pl.col("ua_class") == "probe"))
            .then(pl.lit("health"))
            .when(pl.col("ua_class") == "bot")
            .then(pl.lit("bot"))
            .when(pl.col("route_class") == "static")
            .then(pl.lit("static"))
            .otherwise(pl.lit("app")),
            source=pl.lit(SOURCE),
            event=pl.lit(None, pl.String),
            persona=pl.lit(UNKNOWN),
            tier=pl.lit(UNKNOWN),
        )
        return dimension_frame(frame)


STATIC_EXTENSIONS = (
    "css|js|mjs|map|png|jpg|jpeg|gif|svg|ico|webp|avif|bmp|tif|tiff|woff|woff2|ttf|otf|eot|"
    "mp4|webm|mp3|wav|ogg|m4a|mov|avi|flv|swf|txt|gz|zip"
)
_STATIC_RE = re.compile(
    r"(?i)(?:\.(?:" + STATIC_EXTENSIONS + r")$)|^/(?:static|assets|_next/static|dist|fonts)(?:/|$)"
)
_HEALTH_RE = re.compile(
    r"(?i)^(?:/api)?/(?:_?health(?:z|check|-check)?|readyz?|readiness|livez?|liveness|ping|status|"
    r"metrics|server-status|nginx_status|elb-status|actuator/health)(?:/.*)?$"
)


def route_class(route: str) -> str | None:
    """'health' for probes' endpoints, 'static' for assets, None for application routes."""
    if _HEALTH_RE.match(route):
        return "health"
    if _STATIC_RE.search(route):
        return "static"
    return None


def _shifted(value: pl.Expr, bits: int) -> pl.Expr:
    return value * pl.lit(1 << bits, pl.UInt64)


def _field(group: pl.Expr, bits: int, width: int) -> pl.Expr:
    return (group // (1 << bits) % (1 << width)).cast(pl.UInt32)


def _group_rows(requests: pl.DataFrame, log_format: LogFormat, codes: _Codes) -> pl.DataFrame:
    """Parsed requests of one chunk -> (group, latency_ms, user_key); lookups join on u64 hashes."""
    requests = requests.with_columns(
        target_hash=pl.col("target").hash(),
        agent_hash=pl.col("user_agent").hash(),
        visitor_hash=pl.col("visitor").hash(),
    )
    methods = codes.method_code(requests["method"])
    rows = (
        requests.lazy()
        .join(codes.targets(requests).lazy(), on="target_hash", how="left")
        .join(codes.user_agents(requests, log_format.encoded_user_agents).lazy(), on="agent_hash", how="left")
        .join(codes.visitors(requests).lazy(), on="visitor_hash", how="left")
    )
    route = (
        pl.when(pl.col("method").is_null())
        .then(pl.lit(codes.invalid_route, pl.UInt64))
        .otherwise(pl.col("route_code"))
    )
    status = pl.col("status").cast(pl.UInt64, strict=False).fill_null(_NO_STATUS).clip(0, _NO_STATUS)
    group = (
        _shifted(pl.lit(codes.format_code(log_format.name), pl.UInt64), 56)
        + _shifted(route, 32)
        + _shifted(pl.col("agent_code").fill_null(codes.unknown_agent), 20)
        + _shifted(pl.col("method").replace_strict(methods, default=0, return_dtype=pl.UInt64), 10)
        + status
    )
    visitor = pl.col("visitor_key").replace(0, None)
    user = visitor.xor(pl.col("agent_key").fill_null(0) * pl.lit(_MIX, pl.UInt64))
    return rows.select(group.alias("group"), "latency_ms", user.alias("user_key")).collect()


def _read_file(path: Path, aggregator: UsageAggregator, codes: _Codes) -> None:
    head = _head(path)
    if not head.strip():
        raise ArtifactRejected(f"{path.name}: empty file")
    log_format = sniff_format(head)
    if log_format is None:
        raise ArtifactRejected(
            f"{path.name}: unknown access log format (expected NGINX combined or JSON, ALB/ELB, CloudFront)"
        )
    first_line = 1
    rejected: list[pl.DataFrame] = []
    for chunk in line_chunks(path):
        lines = lines_frame(chunk, first_line)
        requests = log_format.extract(lines)
        first_line += requests.height
        bad = requests.filter(pl.col("reason").is_not_null())
        if bad.height:
            rejected.append(
                bad.group_by("reason").agg(
                    pl.len().alias("lines"), pl.col("line_no").min().alias("first_line")
                )
            )
        aggregator.add(_group_rows(requests.filter(pl.col("reason").is_null()), log_format, codes))
    if rejected:
        summary = (
            pl.concat(rejected).group_by("reason").agg(pl.col("lines").sum(), pl.col("first_line").min())
        )
        aggregator.reject(path.name, log_format.name, summary.sort("first_line"))


def _count_lines(path: Path) -> int:
    try:
        return sum(chunk.count(b"\n") + (not chunk.endswith(b"\n")) for chunk in line_chunks(path))
    except ArtifactRejected:
        return 0


def read_access_logs(
    paths: Iterable[Path], day: date, catalog: Catalog, *, salt: bytes | None = None
) -> UsageParsed:
    """Parse access log files of one day into usage_events rows, rejected-line counts and user sketch.

    `day` (the landing folder's date, i.e. the partition) is stamped on every row: a rotated file that
    spills a few minutes into the next day stays in the partition it was delivered to. A file that
    cannot be read at all is one rejected entry with its line count.
    """
    codes = _Codes(FlowMatcher(catalog), salt if salt is not None else pii_salt())
    aggregator = UsageAggregator(day, codes.decode)
    for path in paths:
        try:
            _read_file(path, aggregator, codes)
        except ArtifactRejected as exc:
            reason = pl.DataFrame(
                {"reason": [str(exc)], "lines": [_count_lines(path)], "first_line": [1]},
                schema={"reason": pl.String, "lines": pl.Int64, "first_line": pl.Int64},
            )
            aggregator.reject(path.name, "unknown", reason)
    return aggregator.finish()


def access_log_files(folder: Path) -> list[Path]:
    """The files of a landing day folder, in name order; partial writes (dot files) are skipped."""
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.rglob("*") if path.is_file() and not path.name.startswith("."))


def read_access_log_folder(
    folder: Path, day: date, catalog: Catalog, *, salt: bytes | None = None
) -> UsageParsed:
    """`read_access_logs` over `landing/access_logs/<day>/`."""
    return read_access_logs(access_log_files(folder), day, catalog, salt=salt)
