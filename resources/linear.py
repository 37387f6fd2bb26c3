"""Linear as a Dagster resource: the API key from the environment, the issue filter as config."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl

from resources.linear_api import API_URL, LinearClient
from testintel_assets.configuration import Catalog
from testintel_assets.parsers.linear import LinearLabelGroups, linear_defects
from testintel_assets.parsers.tracker import PullManifest

# Issues labelled Bug that are open or finished in the last 90 days (an IssueFilter,
# https://linear.app/developers/filtering); completedAt/canceledAt bound the pull like Jira's JQL.
DEFAULT_FILTER = json.dumps(
    {
        "labels": {"some": {"name": {"eqIgnoreCase": "Bug"}}},
        "or": [
            {"completedAt": {"null": True}, "canceledAt": {"null": True}},
            {"completedAt": {"gte": "-P90D"}},
            {"canceledAt": {"gte": "-P90D"}},
        ],
    }
)


class LinearResource(dg.ConfigurableResource):
    """Pulls the defect issues into landing/linear/<day>/ and reads the day's snapshot back."""

    api_key: str = ""
    api_url: str = API_URL
    filter_json: str = DEFAULT_FILTER
    flow_label_group: str = "Flow"
    component_label_group: str = "Component"
    page_size: int = 100

    def client(self) -> LinearClient:
        return LinearClient(api_key=self.api_key, api_url=self.api_url, page_size=self.page_size)

    def issue_filter(self) -> dict[str, object] | None:
        return json.loads(self.filter_json) if self.filter_json.strip() else None

    def label_groups(self) -> LinearLabelGroups:
        return LinearLabelGroups(flow=self.flow_label_group, component=self.component_label_group)

    def pull(self, landing_root: Path, day: date) -> PullManifest:
        return self.client().pull(landing_root, day, self.issue_filter())

    def pull_defects(self, landing_root: Path, day: date, catalog: Catalog) -> pl.DataFrame:
        """Pull (raw pages first), then parse the day's latest complete pull into DEFECTS."""
        self.pull(landing_root, day)
        return linear_defects(landing_root / "linear" / day.isoformat(), day, catalog, self.label_groups())


def linear_resource_from_env(**config: object) -> LinearResource:
    """LINEAR_API_KEY through dg.EnvVar, so the key is never in config or logs."""
    return LinearResource(api_key=dg.EnvVar("LINEAR_API_KEY"), **config)
