"""Small hand-written test_results histories: one run per entry, outcomes per test."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl

from testintel_assets import schemas

START = date(2025, 3, 1)


def run_rows(
    run: int,
    outcomes: dict[str, str],
    *,
    day: int = 0,
    sha: str | None = None,
    pipeline: str = "pre-merge",
    blocking: bool = True,
    message: str = "AssertionError: boom",
) -> list[dict]:
    """Rows of one CI run. An outcome is a string of attempts: 'F' failed, 'P' passed, 'S' skipped,
    'E' error, e.g. 'FP' = failed, then passed on the rerun."""
    started = datetime(START.year, START.month, START.day, tzinfo=UTC) + timedelta(days=day, minutes=run)
    rows = []
    for test_id, attempts in outcomes.items():
        for attempt, code in enumerate(attempts):
            status = {"F": "failed", "P": "passed", "S": "skipped", "E": "error"}[code]
            rows.append(
                {
                    "day": START + timedelta(days=day),
                    "run_id": f"run-{run:04d}",
                    "sha": sha or f"sha-{run:04d}",
                    "branch": "main",
                    "pipeline": pipeline,
                    "blocking": blocking,
                    "started_at": started,
                    "test_id": test_id,
                    "status": status,
                    "attempt": attempt,
                    "duration_ms": 1000.0,
                    "message": message if code in "FE" else None,
                }
            )
    return rows


def frame(rows: list[dict]) -> pl.DataFrame:
    return (
        schemas.conform(pl.DataFrame(rows, infer_schema_length=None), schemas.TEST_RESULTS)
        if rows
        else schemas.empty(schemas.TEST_RESULTS)
    )


def sequence(test_id: str, outcomes: str, *, per_day: int = 1, sha_of=None, **kwargs) -> list[dict]:
    """One run per character of `outcomes` (space-separated groups are attempts of one run)."""
    rows = []
    for index, attempts in enumerate(outcomes.split()):
        sha = sha_of(index) if sha_of else None
        rows += run_rows(index, {test_id: attempts}, day=index // per_day, sha=sha, **kwargs)
    return rows


def meta(flows: dict[str, str]) -> pl.DataFrame:
    return schemas.conform(
        pl.DataFrame({"day": [START] * len(flows), "test_id": list(flows), "flow": list(flows.values())}),
        schemas.TEST_META,
    )
