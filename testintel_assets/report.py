"""The short terminal report: Top-5 gaps, flaky and broken tests, the release verdict."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from resources.warehouse import SCHEMA

pl.Config.set_tbl_hide_dataframe_shape(True)
pl.Config.set_tbl_hide_column_data_types(True)
pl.Config.set_fmt_str_lengths(70)
pl.Config.set_tbl_width_chars(140)
pl.Config.set_tbl_rows(25)


def _query(connection: duckdb.DuckDBPyConnection, sql: str, day: date) -> pl.DataFrame:
    return connection.sql(sql.format(schema=SCHEMA), params=[day]).pl()


def latest_day(connection: duckdb.DuckDBPyConnection) -> date | None:
    return connection.sql(f"SELECT max(day) FROM {SCHEMA}.release_readiness").fetchall()[0][0]


def build_report(warehouse: Path, day: date | None = None) -> str:
    connection = duckdb.connect(str(warehouse), read_only=True)
    try:
        day = day or latest_day(connection)
        if day is None:
            return f"{warehouse}: no release_readiness rows yet; run `make demo` or a backfill first"
        gaps = _query(
            connection,
            "SELECT gap_kind, flow, round(gap_score, 3) AS score, reason, owner FROM {schema}.top_n_gaps "
            "WHERE day = ? ORDER BY gap_score DESC LIMIT 5",
            day,
        )
        flaky = _query(
            connection,
            "SELECT test_id, flow, runs, failures, same_sha_flips, round(flake_score, 2) AS flake_score "
            "FROM {schema}.flake_stats WHERE day = ? AND flake_class = 'flaky' ORDER BY flake_score DESC",
            day,
        )
        broken = _query(
            connection,
            "SELECT test_id, flow, runs FROM {schema}.flake_stats WHERE day = ? AND flake_class = 'broken'",
            day,
        )
        verdict = _query(
            connection,
            "SELECT gate, round(value, 4) AS value, comparator, threshold, passed, detail "
            "FROM {schema}.release_readiness WHERE day = ? ORDER BY gate = 'release', gate",
            day,
        )
    finally:
        connection.close()
    release = verdict.filter(pl.col("gate") == "release")
    passed = bool(release["passed"].all()) if release.height else False
    lines = [
        f"testintel report for {day}",
        "",
        "Top-5 gaps (usage x coverage, usage x defects, revenue x risk):",
        str(gaps),
        "",
        f"Flaky tests ({flaky.height}):",
        str(flaky),
        "",
        f"Broken tests ({broken.height}; failing every run, not flaky):",
        str(broken),
        "",
        f"Release gate verdict: {'PASS' if passed else 'BLOCKED'}",
        str(verdict.filter(pl.col("gate") != "release").drop("detail")),
    ]
    if release.height:
        lines.append(str(release["detail"][0]))
    return "\n".join(lines)
