"""The Dagster instance of the embedded default: SQLite under TESTINTEL_HOME, one warehouse writer."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from testintel_assets.settings import testintel_home

# One run at a time and one warehouse step at a time: DuckDB allows a single writing process per
# file (docs/warehouse.md). Telemetry stays off for a tool that may run inside company networks.
DAGSTER_YAML = """\
telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: 1
  pools:
    default_limit: 1
"""


def dagster_home(home: Path | None = None) -> Path:
    """`DAGSTER_HOME` if set, else `$TESTINTEL_HOME/dagster`, created with our dagster.yaml."""
    path = Path(os.environ.get("DAGSTER_HOME") or (home or testintel_home()) / "dagster").resolve()
    path.mkdir(parents=True, exist_ok=True)
    config = path / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML, encoding="utf-8")
    return path


def get_instance(home: Path | None = None) -> dg.DagsterInstance:
    os.environ["DAGSTER_HOME"] = str(dagster_home(home))
    return dg.DagsterInstance.get()
