"""Amplitude Export API: a pure client and the thin Dagster resource that configures it.

API: https://amplitude.com/docs/apis/analytics/export — GET {host}/api/2/export?start=YYYYMMDDTHH&end=
YYYYMMDDTHH (UTC, inclusive hours; a whole day is T00..T23), HTTP Basic auth with the project's API
key and secret key. The body is a zip archive of gzipped JSON-lines files, one per hour. 404 means no
data for the range; 400 means the export exceeds 4 GB. Hosts: amplitude.com, analytics.eu.amplitude.com.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import dagster as dg
import requests
from pydantic import Field

from resources.http import ApiError, request_with_retries, residency_host
from testintel_assets.landing.raw import save_raw

HOSTS = {"us": "https://amplitude.com", "eu": "https://analytics.eu.amplitude.com"}
RAW_NAME = "export.zip"


class AmplitudeClient:
    """Fetches one day's export archive and lands the bytes before anyone parses them."""

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        base_url: str,
        session: requests.Session | None = None,
        **retry_options: object,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.session.auth = (api_key, secret_key)
        self.retry_options = retry_options

    def export_day(self, day: date) -> bytes:
        """The zip archive for `day` (UTC hours 00..23); b"" when Amplitude has no data (404)."""
        stamp = day.strftime("%Y%m%d")
        url = f"{self.base_url}/api/2/export"
        response = request_with_retries(
            self.session,
            "GET",
            url,
            params={"start": f"{stamp}T00", "end": f"{stamp}T23"},
            accept_statuses=frozenset({404}),
            **self.retry_options,
        )
        if response.status_code == 404:
            return b""
        if not response.content.startswith(b"PK"):
            raise ApiError(f"GET {url}: expected a zip archive, got {response.headers.get('Content-Type')}")
        return response.content

    def land_day(self, landing_root: Path, day: date) -> Path:
        """Fetch `day` and save it under landing/amplitude/<day>/ (raw first, parse later)."""
        return save_raw(landing_root, "amplitude", day, RAW_NAME, self.export_day(day))


class AmplitudeResource(dg.ConfigurableResource):
    """Project keys come from AMPLITUDE_* environment variables via dg.EnvVar."""

    api_key: str = Field("", description="AMPLITUDE_API_KEY; empty: no pulls")
    secret_key: str = Field("", description="AMPLITUDE_SECRET_KEY")
    residency: str = Field("us", description="data residency: us or eu")
    base_url: str | None = Field(None, description="override the host, e.g. a local test server")

    def client(self) -> AmplitudeClient:
        base = residency_host(HOSTS, self.residency, self.base_url)
        return AmplitudeClient(self.api_key, self.secret_key, base)

    @property
    def configured(self) -> bool:
        return bool(self.api_key)

    def land_day(self, landing_root: Path, day: date) -> Path:
        return self.client().land_day(landing_root, day)


def amplitude_resource_from_env() -> AmplitudeResource:
    """The resource wired to AMPLITUDE_API_KEY, AMPLITUDE_SECRET_KEY and AMPLITUDE_RESIDENCY."""
    return AmplitudeResource(
        api_key=dg.EnvVar("AMPLITUDE_API_KEY"),
        secret_key=dg.EnvVar("AMPLITUDE_SECRET_KEY"),
        residency=os.environ.get("AMPLITUDE_RESIDENCY", "us"),
    )
