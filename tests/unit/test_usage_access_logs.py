"""Access logs: every real fixture reconciles with its line count; counts match an independent count."""

from __future__ import annotations

import gzip
import re
from collections import Counter
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from testintel_assets.configuration import load_catalog
from testintel_assets.parsers.access_logs import (
    READ_BYTES,
    read_access_log_folder,
    read_access_logs,
    sniff_format,
)
from testintel_assets.parsers.routes import FlowMatcher, refine_route, route_expr
from testintel_assets.parsers.usage import (
    MERGE_ROWS,
    SKETCH_K,
    UsageAggregator,
    dimension_frame,
    top_unmapped_routes,
)
from testintel_assets.schemas import USAGE_EVENTS, USAGE_REJECTS, USAGE_USERS

DAY = date(2025, 3, 2)
SALT = b"test-salt"
ACCESS_LOGS = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "access-logs"
ALL_FIXTURES = sorted(path for path in ACCESS_LOGS.rglob("*") if path.is_file())


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _line_count(path: Path) -> int:
    data = path.read_bytes()
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_line_of_every_real_fixture_is_parsed_or_rejected(path: Path, catalog) -> None:
    parsed = read_access_logs([path], DAY, catalog, salt=SALT)
    assert parsed.events.schema == USAGE_EVENTS
    assert parsed.rejected.schema == USAGE_REJECTS
    assert parsed.users.schema == USAGE_USERS
    accounted = parsed.events["events"].sum() + parsed.rejected["lines"].sum()
    assert accounted == _line_count(path)
    assert parsed.rejected["reason"].null_count() == 0


def test_real_formats_are_recognised_by_content() -> None:
    names = {path.name: sniff_format(path.read_bytes()[:65536]).name for path in ALL_FIXTURES}
    assert names["beats--test-with-host.log"] == "nginx"
    assert names["elb-log-analyzer--AppELBLog.log"] == "alb"
    assert names["cg-elb-log-ingestor--examples-from-docs.log"] == "elb"
    assert names["node-cloudfront-log-parser--web-1-0-2019-12.txt"] == "cloudfront"
    assert names["lnav--logfile_json3.json"] == "json"


def test_nginx_variants_keep_garbage_requests_as_invalid_traffic(catalog) -> None:
    parsed = read_access_logs(sorted((ACCESS_LOGS / "nginx").glob("beats--*")), DAY, catalog, salt=SALT)
    invalid = parsed.events.filter(pl.col("traffic") == "invalid")
    # "" (twice: test.log and test-with-host.log) and "hello": all answered 400 by NGINX
    assert invalid["events"].sum() == 3
    assert set(invalid["status"].to_list()) == {400}
    bots = parsed.events.filter(pl.col("traffic") == "bot")
    assert bots["browser"].to_list() == ["Facebot"]
    static = parsed.events.filter(pl.col("traffic") == "static")["route"].to_list()
    assert "/favicon.ico" in static and "/assets/xxxx" in static


def test_bad_nginx_line_is_rejected_with_its_line_number(catalog) -> None:
    parsed = read_access_logs(
        [ACCESS_LOGS / "nginx" / "lnav--logfile_bad_access_log.0"], DAY, catalog, salt=SALT
    )
    assert parsed.rejected.select("lines", "first_line").row(0) == (1, 2)
    assert "remote_addr" in parsed.rejected["reason"][0]


def test_alb_status_and_protocol_counts_match_an_independent_count(catalog) -> None:
    path = ACCESS_LOGS / "aws-alb" / "elb-log-analyzer--AppELBLog.log"
    expected = Counter(line.split(" ")[8] for line in path.read_text().splitlines())
    parsed = read_access_logs([path], DAY, catalog, salt=SALT)
    counted = parsed.events.group_by("status").agg(pl.col("events").sum())
    assert {str(status): events for status, events in counted.iter_rows()} == dict(expected)
    assert parsed.events["p95_latency_ms"].is_not_null().any()


def test_rtmp_cloudfront_lines_are_rejected_with_a_reason(catalog) -> None:
    parsed = read_access_logs(
        [ACCESS_LOGS / "cloudfront" / "node-cloudfront-log-parser--rtmp-1-0.txt"], DAY, catalog, salt=SALT
    )
    assert parsed.events.is_empty()
    reasons = dict(zip(parsed.rejected["reason"], parsed.rejected["lines"], strict=True))
    assert reasons["header line (#Version / #Fields)"] == 2
    assert sum(reasons.values()) == 8


def test_cloudfront_double_encoded_user_agents_are_decoded(catalog) -> None:
    path = ACCESS_LOGS / "cloudfront" / "node-cloudfront-log-parser--web-1-0.txt"
    parsed = read_access_logs([path], DAY, catalog, salt=SALT)
    assert set(parsed.events["platform"]) == {"web"}
    assert set(parsed.events["browser"]) == {"Mobile Safari"}


def _write_nginx(path: Path, lines: list[str], compress: bool = False) -> None:
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if compress else data)


UA_CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0"
UA_IOS_APP = "Shop/4.2.0 (iPhone; iOS 17.1; Scale/3.00)"


def _line(ip: str, request: str, status: int, agent: str, seconds: float) -> str:
    return f'{ip} - - [02/Mar/2025:10:00:00 +0000] "{request}" {status} 512 "-" "{agent}" {seconds:.3f}'


def test_routes_flows_users_and_p95_from_a_generated_day(tmp_path: Path, catalog) -> None:
    folder = tmp_path / "access_logs" / DAY.isoformat()
    folder.mkdir(parents=True)
    lines = []
    for index in range(200):
        lines.append(
            _line(
                f"10.0.0.{index % 20}",
                f"GET /api/cart/items/{index} HTTP/1.1",
                200,
                UA_CHROME,
                (index + 1) / 1000,
            )
        )
    for index in range(50):
        lines.append(
            _line(f"10.0.1.{index % 5}", "POST /checkout/shipping?coupon=X HTTP/2.0", 503, UA_IOS_APP, 0.5)
        )
    lines.append(_line("10.0.2.1", "GET /brand-new-page HTTP/1.1", 200, UA_CHROME, 0.01))
    _write_nginx(folder / "access.log.1.gz", lines[:120], compress=True)
    _write_nginx(folder / "access.log", lines[120:])
    parsed = read_access_log_folder(folder, DAY, catalog, salt=SALT)
    events = parsed.events
    cart = events.filter(pl.col("flow") == "cart")
    assert cart["route"].unique().to_list() == ["/api/cart/items/{id}"]
    assert cart["events"].sum() == 200 and cart["users"].sum() == 20
    # nearest-rank p95 of 1..200 ms is 190 ms; the histogram answers within 1 %
    assert cart["p95_latency_ms"][0] == pytest.approx(190, rel=0.01)
    checkout = events.filter(pl.col("flow") == "checkout")
    assert checkout.select("route", "method", "status", "status_class", "platform").row(0) == (
        "/checkout/shipping",
        "POST",
        503,
        "5xx",
        "ios",
    )
    assert checkout["errors"].sum() == 50
    assert top_unmapped_routes(events)["route"].to_list() == ["/brand-new-page"]
    assert set(parsed.users["flow"]) == {"cart", "checkout", "unmapped"}
    assert events["events"].sum() == len(lines)


@pytest.mark.parametrize(
    ("target", "route"),
    [
        ("/api/orders/12345/invoice?download=1", "/api/orders/{id}/invoice"),
        ("/api/payments/3f2504e0-4f89-11d3-9a0c-0305e82c3301/confirm", "/api/payments/{uuid}/confirm"),
        ("/static/app.1d9d45a67df4.js", "/static/app.{hash}.js"),
        ("/users/jane.doe@example.com/profile", "/users/{email}/profile"),
        ("/users/jane.doe%40example.com", "/users/{email}"),
        ("http://shop.example.com:80/cart/", "/cart"),
        ("/reset/Zk3vQ9xTq2LmN8pR4sW7yB1c", "/reset/{token}"),
        ("/apple-touch-icon-114x114.png", "/apple-touch-icon-114x114.png"),
        ("/a;jsessionid=ABC123/b", "/a"),
    ],
)
def test_route_normalisation(target: str, route: str) -> None:
    stage_one = pl.DataFrame({"target": [target]}).select(route_expr(pl.col("target")))["target"][0]
    assert refine_route(stage_one) == route


def test_most_specific_flow_pattern_wins(catalog) -> None:
    matcher = FlowMatcher(catalog)
    assert matcher.flow_of("/api/orders") == "checkout"
    assert matcher.flow_of("/api/orders/{id}") == "order_history"
    assert matcher.flow_of("/checkout/a/b") == "checkout"
    assert matcher.flow_of("/products/blue-shirt") == "product_view"
    assert matcher.flow_of("/nowhere") == "unmapped"


def test_unknown_and_empty_files_are_rejected_whole(tmp_path: Path, catalog) -> None:
    (tmp_path / "empty.log").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("hello\nworld\n")
    parsed = read_access_logs([tmp_path / "empty.log", tmp_path / "notes.txt"], DAY, catalog, salt=SALT)
    reasons = dict(zip(parsed.rejected["file"], parsed.rejected["reason"], strict=True))
    assert "empty file" in reasons["empty.log"]
    assert "unknown access log format" in reasons["notes.txt"]
    assert parsed.rejected.filter(pl.col("file") == "notes.txt")["lines"][0] == 2
    assert parsed.events.is_empty()


def test_truncated_gzip_is_rejected_not_crashed(tmp_path: Path, catalog) -> None:
    data = gzip.compress(
        ("\n".join([_line("1.2.3.4", "GET / HTTP/1.1", 200, UA_CHROME, 0.1)] * 5000)).encode()
    )
    (tmp_path / "cut.log.gz").write_bytes(data[: len(data) // 2])
    parsed = read_access_logs([tmp_path / "cut.log.gz"], DAY, catalog, salt=SALT)
    assert re.search("unreadable compressed data", parsed.rejected["reason"][0])


def test_invalid_utf8_bytes_do_not_fail_the_file(tmp_path: Path, catalog) -> None:
    good = _line("1.2.3.4", "GET /cart HTTP/1.1", 200, UA_CHROME, 0.1).encode()
    (tmp_path / "latin1.log").write_bytes(good + b"\n" + good.replace(b"/cart", b"/caf\xe9") + b"\n")
    parsed = read_access_logs([tmp_path / "latin1.log"], DAY, catalog, salt=SALT)
    assert parsed.events["events"].sum() == 2


def _nearest_rank_p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[-(-len(ordered) * 95 // 100) - 1]


def test_a_multi_chunk_day_matches_an_independent_count_plain_and_gzipped(tmp_path: Path, catalog) -> None:
    """More lines than one read chunk holds: chunks are parsed in parallel and merged in order."""
    templates = [
        ("GET", "/api/orders/{n}", "/api/orders/{id}"),
        ("POST", "/api/cart/items/{n}", "/api/cart/items/{id}"),
        ("GET", "/checkout/shipping?coupon={n}", "/checkout/shipping"),
        ("GET", "/static/app.{n:012x}.js", "/static/app.{hash}.js"),
    ]
    agents = {UA_CHROME: "web", UA_IOS_APP: "ios"}
    statuses = [200, 200, 200, 304, 404, 503]
    bad_lines = {
        5: "",  # blank
        100_001: '10.9.9.9 - - [02/Mar/2025:10:00:00 +0000] "GET /cart HTTP/1.1" 200 5 "-" "Mozilla/5.0 (Win',
        140_000: '10.9.9.9 [02/Mar/2025:10:00:00 +0000] "GET /cart HTTP/1.1" 200 5 "-" "curl/8.0" 0.001',
    }
    lines: list[str] = []
    events: Counter[tuple[str, str, int, str]] = Counter()
    users: dict[tuple[str, str, int, str], set[tuple[str, str]]] = {}
    latencies: dict[tuple[str, str, int, str], list[float]] = {}
    for number in range(1, 150_001):
        if number in bad_lines:
            lines.append(bad_lines[number])
            continue
        method, template, route = templates[number % len(templates)]
        agent = UA_CHROME if number % 3 else UA_IOS_APP
        ip = f"10.1.0.{number % 251}"  # below the sketch size per group, so counts are exact
        status = statuses[number % len(statuses)]
        key = (route, method, status, agents[agent])
        events[key] += 1
        users.setdefault(key, set()).add((ip, agent))
        line = f'{ip} - - [02/Mar/2025:10:00:00 +0000] "{method} {template.format(n=number)} HTTP/1.1" {status} 9 "-" "{agent}"'
        if number % 1000:  # every thousandth line has no $request_time, as in plain `combined`
            milliseconds = 1 + (number * 7919) % 1999
            latencies.setdefault(key, []).append(milliseconds)
            line += f" {milliseconds / 1000:.3f}"
        lines.append(line)
    plain = tmp_path / "access.log"
    _write_nginx(plain, lines)
    assert plain.stat().st_size > READ_BYTES
    (tmp_path / "gz").mkdir()
    gzipped = tmp_path / "gz" / "access.log.gz"
    gzipped.write_bytes(gzip.compress(plain.read_bytes(), compresslevel=1))
    results = [read_access_logs([path], DAY, catalog, salt=SALT) for path in (plain, gzipped)]
    for parsed in results:
        rejected = dict(zip(parsed.rejected["first_line"], parsed.rejected["reason"], strict=True))
        assert rejected.keys() == bad_lines.keys()
        assert rejected[5] == "blank line"
        assert "expected [time]" in rejected[100_001]
        assert "remote_addr - remote_user" in rejected[140_000]
        rows = {
            (row["route"], row["method"], row["status"], row["platform"]): row
            for row in parsed.events.iter_rows(named=True)
        }
        assert rows.keys() == events.keys()
        for key, row in rows.items():
            assert (row["events"], row["users"]) == (events[key], len(users[key]))
            assert row["p95_latency_ms"] == pytest.approx(_nearest_rank_p95(latencies[key]), rel=0.01)
    assert results[0].events.equals(results[1].events)
    assert results[0].users.equals(results[1].users)


def test_a_line_cut_inside_the_user_agent_is_rejected_and_plain_combined_lines_count(
    tmp_path: Path, catalog
) -> None:
    complete = _line("10.0.0.1", "GET /cart HTTP/1.1", 200, UA_CHROME, 0.2)
    without_latency = complete.rsplit(" ", 1)[0]  # plain `combined` ends with the user agent's quote
    cut = without_latency[:-12]  # a copy taken while NGINX was still writing the line
    (tmp_path / "access.log").write_text(f"{complete}\n{without_latency}\n{cut}")
    parsed = read_access_logs([tmp_path / "access.log"], DAY, catalog, salt=SALT)
    assert parsed.events["events"].sum() == 2
    assert parsed.events["browser"].to_list() == ["Chrome"]
    assert parsed.rejected.select("lines", "first_line").row(0) == (1, 3)
    assert "expected [time]" in parsed.rejected["reason"][0]


def test_values_known_from_an_earlier_file_keep_their_codes(tmp_path: Path, catalog) -> None:
    """A read that knows more requests and visitors than a chunk has lines looks up only the chunk's."""
    first = [
        _line(
            f"10.2.{index % 900 // 256}.{index % 900 % 256}",
            f"GET /api/orders/{index} HTTP/1.1",
            200,
            UA_CHROME,
            0.01,
        )
        for index in range(3000)
    ]
    second = [
        _line("10.2.0.5", "GET /api/orders/5 HTTP/1.1", 200, UA_CHROME, 0.01),  # request and visitor seen
        _line("10.3.0.1", "GET /api/orders/123456 HTTP/1.1", 200, UA_IOS_APP, 0.01),  # both new
    ]
    _write_nginx(tmp_path / "a.log", first)
    _write_nginx(tmp_path / "b.log", second)
    parsed = read_access_logs([tmp_path / "a.log", tmp_path / "b.log"], DAY, catalog, salt=SALT)
    rows = parsed.events.select("route", "platform", "events", "users").sort("platform").rows()
    assert rows == [("/api/orders/{id}", "ios", 1, 1), ("/api/orders/{id}", "web", 3001, 900)]


def test_merging_partials_early_changes_nothing() -> None:
    """Histogram counts add up by key and user sketches re-cut to bottom-k, however often they merge."""
    index = pl.int_range(0, 60_000, eager=True)
    rows = pl.DataFrame(
        {
            "group": (index % 3).cast(pl.UInt64),
            "latency_ms": ((index % 997) + 0.5).cast(pl.Float64),
            "user_key": (index % 5000 + (index % 3) * 10_000).hash(7),  # uniform, as HMACs are
        }
    ).with_columns(
        latency_ms=pl.when(pl.col("group") == 2).then(None).otherwise(pl.col("latency_ms")),
        user_key=pl.when(pl.col("group") == 1)
        .then((index % 500).cast(pl.UInt64))
        .otherwise(pl.col("user_key")),
    )

    def decode(codes: pl.Series) -> pl.DataFrame:
        return dimension_frame(
            codes.to_frame("group").with_columns(
                flow=pl.col("group").cast(pl.String), traffic=pl.lit("app"), source=pl.lit("test")
            )
        )

    results = []
    for merge_rows in (1_000, MERGE_ROWS):
        aggregator = UsageAggregator(DAY, decode, merge_rows=merge_rows)
        for chunk in rows.iter_slices(3_000):
            aggregator.add(chunk)
        results.append(aggregator.finish())
    early, once = results
    assert early.events.equals(once.events) and early.users.equals(once.users)
    events = {row["flow"]: row for row in once.events.iter_rows(named=True)}
    assert [events[flow]["events"] for flow in "012"] == [20_000] * 3
    assert events["1"]["users"] == 500  # exact below the sketch size
    assert abs(events["0"]["users"] - 5000) / 5000 < 3 / SKETCH_K**0.5
    assert events["2"]["p95_latency_ms"] is None
    assert events["0"]["p95_latency_ms"] == pytest.approx(
        _nearest_rank_p95([index % 997 + 0.5 for index in range(0, 60_000, 3)]), rel=0.01
    )
