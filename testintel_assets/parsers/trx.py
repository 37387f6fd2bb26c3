"""Visual Studio / `dotnet test --logger trx` results (TRX), streamed through defusedxml.

A TRX lists `<UnitTestResult testId=... testName=... outcome=... duration=...>` under `<Results>`
and, usually after them, `<UnitTest id=...><TestMethod className=... name=.../>` under
`<TestDefinitions>`; the two are joined on the test id. The canonical id is `<className>::<name>`
with the assembly qualification MSTest appends to className dropped and the class prefix that xUnit
repeats in testName removed, so NUnit, xUnit and MSTest runs name a test alike.

Outcomes: Passed, PassedButRunAborted, Completed, Warning -> passed; Failed -> failed; Error,
Timeout, Aborted -> error; NotExecuted, Inconclusive, NotRunnable, Pending, Disconnected,
InProgress -> skipped. A data-driven parent result (it holds `<InnerResults>`) is not a row: its
inner results are.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import polars as pl

from testintel_assets.parsers import ArtifactRejected, Parsed
from testintel_assets.parsers.test_rows import (
    ERROR,
    FAILED,
    PASSED,
    RAW_RESULTS,
    SKIPPED,
    bound_message,
    finish_results,
)
from testintel_assets.parsers.xml_guard import iterparse, local_name, root_element

FORMAT = "trx"
_OUTCOMES = {
    "passed": PASSED,
    "passedbutrunaborted": PASSED,
    "completed": PASSED,
    "warning": PASSED,
    "failed": FAILED,
    "error": ERROR,
    "timeout": ERROR,
    "aborted": ERROR,
}
_DURATION_RE = re.compile(r"(?:(?P<d>\d+)\.)?(?P<h>\d+):(?P<m>\d+):(?P<s>\d+(?:\.\d+)?)")


def looks_like_trx(head: bytes) -> bool:
    return root_element(head) in ("TestRun",)


def read_trx(path: Path) -> Parsed:
    results: list[dict[str, Any]] = []
    methods: dict[str, tuple[str | None, str | None]] = {}
    root: str | None = None
    for event, element in iterparse(path, events=("start", "end")):
        tag = local_name(element.tag)
        if event == "start":
            if root is None:
                root = tag
                if tag != "TestRun":
                    raise ArtifactRejected(f"root element <{tag}> is not a TRX report (<TestRun>)")
            continue
        if tag == "UnitTestResult":
            if not any(local_name(child.tag) == "InnerResults" for child in element):
                results.append(_result(element))
            element.clear()
        elif tag == "UnitTest":
            method = next((c for c in element if local_name(c.tag) == "TestMethod"), None)
            if method is not None:
                methods[element.get("id", "")] = (method.get("className"), method.get("name"))
            element.clear()
    for row in results:
        class_name, _method = methods.get(row.pop("test"), (None, None))
        owner = (class_name or "").split(",", 1)[0].strip() or None
        row["owner"] = owner
        row["suite"] = owner
        if owner and row["name"].startswith(owner + "."):
            row["name"] = row["name"][len(owner) + 1 :]
    frame = pl.DataFrame(results, schema=_SCHEMA) if results else pl.DataFrame(schema=_SCHEMA)
    return Parsed(results=finish_results(frame, FORMAT))


_SCHEMA = pl.Schema({**RAW_RESULTS, "test": pl.String})  # test: the TRX testId, joined to its method


def _result(element: Any) -> dict[str, Any]:
    status = _OUTCOMES.get(element.get("outcome", "").lower(), SKIPPED)
    message = None
    if status != PASSED:
        found = next((e for e in element.iter() if local_name(e.tag) == "Message"), None)
        message = found.text if found is not None else None
    return {
        "test": element.get("testId", ""),
        "name": element.get("testName", ""),
        "status": status,
        "duration_ms": _duration_ms(element.get("duration")),
        "message": bound_message(message),
    }


def _duration_ms(text: str | None) -> float | None:
    match = _DURATION_RE.fullmatch(text or "")
    if not match:
        return None
    days, hours, minutes = int(match["d"] or 0), int(match["h"]), int(match["m"])
    return ((days * 24 + hours) * 60 + minutes) * 60_000 + float(match["s"]) * 1000
