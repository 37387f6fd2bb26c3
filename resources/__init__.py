"""ConfigurableResources for the warehouse, the landing zone, the config catalogue and the APIs."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from resources.alerts import AlertWebhookResource
from resources.catalog import CatalogResource
from resources.landing import LandingResource
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
    }
