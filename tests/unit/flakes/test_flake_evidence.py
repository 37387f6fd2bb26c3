"""Evidence of flaky verdicts and failure signatures, including real JUnit failure messages."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import defusedxml.ElementTree as ET
import polars as pl
import pytest

from testintel_assets import schemas
from testintel_assets.configuration import Flakes
from testintel_assets.scoring.flake_evidence import failure_signatures, flake_evidence, normalise_message
from testintel_assets.scoring.flakes import flake_stats
from tests.unit.flakes.builders import START, frame, meta, run_rows

PARAMS = Flakes()


def signature(message: str | None) -> str:
    return pl.select(normalise_message(pl.lit(message, dtype=pl.String))).item()


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        (
            "TimeoutError: Timed out after 30012ms waiting for locator('#cart-item-1234')",
            "TimeoutError: Timed out after 5000ms waiting for locator('#cart-item-9')",
            "TimeoutError: Timed out after <n>ms waiting for locator('#cart-item-<n>')",
        ),
        (
            "ImportError: cannot import name 'x' from 'a' (/home/runner/work/shop/shop/cart/pricing.py)",
            "ImportError: cannot import name 'x' from 'a' (/builds/shop/cart/pricing.py)",
            "ImportError: cannot import name 'x' from 'a' (<path>)",
        ),
        (
            'connection to server at "10.0.3.17", port 5432 failed at 2025-03-04T05:16:00Z',
            'connection to server at "10.0.12.4", port 5433 failed at 2025-03-05 11:02:59.123+01:00',
            'connection to server at "<ip>", port <n> failed at <ts>',
        ),
        (
            "expected empty cart, session 7f3a9b2c11d0 <object at 0x7f3a9b2c11d0> id 5b0c2e1e-8f1a-4c1e-9d3b-2a7c1e0f9b11",
            "expected empty cart, session deadbeef42 <object at 0xABC> id 00000000-0000-0000-0000-000000000000",
            "expected empty cart, session <hex> <object at <hex>> id <id>",
        ),
        (
            "\nExpected: <100.10>\n     but: was <100.11>",
            "Expected: <3>\n but: was <4>",
            "Expected: <<n>> but: was <<n>>",
        ),
    ],
)
def test_variable_parts_fold_into_one_signature(left: str, right: str, expected: str) -> None:
    assert signature(left) == signature(right) == expected


def test_empty_and_missing_messages_have_a_signature() -> None:
    assert signature(None) == signature("   ") == "<no message>"
    assert len(signature("x" * 1000)) == 200


def _real_failure_messages(real_fixtures: Path) -> list[str]:
    messages = []
    for path in sorted((real_fixtures / "junit").rglob("*")):
        if not path.is_file():
            continue
        try:
            root = ET.parse(path).getroot()
        except Exception:  # the corrupt fixtures are the results parser's business
            continue
        for element in root.iter():
            if element.tag in ("failure", "error", "flakyFailure", "rerunFailure"):
                messages.append(element.get("message") or (element.text or "")[:500])
    return messages


def test_real_junit_failure_messages_normalise_stably(real_fixtures: Path) -> None:
    messages = _real_failure_messages(real_fixtures)
    assert len(messages) > 50
    signatures = pl.DataFrame({"message": messages}).select(normalise_message(pl.col("message")))["message"]
    again = signatures.to_frame().select(normalise_message(pl.col("message")))["message"]
    assert signatures.equals(again)  # idempotent
    assert not signatures.str.contains(r"\d").any()
    assert signatures.n_unique() < len(set(messages))  # variants of one failure fold together


def _history() -> list[dict]:
    """t flakes (fails, passes on rerun; fails on sha X which later passes), h healthy, outage run."""
    tests = [f"filler{i}" for i in range(24)]
    rows = []
    for run in range(8):
        outcomes = dict.fromkeys(tests, "P") | {"h": "P", "t": "P"}
        if run == 1:
            outcomes["t"] = "FP"
        if run == 3:
            outcomes["t"] = "F"
        if run == 5:  # infrastructure outage: everything fails
            outcomes = dict.fromkeys(outcomes, "F")
        sha = "X" if run in (3, 6) else None
        rows += run_rows(run, outcomes, day=run, sha=sha, message=f"TimeoutError: waited {1000 + run}ms")
    return rows


def test_evidence_lists_the_failing_runs_of_flaky_tests_only() -> None:
    results = frame(_history())
    day = START + timedelta(days=7)
    stats = flake_stats(results, meta({}), day, PARAMS)
    assert stats.filter(pl.col("test_id") == "t")["flake_class"].item() == "flaky"
    evidence = flake_evidence(results, stats, PARAMS)
    assert evidence.schema == schemas.FLAKE_EVIDENCE
    assert evidence["test_id"].unique().to_list() == ["t"]  # not h, not the outage's failures
    assert evidence.select("run_id", "sha", "attempt", "passed_on_same_sha").rows() == [
        ("run-0001", "sha-0001", 0, True),
        ("run-0003", "X", 0, True),
    ]
    assert evidence["signature"].unique().to_list() == ["TimeoutError: waited <n>ms"]
    assert (evidence["day"] == day).all() and evidence["run_day"].to_list() == [
        START + timedelta(days=1),
        START + timedelta(days=3),
    ]


def test_signatures_count_failures_per_test_and_overall() -> None:
    evidence = schemas.conform(
        pl.DataFrame(
            {
                "day": [START] * 6,
                "test_id": ["a", "a", "a", "b", "b", "c"],
                "run_day": [START] * 6,
                "message": ["x 1", "x 2", "y", "y", "y", "z"],
                "signature": ["x <n>", "x <n>", "y", "y", "y", "z"],
            }
        ),
        schemas.FLAKE_EVIDENCE,
    )
    signatures = failure_signatures(evidence, top=2)
    assert signatures.schema == schemas.FAILURE_SIGNATURES
    overall = signatures.filter(pl.col("scope") == "overall")
    assert overall.select("rank", "signature", "failures", "tests").rows() == [
        (1, "y", 3, 2),
        (2, "x <n>", 2, 1),
    ]
    assert overall["share"].to_list() == [0.5, pytest.approx(1 / 3)]
    per_test = signatures.filter(pl.col("scope") == "test")
    assert per_test.select("test_id", "rank", "signature", "failures").rows() == [
        ("a", 1, "x <n>", 2),
        ("a", 2, "y", 1),
        ("b", 1, "y", 2),
        ("c", 1, "z", 1),
    ]
    assert per_test.filter(pl.col("test_id") == "a")["example"].to_list() == ["x 1", "y"]
    assert failure_signatures(evidence.clear()).is_empty()
