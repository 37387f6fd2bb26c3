"""Access logs -> usage_events: NGINX combined and JSON, gateway JSON lines, AWS ALB / ELB, CloudFront.

Files are read in chunks of READ_BYTES (plain or gzip). NGINX chunks are split on `"` by Polars' CSV
reader (multi-threaded, memchr speed); other formats and odd NGINX lines are parsed per line with one
vectorised regex (or tab split, or JSON path lookups). Only mergeable aggregates survive a chunk
(parsers/usage.py), so a 1 GB day never sits in memory. Work that needs Python (route refinement, flow
matching, user-agent parsing, salted hashing of visitors) runs once per distinct value per read.

Every line is accounted for: it is a request in usage_events (static assets, health checks, bots and
garbage requests flagged in `traffic`) or a counted line in the rejected summary with its reason.
docs/usage.md lists the formats, the rules and the decisions.
"""

from __future__ import annotations

import gzip
import re
import threading
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path
from typing import BinaryIO, NamedTuple
from urllib.parse import unquote

import polars as pl

from testintel_assets.configuration import Catalog
from testintel_assets.parsers import ArtifactRejected
from testintel_assets.parsers.routes import INVALID_ROUTE, UNMAPPED, FlowMatcher, refine_route, route_expr
from testintel_assets.parsers.usage import (
    GROUP_BITS,
    UNKNOWN,
    UsageAggregator,
    UsageParsed,
    classify_user_agent,
    dimension_frame,
)
from testintel_assets.privacy import pii_salt, user_key_function

SOURCE = "access_logs"
CHUNK_BYTES = 16 << 20  # line chunks of the JSON-lines readers (analytics exports)
READ_BYTES = 24 << 20  # access-log chunks: ~125,000 lines; below glibc's 32 MiB mmap threshold
WORKER_THREADS = 3  # chunks parsed ahead of the one being aggregated: 3 beat 2 and 4 on 2 cores (workers wait on lookup locks)
SNIFF_BYTES = 65536

# What each format extractor yields per line; reason is null for a parsed request. `request` is the
# request line ("GET /path HTTP/1.1") or, for formats that log them apart, "METHOD<TAB>target".
REQUEST_SCHEMA = pl.Schema(
    {
        "line_no": pl.Int64,
        "reason": pl.String,
        "visitor": pl.String,
        "request": pl.String,
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
    """A recognised layout: its name and the extractor from a chunk to REQUEST_SCHEMA, one row per
    line, lines numbered from 1 within the chunk."""

    name: str
    extract: Callable[[bytes], pl.DataFrame]
    encoded_user_agents: bool = False


def _per_line(extract: Callable[[pl.DataFrame], pl.DataFrame]) -> Callable[[bytes], pl.DataFrame]:
    """An extractor over (line_no, line) frames as one over chunks."""
    return lambda chunk: extract(lines_frame(chunk, 1))


def _field_request(method: pl.Expr, target: pl.Expr) -> pl.Expr:
    """METHOD<TAB>target for formats that log them apart (the target may contain spaces)."""
    return pl.concat_str([method, target], separator="\t").alias("request")


def _request_parts(request: pl.Expr) -> list[pl.Expr]:
    """METHOD and target of a request; garbage ("", "-", "hello") yields null for both."""
    tabbed = request.str.splitn("\t", 2)
    spaced = request.str.splitn(" ", 3)
    is_tabbed = request.str.contains("\t", literal=True)
    target = pl.when(is_tabbed).then(tabbed.struct.field("field_1")).otherwise(spaced.struct.field("field_1"))
    method = pl.when(is_tabbed).then(tabbed.struct.field("field_0")).otherwise(spaced.struct.field("field_0"))
    return [pl.when(target.is_not_null()).then(method).alias("method"), target.alias("target")]


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
        "request",
        pl.col("status").cast(pl.Int32, strict=False),
        "user_agent",
        _seconds_to_ms(pl.col("line").str.extract(NGINX_TAIL_RE)),
    )


_TIME_FIELD_BYTES = len("[02/Mar/2025:10:00:00 +0000] ")
_QUOTE_FIELDS = pl.Schema({f"f{index}": pl.String for index in range(8)})


def _quote_split(chunk: bytes) -> pl.DataFrame:
    """The fields between double quotes of every line (f0..f7 but the unused referer f3; null when
    empty or absent)."""
    options = {
        "separator": '"',
        "quote_char": None,
        "has_header": False,
        "schema": _QUOTE_FIELDS,
        "columns": [0, 1, 2, 4, 5, 6, 7],
        "truncate_ragged_lines": True,
        "missing_columns": "insert",
    }
    try:
        return pl.read_csv(chunk, **options)
    except pl.exceptions.ComputeError:  # invalid UTF-8: replaced, as lines_frame does
        return pl.read_csv(chunk.decode("utf-8", "replace").encode("utf-8"), **options)


def _nginx(chunk: bytes) -> pl.DataFrame:
    """`combined` (optionally with a vhost prefix and trailing fields such as $request_time).

    NGINX escapes `"` inside fields as \\x22, so splitting on the quote character finds the fields;
    lines with exactly six quotes in the standard places take this path. The reader cannot tell an
    empty last field from a missing one, so when some line has nothing after the user agent, the
    line itself must end with the closing quote (a line cut inside the user agent does not). Other
    lines (a quoted X-Forwarded-For prefix, quoted fields after the user agent, garbage) take the
    regex path, and so does the whole chunk if the split rows ever disagree with its lines.
    """
    fields = _quote_split(chunk)
    lines = lines_frame(chunk, 1) if fields["f6"].null_count() else None
    if lines is not None and lines.height != fields.height:
        return _nginx_regex(lines)
    field = pl.col
    head, status_field = field("f0"), field("f2")
    bracket = head.str.find("[", literal=True)
    dash = head.str.find(" - ", literal=True)
    # $time_local is "[dd/Mon/yyyy:hh:mm:ss +zzzz] ": the visitor is all but the last 29 (ASCII) bytes
    standard_time = bracket == head.str.len_bytes() - _TIME_FIELD_BYTES
    status = status_field.str.slice(1, 3).cast(pl.Int32, strict=False)
    closed = field("f6").is_not_null()
    if lines is not None:
        closed = closed | pl.lit(lines["line"].str.ends_with('"'))
    fast = (
        head.str.ends_with("] ")
        & standard_time
        & status.is_not_null()
        & (status_field.str.slice(4, 1) == " ")
        & (field("f4") == " ")
        & (dash + 3 <= bracket)  # `remote_addr - remote_user` before [time]
        & field("f7").is_null()
        & closed
    ).fill_null(False)
    parsed = (
        fields.lazy()
        .select(
            fast.alias("fast"),
            pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("line_no"),
            pl.lit(None, pl.String).alias("reason"),
            head.str.head(-_TIME_FIELD_BYTES).alias("visitor"),
            field("f1").alias("request"),
            status.alias("status"),
            field("f5").alias("user_agent"),
            _seconds_to_ms(field("f6")),
        )
        .collect(engine="in-memory")
    )
    if parsed["fast"].all():
        return parsed.drop("fast")
    lines = lines if lines is not None else lines_frame(chunk, 1)
    if lines.height != fields.height:
        return _nginx_regex(lines)
    slow = _nginx_regex(lines.filter(~parsed["fast"]))
    return pl.concat([parsed.filter(pl.col("fast")).drop("fast"), slow])


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
        _field_request(pl.col("method"), pl.col("target")),
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
        groups.struct.field("6").alias("request"),
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
            _field_request(column("method"), column("target")),
            column("status").cast(pl.Int32, strict=False).alias("status"),
            column("user_agent").alias("user_agent"),
            (column("latency").cast(pl.Float64, strict=False) * 1000).alias("latency_ms"),
        )

    return _per_line(extract)


def sniff_format(head: bytes) -> LogFormat | None:
    """The layout of a log from its first bytes (decompressed), or None when unknown."""
    lines = [line.strip(b"\r") for line in head.split(b"\n")[:50] if line.strip()]
    fields_line = next((line for line in lines if line.startswith(b"#Fields:")), None)
    if fields_line is not None:
        names = fields_line.decode("utf-8", "replace")[len("#Fields:") :].split()
        return LogFormat("cloudfront", _cloudfront(names), encoded_user_agents=True)
    first = next((line for line in lines if not line.startswith(b"#")), b"")
    if first.startswith(b"{"):
        return LogFormat("json", _per_line(_json_lines))
    if _SNIFF_ALB.match(first):
        return LogFormat("alb", _per_line(_alb))
    if _SNIFF_ELB.match(first):
        return LogFormat("elb", _per_line(_alb))
    if _SNIFF_NGINX.search(first):
        return LogFormat("nginx", _nginx)
    return None


# ----------------------------------------------------------------------------- reading
def _open(path: Path) -> BinaryIO:
    """The file, decompressed when it is gzip (recognised by its magic bytes, not its name)."""
    with path.open("rb") as probe:
        is_gzip = probe.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if is_gzip else path.open("rb")


def _plain_chunks(handle: BinaryIO, chunk_bytes: int) -> Iterator[bytes]:
    """Finds each chunk's end with readline past `chunk_bytes`, then reads exactly up to it: one copy."""
    start = 0
    while True:
        handle.seek(start + chunk_bytes)
        handle.readline()
        end = handle.tell()
        handle.seek(start)
        if not (block := handle.read(end - start)):
            return
        yield block
        start = end


def _stream_chunks(handle: BinaryIO, chunk_bytes: int) -> Iterator[bytes]:
    """Decompressed streams cannot seek back: the rest of a cut line is read and joined on."""
    while block := handle.read(chunk_bytes):
        if not block.endswith(b"\n"):
            block = b"".join((block, handle.readline()))
        yield block


def line_chunks(path: Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Chunks of about `chunk_bytes` that end on a line boundary (the last one may lack its newline).

    glibc maps blocks above its mmap threshold afresh, and faulting their pages in costs as much as
    the reading itself. Freeing one block a little larger than a chunk raises that (dynamic, at most
    32 MiB) threshold, so chunks up to then are recycled from the heap instead.
    """
    bytes(chunk_bytes + (1 << 20))  # allocated and freed at once, see above
    try:
        with _open(path) as handle:
            chunks = _stream_chunks if isinstance(handle, gzip.GzipFile) else _plain_chunks
            yield from chunks(handle, chunk_bytes)
    except (OSError, EOFError, zlib.error) as exc:
        raise ArtifactRejected(f"{path.name}: unreadable compressed data ({exc})") from exc


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
# group code = format << 48 | endpoint << 22 | user-agent class << 10 | status: GROUP_BITS (51) bits
_STATUS_BITS, _AGENT_BITS, _ENDPOINT_BITS, _FORMAT_BITS = 10, 12, 26, 3
_AGENT_SHIFT = _STATUS_BITS
_ENDPOINT_SHIFT = _AGENT_SHIFT + _AGENT_BITS
_FORMAT_SHIFT = _ENDPOINT_SHIFT + _ENDPOINT_BITS
assert _FORMAT_SHIFT + _FORMAT_BITS == GROUP_BITS
_FIRST_SLOT_BITS = 12
_SLOTS_PER_VALUE = 8  # direct-mapped: about 1 value in 16 finds its slot taken
MAX_SLOT_BITS = 21  # direct-mapped lookup tables stop growing at 2 million slots
_U64_MAX = (1 << 64) - 1


class _Lookup:
    """Codes of the distinct strings of a read, computed once each (Python sees every value once).

    Values are keyed by Polars' in-process string hash: stable within one read, never stored. A line
    finds its codes with a gather from a direct-mapped table indexed by the top bits of its hash (no
    per-chunk hash table to build): each slot holds the first value seen with those bits. Values
    that find their slot taken wait in an overflow table, joined only for the few lines that miss.
    The table grows to keep at least _SLOTS_PER_VALUE slots per value, up to 2**MAX_SLOT_BITS slots (8
    bytes per slot and column); past that the overflow keeps the rest.
    """

    def __init__(self, compute: Callable[[pl.Series], pl.DataFrame], codes: pl.Schema) -> None:
        self._compute = compute
        self._entries = pl.Schema({"hash": pl.UInt64, **codes})
        self._values = 0
        self._lock = threading.Lock()  # worker threads share the tables, which grow in place
        self._build(_FIRST_SLOT_BITS, pl.DataFrame(schema=self._entries))

    def _build(self, bits: int, entries: pl.DataFrame) -> None:
        self._bits = bits
        index = pl.int_range(0, 1 << bits, dtype=pl.UInt64, eager=True)
        # An empty slot holds a hash whose top bits name another slot, so no line ever matches it.
        self._hashes = pl.select(
            pl.when(index == 0).then(pl.lit(_U64_MAX, pl.UInt64)).otherwise(0)
        ).to_series()
        self._codes = {
            name: pl.zeros(1 << bits, dtype, eager=True).alias(name) for name, dtype in self._entries.items()
        }
        del self._codes["hash"]
        self._overflow = pl.DataFrame(schema=self._entries)
        self._insert(entries)

    def _slot(self, hashes: pl.Series) -> pl.Series:
        return (hashes // (1 << (64 - self._bits))).cast(pl.UInt32)

    def _insert(self, entries: pl.DataFrame) -> None:
        """(hash, codes) of values new to the table: the first per free slot takes it, the rest overflow."""
        slots = self._slot(entries["hash"])
        free = self._slot(self._hashes.gather(slots)) != slots
        owners = (
            entries.with_columns(slot=slots).filter(free).unique("slot", keep="first", maintain_order=True)
        )
        self._hashes.scatter(owners["slot"], owners["hash"])
        for name, column in self._codes.items():
            column.scatter(owners["slot"], owners[name])
        rest = entries.join(owners, on="hash", how="anti")
        if rest.height:
            self._overflow = pl.concat([self._overflow, rest])

    def codes(self, hashes: pl.Series, values: pl.Series) -> pl.DataFrame:
        """The code columns of every line of a chunk, in line order."""
        with self._lock:
            return self._line_codes(hashes, values)

    def _line_codes(self, hashes: pl.Series, values: pl.Series) -> pl.DataFrame:
        slots = self._slot(hashes)
        coded = pl.DataFrame([column.gather(slots) for column in self._codes.values()])
        missed = (self._hashes.gather(slots) != hashes).arg_true()
        if missed.is_empty():
            return coded
        lines = pl.DataFrame({"hash": hashes.gather(missed), "value": values.gather(missed)})
        found = self._missed_codes(lines)
        return coded.with_columns(coded[name].scatter(missed, found[name]) for name in coded.columns)

    def _missed_codes(self, lines: pl.DataFrame) -> pl.DataFrame:
        """Codes of the lines whose value holds no slot: overflowed, or never seen (computed now)."""
        overflow = self._overflow
        if overflow.height > lines.height:  # keep the join the size of the lines that missed
            overflow = overflow.join(lines, on="hash", how="semi")
        found = lines.join(overflow, on="hash", how="left", maintain_order="left").drop("value")
        unseen = found.get_column(next(iter(self._codes))).is_null()
        if not unseen.any():
            return found.drop("hash")
        new = lines.filter(unseen).unique("hash", keep="first", maintain_order=True)
        coded = pl.concat([new.select("hash"), self._compute(new["value"])], how="horizontal")
        self._values += coded.height
        bits = min(max(self._bits, (self._values * _SLOTS_PER_VALUE - 1).bit_length()), MAX_SLOT_BITS)
        if bits > self._bits:
            self._build(bits, pl.concat([self._slot_entries(), self._overflow, coded]))
        else:
            self._insert(coded)
        fresh = lines.select("hash").join(coded, on="hash", how="left", maintain_order="left")
        return found.drop("hash").with_columns(pl.coalesce(found[name], fresh[name]) for name in self._codes)

    def _slot_entries(self) -> pl.DataFrame:
        table = pl.DataFrame({"hash": self._hashes, **self._codes})
        return table.filter(
            self._slot(self._hashes) == pl.int_range(0, table.height, dtype=pl.UInt32, eager=True)
        )


class _Codes:
    """Per-read dictionaries that turn requests, user agents and visitors into integer codes.

    An endpoint is a (normalised route, method) pair. Lines carry only integers through the
    aggregation; `decode` turns the surviving group codes back into usage_events dimensions.
    """

    def __init__(self, matcher: FlowMatcher, salt: bytes) -> None:
        self.matcher = matcher
        self.user_key = user_key_function(salt)
        self.endpoints: dict[tuple[str, str | None], int] = {}
        self.agents: dict[tuple[str, str, str | None], int] = {}
        self.formats: dict[str, int] = {}
        self.requests = _Lookup(self._request_codes, pl.Schema({"endpoint": pl.UInt64}))
        self.user_agents = {
            encoded: _Lookup(
                partial(self._agent_codes, encoded=encoded),
                pl.Schema({"agent_code": pl.UInt64, "agent_key": pl.UInt64}),
            )
            for encoded in (False, True)
        }
        self.visitors = _Lookup(self._visitor_keys, pl.Schema({"visitor_key": pl.UInt64}))
        self._endpoint_code(INVALID_ROUTE, None)

    def line_codes(self, requests: pl.DataFrame, encoded_user_agents: bool) -> pl.DataFrame:
        """endpoint, agent_code, agent_key, visitor_key of every line (worker threads share the lookups)."""
        hashed = requests.select(pl.col("request", "user_agent", "visitor").hash())
        lookups = {
            "request": self.requests,
            "user_agent": self.user_agents[encoded_user_agents],
            "visitor": self.visitors,
        }
        coded = [lookup.codes(hashed[name], requests[name]) for name, lookup in lookups.items()]
        return pl.concat(coded, how="horizontal")

    def _endpoint_code(self, route: str, method: str | None) -> int:
        code = self.endpoints.get((route, method))
        if code is None:
            code = self.endpoints[(route, method)] = min(len(self.endpoints), (1 << _ENDPOINT_BITS) - 1)
        return code

    def _request_codes(self, requests: pl.Series) -> pl.DataFrame:
        """Endpoint code per distinct request: stage 1 vectorised, stage 2 once per (method, route)."""
        parts = requests.to_frame("request").select(_request_parts(pl.col("request")))
        staged = parts.select("method", route_expr(pl.col("target")).alias("stage_one"))
        pairs = staged.unique()
        codes = [
            self._endpoint_code(refine_route(stage_one), method)
            if method is not None
            else self._endpoint_code(INVALID_ROUTE, None)
            for method, stage_one in pairs.iter_rows()
        ]
        coded = pairs.with_columns(endpoint=pl.Series(codes, dtype=pl.UInt64))
        return staged.join(
            coded, on=["method", "stage_one"], how="left", nulls_equal=True, maintain_order="left"
        ).select("endpoint")

    def _agent_codes(self, agents: pl.Series, encoded: bool) -> pl.DataFrame:
        """(agent_code, agent_key) per distinct user agent; empty and absent agents have key 0."""
        codes, keys = [], []
        for agent in agents.to_list():
            text = unquote(unquote(agent)) if encoded and agent else agent
            classes = classify_user_agent(text)
            code = self.agents.get(classes)
            if code is None:
                code = self.agents[classes] = min(len(self.agents), (1 << _AGENT_BITS) - 1)
            codes.append(code)
            keys.append(self.user_key(text) if text else 0)
        return pl.DataFrame(
            {"agent_code": codes, "agent_key": keys}, schema={"agent_code": pl.UInt64, "agent_key": pl.UInt64}
        )

    def _visitor_keys(self, visitors: pl.Series) -> pl.DataFrame:
        """Salted HMAC of each distinct client identity (IP, user, vhost); 0 when there is none."""
        keys = []
        for visitor in visitors.to_list():
            text = visitor.strip() if visitor else ""
            keys.append(self.user_key(text) if text else 0)
        return pl.DataFrame({"visitor_key": pl.Series(keys, dtype=pl.UInt64)})

    def format_code(self, name: str) -> int:
        return self.formats.setdefault(name, len(self.formats))

    def decode(self, groups: pl.Series) -> pl.DataFrame:
        endpoints = pl.DataFrame(
            [(code, route, method) for (route, method), code in self.endpoints.items()],
            schema={"endpoint_code": pl.UInt32, "route": pl.String, "method": pl.String},
            orient="row",
        ).unique("endpoint_code", keep="first")
        routes = endpoints.select("route").unique()
        routes = routes.with_columns(
            flow=pl.Series(
                [
                    self.matcher.flow_of(route) if route != INVALID_ROUTE else UNMAPPED
                    for route in routes["route"]
                ],
                dtype=pl.String,
            ),
            route_class=pl.Series(
                [route_class(route) if route != INVALID_ROUTE else None for route in routes["route"]],
                dtype=pl.String,
            ),
        )
        agents = pl.DataFrame(
            [(code, *classes) for classes, code in self.agents.items()],
            schema={
                "agent_code": pl.UInt32,
                "platform": pl.String,
                "browser": pl.String,
                "ua_class": pl.String,
            },
            orient="row",
        ).unique("agent_code", keep="first")
        formats = pl.DataFrame(
            {"format_code": list(self.formats.values()), "format": list(self.formats)},
            schema={"format_code": pl.UInt32, "format": pl.String},
        )
        frame = groups.to_frame("group").with_columns(
            endpoint_code=_field(pl.col("group"), _ENDPOINT_SHIFT, _ENDPOINT_BITS),
            format_code=_field(pl.col("group"), _FORMAT_SHIFT, _FORMAT_BITS),
            agent_code=_field(pl.col("group"), _AGENT_SHIFT, _AGENT_BITS),
            status=_field(pl.col("group"), 0, _STATUS_BITS).cast(pl.Int32),
        )
        frame = (
            frame.join(endpoints, on="endpoint_code", how="left")
            .join(routes, on="route", how="left")
            .join(agents, on="agent_code", how="left")
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


def _field(group: pl.Expr, shift: int, width: int) -> pl.Expr:
    return (group // (1 << shift) % (1 << width)).cast(pl.UInt32)


def _group_rows(
    requests: pl.DataFrame, log_format: LogFormat, codes: _Codes, format_code: int
) -> pl.DataFrame:
    """Parsed requests of one chunk -> (group, latency_ms, user_key): integers from here on."""
    coded = codes.line_codes(requests, log_format.encoded_user_agents)
    status = pl.col("status").cast(pl.UInt64, strict=False).fill_null(_NO_STATUS).clip(0, _NO_STATUS)
    group = (
        pl.lit(format_code << _FORMAT_SHIFT, pl.UInt64)
        + pl.col("endpoint") * pl.lit(1 << _ENDPOINT_SHIFT, pl.UInt64)
        + pl.col("agent_code") * pl.lit(1 << _AGENT_SHIFT, pl.UInt64)
        + status
    )
    user = pl.col("visitor_key").replace(0, None).xor(pl.col("agent_key") * pl.lit(_MIX, pl.UInt64))
    return pl.concat([requests.select("status", "latency_ms"), coded], how="horizontal").select(
        group.alias("group"), "latency_ms", user.alias("user_key")
    )


class _ChunkRows(NamedTuple):
    lines: int
    rejected: pl.DataFrame  # reason, lines, first_line (counted within the chunk)
    rows: pl.DataFrame  # group, latency_ms, user_key


def _in_order(function: Callable[[bytes], _ChunkRows], chunks: Iterable[bytes]) -> Iterator[_ChunkRows]:
    """function(chunk) for each chunk, in order, computed by WORKER_THREADS threads ahead of the caller.

    Polars, file reads and hashing release the GIL, so chunks are split, hashed and joined in
    parallel while the caller aggregates; at most WORKER_THREADS chunks run or wait ahead.
    """
    workers = ThreadPoolExecutor(max_workers=WORKER_THREADS)
    pending: deque[Future[_ChunkRows]] = deque()
    try:
        for chunk in chunks:
            pending.append(workers.submit(function, chunk))
            if len(pending) > WORKER_THREADS:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        workers.shutdown(cancel_futures=True)


_NO_REJECTS = pl.DataFrame(schema={"reason": pl.String, "lines": pl.Int64, "first_line": pl.Int64})


def _chunk_rows(chunk: bytes, log_format: LogFormat, codes: _Codes, format_code: int) -> _ChunkRows:
    requests = log_format.extract(chunk)
    if requests.get_column("reason").null_count() == requests.height:  # every line a request
        return _ChunkRows(requests.height, _NO_REJECTS, _group_rows(requests, log_format, codes, format_code))
    rejected = (
        requests.filter(pl.col("reason").is_not_null())
        .group_by("reason")
        .agg(pl.len().cast(pl.Int64).alias("lines"), pl.col("line_no").min().alias("first_line"))
    )
    rows = _group_rows(requests.filter(pl.col("reason").is_null()), log_format, codes, format_code)
    return _ChunkRows(requests.height, rejected, rows)


def _read_file(path: Path, aggregator: UsageAggregator, codes: _Codes) -> None:
    head = _head(path)
    if not head.strip():
        raise ArtifactRejected(f"{path.name}: empty file")
    log_format = sniff_format(head)
    if log_format is None:
        raise ArtifactRejected(
            f"{path.name}: unknown access log format (expected NGINX combined or JSON, ALB/ELB, CloudFront)"
        )
    coded = partial(
        _chunk_rows, log_format=log_format, codes=codes, format_code=codes.format_code(log_format.name)
    )
    lines_before = 0
    rejected: list[pl.DataFrame] = []
    for chunk in _in_order(coded, line_chunks(path, READ_BYTES)):
        if chunk.rejected.height:
            rejected.append(chunk.rejected.with_columns(pl.col("first_line") + lines_before))
        lines_before += chunk.lines
        aggregator.add(chunk.rows)
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
