"""Gap tickets: rendering, the dry run, and idempotent creation against a local Jira.

The local Jira answers like the documented API: GET /rest/api/3/search/jql (issues, isLast) for the
label lookup and POST /rest/api/3/issue -> 201 {id, key, self}
(https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-post);
descriptions in Atlassian Document Format
(https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from testintel_assets import schemas
from testintel_assets.cli import main
from testintel_assets.configuration import load_catalog
from testintel_assets.scoring.tickets import gap_label, render_gap_tickets

DAY = date(2025, 3, 10)


def _gaps(day: date = DAY) -> pl.DataFrame:
    rows = [
        (1, "checkout", "usage_x_coverage", 0.62, 0.9, 0.31, 0.4),
        (2, "payment", "usage_x_coverage", 0.40, 0.5, 0.20, 1.0),
        (1, "payment", "usage_x_defects", 0.50, 0.5, 0.20, 1.0),
    ]
    frame = pl.DataFrame(
        [
            {
                "day": day,
                "rank": r,
                "flow": f,
                "gap_kind": k,
                "gap_score": s,
                "usage": u,
                "coverage": c,
                "defect_density": d,
                "revenue": 1.0,
                "risk_score": 72.0,
                "decision": "automate now",
                "owner": "",
                "reason": f"usage {u:.2f} x coverage {c:.0%}",
            }
            for r, f, k, s, u, c, d in rows
        ]
    )
    return schemas.conform(frame, schemas.TOP_N_GAPS)


def _usage() -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "day": [date(2025, 3, 9), DAY, date(2025, 3, 11)],
            "flow": ["checkout"] * 3,
            "window_days": [14] * 3,
            "events": [1, 2500, 3],
            "users": [1, 874, 1],
            "top_platform": ["ios", "web", "android"],
            "platform_share": [1.0, 0.86, 1.0],
        }
    )
    return schemas.conform(frame, schemas.FLOW_USAGE)


def test_rendered_from_the_seed_template_for_every_gap_row() -> None:
    tickets = render_gap_tickets(_gaps(), _usage(), load_catalog())
    assert [t.summary for t in tickets] == [
        "Automate checkout happy path on web",  # platform of the newest usage row on or before the day
        "Automate payment happy path on all platforms",  # no usage known
        "Automate payment happy path on all platforms",
    ]
    checkout = tickets[0]
    assert checkout.label == "testintel-gap-checkout-usage_x_coverage"
    assert checkout.owner == "commerce"  # the flow's owner when the gap row has none
    text = checkout.text()
    assert (
        "Usage: 90% of the busiest flow's traffic (2,500 events from 874 users over 14 days, 86% on web)"
        in text
    )
    assert "Coverage: 31% blended (target 80%)" in text
    assert "passes 10 consecutive runs" in text
    assert len(checkout.acceptance_criteria) == 5
    assert len({t.label for t in tickets}) == 3


def test_jira_bodies_adf_on_cloud_and_wiki_on_server() -> None:
    ticket = render_gap_tickets(_gaps(), _usage(), load_catalog())[0]
    cloud = ticket.jira_fields("SHOP", "Task", "cloud")
    assert cloud["project"] == {"key": "SHOP"} and cloud["issuetype"] == {"name": "Task"}
    assert cloud["labels"] == ["testintel", "testintel-gap-checkout-usage_x_coverage"]
    doc = cloud["description"]
    assert doc["type"] == "doc" and doc["version"] == 1
    bullets = doc["content"][-1]
    assert bullets["type"] == "bulletList" and len(bullets["content"]) == 5
    server = ticket.jira_fields("SHOP", "Task", "server")["description"]
    assert isinstance(server, str) and "h3. Acceptance criteria\n* An automated" in server


def test_labels_are_safe_for_jira() -> None:
    assert gap_label("check out", "usage x coverage") == "testintel-gap-check-out-usage-x-coverage"


@pytest.fixture
def warehouse(testintel_home: Path) -> Path:
    database = testintel_home / "warehouse.duckdb"
    connection = duckdb.connect(str(database))
    connection.execute("CREATE SCHEMA testintel")
    for name, frame in {
        "top_n_gaps": pl.concat([_gaps(date(2025, 3, 9)), _gaps()]),
        "flow_usage": _usage(),
    }.items():
        arrow = frame.to_arrow()  # noqa: F841  (read by DuckDB's replacement scan)
        connection.execute(f"CREATE TABLE testintel.{name} AS SELECT * FROM arrow")
    connection.close()
    return database


def test_dry_run_prints_and_writes_nothing(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = warehouse.read_bytes()
    assert main(["tickets"]) == 0
    out = capsys.readouterr().out
    assert out.count("Automate ") == 3 and out.count("would be created") == 3
    assert f"Dry run: 3 gap tickets for {DAY}" in out
    assert warehouse.read_bytes() == before


class FakeJira:
    """Holds issues in memory and serves the label search and create endpoints."""

    def __init__(self, existing: dict[str, str] | None = None) -> None:
        self.issues: dict[str, list[str]] = {key: [label] for label, key in (existing or {}).items()}
        self.created: list[dict[str, object]] = []

    def search(self, request: Request) -> Response:
        label = request.args["jql"].split('"')[1]
        issues = [{"key": k, "fields": {"labels": ls}} for k, ls in self.issues.items() if label in ls]
        return Response(json.dumps({"issues": issues, "isLast": True}), content_type="application/json")

    def create(self, request: Request) -> Response:
        fields = request.get_json()["fields"]
        key = f"SHOP-{100 + len(self.issues)}"
        self.issues[key] = fields["labels"]
        self.created.append(fields)
        return Response(json.dumps({"id": "1", "key": key, "self": "x"}), status=201)


def _serve(httpserver: HTTPServer, jira: FakeJira, monkeypatch: pytest.MonkeyPatch) -> None:
    httpserver.expect_request("/rest/api/3/search/jql").respond_with_handler(jira.search)
    httpserver.expect_request("/rest/api/3/issue", method="POST").respond_with_handler(jira.create)
    monkeypatch.setenv("JIRA_BASE_URL", httpserver.url_for("/"))
    monkeypatch.setenv("JIRA_EMAIL", "bot@shop.example")
    monkeypatch.setenv("JIRA_API_TOKEN", "token")


def _ledger(database: Path) -> pl.DataFrame:
    connection = duckdb.connect(str(database), read_only=True)
    try:
        return connection.sql("SELECT * FROM testintel.gap_tickets ORDER BY ticket_key").pl()
    finally:
        connection.close()


def test_create_is_idempotent_and_records_keys(
    warehouse: Path,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # one gap was ticketed earlier by hand (or by a run whose ledger write was lost)
    jira = FakeJira(existing={"testintel-gap-payment-usage_x_defects": "SHOP-7"})
    _serve(httpserver, jira, monkeypatch)

    assert main(["tickets", "--create", "--project", "SHOP"]) == 0
    assert len(jira.created) == 2
    assert {tuple(f["labels"]) for f in jira.created} == {
        ("testintel", "testintel-gap-checkout-usage_x_coverage"),
        ("testintel", "testintel-gap-payment-usage_x_coverage"),
    }
    ledger = _ledger(warehouse)
    assert dict(zip(ledger["label"], ledger["action"], strict=True)) == {
        "testintel-gap-checkout-usage_x_coverage": "created",
        "testintel-gap-payment-usage_x_coverage": "created",
        "testintel-gap-payment-usage_x_defects": "found",
    }
    assert "SHOP-7" in ledger["ticket_key"].to_list()
    assert ledger.columns == list(schemas.GAP_TICKETS)

    requests_before = len(httpserver.log)
    assert main(["tickets", "--create", "--project", "SHOP"]) == 0  # a second run files nothing
    assert len(jira.created) == 2 and len(httpserver.log) == requests_before
    assert _ledger(warehouse).height == 3
    capsys.readouterr()
    assert main(["tickets"]) == 0
    assert capsys.readouterr().out.count("ticketed as SHOP-") == 3


def test_a_failure_midway_keeps_the_keys_already_obtained(
    warehouse: Path, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    jira = FakeJira()
    calls = {"n": 0}

    def flaky_create(request: Request) -> Response:
        calls["n"] += 1
        return jira.create(request) if calls["n"] == 1 else Response("boom", status=500)

    httpserver.expect_request("/rest/api/3/search/jql").respond_with_handler(jira.search)
    httpserver.expect_request("/rest/api/3/issue", method="POST").respond_with_handler(flaky_create)
    monkeypatch.setenv("JIRA_BASE_URL", httpserver.url_for("/"))
    monkeypatch.setenv("JIRA_API_TOKEN", "token")
    assert main(["tickets", "--create", "--project", "SHOP"]) == 1
    assert calls["n"] == 2  # the 500 is not retried: Jira may have created the issue
    assert _ledger(warehouse)["ticket_key"].to_list() == ["SHOP-100"]


def test_create_needs_a_project(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JIRA_PROJECT_KEY", raising=False)
    assert main(["tickets", "--create"]) == 2


def test_no_warehouse_is_reported(testintel_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tickets"]) == 1
    assert "no warehouse yet" in capsys.readouterr().out
