"""Where testintel keeps its files: one home folder, one config folder, both overridable by env."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_START_DATE = "2025-01-01"


def testintel_home() -> Path:
    """`TESTINTEL_HOME`, default `.testintel/` in the working directory."""
    return Path(os.environ.get("TESTINTEL_HOME", ".testintel")).resolve()


def config_dir() -> Path:
    """`TESTINTEL_CONFIG`, default the repository's `config/`."""
    return Path(os.environ.get("TESTINTEL_CONFIG", REPO_ROOT / "config")).resolve()


def landing_dir(home: Path | None = None) -> Path:
    return (home or testintel_home()) / "landing"


def warehouse_path(home: Path | None = None) -> Path:
    return (home or testintel_home()) / "warehouse.duckdb"


def reports_dir(home: Path | None = None) -> Path:
    return (home or testintel_home()) / "reports"


def partitions_start_date() -> date:
    """`TESTINTEL_START_DATE`, the first day partition, so archived quarters can be backfilled."""
    return date.fromisoformat(os.environ.get("TESTINTEL_START_DATE", DEFAULT_START_DATE))
