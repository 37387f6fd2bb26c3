"""OpenTelemetry traces, flow_usage window math, and the warehouse-wide search for planted secrets."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from testintel_assets.configuration import load_catalog
from testintel_assets.parsers.access_logs import read_access_logs
from testintel_assets.parsers.mixpanel import read_mixpanel_export
from testintel_assets.parsers.otel import read_otel_traces
from testintel_assets.parsers.usage import SKETCH_K, estimate_users
from testintel_assets.privacy import pii_salt, user_key, user_key_function, user_keys
from testintel_assets.schemas import FLOW_USAGE, USAGE_EVENTS, USAGE_USERS, conform
from testintel_assets.scoring.usage import flow_usage

DAY = date(2025, 3, 2)
SALT = b"test-salt"
OTEL = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "otel"


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


# ------------------------------------------------------------------------------------ OTel
def test_real_otlp_fixtures_count_server_spans_and_skip_other_signals(catalog) -> None:
    parsed = read_otel_traces(sorted(OTEL.glob("*.json")), DAY, catalog, salt=SALT)
    server_spans = sum(text.count('"kind": 2') for text in (path.read_text() for path in OTEL.glob("*.json")))
    assert parsed.events["events"].sum() == server_spans == 4
    reasons = dict(zip(parsed.rejected["file"], parsed.rejected["reason"], strict=True))
    assert "OTLP logs" in reasons["opentelemetry-proto--logs.json"]
    assert "OTLP metrics" in reasons["opentelemetry-proto--metrics.json"]
    # the official example's server span lasts one second by its start and end timestamps
    example = parsed.events.filter(pl.col("event") == "I'm a server span")
    assert example["p95_latency_ms"][0] == pytest.approx(1000.0, rel=0.01)


def _span(route: str | None, status: int, user: str, kind: int = 2, **extra: str) -> dict:
    attributes = [
        {"key": "http.request.method", "value": {"stringValue": "POST"}},
        {"key": "http.response.status_code", "value": {"intValue": str(status)}},
        {"key": "enduser.id", "value": {"stringValue": user}},
    ]
    if route:
        attributes.append({"key": "http.route", "value": {"stringValue": route}})
    attributes += [
        {"key": key.replace("_", "."), "value": {"stringValue": value}} for key, value in extra.items()
    ]
    return {
        "traceId": "0" * 32,
        "spanId": "1" * 16,
        "name": "POST",
        "kind": kind,
        "startTimeUnixNano": "1740909600000000000",
        "endTimeUnixNano": "1740909600250000000",
        "attributes": attributes,
    }


def test_collector_file_exporter_lines_map_routes_to_flows(tmp_path: Path, catalog) -> None:
    def request(spans: list[dict]) -> str:
        return json.dumps(
            {
                "resourceSpans": [
                    {
                        "resource": {
                            "attributes": [{"key": "service.name", "value": {"stringValue": "checkout-api"}}]
                        },
                        "scopeSpans": [{"scope": {"name": "io.opentelemetry.http"}, "spans": spans}],
                    }
                ]
            }
        )

    lines = [
        request([_span("/api/payments/{id}", 200, "u1"), _span("/api/payments/{id}", 502, "u2")]),
        request([_span("/api/payments/{id}", 200, "u1", kind=3)]),
        request([_span(None, 200, "u3", url_path="/api/cart/items/77")]),
        '{"resourceSpans": [{"resource"',
    ]
    (tmp_path / "traces.jsonl").write_text("\n".join(lines) + "\n")
    parsed = read_otel_traces([tmp_path / "traces.jsonl"], DAY, catalog, salt=SALT)
    payment = parsed.events.filter(pl.col("flow") == "payment")
    assert payment["events"].sum() == 2 and payment["errors"].sum() == 1
    assert payment["p95_latency_ms"].to_list() == [pytest.approx(250, rel=0.01)] * 2
    assert parsed.events.filter(pl.col("flow") == "cart")["route"].to_list() == ["/api/cart/items/{id}"]
    reasons = dict(zip(parsed.rejected["reason"], parsed.rejected["lines"], strict=True))
    assert reasons == {
        "not a server span (kind != SPAN_KIND_SERVER)": 1,
        "not a JSON object (malformed or truncated line)": 1,
    }


# ------------------------------------------------------------------------------ flow_usage
def _usage_day(
    day: date,
    flow: str,
    events: int,
    platform: str = "web",
    browser: str = "Safari",
    tier: str = "unknown",
    source: str = "access_logs",
    traffic: str = "app",
) -> dict:
    return {
        "day": day,
        "flow": flow,
        "traffic": traffic,
        "platform": platform,
        "browser": browser,
        "tier": tier,
        "source": source,
        "events": events,
        "errors": 0,
    }


def test_flow_usage_window_p95_norm_platform_share_and_tiers(catalog) -> None:
    start = date(2025, 3, 1)
    rows = []
    for offset in range(20):
        day = start + timedelta(days=offset)
        rows.append(_usage_day(day, "checkout", 100 + offset, tier="enterprise"))
        rows.append(_usage_day(day, "checkout", 50, platform="ios", browser="Shop", tier="free"))
        rows.append(_usage_day(day, "login", 1000, traffic="bot", platform="bot"))
        if offset % 2:
            rows.append(_usage_day(day, "login", 40, browser="Chrome"))
    events = conform(pl.DataFrame(rows), USAGE_EVENTS)
    as_of = [date(2025, 3, 14), date(2025, 3, 20)]
    result = flow_usage(events, conform(pl.DataFrame(), USAGE_USERS), as_of, catalog)
    assert result.schema == FLOW_USAGE
    assert result.height == 2 * len(catalog.flows.flows)
    checkout = result.filter((pl.col("flow") == "checkout") & (pl.col("day") == date(2025, 3, 14))).row(
        0, named=True
    )
    # window 1..14 March: daily counts 150..163; nearest-rank p95 of 14 values is the 14th = 163
    assert checkout["events"] == sum(150 + offset for offset in range(14))
    assert checkout["daily_events_p95"] == 163
    assert checkout["usage_norm"] == 1.0
    assert checkout["top_platform"] == "web/Safari"
    assert checkout["platform_share"] == pytest.approx(sum(100 + o for o in range(14)) / checkout["events"])
    weights = catalog.scoring.usage.tier_weights
    expected_tier = sum(100 + o for o in range(14)) * weights["enterprise"] + 14 * 50 * weights["free"]
    assert checkout["tier_weight"] == pytest.approx(expected_tier / checkout["events"])
    login = result.filter((pl.col("flow") == "login") & (pl.col("day") == date(2025, 3, 14))).row(
        0, named=True
    )
    # bots do not count; 7 of 14 days have 40 events, so the p95 day is 40
    assert login["events"] == 7 * 40 and login["days_with_usage"] == 7
    assert login["daily_events_p95"] == 40
    assert login["usage_norm"] == pytest.approx(40 / 163)
    search = result.filter(pl.col("flow") == "search").row(0, named=True)
    assert search["events"] == 0 and search["usage_norm"] == 0.0


def test_distinct_users_merge_across_days_through_the_sketch(catalog) -> None:
    keys = [user_key(f"user-{index}", SALT) for index in range(3000)]
    rows = [
        {"day": DAY + timedelta(days=index % 3), "source": "mixpanel", "flow": "cart", "user_key": key}
        for index, key in enumerate(keys)
    ]
    rows += [
        {"day": DAY + timedelta(days=1), "source": "mixpanel", "flow": "cart", "user_key": key}
        for key in keys[:500]
    ]
    sketch = conform(pl.DataFrame(rows), USAGE_USERS)
    estimate = estimate_users(sketch, ["flow"])["users"][0]
    assert abs(estimate - 3000) / 3000 < 3 / (SKETCH_K**0.5)
    small = estimate_users(sketch.filter(pl.col("user_key").is_in(keys[:100])), ["flow"])["users"][0]
    assert small == 100


# --------------------------------------------------------------------------------- privacy
PLANTED_EMAIL = "planted.victim@example.org"
PLANTED_TOKEN = "tok_9fKq2LmZ8xR4vN7pQ1sW"
PLANTED_PASSWORD = "Hunter2Secret!"
PLANTED_USER = "user-8c1f-planted"
PLANTED_IP = "203.0.113.77"


def test_planted_pii_never_reaches_any_warehouse_column(tmp_path: Path, catalog) -> None:
    agent = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
    log = tmp_path / "access.log"
    log.write_text(
        "\n".join(
            f"{PLANTED_IP} - {PLANTED_USER} [02/Mar/2025:10:00:0{index} +0000] "
            f'"GET {request} HTTP/1.1" 200 1 '
            f'"https://ref.example/?email={PLANTED_EMAIL}" "{agent}" 0.010'
            for index, request in enumerate(
                [
                    f"/login?email={PLANTED_EMAIL}&password={PLANTED_PASSWORD}",
                    f"/password/reset/{PLANTED_TOKEN}",
                    f"/users/{PLANTED_EMAIL}/profile",
                    f"/api/sessions;jsessionid={PLANTED_TOKEN}",
                    f"/oauth/callback?code={PLANTED_TOKEN}&access_token={PLANTED_TOKEN}",
                ]
            )
        )
        + "\n"
    )
    access = read_access_logs([log], DAY, catalog, salt=SALT)
    mixpanel = read_mixpanel_export(
        json.dumps(
            {
                "event": f"Login {PLANTED_EMAIL}",
                "properties": {
                    "distinct_id": PLANTED_USER,
                    "$os": "iOS",
                    "plan": f"pro {PLANTED_TOKEN}",
                    "persona": PLANTED_EMAIL,
                    "$email": PLANTED_EMAIL,
                    "password": PLANTED_PASSWORD,
                },
            }
        ).encode()
        + b"\n",
        DAY,
        catalog,
        salt=SALT,
    )
    usage = flow_usage(
        pl.concat([access.events, mixpanel.events]), pl.concat([access.users, mixpanel.users]), DAY, catalog
    )
    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as connection:
        for name, frame in {
            "usage_events": pl.concat([access.events, mixpanel.events]),
            "usage_users": pl.concat([access.users, mixpanel.users]),
            "usage_rejects": pl.concat([access.rejected, mixpanel.rejected]),
            "flow_usage": usage,
        }.items():
            connection.register("frame", frame.to_arrow())
            connection.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
            connection.unregister("frame")
        found = []
        for table, column in connection.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE data_type <> 'DATE'"
        ).fetchall():
            text = connection.execute(
                f"SELECT string_agg(CAST(\"{column}\" AS VARCHAR), ' ') FROM {table}"
            ).fetchone()[0]
            for planted in (
                PLANTED_EMAIL,
                "planted.victim",
                PLANTED_TOKEN,
                PLANTED_PASSWORD,
                PLANTED_USER,
                PLANTED_IP,
                "Hunter2",
            ):
                if text and planted.lower() in text.lower():
                    found.append((table, column, planted))
        rows = connection.execute("SELECT count(*) FROM usage_events").fetchone()[0]
    assert rows > 0
    assert found == []
    routes = set(access.events["route"])
    assert {
        "/login",
        "/password/reset/{token}",
        "/users/{email}/profile",
        "/api/sessions",
        "/oauth/callback",
    } <= routes


def test_salt_from_env_else_a_private_generated_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESTINTEL_PII_SALT", "from-env")
    assert pii_salt(tmp_path) == b"from-env"
    monkeypatch.delenv("TESTINTEL_PII_SALT")
    generated = pii_salt(tmp_path)
    assert generated == pii_salt(tmp_path) and len(generated) == 64
    assert (tmp_path / "pii_salt").stat().st_mode & 0o077 == 0
    assert user_key("alice", generated) != user_key("alice", b"other")


@pytest.mark.parametrize(
    "salt",
    [b"", b"test-salt", bytes(range(64)), bytes(range(65)) * 3],
    ids=["empty", "short", "block", "long"],
)
def test_bound_user_key_is_the_standard_hmac_sha256(salt: bytes) -> None:
    """Pads hashed once per salt give HMAC-SHA256 itself (keys longer than a block are hashed first)."""
    values = ["", "alice", "10.0.0.1 - -", "ünïcødé ✓", "x" * 200]
    keyed = user_key_function(salt)
    for value in values:
        expected = hmac.new(salt, value.encode("utf-8"), hashlib.sha256).digest()
        assert keyed(value) == user_key(value, salt) == int.from_bytes(expected[:8], "big")
    series = user_keys(pl.Series("user", [*values, None]), salt)
    assert series.to_list() == [None, *(keyed(value) for value in values[1:]), None]
