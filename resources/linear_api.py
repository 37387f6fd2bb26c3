"""A small Linear GraphQL client without Dagster: the `issues` connection paged by cursor.

Endpoint and auth: POST https://api.linear.app/graphql with `Authorization: <API_KEY>` for personal
keys, `Bearer <token>` for OAuth (https://linear.app/developers/graphql). Paging: `first`/`after`
while `pageInfo.hasNextPage`, next `after` = `pageInfo.endCursor` (https://linear.app/developers/pagination).
Errors follow the GraphQL format; a throttled request answers with an error whose
`extensions.code` is RATELIMITED, often on HTTP 400 rather than 429
(https://linear.app/developers/rate-limiting), so it is retried like a 429.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import requests

from resources.http import ApiError, request_with_retries
from resources.pulls import save_pull
from testintel_assets.parsers.linear import ISSUE_FIELDS, SOURCE, issue_nodes
from testintel_assets.parsers.tracker import PullManifest, load_json

API_URL = "https://api.linear.app/graphql"
MAX_PAGES = 100_000
ISSUES_QUERY = (
    "query TestintelDefects($first: Int!, $after: String, $filter: IssueFilter) {\n"
    "  issues(first: $first, after: $after, filter: $filter) {\n"
    f"    nodes {{{ISSUE_FIELDS}    }}\n"
    "    pageInfo { hasNextPage endCursor }\n"
    "  }\n"
    "}\n"
)


def _error_codes(text: str) -> set[str]:
    """extensions.code / extensions.type of each GraphQL error, upper-cased ('RATELIMITED', ...)."""
    try:
        errors = json.loads(text).get("errors") or []
    except (ValueError, AttributeError):
        return set()
    codes = set()
    for error in errors if isinstance(errors, list) else []:
        extensions = error.get("extensions") if isinstance(error, dict) else None
        if isinstance(extensions, dict):
            codes |= {
                str(extensions[k]).upper().replace(" ", "_") for k in ("code", "type") if k in extensions
            }
    return codes


def _rate_limited(response: requests.Response) -> bool:
    return b"RATELIMITED" in response.content.upper() and "RATELIMITED" in _error_codes(response.text)


def count_issues(content: bytes) -> int:
    return len(issue_nodes(load_json(content, "Linear issues page"), "Linear issues page")[0])


@dataclass
class LinearClient:
    api_key: str
    api_url: str = API_URL
    page_size: int = 100
    session: requests.Session = field(default_factory=requests.Session)
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ApiError("Linear is not configured: set LINEAR_API_KEY")
        self.session.headers["Authorization"] = self.api_key
        self.session.headers["Content-Type"] = "application/json"

    def _post(self, query: str, variables: dict[str, object]) -> requests.Response:
        try:
            return request_with_retries(
                self.session,
                "POST",
                self.api_url,
                json={"query": query, "variables": variables},
                retry_when=_rate_limited,
                sleep=self.sleep,
            )
        except ApiError as exc:
            if exc.status == 400 and "AUTHENTICATION_ERROR" in _error_codes(exc.body):
                raise ApiError(
                    f"POST {self.api_url}: authentication failed (check LINEAR_API_KEY)", status=exc.status
                ) from exc
            raise

    def issue_pages(self, issue_filter: dict[str, object] | None) -> Iterator[bytes]:
        """Yield every raw page of the filtered issues; a page is read only after the caller had it."""
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            variables = {"first": self.page_size, "after": cursor, "filter": issue_filter}
            response = self._post(ISSUES_QUERY, variables)
            yield response.content
            _, page_info = issue_nodes(
                load_json(response.content, "Linear issues page"), "Linear issues page"
            )
            cursor = page_info.get("endCursor") if page_info.get("hasNextPage") else None  # type: ignore[assignment]
            if not cursor:
                return
            if cursor in seen:
                raise ApiError(f"Linear repeated endCursor {cursor!r}: refusing to loop")
            seen.add(cursor)
        raise ApiError(f"Linear issues did not end after {MAX_PAGES} pages")

    def pull(
        self,
        landing_root: Path,
        day: date,
        issue_filter: dict[str, object] | None,
        now: datetime | None = None,
    ) -> PullManifest:
        """Page through the issues, saving each raw page under landing/linear/<day>/ before the next."""
        query = {"api_url": self.api_url, "filter": issue_filter}
        return save_pull(landing_root, SOURCE, day, self.issue_pages(issue_filter), count_issues, query, now)
