"""Playwright's JSON reporter (`--reporter=json`): suites -> specs -> tests (one per project) -> results.

- every result is one attempt (`retry` 0, 1, ...), so a test Playwright calls `flaky` arrives as its
  failed attempts followed by the passing one;
- the project name (chromium, firefox, webkit, Mobile Safari ...) is the platform;
- statuses: passed -> passed; failed and timedOut -> failed; interrupted -> error; skipped ->
  skipped. A test marked `test.fail()` (expectedStatus "failed") that fails as expected is skipped
  (pytest's JUnit writes xfail the same way) and one that passes is failed;
- metadata (docs/playwright.md): annotations `{type: "flow", description: "checkout"}`, native tags
  (`@flow:checkout`; the JSON reporter writes them without the `@`) and title tags
  (`[flow:checkout]`, `@flow:checkout`) in describe or test titles.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from testintel_assets.parsers import ArtifactRejected, Parsed, test_ids
from testintel_assets.parsers.json_input import load_document, require_mapping
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

FORMAT = "playwright"
_STATUS = {"passed": PASSED, "failed": FAILED, "timedOut": FAILED, "interrupted": ERROR, "skipped": SKIPPED}


def looks_like_playwright(head: bytes) -> bool:
    """The JSON reporter starts with `{"config": {...` and carries `"suites"` and a Playwright version."""
    text = head.lstrip()[:8192]
    return text.startswith(b"{") and b'"config"' in text and (b'"rootDir"' in text or b'"projects"' in text)


def read_playwright(path: Path) -> Parsed:
    """Every result of every test as ARTIFACT_RESULTS; annotations, tags and title tags as test_meta."""
    report = require_mapping(load_document(path), "a Playwright JSON report", "suites")
    if not isinstance(report["suites"], list):
        raise ArtifactRejected("not a Playwright JSON report: `suites` is not a list")
    columns: dict[str, list[Any]] = {name: [] for name in ("owner", "suite", "file", "name", "platform")}
    columns |= {"status": [], "duration_ms": [], "message": []}
    meta_rows: list[dict[str, str | None]] = []
    for file_suite in report["suites"]:
        for spec, titles in _specs(file_suite, []):
            file = spec.get("file") or file_suite.get("file") or file_suite.get("title") or ""
            path_titles = [*titles, spec.get("title", "")]
            clean = [part for title in path_titles if (part := test_ids.clean_title(title))]
            name = test_ids.PLAYWRIGHT_TITLE_SEPARATOR.join(clean)
            meta_rows.extend(_spec_meta(test_ids.from_playwright(file, path_titles), spec, path_titles))
            for test in spec.get("tests", []):
                platform = test.get("projectName") or None
                for result in sorted(test.get("results", []), key=lambda r: r.get("retry", 0)):
                    status, message = _outcome(test, result)
                    for key, value in (
                        ("owner", file),
                        ("suite", file),
                        ("file", file),
                        ("name", name),
                        ("platform", platform),
                        ("status", status),
                        ("duration_ms", float(result["duration"]) if "duration" in result else None),
                        ("message", message),
                    ):
                        columns[key].append(value)
    results = finish_results(raw_frame(columns), FORMAT)
    return Parsed(results=results, meta=meta_frame(meta_rows))


def _specs(suite: dict[str, Any], titles: list[str]) -> Iterator[tuple[dict[str, Any], list[str]]]:
    """Specs with the describe titles above them; the file-level suite's own title is the file."""
    for spec in suite.get("specs", []):
        yield spec, titles
    for child in suite.get("suites", []):
        yield from _specs(child, [*titles, child.get("title", "")])


def _outcome(test: dict[str, Any], result: dict[str, Any]) -> tuple[str, str | None]:
    status = _STATUS.get(result.get("status", ""), ERROR)
    message = _error_text(result)
    expected_failure = test.get("expectedStatus") == "failed"
    if expected_failure and status == FAILED:
        return SKIPPED, "expected failure (test.fail())"
    if expected_failure and status == PASSED:
        return FAILED, "expected to fail (test.fail()) but passed"
    if status == SKIPPED:
        reasons = [a.get("description") for a in test.get("annotations", []) if a.get("type") == "skip"]
        message = next((r for r in reasons if r), None)
    return status, (bound_message(message) if status != PASSED else None)


def _error_text(result: dict[str, Any]) -> str | None:
    error = result.get("error") or next(iter(result.get("errors") or []), None) or {}
    return error.get("message") or error.get("value")


def _spec_meta(test_id: str, spec: dict[str, Any], titles: list[str]) -> list[dict[str, str | None]]:
    annotated: dict[str, str] = {}
    for test in spec.get("tests", []):
        for annotation in test.get("annotations", []):
            key = test_ids.meta_key(str(annotation.get("type", "")))
            description = str(annotation.get("description") or "").strip()
            if key and description:
                annotated[key] = description
    tagged: dict[str, str] = {}
    for tag in spec.get("tags", []):
        tagged |= test_ids.title_tags("@" + str(tag).removeprefix("@"))[1]
    titled: dict[str, str] = {}
    for title in titles:
        titled |= test_ids.title_tags(title)[1]
    sources = (("playwright-annotation", annotated), ("playwright-tag", tagged), ("title-tag", titled))
    return [{"test_id": test_id, "source": source, **values} for source, values in sources if values]
