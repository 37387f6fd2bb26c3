"""JUnit XML, every dialect CI produces, streamed through a hardened expat parser (docs/test-results.md).

One row per attempt:
- a `<testcase>` is one attempt; its status is the worst of its children (error > failure >
  skipped), else a `status` attribute such as `disabled` or `notrun` (skipped), else passed;
- Maven Surefire (`rerunFailingTestsCount`): `<flakyFailure>`/`<flakyError>` inside a testcase that
  finally passed are the earlier failed runs, so they come first and the pass is the last attempt;
  `<rerunFailure>`/`<rerunError>` inside a failing testcase are the reruns after the first failure,
  so the first failure is attempt 0 and the reruns follow in document order;
- the same test listed again in the file (gotestsum `--rerun-fails`, TestNG retry analyzers, retry
  plugins that repeat the testcase) counts up as further attempts in document order;
- pytest's own writer (suite "pytest") lists pytest-rerunfailures reruns as repeated testcases
  without their failure: every attempt but the last of a repeated pytest test is marked failed;
- an `<error>`/`<failure>` directly under `<testsuite>` (the class failed before any test ran)
  becomes one row named `(suite)`, as Jenkins' JUnit plugin counts such a suite.

Speed: per testcase, Python sees one start and one end callback that keep pyexpat's attribute dict
as the row; character data is delivered only while a message or property value is read; rows go
to Polars every CHUNK_ROWS cases (bounded memory) and everything else is one vectorised pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from testintel_assets.parsers import ArtifactRejected, Parsed, test_ids
from testintel_assets.parsers.test_rows import (
    ERROR,
    FAILED,
    MESSAGE_LIMIT,
    PASSED,
    SKIPPED,
    blank_to_null,
    bound_message,
    meta_frame,
    number_attempts,
    title_tag_meta,
    with_ids,
)
from testintel_assets.parsers.xml_guard import feed_expat, hardened_expat, root_element

ROOTS = ("testsuites", "testsuite")
FORMAT = "junit"
SUREFIRE_FORMAT = "junit-surefire"
SUITE_ROW_NAME = "(suite)"
PYTEST_RERUN_MESSAGE = "rerun by pytest-rerunfailures (pytest's JUnit report omits why this attempt failed)"
CHUNK_ROWS = 20_000
NANOSECOND_THRESHOLD_MS = 1e9  # no test runs 11.6 days: a file with such a time wrote nanoseconds

_OUTCOMES = {"failure": FAILED, "error": ERROR, "skipped": SKIPPED}
_EARLIER = {"flakyFailure": FAILED, "flakyError": ERROR}  # Surefire: failed runs before the final pass
_LATER = {"rerunFailure": FAILED, "rerunError": ERROR}  # Surefire: reruns after the first failure
_RANK = {None: 0, SKIPPED: 1, FAILED: 2, ERROR: 3}
_SKIP_STATUS_ATTR = ["disabled", "skipped", "skip", "ignored", "notrun", "not run", "pending"]
_QUIET = {"system-out", "system-err"}

# Keys we add to pyexpat's attribute dict: a leading blank cannot start an XML attribute name.
_SUITE, _STATUS, _MESSAGE, _PLATFORM = " suite", " status", " message", " platform"
_CASE_SCHEMA = {
    "classname": pl.String,
    "class": pl.String,
    "name": pl.String,
    "file": pl.String,
    "time": pl.String,
    "status": pl.String,
    _SUITE: pl.Int32,
    _STATUS: pl.String,
    _MESSAGE: pl.String,
    _PLATFORM: pl.String,
}


@dataclass
class _Suite:
    name: str | None
    file: str | None
    props: dict[str, str]


@dataclass
class _Scan:
    """What the expat pass leaves behind for the vectorised finish."""

    chunks: list[pl.DataFrame] = field(default_factory=list)
    suites: list[_Suite] = field(default_factory=list)
    # (row, earlier attempts, later attempts) for testcases with Surefire flaky/rerun children
    extras: list[tuple[int, list[tuple[str, str | None]], list[tuple[str, str | None]]]] = field(
        default_factory=list
    )
    case_props: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    meta: list[dict[str, str | None]] = field(default_factory=list)
    unnamed: int = 0
    root: str | None = None
    pytest: bool = False  # pytest's own JUnit writer (`junit_suite_name` default "pytest")
    surefire: bool = False


def _scan(path: Path) -> _Scan:
    """One streaming pass: testcase attribute dicts in chunks, plus the rare extras on the side."""
    scan = _Scan()
    parser = hardened_expat()
    cases: list[dict[str, Any]] = []
    flushed = 0
    stack: list[int] = []
    current: dict[str, Any] | None = None
    current_row = -1
    text: list[str] = []
    text_for: str | None = None  # "outcome" | "extra" | "property" while character data is read
    extra: tuple[str, str | None] | None = None  # (flaky/rerun tag, its message attribute)
    earlier: list[tuple[str, str | None]] = []
    later: list[tuple[str, str | None]] = []
    props: dict[str, str] = {}
    property_key: str | None = None

    def collect(data: str) -> None:
        if sum(map(len, text)) < MESSAGE_LIMIT * 2:  # only the first line is kept: stop early
            text.append(data)

    def read_text(target: str) -> None:
        nonlocal text_for
        text.clear()
        text_for = target
        parser.CharacterDataHandler = collect

    def stop_text() -> str:
        nonlocal text_for
        parser.CharacterDataHandler = None
        text_for = None
        return "".join(text)

    def flush() -> None:
        nonlocal flushed
        chunk = _prepare(pl.from_dicts(cases, schema=_CASE_SCHEMA), scan.suites, flushed, scan.unnamed)
        scan.unnamed += int(chunk.get_column("unnamed").sum() or 0)
        scan.meta.extend(title_tag_meta(chunk))
        scan.chunks.append(chunk.drop("owner", "raw_name", "unnamed"))
        flushed += len(cases)
        cases.clear()

    def start(tag: str, attrs: dict[str, Any]) -> None:
        nonlocal current, current_row
        if tag == "testcase":
            if len(cases) >= CHUNK_ROWS:
                flush()
            attrs[_SUITE] = stack[-1] if stack else None
            current_row = flushed + len(cases)
            cases.append(attrs)
            current = attrs
        elif current is not None:
            start_in_case(tag, attrs)
        elif tag == "testsuite":
            parent = scan.suites[stack[-1]] if stack else _Suite(None, None, {})
            scan.suites.append(
                _Suite(attrs.get("name") or parent.name, attrs.get("file") or parent.file, dict(parent.props))
            )
            stack.append(len(scan.suites) - 1)
            scan.root = scan.root or tag
            scan.pytest = scan.pytest or attrs.get("name") == "pytest"
            scan.surefire = scan.surefire or "surefire" in attrs.get("xsi:noNamespaceSchemaLocation", "")
        elif tag in _OUTCOMES and stack:
            message = bound_message(attrs.get("message") or attrs.get("type"))
            suite_row = {
                "name": SUITE_ROW_NAME,
                _SUITE: stack[-1],
                _STATUS: _OUTCOMES[tag],
                _MESSAGE: message,
            }
            cases.append(suite_row)
        elif tag == "property" and stack:
            start_property(attrs)
        elif scan.root is None:
            if tag not in ROOTS:
                raise ArtifactRejected(
                    f"root element <{tag}> is not a JUnit report (<testsuites> or <testsuite>)"
                )
            scan.root = tag
            scan.pytest = attrs.get("name") == "pytest tests"

    def start_in_case(tag: str, attrs: dict[str, str]) -> None:
        nonlocal extra
        assert current is not None
        if tag in _OUTCOMES:
            status = _OUTCOMES[tag]
            if _RANK[status] > _RANK[current.get(_STATUS)]:
                current[_STATUS] = status
                message = attrs.get("message")
                if message and message.strip():
                    current[_MESSAGE] = bound_message(message)
                else:
                    current[_MESSAGE] = None
                    read_text("outcome")
        elif tag in _EARLIER or tag in _LATER:
            scan.surefire = True
            message = attrs.get("message")
            extra = (tag, message if message and message.strip() else None)
            if extra[1] is None:
                read_text("extra")
        elif tag in _QUIET:
            parser.CharacterDataHandler = None
        elif tag == "property":
            start_property(attrs)

    def start_property(attrs: dict[str, str]) -> None:
        nonlocal property_key
        key = test_ids.meta_key(attrs.get("name", ""))
        if key is None:
            return
        if "value" in attrs:
            store_property(key, attrs["value"])
        else:
            property_key = key
            read_text("property")

    def store_property(key: str, value: str) -> None:
        value = value.strip()
        if not value:
            return
        if current is None:
            scan.suites[stack[-1]].props[key] = value
            return
        props[key] = value
        if key == "platform":
            current[_PLATFORM] = value

    def end(tag: str) -> None:
        nonlocal current, extra, property_key
        if tag == "testcase":
            if earlier or later:
                scan.extras.append((current_row, earlier.copy(), later.copy()))
                earlier.clear()
                later.clear()
            if props:
                scan.case_props.append((current_row, props.copy()))
                props.clear()
            current = None
        elif tag == "testsuite":
            stack.pop()
        elif tag in _QUIET:
            if text_for is not None:
                parser.CharacterDataHandler = collect
        elif text_for == "outcome" and tag in _OUTCOMES:
            assert current is not None
            current[_MESSAGE] = bound_message(stop_text(), first_line=True)
        elif text_for == "property" and tag == "property":
            store_property(property_key or "", stop_text())
            property_key = None
        elif extra is not None and tag == extra[0]:
            message = extra[1] if text_for != "extra" else bound_message(stop_text(), first_line=True)
            attempt = (_EARLIER.get(tag) or _LATER[tag], bound_message(message))
            (earlier if tag in _EARLIER else later).append(attempt)
            extra = None

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    feed_expat(parser, path)
    if cases or not scan.chunks:
        flush()
    return scan


def looks_like_junit(head: bytes) -> bool:
    return root_element(head) in ROOTS


def read_junit(path: Path) -> Parsed:
    """Every testcase attempt of a JUnit XML file as ARTIFACT_RESULTS, plus test_meta from properties
    and title tags. Raises ArtifactRejected for anything that is not a well-formed, safe JUnit report."""
    scan = _scan(path)
    if scan.root is None:
        raise ArtifactRejected("no <testsuites> or <testsuite> element found")
    rows = pl.concat(scan.chunks)
    ms = pl.col("duration_ms")
    rows = rows.with_columns(pl.when(ms.max() > NANOSECOND_THRESHOLD_MS).then(ms / 1e9).otherwise(ms))
    if scan.extras:
        rows = _with_extra_attempts(rows, scan.extras)
    results = number_attempts(rows, SUREFIRE_FORMAT if scan.surefire else FORMAT)
    if scan.pytest:
        results = _pytest_reruns_failed(results)
    return Parsed(results=results, meta=meta_frame(scan.meta + _property_meta(rows, scan)))


def _prepare(cases: pl.DataFrame, suites: list[_Suite], row_offset: int, unnamed_before: int) -> pl.DataFrame:
    """One chunk of testcase attribute dicts -> raw result columns with test_id (test_rows.with_ids).

    Durations stay in the producer's unit scaled as seconds; `read_junit` fixes nanosecond files once
    it has seen every row."""
    suite_table = pl.DataFrame(
        {
            _SUITE: range(len(suites)),
            "suite": [s.name for s in suites],
            "suite_file": [s.file for s in suites],
            "suite_platform": [s.props.get("platform") for s in suites],
        },
        schema={_SUITE: pl.Int32, "suite": pl.String, "suite_file": pl.String, "suite_platform": pl.String},
    )
    cases = cases.with_row_index("row", offset=row_offset).join(
        suite_table, on=_SUITE, how="left", maintain_order="left"
    )
    status_attr = pl.col("status").str.to_lowercase().is_in(_SKIP_STATUS_ATTR)
    blank_name = pl.col("name").fill_null("").str.strip_chars(" \t\r\n") == ""
    raw = cases.select(
        "row",
        pl.lit(0, dtype=pl.Int32).alias("order"),
        pl.col(_SUITE).alias("suite_index"),
        pl.coalesce(blank_to_null(pl.col("classname")), pl.col("class")).alias("owner"),
        "suite",
        pl.coalesce("file", "suite_file").alias("file"),
        pl.when(blank_name)
        .then(pl.format("(unnamed {})", blank_name.cast(pl.Int32).cum_sum() + unnamed_before))
        .otherwise(pl.col("name"))
        .alias("name"),
        blank_name.alias("unnamed"),
        pl.coalesce(_PLATFORM, "suite_platform").alias("platform"),
        pl.coalesce(_STATUS, pl.when(status_attr).then(pl.lit(SKIPPED)).otherwise(pl.lit(PASSED))).alias(
            "status"
        ),
        (
            pl.col("time").str.replace_all(",", "").str.strip_chars().cast(pl.Float64, strict=False) * 1000.0
        ).alias("duration_ms"),
        pl.col(_MESSAGE).alias("message"),
    )
    return with_ids(raw)


def _pytest_reruns_failed(results: pl.DataFrame) -> pl.DataFrame:
    """pytest's JUnit writer lists each pytest-rerunfailures rerun as a testcase but drops the
    failure that caused it, so an earlier attempt looks passed. pytest node ids are unique in a
    session and only failures are rerun: every attempt but the last of a repeated test failed."""
    superseded = (pl.col("attempt") < pl.col("attempt").max().over("test_id")) & (pl.col("status") == PASSED)
    return results.with_columns(
        status=pl.when(superseded).then(pl.lit(FAILED)).otherwise("status"),
        message=pl.when(superseded).then(pl.lit(PYTEST_RERUN_MESSAGE)).otherwise("message"),
    )


def _with_extra_attempts(raw: pl.DataFrame, extras: list) -> pl.DataFrame:
    """Surefire's flaky runs go before their testcase's row, reruns after it (see module doc)."""
    rows = []
    for row, earlier, later in extras:
        rows.extend(
            (row, order - len(earlier), status, message) for order, (status, message) in enumerate(earlier)
        )
        rows.extend((row, order + 1, status, message) for order, (status, message) in enumerate(later))
    attempts = pl.DataFrame(
        rows,
        schema={"row": pl.UInt32, "order": pl.Int32, "status": pl.String, "message": pl.String},
        orient="row",
    )
    copied = raw.select(pl.exclude("order", "status", "message", "duration_ms")).join(attempts, on="row")
    copied = copied.with_columns(duration_ms=pl.lit(None, dtype=pl.Float64))
    return pl.concat([raw, copied.select(raw.columns)]).sort("row", "order")


def _property_meta(rows: pl.DataFrame, scan: _Scan) -> list[dict[str, str | None]]:
    """`<property>` metadata of testcases and of their enclosing suites; the testcase's value wins."""
    suite_props = {index: suite.props for index, suite in enumerate(scan.suites) if suite.props}
    case_props = dict(scan.case_props)
    if not (suite_props or case_props):
        return []
    ids = rows.select("row", "suite_index", "test_id")
    merged: dict[str, dict[str, str | None]] = {}
    for props_of, column in ((suite_props, "suite_index"), (case_props, "row")):
        matching = ids.filter(pl.col(column).is_in(list(props_of)))
        for test_id, key in matching.select("test_id", column).iter_rows():
            merged.setdefault(test_id, {"test_id": test_id, "source": "junit-property"}).update(props_of[key])
    return list(merged.values())
