"""Jira as a Dagster resource: credentials from the environment, the search and field choices as config."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

import dagster as dg
import polars as pl

from resources.jira_api import JiraClient
from testintel_assets.configuration import Catalog
from testintel_assets.parsers.jira import JiraFields, jira_defects
from testintel_assets.parsers.tracker import PullManifest

# Bugs still open, plus those resolved recently enough to fall inside any density window. Cloud's
# enhanced search refuses unbounded JQL, so the default is bounded by both clauses.
DEFAULT_JQL = "issuetype = Bug AND (statusCategory != Done OR resolved >= -90d) ORDER BY created ASC"


class JiraResource(dg.ConfigurableResource):
    """Pulls the defects JQL into landing/jira/<day>/ and reads the day's snapshot back."""

    base_url: str = ""
    email: str = ""
    api_token: str = ""
    flavour: Literal["cloud", "server"] = "cloud"
    jql: str = DEFAULT_JQL
    flow_field: str = ""
    severity_field: str = "priority"
    page_size: int = 100

    def client(self) -> JiraClient:
        return JiraClient(
            base_url=self.base_url,
            api_token=self.api_token,
            email=self.email,
            flavour=self.flavour,
            page_size=self.page_size,
        )

    def fields(self) -> JiraFields:
        return JiraFields(
            severity_field=self.severity_field, flow_field=self.flow_field, base_url=self.base_url
        )

    def pull(self, landing_root: Path, day: date) -> PullManifest:
        return self.client().pull(landing_root, day, self.jql, self.fields().requested())

    def pull_defects(self, landing_root: Path, day: date, catalog: Catalog) -> pl.DataFrame:
        """Pull (raw pages first), then parse the day's latest complete pull into DEFECTS."""
        self.pull(landing_root, day)
        return jira_defects(landing_root / "jira" / day.isoformat(), day, catalog, self.fields())


def jira_resource_from_env(**config: object) -> JiraResource:
    """JIRA_BASE_URL, JIRA_EMAIL and JIRA_API_TOKEN through dg.EnvVar, so no secret is in config."""
    return JiraResource(
        base_url=dg.EnvVar("JIRA_BASE_URL"),
        email=dg.EnvVar("JIRA_EMAIL"),
        api_token=dg.EnvVar("JIRA_API_TOKEN"),
        **config,
    )
