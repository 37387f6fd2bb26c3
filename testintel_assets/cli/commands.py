"""Subcommand registry: each module's `register(subparsers)` adds its parser and sets `handler`."""

from __future__ import annotations

REGISTRARS: list = []
