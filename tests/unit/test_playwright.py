"""Playwright JSON reader on the real reports and on a report generated with Playwright 1.65."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from testintel_assets.parsers import ArtifactRejected
from testintel_assets.parsers.junit import read_junit
from testintel_assets.parsers.playwright import read_playwright
from tests.conftest import REAL_FIXTURES, REPO_ROOT

REAL = sorted((REAL_FIXTURES / "playwright-json").glob("*.json"))
GENERATED = REPO_ROOT / "tests" / "fixtures" / "generated" / "playwright"


def _walk(suite: dict):
    for spec in suite.get("specs", []):
        yield from spec["tests"]
    for child in suite.get("suites", []):
        yield from _walk(child)


@pytest.mark.parametrize("path", [*REAL, GENERATED / "report.json"], ids=lambda p: p.name)
def test_every_result_is_an_attempt_and_test_outcomes_match_playwright(path: Path) -> None:
    report = json.loads(path.read_text(encoding="utf-8"))
    tests = [t for s in report["suites"] for t in _walk(s)]
    results = read_playwright(path).results
    assert results.height == sum(len(t["results"]) for t in tests)
    assert results.get_column("attempt").to_list() == [r["retry"] for t in tests for r in t["results"]]
    # Playwright's own classification per test (expected/unexpected/flaky/skipped) from our rows
    last = results.group_by("test_id", "platform", maintain_order=True).agg(
        pl.col("status").last().alias("final"), (pl.col("status") == "failed").any().alias("any_failed")
    )
    ours = Counter(
        "skipped"
        if final == "skipped"
        else "unexpected"
        if final == "failed"
        else "flaky"
        if any_failed
        else "expected"
        for final, any_failed in last.select("final", "any_failed").iter_rows()
    )
    # test.fail() tests (expectedStatus "failed") that failed as expected are skipped here
    theirs = Counter("skipped" if t["expectedStatus"] == "failed" else t["status"] for t in tests)
    assert ours == theirs
    if "stats" in report:
        stats = report["stats"]
        assert (
            sum(ours.values()) == stats["expected"] + stats["unexpected"] + stats["flaky"] + stats["skipped"]
        )


def test_projects_are_platforms_and_retries_count_up() -> None:
    path = REAL_FIXTURES / "playwright-json" / "playwright-report-summary--report-valid.json"
    results = read_playwright(path).results
    projects = {t["projectName"] for s in json.loads(path.read_text())["suites"] for t in _walk(s)}
    assert set(results.get_column("platform")) == projects == {"chromium", "firefox"}
    adds = results.filter(
        (pl.col("test_id") == "add.spec.ts::add › adds") & (pl.col("platform") == "chromium")
    )
    assert adds.get_column("attempt").to_list() == [0, 1, 2, 3, 4]
    assert "\x1b" not in "".join(results.get_column("message").drop_nulls())


def test_generated_report_meta_and_ids_agree_with_playwrights_junit() -> None:
    parsed = read_playwright(GENERATED / "report.json")
    flaky = parsed.results.filter(pl.col("test_id") == "checkout.spec.ts::Checkout › flaky coupon")
    assert flaky.select("platform", "status", "attempt").rows() == [
        ("api", "failed", 0),
        ("api", "passed", 1),
        ("api-mobile", "failed", 0),
        ("api-mobile", "passed", 1),
    ]
    junit_ids = set(read_junit(GENERATED / "junit.xml").results.get_column("test_id"))
    assert junit_ids == set(parsed.results.get_column("test_id"))
    meta = {(r["test_id"], r["source"]): r for r in parsed.meta.iter_rows(named=True)}
    pays = "checkout.spec.ts::Checkout › pays with card"
    assert (
        meta[(pays, "playwright-annotation")]["risk"],
        meta[(pays, "playwright-annotation")]["owner"],
    ) == ("high", "commerce")
    assert meta[(pays, "playwright-tag")]["risk"] == "high"
    assert meta[(pays, "title-tag")]["flow"] == "checkout"
    assert meta[("checkout.spec.ts::Checkout › flaky coupon", "playwright-tag")]["flow"] == "checkout"
    search = meta[("checkout.spec.ts::search finds shoes", "title-tag")]
    assert (search["flow"], search["risk"]) == ("search", "medium")
    skipped = parsed.results.filter(pl.col("status") == "skipped").get_column("message").to_list()
    assert "no wallet on mobile" in skipped


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b'{"config": {}, "suites": [', "malformed JSON"),
        (b"[1, 2]", "not a Playwright"),
        (b'{"config": {}}', "missing key"),
    ],
)
def test_bad_reports_are_rejected(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "report.json"
    path.write_bytes(content)
    with pytest.raises(ArtifactRejected, match=reason):
        read_playwright(path)
