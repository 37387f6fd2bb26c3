"""TRX and NUnit readers: every real file, totals equal the counters the producers wrote."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from testintel_assets.parsers import ArtifactRejected
from testintel_assets.parsers.ctest import read_ctest
from testintel_assets.parsers.nunit import read_nunit
from testintel_assets.parsers.registry import detect, head_of
from testintel_assets.parsers.trx import read_trx
from tests.conftest import REAL_FIXTURES


def _attrs(path: Path, tag: str) -> dict[str, int]:
    element = re.search(rf"<{tag} ([^>]*)>", path.read_text(encoding="utf-8-sig")).group(1)
    return {k: int(v) for k, v in re.findall(r'(\w[\w-]*)="(\d+)"', element)}


@pytest.mark.parametrize("path", sorted((REAL_FIXTURES / "trx").glob("*.trx")), ids=lambda p: p.name)
def test_trx_totals_equal_the_result_summary_counters(path: Path) -> None:
    counters = _attrs(path, "Counters")
    count = Counter(read_trx(path).results.get_column("status").to_list())
    assert sum(count.values()) == counters["total"]
    assert count["passed"] == counters["passed"]
    assert count["failed"] == counters["failed"]
    assert count["error"] == counters["error"] + counters["timeout"] + counters["aborted"]


@pytest.mark.parametrize("path", sorted((REAL_FIXTURES / "nunit-xml").glob("*.xml")), ids=lambda p: p.name)
def test_nunit_totals_equal_the_root_counters(path: Path) -> None:
    results = read_nunit(path).results
    count = Counter(results.get_column("status").to_list())
    root = _attrs(path, "test-run" if "<test-run" in path.read_text(encoding="utf-8-sig") else "test-results")
    if "passed" in root:  # NUnit 3
        assert (results.height, count["passed"], count["failed"] + count["error"]) == (
            root["total"],
            root["passed"],
            root["failed"],
        )
    else:  # NUnit 2: the root counts failures, errors and invalid (NotRunnable) tests
        assert results.height == path.read_text(encoding="utf-8-sig").count("<test-case ")
        assert count["error"] == root.get("errors", 0) + root.get("invalid", 0)
        assert count["failed"] == root["failures"]


def test_trx_ids_join_definitions_and_drop_the_repeated_class() -> None:
    results = read_trx(REAL_FIXTURES / "trx" / "test-reporter--dotnet-trx.trx").results
    assert "DotnetTests.XUnitTests.CalculatorTests::Passing_Test" in results.get_column("test_id").to_list()
    failed = results.filter(results["status"] == "failed").get_column("message").to_list()
    assert any(m and m.startswith("Assert.True() Failure") for m in failed)


def test_ctest_native_files_are_recognised_and_rejected_with_the_fix() -> None:
    for path in (REAL_FIXTURES / "ctest-native").glob("*.xml"):
        fmt = detect(head_of(path))
        assert fmt is not None and fmt.name == "ctest"
        with pytest.raises(ArtifactRejected, match="--output-junit"):
            read_ctest(path)


def test_every_real_test_report_is_detected_by_content() -> None:
    expected = {"junit": "junit", "trx": "trx", "nunit-xml": "nunit", "playwright-json": "playwright-json"}
    for folder, name in expected.items():
        for path in (REAL_FIXTURES / folder).rglob("*"):
            if path.is_file():
                assert detect(head_of(path)).name == name, path
    for path in (REAL_FIXTURES / "coverage").rglob("*"):
        if path.is_file():
            fmt = detect(head_of(path))
            assert fmt is None or fmt.family != "tests", path
