"""The Jira client against a local server that answers like Jira does.

Shapes served here follow the documented responses:
- Cloud enhanced search, GET /rest/api/3/search/jql -> {issues, nextPageToken, isLast}
  https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/#api-rest-api-3-search-jql-get
- Server/Data Center search, GET /rest/api/2/search -> {startAt, maxResults, total, issues}
  https://developer.atlassian.com/server/jira/platform/rest/v10000/api-group-search/
- Create issue, POST /rest/api/3/issue -> 201 {id, key, self}
  https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-post
- Rate limiting: 429 with Retry-After (seconds)
  https://developer.atlassian.com/cloud/jira/platform/rate-limiting/
- Errors: {"errorMessages": [...], "errors": {}} with 400/401
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from resources.http import ApiError
from resources.jira import JiraResource
from resources.jira_api import JiraClient
from testintel_assets import schemas
from testintel_assets.configuration import load_catalog
from testintel_assets.parsers import ArtifactRejected
from testintel_assets.parsers.jira import jira_defects
from testintel_assets.parsers.tracker import MANIFEST_SUFFIX

DAY = date(2025, 3, 10)
NOW = datetime(2025, 3, 10, 2, 0, tzinfo=UTC)


def _issue(number: int) -> dict[str, object]:
    return {
        "id": str(10000 + number),
        "key": f"SHOP-{number}",
        "self": f"https://acme.atlassian.net/rest/api/3/issue/{10000 + number}",
        "fields": {
            "summary": f"bug {number}",
            "status": {"name": "In Progress", "statusCategory": {"key": "indeterminate"}},
            "priority": {"name": "High"},
            "components": [{"name": "Payments"}],
            "labels": ["customer-reported"],
            "created": "2025-03-01T10:00:00.000+0000",
            "resolutiondate": None,
        },
    }


class CloudSearch:
    """Serves `total` issues in pages of `page_size`, chained by opaque nextPageToken values."""

    def __init__(self, total: int, page_size: int) -> None:
        self.total, self.page_size = total, page_size
        self.requests: list[dict[str, str]] = []

    def __call__(self, request: Request) -> Response:
        self.requests.append(dict(request.args))
        start = int(request.args.get("nextPageToken", "tok-0").removeprefix("tok-"))
        end = min(start + self.page_size, self.total)
        body: dict[str, object] = {
            "issues": [_issue(n) for n in range(start + 1, end + 1)],
            "isLast": end >= self.total,
        }
        if end < self.total:
            body["nextPageToken"] = f"tok-{end}"
        return Response(json.dumps(body), content_type="application/json")


def _client(httpserver: HTTPServer, sleeps: list[float] | None = None, **kwargs: object) -> JiraClient:
    return JiraClient(
        base_url=httpserver.url_for("/"),
        api_token="token",
        email="bot@acme.example",
        sleep=(sleeps.append if sleeps is not None else lambda _: None),
        **kwargs,  # type: ignore[arg-type]
    )


def test_cloud_search_pages_through_many_pages_and_saves_each_raw(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    search = CloudSearch(total=23, page_size=3)
    httpserver.expect_request("/rest/api/3/search/jql", method="GET").respond_with_handler(search)
    manifest = _client(httpserver, page_size=3).pull(
        tmp_path, DAY, "issuetype = Bug", ["summary", "status"], NOW
    )

    assert len(search.requests) == 8  # ceil(23 / 3)
    assert search.requests[0]["jql"] == "issuetype = Bug"
    assert search.requests[0]["fields"] == "summary,status"
    assert "nextPageToken" not in search.requests[0]
    assert [r.get("nextPageToken") for r in search.requests[1:]] == [f"tok-{3 * i}" for i in range(1, 8)]
    assert manifest.issues == 23 and len(manifest.pages) == 8
    folder = tmp_path / "jira" / DAY.isoformat()
    saved = sorted(p.name for p in folder.iterdir())
    assert saved == sorted([*manifest.pages, f"{manifest.pull_id}{MANIFEST_SUFFIX}"])
    defects = jira_defects(folder, DAY, load_catalog())
    assert defects.height == 23
    assert set(defects["flow"]) == {"payment"}  # the Payments component is payment's alias


def test_basic_auth_is_email_and_token(httpserver: HTTPServer) -> None:
    expected = "Basic " + base64.b64encode(b"bot@acme.example:token").decode()
    httpserver.expect_request(
        "/rest/api/3/search/jql", headers={"Authorization": expected}
    ).respond_with_json({"issues": [], "isLast": True})
    pages = list(_client(httpserver).search_pages("x", ["summary"]))
    assert [json.loads(page) for page in pages] == [{"issues": [], "isLast": True}]


def test_data_center_token_without_email_is_a_bearer_pat(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/rest/api/2/search", headers={"Authorization": "Bearer pat"}
    ).respond_with_json({"startAt": 0, "maxResults": 50, "total": 0, "issues": []})
    client = JiraClient(base_url=httpserver.url_for("/"), api_token="pat", flavour="server")
    assert len(list(client.search_pages("x", ["summary"]))) == 1


def test_server_search_pages_by_start_at_until_total(httpserver: HTTPServer, tmp_path: Path) -> None:
    seen: list[int] = []

    def handler(request: Request) -> Response:
        start = int(request.args["startAt"])
        seen.append(start)
        # the server caps pages at 4 whatever maxResults asked for, as Data Center can
        issues = [_issue(n) for n in range(start + 1, min(start + 4, 10) + 1)]
        return Response(json.dumps({"startAt": start, "maxResults": 4, "total": 10, "issues": issues}))

    httpserver.expect_request("/rest/api/2/search").respond_with_handler(handler)
    manifest = _client(httpserver, flavour="server", page_size=50).pull(tmp_path, DAY, "x", ["summary"], NOW)
    assert seen == [0, 4, 8]
    assert manifest.issues == 10


def test_empty_result_is_one_page_and_an_empty_snapshot(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/rest/api/3/search/jql").respond_with_json(
        {"issues": [], "isLast": True, "nextPageToken": ""}
    )
    manifest = _client(httpserver).pull(tmp_path, DAY, "x", ["summary"], NOW)
    assert manifest.issues == 0 and len(manifest.pages) == 1
    defects = jira_defects(tmp_path / "jira" / DAY.isoformat(), DAY, load_catalog())
    assert defects.is_empty() and defects.schema == schemas.DEFECTS


def test_auth_failure_is_not_retried_and_says_what_to_check(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/rest/api/3/search/jql").respond_with_json(
        {"errorMessages": ["You are not authenticated. Authentication required to perform this operation."]},
        status=401,
    )
    sleeps: list[float] = []
    with pytest.raises(ApiError, match="authentication failed"):
        _client(httpserver, sleeps).pull(tmp_path, DAY, "x", ["summary"], NOW)
    assert len(httpserver.log) == 1 and sleeps == []
    assert not list((tmp_path / "jira" / DAY.isoformat()).glob(f"*{MANIFEST_SUFFIX}"))


def test_rate_limit_waits_retry_after_then_continues(httpserver: HTTPServer, tmp_path: Path) -> None:
    search = CloudSearch(total=4, page_size=2)
    calls = {"n": 0}

    def throttled_once(request: Request) -> Response:
        calls["n"] += 1
        if calls["n"] == 2:
            return Response("Rate limit exceeded", status=429, headers={"Retry-After": "7"})
        if calls["n"] == 3:
            return Response("", status=503)
        return search(request)

    httpserver.expect_request("/rest/api/3/search/jql").respond_with_handler(throttled_once)
    sleeps: list[float] = []
    manifest = _client(httpserver, sleeps, page_size=2).pull(tmp_path, DAY, "x", ["summary"], NOW)
    assert manifest.issues == 4
    assert sleeps == [7.0, 2.0]  # Retry-After honoured, then exponential backoff for the 503
    assert [r.get("nextPageToken") for r in search.requests] == [None, "tok-2"]


def test_a_malformed_page_is_on_disk_before_the_pull_fails(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/rest/api/3/search/jql").respond_with_data("<html>proxy error</html>")
    with pytest.raises(ArtifactRejected, match="not valid JSON"):
        _client(httpserver).pull(tmp_path, DAY, "x", ["summary"], NOW)
    folder = tmp_path / "jira" / DAY.isoformat()
    assert [p.read_bytes() for p in folder.iterdir()] == [
        b"<html>proxy error</html>"
    ]  # raw first, no manifest


def test_repeated_page_token_stops_instead_of_looping(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/rest/api/3/search/jql").respond_with_json(
        {"issues": [_issue(1)], "isLast": False, "nextPageToken": "same"}
    )
    with pytest.raises(ApiError, match="repeated nextPageToken"):
        list(_client(httpserver).search_pages("x", ["summary"]))


def test_create_issue_posts_once_and_returns_key(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/rest/api/3/issue", method="POST", json={"fields": {"summary": "s"}}
    ).respond_with_json(
        {"id": "10042", "key": "SHOP-42", "self": httpserver.url_for("/rest/api/3/issue/10042")}, status=201
    )
    created = _client(httpserver).create_issue({"summary": "s"})
    assert created.key == "SHOP-42"
    assert created.url == httpserver.url_for("/browse/SHOP-42")


def test_create_issue_is_not_retried_after_a_server_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/rest/api/3/issue", method="POST").respond_with_data("oops", status=500)
    with pytest.raises(ApiError, match="HTTP 500"):
        _client(httpserver).create_issue({"summary": "s"})
    assert len(httpserver.log) == 1  # Jira may have created it: the next run finds it by label


def test_keys_with_label_searches_the_label_in_the_project(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/rest/api/3/search/jql",
        query_string={
            "jql": 'labels = "gap-x" AND project = "SHOP"',
            "fields": "labels",
            "maxResults": "100",
        },
    ).respond_with_json({"issues": [{"key": "SHOP-7", "fields": {"labels": ["gap-x"]}}], "isLast": True})
    assert _client(httpserver).keys_with_label("gap-x", "SHOP") == ["SHOP-7"]


def test_resource_reads_secrets_from_env_vars(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JIRA_BASE_URL", httpserver.url_for("/"))
    monkeypatch.setenv("JIRA_EMAIL", "bot@acme.example")
    monkeypatch.setenv("JIRA_API_TOKEN", "token")
    httpserver.expect_request("/rest/api/3/search/jql").respond_with_handler(
        CloudSearch(total=5, page_size=100)
    )
    resource = JiraResource(
        base_url=dg.EnvVar("JIRA_BASE_URL"),
        email=dg.EnvVar("JIRA_EMAIL"),
        api_token=dg.EnvVar("JIRA_API_TOKEN"),
        flow_field="customfield_10042",
    ).process_config_and_initialize()
    defects = resource.pull_defects(tmp_path, DAY, load_catalog())
    assert defects.height == 5
    assert "customfield_10042" in httpserver.log[0][0].args["fields"]
    assert defects["url"][0] == httpserver.url_for("/browse/SHOP-1")


def test_unconfigured_client_names_the_variables() -> None:
    with pytest.raises(ApiError, match="JIRA_BASE_URL"):
        JiraClient(base_url="", api_token="")
