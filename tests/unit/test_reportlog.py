"""pytest-reportlog reader on logs written by real pytest 9.2 + pytest-reportlog 1.0 + pytest-rerunfailures
16.7 runs (tests/fixtures/generated/pytest-reruns/README.md)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from testintel_assets.parsers import ArtifactRejected
from testintel_assets.parsers.reportlog import read_reportlog
from tests.conftest import REPO_ROOT

FOLDER = REPO_ROOT / "tests" / "fixtures" / "generated" / "pytest-reruns"


def test_reruns_become_attempts_and_statuses_match_pytests_summary() -> None:
    results = read_reportlog(FOLDER / "reportlog-reruns.jsonl").results
    attempts: dict[str, list[tuple[str, int]]] = {}
    for test_id, status, attempt in results.select("test_id", "status", "attempt").iter_rows():
        attempts.setdefault(test_id, []).append((status, attempt))
    assert attempts["tests.test_cart.TestCart::test_add[2]"] == [("failed", 0), ("passed", 1)]
    assert attempts["tests.test_cart::test_flaky_twice"] == [("failed", 0), ("failed", 1), ("passed", 2)]
    assert attempts["tests.test_cart::test_setup_error"] == [("error", n) for n in range(3)]
    assert attempts["tests.test_cart::test_teardown_error"] == [("error", n) for n in range(3)]
    assert attempts["tests.test_cart::test_xfail"] == [("skipped", 0)]
    # pytest's closing line for this run: "1 failed, 7 passed, 1 skipped, 1 xfailed, 2 errors, 9 rerun"
    # (pytest counts phases: passing setups/calls of erroring tests are among its 7 passed)
    finals = Counter(rows[-1][0] for rows in attempts.values())
    assert finals == Counter({"passed": 4, "failed": 1, "error": 2, "skipped": 2})
    assert sum(len(rows) - 1 for rows in attempts.values()) == 9


def test_outcome_counts_equal_the_raw_log() -> None:
    """Independent count: one attempt per teardown report in the log."""
    path = FOLDER / "reportlog-plain.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    teardowns = [r for r in lines if r.get("$report_type") == "TestReport" and r["when"] == "teardown"]
    results = read_reportlog(path).results
    assert results.height == len(teardowns)
    assert set(results.get_column("attempt")) == {0}
    assert results.get_column("duration_ms").min() > 0


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b'{"$report_type": "SessionStart"}\n{"nodeid": "x", "$report_type": "TestRep', "line 2"),
        (b'{"hello": 1}\n', "no \\$report_type"),
        (b'{"$report_type": "SessionStart"}\n\xff\xfe\n', "not UTF-8"),
    ],
)
def test_bad_logs_are_rejected(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(content)
    with pytest.raises(ArtifactRejected, match=reason):
        read_reportlog(path)
