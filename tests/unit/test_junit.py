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
from testintel_assets.parsers.xml_guard import XmlText
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


def _tricky_report(cases: int) -> str:
    """A report that makes a streaming reader's life hard: CDATA and comments holding markup,
    processing instructions, '>' and '"' inside attribute values, single quotes, character
    references, tabs and CR LF line ends, non-ASCII, and an element whose name starts with
    `testcase`. Titles need no cleaning, so the test_id is plainly `classname::name`."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<!-- <testcase name="in a comment"/> -->\n']
    parts.append('<testsuites name="tricky">\r\n<testsuite name="outer">\n')
    for n in range(cases):
        kind = n % 11
        name = f"test_{n}_caf\u00e9"
        if kind == 0:
            parts.append(f'<testcase classname="pkg.A" name="{name}" time="0.5"/>\n')
        elif kind == 1:
            parts.append(f"<testcase classname='pkg.\"Quoted\"' name='{name}' time='1'/>\r\n")
        elif kind == 2:
            parts.append(
                f'<testcase classname="pkg.B" name="{name} a&gt;b" time="2"><failure message="x &lt; y">'
            )
            parts.append("<![CDATA[trace <testcase name='fake'/> ]] & more]]></failure></testcase>\n")
        elif kind == 3:
            parts.append(f'<testcase classname="pkg.C" name="{name}"><error>\n  <![CDATA[  first <line> ]]>')
            parts.append("\nsecond</error><system-out>out</system-out></testcase>\n")
        elif kind == 4:
            parts.append(f'<testcase classname="pkg.D" name="{name}&#65;" time="3"><skipped/></testcase>\n')
        elif kind == 5:
            parts.append(f'<testcase classname="pkg.E" name="{name}"><?pi <testcase?><!-- x -->')
            parts.append(
                '<skipped message="tab\there &#10;line"/><testcaseinfo note="not a testcase"/></testcase>\n'
            )
        elif kind == 6:
            parts.append(f'<testcase classname="pkg.F" name="{name} \U0001f600"><failure>&lt;b&gt; bold')
            parts.append('\nnext</failure><error message="worse">x</error></testcase>\n')
        elif kind == 7:
            parts.append(
                f'<testcase classname="pkg.G" name="{name}"><system-out><![CDATA[a <b> c]]></system-out>'
            )
            parts.append("</testcase>\n")
        elif kind == 8:
            parts.append(f'<testcase classname="pkg.H" name="{name}" time="0.1"><failure message="  ">')
            parts.append("\n\n  shown line &amp; more  \nhidden</failure></testcase>\n")
        elif kind == 9:
            parts.append(f'<testcase classname="pkg.I" name="{name}">\t<failure type="T"/></testcase>\n')
        else:
            parts.append(f'<testcase classname="pkg.J" name="{name}" status="disabled"/>\n<!-- note -->\n')
    parts.append("</testsuite>\r\n</testsuites>\n")
    return "".join(parts)


def _reference_rows(path: Path) -> list[tuple[str, str, str | None]]:
    """(test_id, status, message) per testcase from ElementTree: the worst of failure/error/skipped
    decides, its message attribute if not blank, else the first non-blank line of its text."""
    rank = {"skipped": (1, "skipped"), "failure": (2, "failed"), "error": (3, "error")}
    rows = []
    for case in ET.parse(path).getroot().iter("testcase"):
        best, status, message = 0, "skipped" if case.get("status") == "disabled" else "passed", None
        for child in case:
            level, child_status = rank.get(child.tag, (0, ""))
            if level > best:
                best, status = level, child_status
                text = child.get("message") or ""
                if not text.strip():
                    text = next((line for line in "".join(child.itertext()).splitlines() if line.strip()), "")
                message = text.strip() or None
        rows.append((f"{case.get('classname')}::{case.get('name')}", status, message))
    return rows


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_tricky_markup_across_segments_matches_elementtree(tmp_path: Path, encoding: str) -> None:
    """Big enough (UTF-8: about 4.6 MB) that the reader cuts it into segments, so constructs also
    land on a segment boundary; UTF-16 is decoded differently and kept small."""
    path = tmp_path / "tricky.xml"
    cases = 40_000 if encoding == "utf-8" else 2_000
    text = _tricky_report(cases)
    path.write_bytes(
        text.encode()
        if encoding == "utf-8"
        else text.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode(encoding)
    )
    results = read_junit(path).results
    if encoding == "utf-8":
        assert sum(1 for _ in XmlText(path, on_root=lambda *_: None, boundary="<testcase")) > 1
    assert results.height == cases
    assert Counter(results.get_column("status").to_list()) == independent_count(path)
    assert results.select("test_id", "status", "message").rows() == _reference_rows(path)


def test_sections_libxml2_refuses_are_read_when_expat_accepts(tmp_path: Path) -> None:
    """libxml2 (without huge_tree) refuses a CDATA section over 10 MB; expat, the final judge,
    accepts it, and the reader reads it in bounded pieces."""
    path = tmp_path / "huge-cdata.xml"
    body = "first line\n" + "x" * 11_000_000
    path.write_text(
        f'<testsuite name="s"><testcase classname="c" name="t"><failure><![CDATA[{body}]]></failure>'
        "</testcase></testsuite>",
        encoding="utf-8",
    )
    results = read_junit(path).results
    assert results.select("test_id", "status", "message").rows() == [("c::t", "failed", "first line")]


def test_unknown_encoding_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "odd.xml"
    path.write_bytes(b'<?xml version="1.0" encoding="x-no-such-encoding"?><testsuite/>')
    with pytest.raises(ArtifactRejected, match="encoding"):
        read_junit(path)


def test_column_wise_message_bounding_equals_the_python_one() -> None:
    """`bound_message_expr` (the column-wise reader) and `bound_message` (the one-by-one reader)
    agree on text an XML parser can deliver."""
    from testintel_assets.parsers.test_rows import bound_message, bound_message_expr

    pieces = [
        "a",
        " ",
        "\t",
        "\n",
        "\r",
        "\r\n",
        "\x85",
        "\u2028",
        "\u2029",
        "\xa0",
        "\u3000",
        "\u00e9",
        "x" * 700,
    ]
    texts = [None, ""] + [
        "".join(pieces[(i * 7 + j * 3) % len(pieces)] for j in range(i % 9)) for i in range(400)
    ]
    texts.append("y" * (MESSAGE_LIMIT + 5))
    frame = pl.DataFrame({"text": texts}, schema={"text": pl.String})
    for first_line in (False, True):
        got = frame.select(bound_message_expr(pl.col("text"), first_line=first_line)).to_series().to_list()
        assert got == [bound_message(text, first_line=first_line) for text in texts]
