"""Access logs -> usage_events: NGINX combined and JSON, gateway JSON lines, AWS ALB / Classic ELB, CloudFront.

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
from testintel_assets.parsers.routes import INVALID_ROUTE, FlowMatcher, refine_route, route_expr
from testintel_assets.parsers.usage import (
    ROW_SCHEMA,
    UsageAggregator,
    UsageParsed,
    user_agent_frame,
)
from testintel_assets.privacy import pii_salt, user_key

SOURCE = "access_logs"
CHUNK_BYTES = 64 << 20
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
    extract: Callable[[pl.LazyFrame], pl.LazyFrame]
    encoded_user_agents: bool = False


def _request_parts(request: pl.Expr) -> list[pl.Expr]:
    parts = request.str.extract_groups(REQUEST_LINE_RE)
    return [parts.struct.field("1").alias("method"), parts.struct.field("2").alias("target")]


def _nginx(lines: pl.LazyFrame) -> pl.LazyFrame:
    """`combined` (optionally with a vhost or XFF prefix and trailing fields such as $request_time)."""
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
        .when(pl.col("visitor").str.count_matches(" ", literal=True) < 3)
        .then(pl.lit("not NGINX combined: remote_addr, ident and user fields missing before [time]"))
        .alias("reason"),
        "visitor",
        *_request_parts(pl.col("request")),
        pl.col("status").cast(pl.Int32, strict=False),
        "user_agent",
        (pl.col("line").str.extract(NGINX_TAIL_RE).cast(pl.Float64, strict=False) * 1000).alias("latency_ms"),
    )


def _json_field(*paths: str) -> pl.Expr:
    return pl.coalesce([pl.col("line").str.json_path_match(path) for path in paths])


def _json_lines(lines: pl.LazyFrame) -> pl.LazyFrame:
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
        _json_field("$.status", "$.response.status", "$.status_code").cast(pl.Int32, strict=False).alias(
            "status"
        ),
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
        _json_field(
            "$.http_user_agent", "$.user_agent", "$.request.headers['user-agent']", "$.agent"
        ).alias("user_agent"),
        pl.coalesce(
            milliseconds.cast(pl.Float64, strict=False), seconds.cast(pl.Float64, strict=False) * 1000
        ).alias("latency_ms"),
    )


def _alb(lines: pl.LazyFrame) -> pl.LazyFrame:
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


def _cloudfront(field_names: list[str]) -> Callable[[pl.LazyFrame], pl.LazyFrame]:
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

    def extract(lines: pl.LazyFrame) -> pl.LazyFrame:
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


def _line_chunks(path: Path) -> Iterator[bytes]:
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


def _lines_frame(chunk: bytes, first_line: int) -> pl.LazyFrame:
    """(line_no, line) for one chunk; invalid UTF-8 is replaced rather than failing the chunk."""
    try:
        frame = pl.read_lines(chunk, row_index_name="line_no", row_index_offset=first_line)
    except pl.exceptions.ComputeError:
        text = chunk.decode("utf-8", "replace").encode("utf-8")
        frame = pl.read_lines(text, row_index_name="line_no", row_index_offset=first_line)
    return frame.lazy().with_columns(pl.col("line_no").cast(pl.Int64))


@dataclass
class _Context:
    """Per-read state: the flow matcher, the salt and caches shared by all chunks and files."""

    matcher: FlowMatcher
    salt: bytes

    def route_lookup(self, stage_one: pl.Series) -> pl.DataFrame:
        distinct = stage_one.unique().to_list()
        refined = [INVALID_ROUTE if value == INVALID_ROUTE else refine_route(value) for value in distinct]
        return pl.DataFrame(
            {
                "route1": distinct,
                "route": refined,
                "flow": [self.matcher.flow_of(route) for route in refined],
                "route_class": [route_class(route) for route in refined],
            },
            schema={"route1": pl.String, "route": pl.String, "flow": pl.String, "route_class": pl.String},
        )

    def visitor_lookup(self, requests: pl.DataFrame) -> pl.DataFrame:
        firsts = requests.filter(pl.col("visitor").is_not_null() & (pl.col("visitor") != "")).unique(
            subset="visitor_hash", keep="any"
        )
        keys = [
            user_key(f"{visitor}\x00{agent or ''}", self.salt)
            for visitor, agent in zip(firsts["visitor"], firsts["user_agent"], strict=True)
        ]
        return pl.DataFrame(
            {"visitor_hash": firsts["visitor_hash"], "user_key": pl.Series(keys, dtype=pl.UInt64)}
        )


STATIC_EXTENSIONS = (
    "css js mjs map png jpg jpeg gif svg ico webp avif bmp tif tiff woff woff2 ttf otf eot mp4 webm mp3 "
    "wav ogg m4a mov avi flv swf txt gz zip"
).split()
_STATIC_RE = re.compile(
    r"(?i)(?:\.(?:" + "|".join(STATIC_EXTENSIONS) + r")$)|^/(?:static|assets|_next/static|dist|fonts)(?:/|$)"
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


def _usage_rows(requests: pl.DataFrame, log_format: LogFormat, context: _Context) -> pl.DataFrame:
    """Parsed requests of one chunk -> usage rows (ROW_SCHEMA), with per-distinct lookups joined in."""
    requests = requests.with_columns(
        pl.when(pl.col("method").is_null())
        .then(pl.lit(INVALID_ROUTE))
        .otherwise(route_expr(pl.col("target")))
        .alias("route1"),
        pl.struct("visitor", "user_agent").hash().alias("visitor_hash"),
    )
    if log_format.encoded_user_agents:
        agents = requests["user_agent"].drop_nulls().unique().to_list()
        decoded = {agent: unquote(unquote(agent)) for agent in agents}
        requests = requests.with_columns(pl.col("user_agent").replace(decoded))
    rows = (
        requests.lazy()
        .join(context.route_lookup(requests["route1"]).lazy(), on="route1", how="left")
        .join(user_agent_frame(requests["user_agent"]).lazy(), on="user_agent", how="left")
        .join(context.visitor_lookup(requests).lazy(), on="visitor_hash", how="left")
        .with_columns(
            traffic=pl.when(pl.col("route") == INVALID_ROUTE)
            .then(pl.lit("invalid"))
            .when((pl.col("route_class") == "health") | (pl.col("ua_class") == "probe"))
            .then(pl.lit("health"))
            .when(pl.col("ua_class") == "bot")
            .then(pl.lit("bot"))
            .when(pl.col("route_class") == "static")
            .then(pl.lit("static"))
            .otherwise(pl.lit("app")),
            method=pl.col("method").str.to_uppercase(),
            source=pl.lit(SOURCE),
            format=pl.lit(log_format.name),
        )
    )
    return rows.select(
        [
            (pl.col(name) if name in rows.collect_schema() else pl.lit(None)).cast(dtype).alias(name)
            for name, dtype in ROW_SCHEMA.items()
        ]
    ).collect()


def _read_file(path: Path, aggregator: UsageAggregator, context: _Context) -> None:
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
    for chunk in _line_chunks(path):
        lines = _lines_frame(chunk, first_line)
        requests = log_format.extract(lines).collect()
        first_line += requests.height
        bad = requests.filter(pl.col("reason").is_not_null())
        if bad.height:
            rejected.append(
                bad.group_by("reason").agg(pl.len().alias("lines"), pl.col("line_no").min().alias("first_line"))
            )
        aggregator.add(_usage_rows(requests.filter(pl.col("reason").is_null()), log_format, context))
    if rejected:
        summary = pl.concat(rejected).group_by("reason").agg(pl.col("lines").sum(), pl.col("first_line").min())
        aggregator.reject(path.name, log_format.name, summary.sort("first_line"))


def _count_lines(path: Path) -> int:
    try:
        return sum(chunk.count(b"\n") + (not chunk.endswith(b"\n")) for chunk in _line_chunks(path))
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
    aggregator = UsageAggregator(day)
    context = _Context(FlowMatcher(catalog), salt if salt is not None else pii_salt())
    for path in paths:
        try:
            _read_file(path, aggregator, context)
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
