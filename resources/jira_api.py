"""A small Jira REST client without Dagster: paged search (Cloud and Server/Data Center) and issue creation.

Cloud: GET /rest/api/3/search/jql pages with `nextPageToken` until `isLast`
(https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/#api-rest-api-3-search-jql-get).
Server/Data Center: GET /rest/api/2/search pages with `startAt` until `total`
(https://developer.atlassian.com/server/jira/platform/rest/v10000/api-group-search/).
Create: POST /rest/api/{3,2}/issue answers 201 {id, key, self}
(https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-post).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Literal

import requests

from resources.http import ApiError, request_with_retries
from resources.pulls import save_pull
from testintel_assets.parsers.jira import SOURCE, issues_of
from testintel_assets.parsers.tracker import PullManifest, load_json

Flavour = Literal["cloud", "server"]
MAX_PAGES = 100_000


def _search_page(content: bytes) -> tuple[dict[str, object], list[object]]:
    """The page document and its issues; issues_of rejects anything but a search page or issue."""
    document = load_json(content, "Jira search page")
    issues = issues_of(document, "Jira search page")
    return (document if isinstance(document, dict) else {}), issues


def count_issues(content: bytes) -> int:
    return len(_search_page(content)[1])


@dataclass(frozen=True)
class CreatedIssue:
    key: str
    url: str


@dataclass
class JiraClient:
    """Basic auth with email + API token (Cloud); a bare token is sent as a Bearer personal access
    token (Data Center)."""

    base_url: str
    api_token: str
    email: str = ""
    flavour: Flavour = "cloud"
    page_size: int = 100
    session: requests.Session = field(default_factory=requests.Session)
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        if not self.base_url or not self.api_token:
            raise ApiError(
                "Jira is not configured: set JIRA_BASE_URL and JIRA_API_TOKEN (and JIRA_EMAIL on Cloud)"
            )
        if self.flavour not in ("cloud", "server"):
            raise ApiError(f"Jira flavour {self.flavour!r}: use 'cloud' (REST v3) or 'server' (REST v2)")
        self.base_url = self.base_url.rstrip("/")
        if self.email:
            self.session.auth = (self.email, self.api_token)
        else:
            self.session.headers["Authorization"] = f"Bearer {self.api_token}"
        self.session.headers["Accept"] = "application/json"

    @property
    def api_version(self) -> str:
        return "3" if self.flavour == "cloud" else "2"

    def browse_url(self, key: str) -> str:
        return f"{self.base_url}/browse/{key}"

    def _get(self, path: str, params: dict[str, object]) -> requests.Response:
        return request_with_retries(
            self.session, "GET", f"{self.base_url}{path}", params=params, sleep=self.sleep
        )

    def search_pages(self, jql: str, fields: list[str]) -> Iterator[bytes]:
        """Yield every raw page of the search in order; a page is read only after the caller had it."""
        pages = self._cloud_pages if self.flavour == "cloud" else self._server_pages
        yield from pages(jql, ",".join(fields))

    def _cloud_pages(self, jql: str, fields: str) -> Iterator[bytes]:
        token = ""
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            params: dict[str, object] = {"jql": jql, "fields": fields, "maxResults": self.page_size}
            if token:
                params["nextPageToken"] = token
            response = self._get("/rest/api/3/search/jql", params)
            yield response.content
            document, _ = _search_page(response.content)
            token = str(document.get("nextPageToken") or "")
            if document.get("isLast", not token) or not token:
                return
            if token in seen:
                raise ApiError(f"Jira search repeated nextPageToken {token!r}: refusing to loop")
            seen.add(token)
        raise ApiError(f"Jira search did not end after {MAX_PAGES} pages")

    def _server_pages(self, jql: str, fields: str) -> Iterator[bytes]:
        start_at = 0
        for _ in range(MAX_PAGES):
            params = {"jql": jql, "fields": fields, "startAt": start_at, "maxResults": self.page_size}
            response = self._get("/rest/api/2/search", params)
            yield response.content
            document, issues = _search_page(response.content)
            count = len(issues)
            start_at += count
            if count == 0 or start_at >= int(document.get("total", 0)):
                return
        raise ApiError(f"Jira search did not end after {MAX_PAGES} pages")

    def pull(
        self, landing_root: Path, day: date, jql: str, fields: list[str], now: datetime | None = None
    ) -> PullManifest:
        """Page through the search, saving each raw page under landing/jira/<day>/ before the next."""
        query = {"flavour": self.flavour, "jql": jql, "fields": fields, "base_url": self.base_url}
        pages = self.search_pages(jql, fields)
        return save_pull(landing_root, SOURCE, day, pages, count_issues, query, now)

    def keys_with_label(self, label: str, project: str = "") -> list[str]:
        """Issue keys carrying the label, in any status: how a ticket already filed is found again."""
        jql = f'labels = "{label}"' + (f' AND project = "{project}"' if project else "")
        return [
            str(issue["key"])
            for content in self.search_pages(jql, ["labels"])
            for issue in _search_page(content)[1]
            if isinstance(issue, dict) and "key" in issue
        ]

    def create_issue(self, fields: dict[str, object]) -> CreatedIssue:
        """POST once: a 5xx or lost connection is not retried, since Jira may have created the issue."""
        response = request_with_retries(
            self.session,
            "POST",
            f"{self.base_url}/rest/api/{self.api_version}/issue",
            json={"fields": fields},
            sleep=self.sleep,
            idempotent=False,
        )
        document = load_json(response.content, "Jira create issue response")
        if not isinstance(document, dict) or not isinstance(document.get("key"), str):
            raise ApiError(f"Jira created an issue but answered without its key: {response.text[:300]}")
        return CreatedIssue(key=document["key"], url=self.browse_url(document["key"]))
