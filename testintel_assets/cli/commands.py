"""Subcommand registry: each module's `register(subparsers)` adds its parser and sets `handler`."""

from __future__ import annotations

from testintel_assets.cli import backfill, demo, quarantine, report, tickets

REGISTRARS = [demo.register, backfill.register, report.register, tickets.register, quarantine.register]
