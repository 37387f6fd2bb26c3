"""Mixpanel and Amplitude exports fetched from a local server that speaks the documented responses.

Mixpanel Raw Event Export: https://developer.mixpanel.com/reference/raw-event-export
  (GET /api/2.0/export, from_date/to_date/project_id, Basic auth, JSONL body, 429 on rate limit).
Amplitude Export API: https://amplitude.com/docs/apis/analytics/export
  (GET /api/2/export?start=YYYYMMDDTHH&end=..., Basic auth, zip of gzipped JSON lines, 404 = no data).
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import zipfile
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from resources.amplitude import AmplitudeClient, AmplitudeResource
from resources.http import ApiError
from resources.mixpanel import MixpanelClient, MixpanelResource
from testintel_assets.configuration import load_catalog
from testintel_assets.parsers.amplitude import read_amplitude_export
from testintel_assets.parsers.mixpanel import read_mixpanel_export

DAY = date(2025, 3, 2)
SALT = b"test-salt"
NO_WAIT = {"sleep": lambda seconds: None}


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def _mixpanel_event(name: str, user: str, **properties: object) -> bytes:
    return json.dumps(
        {
            "event": name,
            "properties": {
                "time": 1740909600,
                "distinct_id": user,
                "$insert_id": user + name,
                "mp_processing_time_ms": 1740909601000,
                **properties,
            },
        }
    ).encode()


MIXPANEL_BODY = (
    b"\n".join(
        [
            _mixpanel_event(
                "Checkout Started",
                "alice@example.com",
                **{
                    "$os": "iOS",
                    "$browser": "Mobile Safari",
                    "plan": "pro",
                    "customer_tier": "enterprise",
                    "locale": "de-DE",
                    "persona": "buyer",
                    "experiment_id": "exp-42",
                    "$app_version_string": "5.1.0",
                },
            ),
            _mixpanel_event("Checkout Started", "bob", **{"$os": "Windows", "$browser": "Chrome"}),
            _mixpanel_event("Login", "bob", **{"$os": "Android"}),
            _mixpanel_event("Something New", "carol", **{"$os": "Linux", "$browser": "Firefox"}),
        ]
    )
    + b"\n"
)


def test_mixpanel_day_is_fetched_with_auth_landed_raw_then_parsed(
    httpserver: HTTPServer, tmp_path: Path, catalog
) -> None:
    httpserver.expect_oneshot_request(
        "/api/2.0/export",
        query_string={"from_date": "2025-03-02", "to_date": "2025-03-02", "project_id": "4242"},
        headers={"Authorization": _basic("sa.user", "sa-secret")},
    ).respond_with_data(MIXPANEL_BODY, content_type="text/plain")
    resource = MixpanelResource(
        project_id="4242",
        service_account_username="sa.user",
        service_account_secret="sa-secret",
        base_url=httpserver.url_for("/"),
    )
    landed = resource.land_day(tmp_path / "landing", DAY)
    assert landed == tmp_path / "landing" / "mixpanel" / "2025-03-02" / "export.jsonl"
    assert landed.read_bytes() == MIXPANEL_BODY
    parsed = read_mixpanel_export(landed, DAY, catalog, salt=SALT)
    checkout = parsed.events.filter(pl.col("flow") == "checkout").sort("platform")
    assert checkout["events"].to_list() == [1, 1]
    assert checkout.select(
        "platform", "browser", "plan", "tier", "locale", "persona", "experiment_id", "app_version"
    ).row(0) == ("ios", "Mobile Safari", "pro", "enterprise", "de-DE", "buyer", "exp-42", "5.1.0")
    assert parsed.events.filter(pl.col("flow") == "login")["platform"].to_list() == ["android"]
    assert parsed.events.filter(pl.col("flow") == "unmapped")["event"].to_list() == ["Something New"]
    assert parsed.users.height == 4  # alice + bob on checkout, bob on login, carol on unmapped
    assert parsed.users.filter(pl.col("flow") == "checkout").height == 2


def test_mixpanel_eu_residency_host() -> None:
    resource = MixpanelResource(
        project_id="1", service_account_username="u", service_account_secret="s", residency="eu"
    )
    assert resource.client().base_url == "https://data-eu.mixpanel.com"


def test_mixpanel_401_names_the_credentials(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/2.0/export").respond_with_json(
        {"error": "Invalid credentials", "status": "error"}, status=401
    )
    client = MixpanelClient("1", "u", "wrong", httpserver.url_for("/"), **NO_WAIT)
    with pytest.raises(ApiError, match="authentication failed"):
        client.export_day(DAY)
    assert len(httpserver.log) == 1  # 401 is not retried


def test_mixpanel_429_honours_retry_after(httpserver: HTTPServer) -> None:
    waits: list[float] = []
    httpserver.expect_ordered_request("/api/2.0/export").respond_with_response(
        Response('{"error": "rate limit exceeded"}', status=429, headers={"Retry-After": "7"})
    )
    httpserver.expect_ordered_request("/api/2.0/export").respond_with_data(MIXPANEL_BODY)
    client = MixpanelClient("1", "u", "s", httpserver.url_for("/"), sleep=waits.append)
    assert client.export_day(DAY) == MIXPANEL_BODY
    assert waits == [7.0]


def test_mixpanel_500_then_success(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/api/2.0/export").respond_with_data("oops", status=500)
    httpserver.expect_ordered_request("/api/2.0/export").respond_with_data(MIXPANEL_BODY)
    client = MixpanelClient("1", "u", "s", httpserver.url_for("/"), **NO_WAIT)
    assert client.export_day(DAY) == MIXPANEL_BODY


def test_mixpanel_truncated_last_line_is_tolerated_and_reported(
    httpserver: HTTPServer, tmp_path: Path, catalog
) -> None:
    cut = MIXPANEL_BODY + b'{"event":"Login","properties":{"time":17409'
    httpserver.expect_request("/api/2.0/export").respond_with_data(cut)
    landed = MixpanelClient("1", "u", "s", httpserver.url_for("/"), **NO_WAIT).land_day(tmp_path, DAY)
    parsed = read_mixpanel_export(landed, DAY, catalog, salt=SALT)
    assert parsed.events["events"].sum() == 4
    assert parsed.rejected.select("reason", "lines", "first_line").row(0) == (
        "truncated last line (incomplete JSON; the export was cut off)",
        1,
        5,
    )


def test_mixpanel_empty_day(httpserver: HTTPServer, tmp_path: Path, catalog) -> None:
    httpserver.expect_request("/api/2.0/export").respond_with_data(b"")
    landed = MixpanelClient("1", "u", "s", httpserver.url_for("/"), **NO_WAIT).land_day(tmp_path, DAY)
    parsed = read_mixpanel_export(landed, DAY, catalog, salt=SALT)
    assert landed.exists() and parsed.events.is_empty() and parsed.rejected.is_empty()


def _amplitude_zip(hours: dict[int, list[dict]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for hour, events in hours.items():
            body = b"".join(json.dumps(event).encode() + b"\n" for event in events)
            archive.writestr(f"187520/187520_2025-03-02_{hour}#0.json.gz", gzip.compress(body))
    return buffer.getvalue()


AMPLITUDE_ZIP = _amplitude_zip(
    {
        0: [
            {
                "event_type": "Order Completed",
                "user_id": f"user-{index}",
                "device_id": "d",
                "os_name": "ios",
                "platform": "iOS",
                "version_name": "3.4.0",
                "language": "fr",
                "user_properties": {"plan": "free", "customer_tier": "pro", "persona": "bargain-hunter"},
                "event_properties": {"experiment_id": "exp-7"},
            }
            for index in range(3)
        ],
        13: [
            {
                "event_type": "Search",
                "device_id": "dev-9",
                "os_name": "Chrome",
                "platform": "Web",
                "browser": "Chrome",
            }
        ],
    }
)


def test_amplitude_day_is_fetched_landed_and_parsed(httpserver: HTTPServer, tmp_path: Path, catalog) -> None:
    httpserver.expect_request(
        "/api/2/export",
        query_string={"start": "20250302T00", "end": "20250302T23"},
        headers={"Authorization": _basic("api-key", "secret-key")},
    ).respond_with_data(AMPLITUDE_ZIP, content_type="application/zip")
    resource = AmplitudeResource(api_key="api-key", secret_key="secret-key", base_url=httpserver.url_for("/"))
    landed = resource.land_day(tmp_path, DAY)
    assert landed.read_bytes() == AMPLITUDE_ZIP
    parsed = read_amplitude_export(landed, DAY, catalog, salt=SALT)
    orders = parsed.events.filter(pl.col("flow") == "checkout")
    assert orders.select(
        "events", "users", "platform", "tier", "plan", "persona", "experiment_id", "locale", "app_version"
    ).row(0) == (3, 3, "ios", "pro", "free", "bargain-hunter", "exp-7", "fr", "3.4.0")
    assert parsed.events.filter(pl.col("flow") == "search")["platform"].to_list() == ["web"]


def test_amplitude_404_is_an_empty_day(httpserver: HTTPServer, tmp_path: Path, catalog) -> None:
    httpserver.expect_request("/api/2/export").respond_with_data("No data available", status=404)
    landed = AmplitudeClient("k", "s", httpserver.url_for("/"), **NO_WAIT).land_day(tmp_path, DAY)
    parsed = read_amplitude_export(landed, DAY, catalog, salt=SALT)
    assert landed.stat().st_size == 0 and parsed.events.is_empty()


def test_amplitude_401_429_500(httpserver: HTTPServer) -> None:
    waits: list[float] = []
    httpserver.expect_ordered_request("/api/2/export").respond_with_data(
        "Too many", status=429, headers={"Retry-After": "3"}
    )
    httpserver.expect_ordered_request("/api/2/export").respond_with_data("boom", status=500)
    httpserver.expect_ordered_request("/api/2/export").respond_with_data(AMPLITUDE_ZIP)
    client = AmplitudeClient("k", "s", httpserver.url_for("/"), sleep=waits.append, backoff_seconds=0.5)
    assert client.export_day(DAY) == AMPLITUDE_ZIP
    assert waits == [3.0, 1.0]
    httpserver.clear()
    httpserver.expect_request("/api/2/export").respond_with_data("Unauthorized", status=401)
    with pytest.raises(ApiError, match="authentication failed"):
        client.export_day(DAY)


def test_amplitude_truncated_last_line_in_an_hour_file(tmp_path: Path, catalog) -> None:
    body = b'{"event_type":"Search","device_id":"a"}\n{"event_type":"Sea'
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("1/1_2025-03-02_5#0.json.gz", gzip.compress(body))
    (tmp_path / "export.zip").write_bytes(buffer.getvalue())
    parsed = read_amplitude_export(tmp_path / "export.zip", DAY, catalog, salt=SALT)
    assert parsed.events["events"].sum() == 1
    assert parsed.rejected["reason"][0].startswith("truncated last line")


def test_amplitude_non_zip_body_is_an_api_error(httpserver: HTTPServer) -> None:
    def html(request: Request) -> Response:
        return Response("<html>maintenance</html>", content_type="text/html")

    httpserver.expect_request("/api/2/export").respond_with_handler(html)
    with pytest.raises(ApiError, match="expected a zip archive"):
        AmplitudeClient("k", "s", httpserver.url_for("/"), **NO_WAIT).export_day(DAY)


def test_residency_picks_the_documented_host_and_refuses_unknown_ones() -> None:
    eu = AmplitudeResource(api_key="k", secret_key="s", residency="EU").client()
    assert eu.base_url == "https://analytics.eu.amplitude.com"
    with pytest.raises(ValueError, match="residency must be one of us, eu, in, not 'mars'"):
        MixpanelResource(project_id="1", residency="mars").client()
