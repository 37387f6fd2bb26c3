"""Linear issues pages and the Linear client against a local server that answers like Linear does.

Shapes served here follow the documented API:
- POST /graphql, `Authorization: <API_KEY>` for personal keys   https://linear.app/developers/graphql
- `issues(first, after)` -> {data: {issues: {nodes, pageInfo: {hasNextPage, endCursor}}}}
  https://linear.app/developers/pagination
- errors in the standard GraphQL format with `extensions.code`; throttling answers RATELIMITED
  (HTTP 400 with extensions.statusCode 429) https://linear.app/developers/rate-limiting
- Issue fields identifier, createdAt, completedAt, canceledAt, priority (0 none .. 4 low),
  priorityLabel, state {name, type}, team, labels {nodes {name parent}}, url
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from resources.http import ApiError
from resources.linear import LinearResource
from resources.linear_api import ISSUES_QUERY, LinearClient
from testintel_assets.configuration import load_catalog
from testintel_assets.parsers import ArtifactRejected
from testintel_assets.parsers.linear import LinearLabelGroups, parse_linear_response
from testintel_assets.parsers.tracker import DONE, OPEN, TRACKER_ISSUES

DAY = date(2025, 3, 10)
NOW = datetime(2025, 3, 10, 2, 0, tzinfo=UTC)
STATES = [
    ("Triage", "triage"),
    ("Todo", "unstarted"),
    ("In Progress", "started"),
    ("Done", "completed"),
    ("Canceled", "canceled"),
    ("Backlog", "backlog"),
]


def _node(number: int, state: tuple[str, str] = ("Todo", "unstarted"), **extra: object) -> dict[str, object]:
    finished = "2025-03-05T09:00:00.000Z" if state[1] in ("completed", "canceled") else None
    return {
        "identifier": f"ENG-{number}",
        "title": f"bug {number}",
        "url": f"https://linear.app/acme/issue/ENG-{number}/bug-{number}",
        "createdAt": "2025-03-01T10:00:00.000Z",
        "completedAt": finished if state[1] == "completed" else None,
        "canceledAt": finished if state[1] == "canceled" else None,
        "priority": 2,
        "priorityLabel": "High",
        "state": {"name": state[0], "type": state[1]},
        "team": {"key": "ENG", "name": "Engineering"},
        "labels": {"nodes": [{"name": "Bug", "parent": None}]},
        **extra,
    }


def _page(nodes: list[dict[str, object]], cursor: str | None = None) -> dict[str, object]:
    return {
        "data": {
            "issues": {"nodes": nodes, "pageInfo": {"hasNextPage": cursor is not None, "endCursor": cursor}}
        }
    }


def test_issues_page_parses_every_node() -> None:
    nodes = [_node(i, state) for i, state in enumerate(STATES, start=1)]
    frame = parse_linear_response(json.dumps(_page(nodes)).encode())
    assert frame.schema == TRACKER_ISSUES
    assert frame["key"].to_list() == [n["identifier"] for n in nodes]
    assert frame["status_category"].to_list() == [OPEN, OPEN, OPEN, DONE, DONE, OPEN]
    assert frame["resolved_at"].is_not_null().to_list() == [False, False, False, True, True, False]
    assert frame["severity_name"].unique().to_list() == ["High"]
    assert frame["url"][0] == "https://linear.app/acme/issue/ENG-1/bug-1"


def test_label_groups_play_flow_field_and_components() -> None:
    labels = {
        "nodes": [
            {"name": "Checkout", "parent": {"name": "Flow"}},
            {"name": "payments", "parent": {"name": "Component"}},
            {"name": "customer-reported", "parent": None},
        ]
    }
    row = parse_linear_response(json.dumps(_page([_node(1, labels=labels)])).encode()).row(0, named=True)
    assert row["flow_values"] == ["Checkout"]
    assert row["components"] == ["payments"]
    assert row["labels"] == ["Checkout", "customer-reported"]
    renamed = parse_linear_response(
        json.dumps(_page([_node(1, labels=labels)])).encode(), groups=LinearLabelGroups(flow="Journey")
    ).row(0, named=True)
    assert renamed["flow_values"] == []


def test_priority_number_without_label_and_state_missing() -> None:
    node = {**_node(1, priorityLabel=None, priority=1, completedAt="2025-03-02T00:00:00Z"), "state": None}
    row = parse_linear_response(json.dumps(_page([node])).encode()).row(0, named=True)
    assert row["severity_name"] == "Urgent"
    assert row["status_category"] == DONE


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            {"errors": [{"message": "Argument Validation Error", "extensions": {"code": "INVALID_INPUT"}}]},
            "Argument",
        ),
        ({"data": {"viewer": {}}}, "no data.issues.nodes"),
        ({"data": {"issues": {"nodes": [{"title": "no id"}]}}}, "has no identifier"),
        (_page([_node(1, createdAt="not a date")]), "not an ISO 8601"),
    ],
)
def test_bad_pages_are_rejected_with_a_reason(body: dict[str, object], reason: str) -> None:
    with pytest.raises(ArtifactRejected, match=reason):
        parse_linear_response(json.dumps(body).encode())


class IssuesEndpoint:
    def __init__(self, total: int, page_size: int) -> None:
        self.total, self.page_size = total, page_size
        self.variables: list[dict[str, object]] = []

    def __call__(self, request: Request) -> Response:
        body = request.get_json()
        assert body["query"] == ISSUES_QUERY
        self.variables.append(body["variables"])
        start = int((body["variables"]["after"] or "c0")[1:])
        end = min(start + self.page_size, self.total)
        page = _page([_node(n) for n in range(start + 1, end + 1)], f"c{end}" if end < self.total else None)
        return Response(json.dumps(page), content_type="application/json")


def _client(httpserver: HTTPServer, sleeps: list[float] | None = None, page_size: int = 100) -> LinearClient:
    return LinearClient(
        api_key="lin_api_test",
        api_url=httpserver.url_for("/graphql"),
        page_size=page_size,
        sleep=(sleeps.append if sleeps is not None else lambda _: None),
    )


def test_cursor_paging_across_many_pages_saves_each_raw(httpserver: HTTPServer, tmp_path: Path) -> None:
    endpoint = IssuesEndpoint(total=52, page_size=5)
    httpserver.expect_request(
        "/graphql", method="POST", headers={"Authorization": "lin_api_test"}
    ).respond_with_handler(endpoint)
    manifest = _client(httpserver, page_size=5).pull(tmp_path, DAY, {"labels": {"some": {}}}, NOW)
    assert manifest.issues == 52 and len(manifest.pages) == 11
    assert [v["after"] for v in endpoint.variables] == [None, *[f"c{5 * i}" for i in range(1, 11)]]
    assert all(v["first"] == 5 and v["filter"] == {"labels": {"some": {}}} for v in endpoint.variables)
    assert len(list((tmp_path / "linear" / DAY.isoformat()).glob("*-page-*.json"))) == 11


def test_ratelimited_400_is_retried_after_retry_after(httpserver: HTTPServer, tmp_path: Path) -> None:
    endpoint = IssuesEndpoint(total=3, page_size=100)
    calls = {"n": 0}

    def throttled_once(request: Request) -> Response:
        calls["n"] += 1
        if calls["n"] == 1:
            error = {
                "message": "Rate limit exceeded",
                "extensions": {"code": "RATELIMITED", "statusCode": 429},
            }
            return Response(json.dumps({"errors": [error]}), status=400, headers={"Retry-After": "12"})
        return endpoint(request)

    httpserver.expect_request("/graphql").respond_with_handler(throttled_once)
    sleeps: list[float] = []
    manifest = _client(httpserver, sleeps).pull(tmp_path, DAY, None, NOW)
    assert manifest.issues == 3
    assert sleeps == [12.0]


def test_http_429_is_retried_too(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_ordered_request("/graphql").respond_with_data("slow down", status=429)
    httpserver.expect_ordered_request("/graphql").respond_with_json(_page([]))
    sleeps: list[float] = []
    assert _client(httpserver, sleeps).pull(tmp_path, DAY, None, NOW).issues == 0
    assert sleeps == [1.0]


@pytest.mark.parametrize("status", [400, 401])
def test_authentication_failure_names_the_key(httpserver: HTTPServer, tmp_path: Path, status: int) -> None:
    error = {
        "message": "Authentication required, not authenticated",
        "extensions": {"type": "authentication error", "code": "AUTHENTICATION_ERROR", "statusCode": 401},
    }
    httpserver.expect_request("/graphql").respond_with_json({"errors": [error]}, status=status)
    sleeps: list[float] = []
    with pytest.raises(ApiError, match="authentication failed"):
        _client(httpserver, sleeps).pull(tmp_path, DAY, None, NOW)
    assert len(httpserver.log) == 1 and sleeps == []


def test_empty_result(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/graphql").respond_with_json(_page([]))
    resource = LinearResource(api_key="k", api_url=httpserver.url_for("/graphql"))
    defects = resource.pull_defects(tmp_path, DAY, load_catalog())
    assert defects.is_empty()


def test_resource_key_from_env_and_flows_from_label_groups(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINEAR_API_KEY", "lin_api_env")
    labels = {"nodes": [{"name": "Basket", "parent": None}, {"name": "search", "parent": {"name": "Flow"}}]}
    httpserver.expect_request("/graphql", headers={"Authorization": "lin_api_env"}).respond_with_json(
        _page([_node(1, labels=labels), _node(2)])
    )
    resource = LinearResource(
        api_key=dg.EnvVar("LINEAR_API_KEY"), api_url=httpserver.url_for("/graphql")
    ).process_config_and_initialize()
    defects = resource.pull_defects(tmp_path, DAY, load_catalog())
    assert dict(zip(defects["key"], defects["flow"], strict=True)) == {"ENG-1": "search", "ENG-2": "unmapped"}
    assert defects["severity"].to_list() == ["high", "high"]
    sent = json.loads(httpserver.log[0][0].get_data())
    assert sent["variables"]["filter"] == json.loads(resource.filter_json)
