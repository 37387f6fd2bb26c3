"""HTTP with the retry policy every API reader shares: backoff on 429/5xx, honouring Retry-After."""

from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import requests

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class ApiError(RuntimeError):
    """The API refused or kept failing; the message names the URL, status and what to check."""

    def __init__(self, message: str, *, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


def residency_host(hosts: dict[str, str], residency: str, base_url: str | None) -> str:
    """The API host for a data residency (`base_url` overrides it, e.g. for a local test server)."""
    base = base_url or hosts.get(residency.lower())
    if base is None:
        raise ValueError(f"residency must be one of {', '.join(hosts)}, not {residency!r}")
    return base


def _retry_after_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def request_with_retries(
    session: requests.Session,
    method: str,
    url: str,
    *,
    max_attempts: int = 5,
    backoff_seconds: float = 1.0,
    max_wait_seconds: float = 60.0,
    timeout: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
    retry_when: Callable[[requests.Response], bool] | None = None,
    idempotent: bool = True,
    accept_statuses: frozenset[int] = frozenset(),
    **kwargs: object,
) -> requests.Response:
    """Send the request; retry 429/5xx and connection errors with exponential backoff.

    A Retry-After header wins over the computed backoff (capped at max_wait_seconds). 4xx other than
    429 is not retried: 401/403 mean the credentials are wrong and retrying only burns quota.
    `retry_when` flags further responses as throttled (GraphQL APIs that answer 400 with a
    RATELIMITED error). A non-idempotent request (creating a ticket) retries only throttling, which
    the server rejected unprocessed: after a 5xx or a lost connection it may have acted already.
    `accept_statuses` are returned to the caller instead of raising (e.g. an API's 404 "no data").
    """
    last_problem = ""
    for attempt in range(max_attempts):
        try:
            response = session.request(method, url, timeout=timeout, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            if not idempotent:
                raise ApiError(f"{method} {url}: {type(exc).__name__}: {exc} (not retried)") from exc
            last_problem = f"{type(exc).__name__}: {exc}"
            wait = backoff_seconds * 2**attempt
        else:
            throttled = response.status_code == 429 or (retry_when is not None and retry_when(response))
            if (response.status_code < 400 or response.status_code in accept_statuses) and not throttled:
                return response
            if response.status_code in (401, 403):
                raise ApiError(
                    f"{method} {url}: HTTP {response.status_code}: authentication failed "
                    "(check the credentials in the environment variables)",
                    status=response.status_code,
                    body=response.text[:2000],
                )
            if not throttled and (response.status_code not in RETRY_STATUSES or not idempotent):
                raise ApiError(
                    f"{method} {url}: HTTP {response.status_code}: {response.text[:300]}",
                    status=response.status_code,
                    body=response.text[:2000],
                )
            last_problem = f"HTTP {response.status_code}"
            wait = _retry_after_seconds(response) or backoff_seconds * 2**attempt
        if attempt + 1 < max_attempts:
            sleep(min(wait, max_wait_seconds))
    raise ApiError(f"{method} {url}: gave up after {max_attempts} attempts ({last_problem})")
