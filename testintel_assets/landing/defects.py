"""Defect tracker snapshots in the landing zone -> defects rows (interim until issue 6 lands)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import polars as pl

from testintel_assets import schemas
from testintel_assets.configuration import Catalog


def _jira(path: Path, day: date, catalog: Catalog) -> list[dict[str, object]]:
    rows = []
    for issue in json.loads(path.read_text(encoding="utf-8")).get("issues", []):
        fields = issue["fields"]
        flow_field = (fields.get("customfield_10042") or {}).get("value")
        flow = catalog.canonical_flow(flow_field) or "unmapped"
        rows.append(
            {
                "day": day,
                "key": issue["key"],
                "title": fields.get("summary"),
                "flow": flow,
                "component": ",".join(c["name"] for c in fields.get("components", [])),
                "severity": {"Highest": "critical", "High": "high", "Medium": "medium", "Low": "low"}.get(
                    (fields.get("priority") or {}).get("name"), "unknown"
                ),
                "status": fields["status"]["name"],
                "status_category": "done" if fields["status"]["statusCategory"]["key"] == "done" else "open",
                "created_at": datetime.strptime(fields["created"], "%Y-%m-%dT%H:%M:%S.%f%z"),
                "resolved_at": datetime.strptime(fields["resolutiondate"], "%Y-%m-%dT%H:%M:%S.%f%z")
                if fields.get("resolutiondate")
                else None,
                "labels": fields.get("labels", []),
                "source": "jira",
                "url": issue["self"],
            }
        )
    return rows


def read_defect_days(landing_root: Path, days: list[date], catalog: Catalog) -> pl.DataFrame:
    rows = []
    for day in days:
        for path in sorted((landing_root / "jira" / day.isoformat()).glob("*.json")):
            rows += _jira(path, day, catalog)
    return schemas.conform(pl.DataFrame(rows), schemas.DEFECTS) if rows else schemas.empty(schemas.DEFECTS)


def code_changes_from_runs(
    ci_runs_dirs: list[tuple[date, dict[str, object]]], catalog: Catalog
) -> pl.DataFrame:
    rows = [
        {
            "day": day,
            "sha": info["sha"],
            "file": file,
            "component": catalog.component_of(file),
            "source": "run.json",
        }
        for day, info in ci_runs_dirs
        for file in info.get("changed_files", [])  # type: ignore[union-attr]
    ]
    return (
        schemas.conform(pl.DataFrame(rows), schemas.CODE_CHANGES)
        if rows
        else schemas.empty(schemas.CODE_CHANGES)
    )
