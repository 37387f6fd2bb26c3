"""ConfigurableResources for the warehouse, the landing zone, the config catalogue and the APIs."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from resources.alerts import AlertWebhookResource
from resources.amplitude import AmplitudeResource, amplitude_resource_from_env
from resources.catalog import CatalogResource
from resources.git import GitRepository
from resources.jira import JiraResource, jira_resource_from_env
from resources.landing import LandingResource
from resources.linear import LinearResource, linear_resource_from_env
from resources.mixpanel import MixpanelResource, mixpanel_resource_from_env
from resources.warehouse import SCHEMA, WarehouseIOManager, WarehouseResource


def build_resources(home: Path, config: Path) -> dict[str, object]:
    """The embedded default: a DuckDB file and a landing folder under TESTINTEL_HOME."""
    home.mkdir(parents=True, exist_ok=True)
    database = str(home / "warehouse.duckdb")
    webhook = (
        dg.EnvVar("TESTINTEL_ALERT_WEBHOOK_URL") if os.environ.get("TESTINTEL_ALERT_WEBHOOK_URL") else ""
    )
    return {
        "io_manager": WarehouseIOManager(database=database, schema=SCHEMA),
        "warehouse": WarehouseResource(database=database),
        "landing": LandingResource(root=str(home / "landing")),
        "catalog": CatalogResource(config_dir=str(config)),
        "alerts": AlertWebhookResource(url=webhook),
        # API pulls are on when their secrets are in the environment (docs/defects.md, docs/usage.md).
        "jira": jira_resource_from_env(**_jira_config())
        if os.environ.get("JIRA_BASE_URL")
        else JiraResource(),
        "linear": linear_resource_from_env() if os.environ.get("LINEAR_API_KEY") else LinearResource(),
        "git": GitRepository(path=os.environ.get("TESTINTEL_GIT_REPO", "")),
        "mixpanel": mixpanel_resource_from_env()
        if os.environ.get("MIXPANEL_PROJECT_ID")
        else MixpanelResource(),
        "amplitude": amplitude_resource_from_env()
        if os.environ.get("AMPLITUDE_API_KEY")
        else AmplitudeResource(),
    }


def _jira_config() -> dict[str, str]:
    """Non-secret Jira choices from the environment: JIRA_JQL, JIRA_FLOW_FIELD, JIRA_SEVERITY_FIELD,
    JIRA_FLAVOUR (cloud|server)."""
    keys = {
        "JIRA_JQL": "jql",
        "JIRA_FLOW_FIELD": "flow_field",
        "JIRA_SEVERITY_FIELD": "severity_field",
        "JIRA_FLAVOUR": "flavour",
    }
    return {field: os.environ[variable] for variable, field in keys.items() if os.environ.get(variable)}
