"""Mixpanel Raw Event Export: a pure client and the thin Dagster resource that configures it.

API: https://developer.mixpanel.com/reference/raw-event-export — GET {host}/api/2.0/export with
from_date / to_date (inclusive, yyyy-mm-dd) and project_id, HTTP Basic auth with a service account;
the body is JSON lines. Hosts: data.mixpanel.com (US), data-eu.mixpanel.com (EU residency),
data-in.mixpanel.com (India). Rate limit: 60 queries per hour, 3 per second, answered with 429.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import dagster as dg
import requests
from pydantic import Field

from resources.http import request_with_retries, residency_host
from testintel_assets.landing.raw import save_raw

HOSTS = {
    "us": "https://data.mixpanel.com",
    "eu": "https://data-eu.mixpanel.com",
    "in": "https://data-in.mixpanel.com",
}
RAW_NAME = "export.jsonl"


class MixpanelClient:
    """Fetches one day of raw events and lands the bytes before anyone parses them."""

    def __init__(
        self,
        project_id: str,
        username: str,
        secret: str,
        base_url: str,
        session: requests.Session | None = None,
        **retry_options: object,
    ) -> None:
        self.project_id = project_id
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.session.auth = (username, secret)
        self.retry_options = retry_options

    def export_day(self, day: date) -> bytes:
        """The raw JSONL body for `day` (UTC); an empty body means no events that day."""
        response = request_with_retries(
            self.session,
            "GET",
            f"{self.base_url}/api/2.0/export",
            params={"from_date": day.isoformat(), "to_date": day.isoformat(), "project_id": self.project_id},
            headers={"Accept": "text/plain"},
            **self.retry_options,
        )
        return response.content

    def land_day(self, landing_root: Path, day: date) -> Path:
        """Fetch `day` and save it under landing/mixpanel/<day>/ (raw first, parse later)."""
        return save_raw(landing_root, "mixpanel", day, RAW_NAME, self.export_day(day))


class MixpanelResource(dg.ConfigurableResource):
    """Service-account credentials come from MIXPANEL_* environment variables via dg.EnvVar."""

    project_id: str = Field("", description="Mixpanel project id (MIXPANEL_PROJECT_ID); empty: no pulls")
    service_account_username: str = Field("", description="MIXPANEL_SERVICE_ACCOUNT_USERNAME")
    service_account_secret: str = Field("", description="MIXPANEL_SERVICE_ACCOUNT_SECRET")
    residency: str = Field("us", description="data residency: us, eu or in")
    base_url: str | None = Field(None, description="override the host, e.g. a local test server")

    def client(self) -> MixpanelClient:
        base = residency_host(HOSTS, self.residency, self.base_url)
        return MixpanelClient(
            self.project_id, self.service_account_username, self.service_account_secret, base
        )

    @property
    def configured(self) -> bool:
        return bool(self.project_id)

    def land_day(self, landing_root: Path, day: date) -> Path:
        return self.client().land_day(landing_root, day)


def mixpanel_resource_from_env() -> MixpanelResource:
    """The resource wired to MIXPANEL_PROJECT_ID, _SERVICE_ACCOUNT_USERNAME, _SECRET and _RESIDENCY."""
    return MixpanelResource(
        project_id=dg.EnvVar("MIXPANEL_PROJECT_ID"),
        service_account_username=dg.EnvVar("MIXPANEL_SERVICE_ACCOUNT_USERNAME"),
        service_account_secret=dg.EnvVar("MIXPANEL_SERVICE_ACCOUNT_SECRET"),
        residency=os.environ.get("MIXPANEL_RESIDENCY", "us"),
    )
