"""JUnit reader: every real fixture parses or is rejected with a reason; totals match an independent
count made with ElementTree (a full tree walk, a different method from the streaming reader)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from testintel_assets.parsers import ArtifactRejected
from testintel_assets.parsers.junit import PYTEST_RERUN_MESSAGE, read_junit
from testintel_assets.parsers.test_rows import MESSAGE_LIMIT
from tests.conftest import REAL_FIXTURES, REPO_ROOT

JUNIT = REAL_FIXTURES / "junit"
CORRUPT = {
    "publish-unit-test-result-action--corrupt-xml.xml": "truncated XML",
    "action-junit-report--expectedRetries.xml": "line 9",
}
FILES = sorted(p for p in JUNIT.rglob("*") if p.is_file() and p.name not in CORRUPT)
GENERATED = REPO_ROOT / "tests" / "fixtures" / "generated"


def independent_count(path: Path) -> Counter:
    """Rows per status by walking the whole tree: each testcase (its worst child decides), plus one
    row per Surefire flaky/rerun element, plus one per error/failure directly under a testsuite."""
    root = ET.parse(path).getroot()
    counts: Counter = Counter()
    worst = {"error": "error", "failure": "failed", "skipped": "skipped"}
    for suite in root.iter("testsuite"):
        for child in suite:
            if child.tag in ("error", "failure"):
                counts[worst[child.tag]] += 1
    for case in root.iter("testcase"):
        tags = {child.tag for child in case}
        status = next((worst[t] for t in ("error", "failure", "skipped") if t in tags), None)
        if status is None:
            status = (
                "skipped" if case.get("status", "").lower() in ("disabled", "skipped", "notrun") else "passed"
            )
        counts[status] += 1
        for child in case:
            if child.tag in ("flakyFailure", "rerunFailure"):
                counts["failed"] += 1
            elif child.tag in ("flakyError", "rerunError"):
                counts["error"] += 1
    return counts


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_real_junit_file_matches_an_independent_count(path: Path) -> None:
    parsed = read_junit(path)
    results = parsed.results
    got = Counter(dict(results.group_by("status").len().rows()))
    expected = independent_count(path)
    if path.parent.name == "pytest" or "pytest" in path.name:
        pass  # pytest's own files in real/ have no reruns, so no status correction applies
    assert got == expected
    assert results.get_column("test_id").null_count() == 0
    assert set(results.get_column("status").unique()) <= {"passed", "failed", "error", "skipped"}
    assert (results.get_column("message").str.len_chars().fill_null(0) <= MESSAGE_LIMIT).all()
    passed_messages = results.filter(pl.col("status") == "passed").get_column("message")
    assert passed_messages.null_count() == passed_messages.len()


@pytest.mark.parametrize(
    ("name", "tests", "failures", "errors", "skipped"),
    [
        # the totals the producing tools wrote into the files' root/suite attributes
        ("go-junit-report--012-report.xml", 11, 4, 0, 1),
        ("publish-unit-test-result-action--tst-disabled.xml", 31, 19, 1, 5),  # 5 disabled
        ("test-reporter--jest-test-results.xml", 4239, 2, 0, 30),
        ("analytics-cli--test-ExpectedFailures.junit.xml", 52, 25, 0, 0),
        ("junit-plugin--TEST-io.olamy.AlwaysFailTest.xml", 4, 4, 0, 0),  # Surefire counts reruns
        ("junit-plugin--TEST-io.olamy.FlakyTest.xml", 3, 2, 0, 0),
        ("test-reporter--pulsar-test-report.xml", 808, 1, 0, 14),
        ("publish-unit-test-result-action--unsupported-unicode.xml", 7, 2, 2, 2),
    ],
)
def test_totals_equal_what_the_producer_wrote(
    name: str, tests: int, failures: int, errors: int, skipped: int
) -> None:
    results = read_junit(next(JUNIT.rglob(name))).results
    count = Counter(results.get_column("status").to_list())
    assert (results.height, count["failed"], count["error"], count["skipped"]) == (
        tests,
        failures,
        errors,
        skipped,
    )


def _rows(name: str) -> list[tuple]:
    return (
        read_junit(next(JUNIT.rglob(name)))
        .results.select("test_id", "status", "attempt", "duration_ms")
        .rows()
    )


def test_surefire_flaky_failures_are_earlier_attempts_then_the_pass() -> None:
    assert _rows("junit-plugin--TEST-io.olamy.FlakyTest.xml") == [
        ("io.olamy.FlakyTest::testApp", "failed", 0, None),
        ("io.olamy.FlakyTest::testApp", "failed", 1, None),
        ("io.olamy.FlakyTest::testApp", "passed", 2, 1.0),
    ]
    assert [r[1:3] for r in _rows("action-junit-report--marathon_junit_report.xml")] == [
        ("failed", 0),
        ("passed", 1),
    ]


def test_surefire_reruns_follow_the_first_failure() -> None:
    rows = _rows("junit-plugin--TEST-io.olamy.AlwaysFailTest.xml")
    assert [(status, attempt) for _, status, attempt, _ in rows] == [("failed", n) for n in range(4)]
    assert rows[0][3] == 1.0 and rows[1][3] is None
    parsed = read_junit(next(JUNIT.rglob("junit-plugin--TEST-io.olamy.AlwaysFailTest.xml")))
    assert set(parsed.results.get_column("format")) == {"junit-surefire"}


def test_repeated_testcases_are_attempts_in_document_order() -> None:
    assert [r[1:3] for r in _rows("action-junit-report--flaky_success_first.xml")] == [
        ("passed", 0),
        ("failed", 1),
        ("error", 2),
    ]
    go = [r for r in _rows("action-junit-report--report.xml") if r[0].endswith("TestWebSocketReconnectRace")]
    assert [r[1:3] for r in go] == [("failed", 0), ("passed", 1)]


def test_pytest_reruns_in_pytest_junit_are_failed_attempts() -> None:
    """pytest + pytest-rerunfailures (tests/fixtures/generated/pytest-reruns) writes each rerun as
    an empty testcase; the reportlog of the same run is the independent truth."""
    from testintel_assets.parsers.reportlog import read_reportlog

    folder = GENERATED / "pytest-reruns"
    junit = read_junit(folder / "junit-reruns.xml").results
    log = read_reportlog(folder / "reportlog-reruns.jsonl").results
    key = ["test_id", "attempt"]
    joined = junit.select(*key, "status").join(log.select(*key, pl.col("status").alias("truth")), on=key)
    assert joined.height == junit.height == log.height
    # a setup/teardown error that was rerun is "error" in the log; the JUnit file cannot tell
    mismatches = joined.filter(pl.col("status") != pl.col("truth"))
    assert set(mismatches.get_column("truth")) <= {"error"}
    assert set(mismatches.get_column("status")) <= {"failed"}
    assert PYTEST_RERUN_MESSAGE in junit.get_column("message").to_list()


def test_fields_from_the_producers() -> None:
    fail = read_junit(next(JUNIT.rglob("publish-unit-test-result-action--junit.fail.xml"))).results
    assert fail.get_column("file").unique().to_list() == ["test/test_spark.py"]
    skipped = fail.filter(pl.col("status") == "skipped").row(0, named=True)
    assert skipped["message"] == "get_available_devices only supported in Spark 3.0 and above"
    assert skipped["test_id"] == "test.test_spark.SparkTests::test_get_available_devices"
    # nanosecond times (container-structure-test) and missing time
    cst = read_junit(next(JUNIT.rglob("action-junit-report--container-structure-test.xml"))).results
    assert cst.get_column("duration_ms").to_list() == pytest.approx([999.638317, 0.0, 0.0])
    nameless = read_junit(next(JUNIT.rglob("publish-unit-test-result-action--no-attributes.xml"))).results
    assert nameless.get_column("test_id").to_list() == [f"(unnamed {n})" for n in range(1, 5)]
    assert nameless.get_column("duration_ms").null_count() == 4
    entities = read_junit(next(JUNIT.rglob("publish-unit-test-result-action--with-xml-entities.xml"))).results
    assert 'Test with "quotes" in the test name' in entities.get_column("name").to_list()
    assert "A message with < and >" in entities.get_column("message").to_list()
    # suite-level <error> (a class that failed before its tests) is one row named (suite)
    suite_error = read_junit(next(JUNIT.rglob("junit-plugin--junit-report-6700.xml"))).results.row(
        0, named=True
    )
    assert (suite_error["test_id"], suite_error["status"]) == (
        "gda.device.detector.XHDetectorTest::(suite)",
        "error",
    )
    # BOM (xUnit.net file) and nested suites: the innermost suite names the row
    nested = read_junit(
        next(JUNIT.rglob("publish-unit-test-result-action--testsuite-in-testsuite.xml"))
    ).results
    assert nested.get_column("suite").to_list() == [
        "TestSuite1",
        "TestSuite1",
        "TestSuite2.1",
        "TestSuite2",
        "Project Test Suite",
    ]
    assert read_junit(next(JUNIT.rglob("publish-unit-test-result-action--xunit.xml"))).results.height == 2


def test_properties_and_title_tags_become_meta(tmp_path: Path) -> None:
    report = tmp_path / "tagged.xml"
    report.write_text(
        """<?xml version="1.0"?>
<testsuites><testsuite name="web" file="spec/cart.spec.js">
 <properties><property name="owner" value="commerce"/><property name="java.version" value="17"/></properties>
 <testcase classname="Cart [flow:cart]" name="adds an item @smoke [risk:high]" time="0.5">
  <properties><property name="flow" value="checkout"/>
   <property name="mixpanel">Cart Updated</property></properties>
 </testcase>
 <testcase classname="Cart" name="removes [Jira:AB-1]"/>
</testsuite></testsuites>""",
        encoding="utf-8",
    )
    parsed = read_junit(report)
    assert parsed.results.get_column("test_id").to_list() == [
        "Cart::adds an item",
        "Cart::removes [Jira:AB-1]",
    ]
    assert parsed.results.get_column("file").to_list() == ["spec/cart.spec.js"] * 2
    meta = {(row["test_id"], row["source"]): row for row in parsed.meta.iter_rows(named=True)}
    title = meta[("Cart::adds an item", "title-tag")]
    assert (title["flow"], title["risk"]) == ("cart", "high")
    prop = meta[("Cart::adds an item", "junit-property")]
    assert (prop["flow"], prop["event"], prop["owner"]) == ("checkout", "Cart Updated", "commerce")
    assert meta[("Cart::removes [Jira:AB-1]", "junit-property")]["owner"] == "commerce"


@pytest.mark.parametrize(("name", "reason"), CORRUPT.items())
def test_corrupt_real_files_are_rejected_with_a_reason(name: str, reason: str) -> None:
    with pytest.raises(ArtifactRejected, match=reason):
        read_junit(next(JUNIT.rglob(name)))


BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<testsuite name="&lol3;"><testcase name="x"/></testsuite>"""
XXE = """<?xml version="1.0"?>
<!DOCTYPE t [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<testsuite><testcase name="&xxe;"/></testsuite>"""
PARAM = """<?xml version="1.0"?>
<!DOCTYPE t [<!ENTITY % remote SYSTEM "http://127.0.0.1:1/x.dtd"> %remote;]>
<testsuite><testcase name="x"/></testsuite>"""


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (BOMB.encode(), "entity declaration"),
        (XXE.encode(), "entity declaration"),
        (PARAM.encode(), "entity declaration"),
        (b"", "empty file"),
        (b"  \n ", "empty document"),
        (b'<?xml version="1.0"?><testsuites><testsuite name="a"><testcase name="b">', "truncated XML"),
        (
            b'<?xml version="1.0" encoding="utf-8"?><testsuite><testcase name="caf\xe9"/></testsuite>',
            "not UTF-8",
        ),
        (b"<html><body>502 Bad Gateway</body></html>", "root element <html>"),
        (b"<testsuite><testcase name='a'></testsuite>", "mismatched tag"),
        (b"<testsuite><testcase name='&undefined;'/></testsuite>", "undefined entity"),
    ],
    ids=[
        "billion-laughs",
        "xxe",
        "parameter-entity",
        "empty",
        "blank",
        "truncated",
        "latin1",
        "html",
        "mismatch",
        "entity",
    ],
)
def test_bad_input_is_rejected_with_a_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "report.xml"
    path.write_bytes(content)
    with pytest.raises(ArtifactRejected, match=reason):
        read_junit(path)
    assert path.read_bytes() == content


def test_declared_latin1_is_read(tmp_path: Path) -> None:
    path = tmp_path / "latin1.xml"
    path.write_bytes(
        b'<?xml version="1.0" encoding="ISO-8859-1"?>'
        b'<testsuite name="s"><testcase name="caf\xe9"/></testsuite>'
    )
    assert read_junit(path).results.get_column("name").to_list() == ["café"]


def test_an_empty_suite_gives_a_typed_empty_frame() -> None:
    parsed = read_junit(next(JUNIT.rglob("test-reporter--jest-junit-empty-testsuite.xml")))
    assert parsed.results.is_empty()
    assert parsed.results.schema["attempt"] == pl.Int32
