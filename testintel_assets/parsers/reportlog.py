"""pytest-reportlog (`pytest --report-log=FILE`): one JSON object per line, streamed.

pytest's JUnit writer keeps only the last run of a test that pytest-rerunfailures reran, so a test
that passed on its rerun arrives there as a plain pass. The report log keeps every phase report:
`$report_type: TestReport` with `when` setup/call/teardown and `outcome` passed, failed, skipped
or `rerun`. One attempt is the run of setup, call and teardown of one node id, closed by its
teardown report (pytest writes one even when setup failed); its status is the worst phase:
- a failed or rerun call -> failed; a failed or rerun setup/teardown -> error (pytest's own wording);
- skipped in setup or call -> skipped (`wasxfail`, an expected failure, counts as skipped the way
  pytest's JUnit writer reports it);
- otherwise passed. Its duration is the sum of the phases (pytest's default JUnit `time`).
Interleaved reports (pytest-xdist) are matched by node id. `user_properties` recorded under a
metadata key (the testintel plugin records its markers there) become test_meta.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from testintel_assets.attempts import phase_status, worse
from testintel_assets.parsers import ArtifactRejected, Parsed, test_ids
from testintel_assets.parsers.json_input import iter_lines
from testintel_assets.parsers.test_rows import (
    PASSED,
    bound_message,
    finish_results,
    meta_frame,
    raw_frame,
)

FORMAT = "pytest-reportlog"


def looks_like_reportlog(head: bytes) -> bool:
    first = head.lstrip().split(b"\n", 1)[0]
    return first.startswith(b"{") and b'"$report_type"' in first


def read_reportlog(path: Path) -> Parsed:
    """Every attempt of every test in a report log as ARTIFACT_RESULTS, user properties as meta."""
    open_attempts: dict[str, dict[str, Any]] = {}
    columns: dict[str, list[Any]] = {
        key: [] for key in ("owner", "suite", "file", "name", "platform", "status", "duration_ms", "message")
    }
    meta: dict[str, dict[str, str | None]] = {}
    saw_session = False
    for number, report in iter_lines(path):
        if not isinstance(report, dict) or "$report_type" not in report:
            raise ArtifactRejected(f"not a pytest report log: line {number} has no $report_type")
        saw_session = saw_session or report["$report_type"] == "SessionStart"
        if report["$report_type"] != "TestReport":
            continue
        nodeid = str(report.get("nodeid", ""))
        attempt = open_attempts.setdefault(nodeid, {"status": PASSED, "duration": 0.0, "message": None})
        _add_phase(attempt, report)
        for key, value in report.get("user_properties") or []:
            if (meta_key := test_ids.meta_key(str(key))) and str(value).strip():
                test_id = test_ids.from_pytest_nodeid(nodeid)
                meta.setdefault(test_id, {"test_id": test_id, "source": "pytest-plugin"})[meta_key] = str(
                    value
                ).strip()
        if report.get("when") == "teardown":
            _close(columns, nodeid, report, open_attempts.pop(nodeid))
    if not saw_session and not columns["name"]:
        raise ArtifactRejected("not a pytest report log: no SessionStart and no TestReport lines")
    for nodeid, attempt in open_attempts.items():  # a run that died mid-test: keep what ran
        _close(columns, nodeid, {}, attempt)
    return Parsed(results=finish_results(raw_frame(columns), FORMAT), meta=meta_frame(list(meta.values())))


def _add_phase(attempt: dict[str, Any], report: dict[str, Any]) -> None:
    attempt["duration"] += float(report.get("duration") or 0.0)
    attempt.setdefault("file", (report.get("location") or [None])[0])
    status = phase_status(report.get("when"), report.get("outcome"))
    if worse(attempt["status"], status):
        attempt["status"] = status
        attempt["message"] = _longrepr_message(report)


def _longrepr_message(report: dict[str, Any]) -> str | None:
    if report.get("wasxfail") is not None:
        return f"xfail: {report['wasxfail']}".rstrip(": ")
    longrepr = report.get("longrepr")
    if isinstance(longrepr, list) and len(longrepr) == 3:  # skip: [path, line, "Skipped: reason"]
        return bound_message(str(longrepr[2]))
    if isinstance(longrepr, dict):
        crash = longrepr.get("reprcrash") or {}
        return bound_message(crash.get("message"))
    return bound_message(str(longrepr), first_line=True) if longrepr else None


def _close(
    columns: dict[str, list[Any]], nodeid: str, report: dict[str, Any], attempt: dict[str, Any]
) -> None:
    owner, name = test_ids.split_pytest_nodeid(nodeid)
    file = attempt.get("file") or nodeid.split("::", 1)[0]
    for key, value in (
        ("owner", owner),
        ("suite", file),
        ("file", file),
        ("name", name),
        ("platform", None),
        ("status", attempt["status"]),
        ("duration_ms", attempt["duration"] * 1000.0),
        ("message", attempt["message"] if attempt["status"] != PASSED else None),
    ):
        columns[key].append(value)
