"""NUnit XML results: NUnit 3 (`<test-run>`, nunit3-console TestResult.xml) and NUnit 2.x
(`<test-results>`), streamed through defusedxml.

Canonical id `<class>::<name>`: NUnit 3 gives `classname` and `name` (parameters included, e.g.
`Adds(1,2)`); NUnit 2 gives only the full name, split at the last `.` before any parameters.
Suite is the innermost `<test-suite>` (the fixture). Statuses:
- NUnit 3 `result`: Passed, Warning -> passed; Failed -> failed unless `label` is Error, Invalid or
  Cancelled -> error; Skipped, Ignored, Explicit, Inconclusive -> skipped;
- NUnit 2 `result`: Success -> passed; Failure -> failed; Error, NotRunnable (invalid test) ->
  error; Ignored, Skipped, Inconclusive, Cancelled or `executed="False"` -> skipped; NUnit 2.2
  writes no `result`, only `success`.
`<property name="flow" value="checkout"/>` (NUnit `[Property("flow", "checkout")]`) and categories
named `flow:checkout` become test_meta (source nunit-property).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from testintel_assets.parsers import ArtifactRejected, Parsed, test_ids
from testintel_assets.parsers.test_rows import (
    ERROR,
    FAILED,
    PASSED,
    SKIPPED,
    bound_message,
    finish_results,
    meta_frame,
    raw_frame,
)
from testintel_assets.parsers.xml_guard import iterparse, local_name, root_element

FORMAT = "nunit"
ROOTS = ("test-run", "test-results")
_V3 = {"passed": PASSED, "warning": PASSED, "failed": FAILED}
_V3_ERROR_LABELS = {"error", "invalid", "cancelled"}
_V2 = {"success": PASSED, "failure": FAILED, "error": ERROR, "notrunnable": ERROR}


def looks_like_nunit(head: bytes) -> bool:
    return root_element(head) in ROOTS


def read_nunit(path: Path) -> Parsed:
    columns: dict[str, list[Any]] = {name: [] for name in raw_frame({}).columns}
    suites: list[str | None] = []
    meta_rows: list[dict[str, str | None]] = []
    root: str | None = None
    for event, element in iterparse(path, events=("start", "end")):
        tag = local_name(element.tag)
        if root is None:
            root = tag
            if tag not in ROOTS:
                raise ArtifactRejected(
                    f"root element <{tag}> is not an NUnit report (<test-run> or <test-results>)"
                )
        if tag == "test-suite":
            if event == "start":
                suites.append(element.get("name"))
            else:
                suites.pop()
                element.clear()
        elif tag == "test-case" and event == "end":
            owner, name = _names(element, root)
            row = {
                "owner": owner,
                "suite": suites[-1] if suites else None,
                "file": None,
                "name": name,
                "platform": None,
                "status": _status(element, root),
                "duration_ms": _duration_ms(element.get("duration") or element.get("time")),
            }
            row["message"] = _message(element) if row["status"] != PASSED else None
            for key, value in row.items():
                columns[key].append(value)
            if tags := _tags(element):
                meta_rows.append(
                    {"test_id": test_ids.from_junit(owner, name), "source": "nunit-property", **tags}
                )
            element.clear()
    return Parsed(results=finish_results(raw_frame(columns), FORMAT), meta=meta_frame(meta_rows))


def _names(element: Any, root: str) -> tuple[str | None, str]:
    if root == "test-run":
        return element.get("classname"), element.get("name", "")
    full = element.get("name", "")
    head, bracket, params = full.partition("(")
    owner, _, method = head.rpartition(".")
    return owner or None, method + bracket + params


def _status(element: Any, root: str) -> str:
    result = element.get("result", "").lower()
    if root == "test-run":
        status = _V3.get(result, SKIPPED)
        if status == FAILED and element.get("label", "").lower() in _V3_ERROR_LABELS:
            return ERROR
        return status
    if result in _V2:
        return _V2[result]
    if not result and element.get("executed", "True").lower() == "true":  # NUnit 2.2: success only
        return PASSED if element.get("success", "True").lower() == "true" else FAILED
    return SKIPPED


def _message(element: Any) -> str | None:
    for holder in ("failure", "reason"):
        found = element.find(f"{holder}/message")
        if found is not None and found.text:
            return bound_message(found.text)
    return None


def _tags(element: Any) -> dict[str, str]:
    tags: dict[str, str] = {}
    for prop in element.iter("property"):
        if (key := test_ids.meta_key(prop.get("name", ""))) and prop.get("value", "").strip():
            tags[key] = prop.get("value", "").strip()
        elif prop.get("name") == "Category":
            tags |= test_ids.title_tags("@" + prop.get("value", ""))[1]
    for category in element.iter("category"):
        tags |= test_ids.title_tags("@" + category.get("name", ""))[1]
    return tags


def _duration_ms(text: str | None) -> float | None:
    try:
        return float(text) * 1000.0 if text else None
    except ValueError:
        return None
