"""`testintel tickets [--create] [--day YYYY-MM-DD]`: Jira tickets for the day's Top-N gaps.

Dry run by default: prints each rendered ticket and whether the ledger already holds its key. With
--create, each gap is looked up before anything is filed: first in the warehouse ledger
(testintel.gap_tickets), then in Jira by its label (a ticket filed earlier, by hand or by a run whose
ledger write failed); only a gap found in neither gets a new ticket. Keys go back into the ledger.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from testintel_assets import schemas
from testintel_assets.configuration import load_catalog
from testintel_assets.scoring.tickets import GapTicket, render_gap_tickets
from testintel_assets.settings import warehouse_path

if TYPE_CHECKING:  # the resources package imports Dagster, which a dry run does not need
    from resources.jira_api import JiraClient

SCHEMA = "testintel"
LEDGER = "gap_tickets"


@dataclass(frozen=True)
class WarehouseView:
    day: date | None
    gaps: pl.DataFrame
    flow_usage: pl.DataFrame
    ledger: pl.DataFrame


def _table(
    connection: duckdb.DuckDBPyConnection, table: str, schema: pl.Schema, where: str = ""
) -> pl.DataFrame:
    """A contract table, or its empty frame when the warehouse does not have it yet."""
    try:
        frame = connection.sql(f"SELECT * FROM {SCHEMA}.{table} {where}").pl()
    except duckdb.CatalogException:
        return schemas.empty(schema)
    return schemas.conform(frame, schema)


def read_warehouse(database: Path, day: date | None) -> WarehouseView:
    """Top-N gaps of `day` (default: the newest day), flow usage up to it, and the ticket ledger."""
    if not database.exists():
        raise FileNotFoundError(f"{database}: no warehouse yet (run `make demo` or a backfill first)")
    connection = duckdb.connect(str(database), read_only=True)
    try:
        gaps = _table(connection, "top_n_gaps", schemas.TOP_N_GAPS)
        day = day or gaps["day"].max()
        return WarehouseView(
            day=day,
            gaps=gaps.filter(pl.col("day") == day),
            flow_usage=_table(connection, "flow_usage", schemas.FLOW_USAGE),
            ledger=_table(connection, LEDGER, schemas.GAP_TICKETS),
        )
    finally:
        connection.close()


def record(database: Path, rows: list[dict[str, object]]) -> None:
    """Append ledger rows; the only write this command makes, after Jira answered."""
    from resources.warehouse import write_frame  # the Dagster-side module: imported only when writing

    connection = duckdb.connect(str(database))
    try:
        write_frame(connection, SCHEMA, LEDGER, schemas.conform(pl.DataFrame(rows), schemas.GAP_TICKETS))
    finally:
        connection.close()


def _ledger_row(ticket: GapTicket, key: str, url: str, action: str) -> dict[str, object]:
    return {
        "day": ticket.day,
        "flow": ticket.flow,
        "gap_kind": ticket.gap_kind,
        "label": ticket.label,
        "ticket_key": key,
        "ticket_url": url,
        "summary": ticket.summary,
        "action": action,
        "recorded_at": datetime.now(UTC),
    }


def file_tickets(
    tickets: list[GapTicket], ledger: pl.DataFrame, client: JiraClient, project: str, issue_type: str
) -> Iterator[dict[str, object]]:
    """Find or create a Jira issue for each ticket not in the ledger, yielding its ledger row at once
    so the caller keeps every key obtained before a later failure."""
    known = set(ledger["label"].to_list())
    for ticket in tickets:
        if ticket.label in known:
            continue
        existing = client.keys_with_label(ticket.label, project)
        if existing:
            key = sorted(existing)[0]
            yield _ledger_row(ticket, key, client.browse_url(key), "found")
        else:
            created = client.create_issue(ticket.jira_fields(project, issue_type, client.flavour))
            yield _ledger_row(ticket, created.key, created.url, "created")
        known.add(ticket.label)


def _handle(args: argparse.Namespace) -> int:
    database = warehouse_path()
    try:
        view = read_warehouse(database, args.day)
    except FileNotFoundError as exc:
        print(exc)
        return 1
    tickets = render_gap_tickets(view.gaps, view.flow_usage, load_catalog())
    if not tickets:
        print(f"{database}: no Top-N gaps for {view.day or 'any day'}; nothing to ticket")
        return 0
    keys = dict(zip(view.ledger["label"].to_list(), view.ledger["ticket_key"].to_list(), strict=True))
    if not args.create:
        for ticket in tickets:
            state = f"ticketed as {keys[ticket.label]}" if ticket.label in keys else "would be created"
            print(f"{ticket.text()}\n  Status: {state}\n")
        print(f"Dry run: {len(tickets)} gap tickets for {view.day}. Add --create to file them in Jira.")
        return 0
    return _create(args, database, tickets, view.ledger)


def _create(args: argparse.Namespace, database: Path, tickets: list[GapTicket], ledger: pl.DataFrame) -> int:
    from resources.http import ApiError
    from resources.jira_api import JiraClient

    project = args.project or os.environ.get("JIRA_PROJECT_KEY", "")
    if not project:
        print("--create needs a Jira project: pass --project KEY or set JIRA_PROJECT_KEY")
        return 2
    rows: list[dict[str, object]] = []
    try:
        client = JiraClient(
            base_url=os.environ.get("JIRA_BASE_URL", ""),
            api_token=os.environ.get("JIRA_API_TOKEN", ""),
            email=os.environ.get("JIRA_EMAIL", ""),
            flavour=args.flavour,
        )
        for row in file_tickets(tickets, ledger, client, project, args.issue_type):
            rows.append(row)
            print(f"{row['action']:>8} {row['ticket_key']}  {row['summary']}  [{row['label']}]")
    except (ApiError, ValueError) as exc:
        print(f"Jira: {exc}")
        return 1
    finally:
        if rows:
            record(database, rows)
    print(f"{len(rows)} new ledger rows in {database} ({SCHEMA}.{LEDGER}); other gaps were already ticketed.")
    return 0


def register(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser("tickets", help="render (or --create) Jira tickets for the Top-N gaps")
    parser.add_argument("--create", action="store_true", help="file them in Jira (default: dry run)")
    parser.add_argument("--day", type=date.fromisoformat, default=None, help="default: the newest day")
    parser.add_argument("--project", default="", help="Jira project key (default: $JIRA_PROJECT_KEY)")
    parser.add_argument("--issue-type", default="Task", help="Jira issue type (default: Task)")
    parser.add_argument(
        "--flavour",
        choices=["cloud", "server"],
        default=os.environ.get("JIRA_API_FLAVOUR", "cloud"),
        help="Jira Cloud (REST v3) or Server/Data Center (REST v2); default $JIRA_API_FLAVOUR or cloud",
    )
    parser.set_defaults(handler=_handle)
