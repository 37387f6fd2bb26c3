"""`testintel quarantine export`: the quarantine file CI reads offline (docs/flakes.md).

Reads the `quarantine` table from the warehouse (read-only, so it never blocks a running
pipeline), applies the overrides of config/quarantine.yaml active today (a pin or release takes
effect without waiting for the next materialization), and writes:

    {"testintel_quarantine": 1, "generated_at": "...Z",
     "tests": [{"test_id", "reason", "owner", "since": "YYYY-MM-DD", "expires": "YYYY-MM-DD"}]}

as JSON or YAML (same structure). The pytest plugin's `--testintel-quarantine PATH` reads it.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import polars as pl
import yaml

from testintel_assets import schemas
from testintel_assets.configuration import ConfigError, load_quarantine_overrides
from testintel_assets.scoring.quarantine import ACTIVE, active_overrides, apply_overrides
from testintel_assets.settings import warehouse_path

FORMAT_VERSION = 1


class ExportError(RuntimeError):
    """The warehouse cannot give a quarantine; the message says what to do."""


def read_quarantine(warehouse: Path, day: date | None) -> pl.DataFrame:
    """The quarantine table's rows for `day` (default: its newest day)."""
    if not warehouse.is_file():
        raise ExportError(f"no warehouse at {warehouse} (fix: materialize the quarantine asset first)")
    connection = duckdb.connect(str(warehouse), read_only=True)
    try:
        day = day or connection.sql("select max(day) from testintel.quarantine").fetchall()[0][0]
        frame = connection.sql("select * from testintel.quarantine where day = ?", params=[day]).pl()
    except duckdb.CatalogException as exc:
        raise ExportError(
            f"{warehouse} has no table testintel.quarantine (fix: materialize it first)"
        ) from exc
    finally:
        connection.close()
    return schemas.conform(frame, schemas.QUARANTINE)


def export_document(entries: pl.DataFrame, generated_at: datetime) -> dict:
    """The file's structure: active entries (quarantined, pinned, orphaned), sorted by test_id."""
    active = entries.filter(pl.col("state").is_in(ACTIVE)).sort("test_id")
    tests = [
        {
            "test_id": row["test_id"],
            "reason": row["reason"] or "",
            "owner": row["owner"] or row["set_by"] or "",
            "since": row["since"].isoformat() if row["since"] else None,
            "expires": row["expires"].isoformat() if row["expires"] else None,
        }
        for row in active.iter_rows(named=True)
    ]
    stamp = generated_at.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return {"testintel_quarantine": FORMAT_VERSION, "generated_at": stamp, "tests": tests}


def render(document: dict, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(document, indent=2) + "\n"
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def _handle(args: argparse.Namespace) -> int:
    try:
        entries = read_quarantine(warehouse_path(), args.day)
        today = args.day or datetime.now(UTC).date()
        entries = apply_overrides(entries, active_overrides(load_quarantine_overrides(), today), today)
    except (ExportError, ConfigError) as exc:
        print(f"testintel quarantine export: {exc}", file=sys.stderr)
        return 2
    if entries.is_empty():
        print("testintel quarantine export: no quarantine entries for that day", file=sys.stderr)
    text = render(export_document(entries, datetime.now(UTC)), args.format)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def register(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser("quarantine", help="quarantine as code: export the file CI reads")
    actions = parser.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help="write the quarantined tests as JSON or YAML")
    export.add_argument("--format", choices=["json", "yaml"], default="json")
    export.add_argument("--output", type=Path, default=None, help="default: standard output")
    export.add_argument("--day", type=date.fromisoformat, default=None, help="default: the newest day")
    export.set_defaults(handler=_handle)
