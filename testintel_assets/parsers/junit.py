"""JUnit XML, every dialect CI produces: a C well-formedness pass plus column-wise extraction
(docs/test-results.md).

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

Speed: Python does not visit the common testcases one by one. `xml_guard.XmlText` checks the file
in C and hands over decoded text in segments; each segment is split at `<testcase`. Plain
self-closing testcases are read column-wise (`_attribute_frame`), testcases with only output or
one failure/error/skipped inside with Polars regular expressions (`_simple_testcases`); the rest,
and everything between testcases (suites, properties, Surefire reruns), go through `_Events`, the
state machine streaming handlers would run, whose results are joined back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import compress
from operator import not_
from pathlib import Path

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
    bound_message_expr,
    meta_frame,
    number_attempts,
    title_tag_meta,
    untidy_text,
    with_ids,
)
from testintel_assets.parsers.xml_guard import (
    NAMED_REFERENCES,
    XmlText,
    attribute_value,
    attributes,
    root_element,
    start_tag,
    unescape,
)

ROOTS = ("testsuites", "testsuite")
FORMAT = "junit"
SUREFIRE_FORMAT = "junit-surefire"
SUITE_ROW_NAME = "(suite)"
PYTEST_RERUN_MESSAGE = "rerun by pytest-rerunfailures (pytest's JUnit report omits why this attempt failed)"
NANOSECOND_THRESHOLD_MS = 1e9  # no test runs 11.6 days: a file with such a time wrote nanoseconds

_OUTCOMES = {"failure": FAILED, "error": ERROR, "skipped": SKIPPED}
_EARLIER = {"flakyFailure": FAILED, "flakyError": ERROR}  # Surefire: failed runs before the final pass
_LATER = {"rerunFailure": FAILED, "rerunError": ERROR}  # Surefire: reruns after the first failure
_RANK = {None: 0, SKIPPED: 1, FAILED: 2, ERROR: 3}
_SKIP_STATUS_ATTR = ["disabled", "skipped", "skip", "ignored", "notrun", "not run", "pending"]
_QUIET = {"system-out", "system-err"}
# Elements whose text may be read (a message or property value without its attribute) ...
_TEXT_TAGS = [*_OUTCOMES, *_EARLIER, *_LATER, "property"]
# ... and, with suites, every element `_Events` sees; anything inside a text element is seen too.
_EVENT_TAGS = [*_TEXT_TAGS, "testsuite"]
_CASE_ATTRIBUTES = ("classname", "class", "name", "file", "time", "status")
_NO_CASE = -1

_SUITE, _STATUS, _MESSAGE, _PLATFORM = "suite_index", "status_child", "message", "platform_property"
_OVERRIDES = {"row": pl.UInt64, _STATUS: pl.String, _MESSAGE: pl.String, _PLATFORM: pl.String}
_SUITE_ROWS = {"row": pl.UInt64, _SUITE: pl.Int32, "name": pl.String, _STATUS: pl.String, _MESSAGE: pl.String}
_CASE_ROWS = {"row": pl.UInt64, **dict.fromkeys(_CASE_ATTRIBUTES, pl.String)}
# Rows are keyed by document order: testcase n (the n-th `<testcase` of the file) is n << 32, and a
# `(suite)` row that follows it before testcase n + 1 is (n << 32) + 1, + 2 ...
_ROW_BITS = 32
_TESTCASE = "<testcase"
_OTHER_TAG = re.compile(r"<testcase[^ \t\n/>]")  # `<testcases>` & co. are other elements
_EVENT_STARTS = tuple(_EVENT_TAGS)
# For `_simple_testcases` (Polars' regex): the tags the state machine acts on, a failure/error/
# skipped start tag with its attribute markup, and the message attribute.
_READ_TAG_PATTERN = "</?(?:" + "|".join([*_EVENT_TAGS, "testcase"]) + ")[ \t\n/>]"
_ATTRIBUTE_MARKUP = """(?:[ \t\n]+[^ \t\n=]+[ \t\n]*=[ \t\n]*(?:"[^"]*"|'[^']*'))*"""
_OUTCOME_PATTERN = (
    f"(?P<tag><(?P<name>{'|'.join(_OUTCOMES)})(?P<attributes>{_ATTRIBUTE_MARKUP})[ \t\n]*(?P<closed>/?)>)"
)
_MESSAGE_PATTERN = """[ \t\n]message[ \t\n]*=[ \t\n]*(?:"(?P<double>[^"]*)"|'(?P<single>[^']*)')"""


@dataclass
class _Suite:
    name: str | None
    file: str | None
    props: dict[str, str]


@dataclass
class _Scan:
    """What reading the file leaves behind for the vectorised finish."""

    chunks: list[pl.DataFrame] = field(default_factory=list)
    suites: list[_Suite] = field(default_factory=list)
    # (row, earlier attempts, later attempts) for testcases with Surefire flaky/rerun children
    extras: list[tuple[int, list[tuple[str, str | None]], list[tuple[str, str | None]]]] = field(
        default_factory=list
    )
    case_props: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    meta: list[dict[str, str | None]] = field(default_factory=list)
    unnamed: int = 0
    untidy_suites: bool = False  # a suite name may need test_rows.clean_title
    root: str | None = None
    pytest: bool = False  # pytest's own JUnit writer (`junit_suite_name` default "pytest")
    surefire: bool = False


class _Events:
    """Everything but plain passing testcases, in document order: the state machine a streaming
    parser's handlers would run, fed with the pieces of a segment split at '<' (module doc)."""

    def __init__(self, scan: _Scan) -> None:
        self.scan = scan
        self.stack: list[int] = []
        self.case = _NO_CASE  # row of the open testcase
        self.base = 0  # row of the last testcase started; `(suite)` rows and marks count on from it
        self.added = 0
        self.marks: list[tuple[int, int]] = []  # (row, innermost open suite after it) in this segment
        self.status: dict[int, str] = {}
        self.message: dict[int, str | None] = {}
        self.platform: dict[int, str] = {}
        self.suite_rows: list[tuple[int, int, str, str, str | None]] = []
        self.text: list[str] = []
        self.text_for: str | None = None  # "outcome" | "extra" | "property" while text is read
        self.collecting = False  # False inside <system-out>/<system-err> of a text element
        self.extra: tuple[str, str | None] | None = None  # (flaky/rerun tag, its message attribute)
        self.earlier: list[tuple[str, str | None]] = []
        self.later: list[tuple[str, str | None]] = []
        self.props: dict[str, str] = {}
        self.property_key: str | None = None

    @property
    def suite(self) -> int:
        return self.stack[-1] if self.stack else _NO_CASE

    def root(self, tag: str, attrs: dict[str, str]) -> None:
        if tag == "testsuites":
            self.scan.root = tag
            self.scan.pytest = attrs.get("name") == "pytest tests"
        elif tag not in ("testsuite", "testcase"):  # a root testsuite is read as the suite it is
            raise ArtifactRejected(
                f"root element <{tag}> is not a JUnit report (<testsuites> or <testsuite>)"
            )

    def head(self, text: str) -> None:
        """What a segment holds before its first testcase: it continues the previous segment."""
        first, *pieces = text.split("<")
        if self.collecting:
            self.collect(first)
        for piece in pieces:
            self.piece(piece)

    def testcase(self, row: int, chunk: str) -> str:
        """A testcase (its start tag after `<testcase`) and everything up to the next one -> the
        attribute markup of its start tag."""
        markup, empty, end = _start_tag_rest(chunk)
        self.enter(row)
        self.base, self.added = row, 0
        if empty:
            self.enter(_NO_CASE)
        first, *pieces = chunk[end:].split("<")
        if self.collecting:
            self.collect(first)
        for piece in pieces:
            self.piece(piece)
        return markup

    def passed_over(self, row: int) -> None:
        """What a testcase read column-wise leaves behind: none open, later rows count from it."""
        self.enter(_NO_CASE)
        self.base, self.added = row, 0

    def piece(self, piece: str) -> None:
        """A start or end tag and the text up to the next tag."""
        if piece[0] == "/":
            close = piece.find(">")
            self.end(piece[1:close].rstrip(" \t\n"))
            if self.collecting:
                self.collect(piece[close + 1 :])
        elif piece.startswith(_EVENT_STARTS) or self.text_for is not None:
            tag, markup, empty, end = start_tag(piece)
            self.start(tag, attributes(markup))
            if empty:
                self.end(tag)
            if self.collecting:
                self.collect(piece[end:])

    def enter(self, case: int) -> None:
        """Close the books of the testcase that was open, if another one (or none) is now."""
        if case == self.case:
            return
        if self.earlier or self.later:
            self.scan.extras.append((self.case, self.earlier, self.later))
            self.earlier, self.later = [], []
        if self.props:
            self.scan.case_props.append((self.case, self.props))
            self.props = {}
        self.case = case

    def collect(self, data: str) -> None:
        if sum(map(len, self.text)) < MESSAGE_LIMIT * 2:  # only the first line is kept: stop early
            self.text.append(data)

    def read_text(self, target: str) -> None:
        self.text.clear()
        self.text_for = target
        self.collecting = True

    def stop_text(self) -> str:
        self.collecting = False
        self.text_for = None
        return unescape("".join(self.text))

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if self.case != _NO_CASE:
            self.start_in_case(tag, attrs)
        elif tag == "testsuite":
            parent = self.scan.suites[self.suite] if self.stack else _Suite(None, None, {})
            self.scan.suites.append(
                _Suite(attrs.get("name") or parent.name, attrs.get("file") or parent.file, dict(parent.props))
            )
            self.stack.append(len(self.scan.suites) - 1)
            self.scan.untidy_suites = self.scan.untidy_suites or untidy_text(self.scan.suites[-1].name or "")
            self.mark()
            self.scan.root = self.scan.root or tag
            self.scan.pytest = self.scan.pytest or attrs.get("name") == "pytest"
            schema = attrs.get("xsi:noNamespaceSchemaLocation", "")
            self.scan.surefire = self.scan.surefire or "surefire" in schema
        elif tag in _OUTCOMES and self.stack:
            message = bound_message(attrs.get("message") or attrs.get("type"))
            self.added += 1
            self.suite_rows.append(
                (self.base + self.added, self.suite, SUITE_ROW_NAME, _OUTCOMES[tag], message)
            )
        elif tag == "property" and self.stack:
            self.start_property(attrs)

    def start_in_case(self, tag: str, attrs: dict[str, str]) -> None:
        if tag in _OUTCOMES:
            status = _OUTCOMES[tag]
            if _RANK[status] > _RANK[self.status.get(self.case)]:
                self.status[self.case] = status
                message = attrs.get("message")
                if message and message.strip():
                    self.message[self.case] = bound_message(message)
                else:
                    self.message[self.case] = None
                    self.read_text("outcome")
        elif tag in _EARLIER or tag in _LATER:
            self.scan.surefire = True
            message = attrs.get("message")
            self.extra = (tag, message if message and message.strip() else None)
            if self.extra[1] is None:
                self.read_text("extra")
        elif tag in _QUIET:
            self.collecting = False
        elif tag == "property":
            self.start_property(attrs)

    def start_property(self, attrs: dict[str, str]) -> None:
        key = test_ids.meta_key(attrs.get("name", ""))
        if key is None:
            return
        if "value" in attrs:
            self.store_property(key, attrs["value"])
        else:
            self.property_key = key
            self.read_text("property")

    def store_property(self, key: str, value: str) -> None:
        value = value.strip()
        if not value:
            return
        if self.case == _NO_CASE:
            self.scan.suites[self.suite].props[key] = value
            return
        self.props[key] = value
        if key == "platform":
            self.platform[self.case] = value

    def end(self, tag: str) -> None:
        if tag == "testcase":
            self.enter(_NO_CASE)
        elif tag == "testsuite":
            self.stack.pop()
            self.mark()
        elif tag in _QUIET:
            self.collecting = self.text_for is not None
        elif self.text_for == "outcome" and tag in _OUTCOMES:
            self.message[self.case] = bound_message(self.stop_text(), first_line=True)
        elif self.text_for == "property" and tag == "property":
            self.store_property(self.property_key or "", self.stop_text())
            self.property_key = None
        elif self.extra is not None and tag == self.extra[0]:
            message = self.extra[1]
            if self.text_for == "extra":
                message = bound_message(self.stop_text(), first_line=True)
            attempt = (_EARLIER.get(tag) or _LATER[tag], bound_message(message))
            (self.earlier if tag in _EARLIER else self.later).append(attempt)
            self.extra = None

    def mark(self) -> None:
        """The innermost open suite changes before the next testcase."""
        if self.marks and self.marks[-1][0] == self.base + 1:
            self.marks.pop()
        self.marks.append((self.base + 1, self.suite))

    def take_marks(self, suite_before: int) -> pl.DataFrame:
        marks = [(0, suite_before), *self.marks]
        self.marks = []
        return pl.DataFrame(marks, schema={"row": pl.UInt64, _SUITE: pl.Int32}, orient="row")

    def take_overrides(self) -> pl.DataFrame:
        """What the children said about every testcase but the one still open."""
        rows = (self.status.keys() | self.message.keys() | self.platform.keys()) - {self.case}
        return pl.DataFrame(
            {
                "row": list(rows),
                _STATUS: [self.status.pop(row, None) for row in rows],
                _MESSAGE: [self.message.pop(row, None) for row in rows],
                _PLATFORM: [self.platform.pop(row, None) for row in rows],
            },
            schema=_OVERRIDES,
        )

    def take_suite_rows(self) -> pl.DataFrame:
        rows, self.suite_rows = self.suite_rows, []
        return pl.DataFrame(rows, schema=_SUITE_ROWS, orient="row")


@dataclass
class _Carry:
    """State that crosses a segment boundary."""

    testcases: int = 0  # `<testcase` seen so far
    open_case: pl.DataFrame | None = None  # the attributes of a testcase still open, its row not final


def _scan(path: Path) -> _Scan:
    scan = _Scan()
    events = _Events(scan)
    carry = _Carry()
    for segment in XmlText(path, on_root=events.root, boundary=_TESTCASE):
        _read_segment(segment, carry, events, scan)
    events.enter(_NO_CASE)
    return scan


def _read_segment(text: str, carry: _Carry, events: _Events, scan: _Scan) -> None:
    """Split a segment at `<testcase`: plain self-closing testcases (most of a report) and the
    simple others (`_simple_testcases`) need no state machine, the rest and everything between
    testcases go through `_Events`; the attributes of all testcase start tags are read column-wise
    (`_attribute_frame`). Testcases are numbered in document order across the file."""
    head, *chunks = text.split(_TESTCASE)
    if _OTHER_TAG.search(text):
        head, chunks = _rejoin(head, chunks)
    numbers = range(carry.testcases + 1, carry.testcases + 1 + len(chunks))
    carry.testcases += len(chunks)
    plain = ["<" not in chunk for chunk in chunks]  # no child, nothing after it but blanks
    valid, frames, untidy = _attribute_frame(list(compress(numbers, plain)), list(compress(chunks, plain)))
    if not all(valid):
        for index, is_valid in zip(compress(range(len(plain)), plain), valid, strict=True):
            plain[index] = is_valid
    other = list(map(not_, plain))
    other_numbers, other_chunks = list(compress(numbers, other)), list(compress(chunks, other))
    simple, quoted, simple_overrides = _simple_testcases(other_numbers, other_chunks)
    suite_before = events.suite
    events.head(head)
    read = [
        (number, events.testcase(number << _ROW_BITS, chunk))
        for number, chunk, is_simple in zip(other_numbers, other_chunks, simple, strict=True)
        if not is_simple
    ]
    if plain and (plain[-1] or simple[-1]):  # the segment ends after a testcase read column-wise
        events.passed_over(numbers[-1] << _ROW_BITS)
    tagged = quoted.get_column("number").to_list() + [number for number, _ in read]
    markups = quoted.get_column("markup").to_list() + [markup for _, markup in read]
    valid, more, more_untidy = _attribute_frame(tagged, [markup + "/>" for markup in markups])
    exact = [
        (number << _ROW_BITS, markup)
        for number, markup, is_valid in zip(tagged, markups, valid, strict=True)
        if not is_valid
    ]
    exact_frame, exact_untidy = _exact_attributes(exact)
    untidy = untidy or more_untidy or exact_untidy or scan.untidy_suites
    cases = pl.concat([frames, more, exact_frame], how="diagonal_relaxed").sort("row")
    cases = cases.join_asof(events.take_marks(suite_before), on="row", strategy="backward")
    if carry.open_case is not None:  # read in the previous segment: its titles were not looked at
        cases = pl.concat([carry.open_case, cases], how="diagonal_relaxed")
        untidy = True
    carry.open_case = cases.filter(pl.col("row") == events.case) if events.case != _NO_CASE else None
    cases = cases.filter(pl.col("row") != events.case)
    if cases.is_empty() and not events.suite_rows:
        return
    overrides = pl.concat([events.take_overrides(), simple_overrides])
    cases = cases.join(overrides, on="row", how="left", maintain_order="left")
    rows_frame = pl.concat([cases, events.take_suite_rows()], how="diagonal").sort("row")
    chunk = _prepare(rows_frame, scan.suites, scan.unnamed, untidy)
    scan.unnamed += int(chunk.get_column("unnamed").sum() or 0)
    scan.meta.extend(title_tag_meta(chunk, untidy))
    scan.chunks.append(chunk.drop("owner", "raw_name", "unnamed"))


def _simple_testcases(numbers: list[int], chunks: list[str]) -> tuple[list[bool], pl.DataFrame, pl.DataFrame]:
    """The testcases with children that need no state machine, read column-wise: nothing inside
    that `_Events` acts on (only `<system-out>` and the like), or exactly one failure, error or
    skipped element with a message attribute or with plain text. -> which chunks, their numbers and
    start tags' attribute markup, and what their child says (`_OVERRIDES`)."""
    chunk = pl.col("chunk")
    start_tag = chunk.str.splitn(">", 2).struct.field("field_0")
    found = chunk.str.extract_all(_READ_TAG_PATTERN).list.eval(pl.element().str.strip_chars_end(" \t\n/>"))
    frame = pl.DataFrame(
        {"number": numbers, "chunk": chunks}, schema={"number": pl.UInt64, "chunk": pl.String}
    )
    frame = frame.select(
        "number",
        (pl.col("number") * (1 << _ROW_BITS)).alias("row"),
        "chunk",
        start_tag.str.strip_chars_end("/").alias("markup"),
        start_tag.str.ends_with("/").alias("empty"),
        # a '>' in an attribute value could end the first guess early: such tags go to `_Events`
        (
            (start_tag.str.count_matches('"', literal=True) % 2 == 0)
            & ~start_tag.str.contains("'", literal=True)
        ).alias("sure"),
        found.list.join(",").alias("found"),
        chunk.str.extract_groups(_OUTCOME_PATTERN).alias("outcome"),
    ).unnest("outcome")
    name, closed = pl.col("name"), pl.col("closed") == "/"
    children = pl.concat_str(
        pl.lit("<"), name, pl.when(closed).then(pl.lit("")).otherwise(pl.lit(",</") + name)
    )
    raw_message = pl.coalesce(pl.col("attributes").str.extract_groups(_MESSAGE_PATTERN).struct.unnest())
    frame = frame.with_columns(raw_message=raw_message, message=_attribute_value_expr(raw_message))
    message = pl.col("message")
    has_message = (message.str.strip_chars() != "").fill_null(False)
    single = (pl.col("sure") & ~pl.col("empty") & (pl.col("found") == children + ",</testcase")).fill_null(
        False
    )
    frame = frame.select(
        "number",
        "row",
        "markup",
        "chunk",
        "tag",
        closed.alias("closed"),
        name.replace_strict(_OUTCOMES, default=None, return_dtype=pl.String).alias(_STATUS),
        (
            pl.col("sure")
            & (pl.col("found") == pl.when("empty").then(pl.lit("")).otherwise(pl.lit("</testcase")))
        )
        .fill_null(False)
        .alias("quiet"),
        # references beyond the five named entities are left to `_Events`
        (single & _named_references_only(pl.col("raw_message"))).alias("single"),
        has_message.alias("has_message"),
        pl.when(has_message).then(bound_message_expr(message)).alias(_MESSAGE),
        pl.lit(None, dtype=pl.String).alias(_PLATFORM),
    )
    # without a message attribute, the first line of the element's text, if it is plain text
    reading = frame.filter("single", ~pl.col("has_message"), ~pl.col("closed"))
    texts = pl.DataFrame(schema=_OVERRIDES)
    unread: list[int] = []
    if reading.height:
        after = pl.col("chunk").str.split(pl.col("tag")).list.get(1, null_on_oob=True).str.splitn("<", 2)
        text, rest = after.struct.field("field_0"), after.struct.field("field_1")
        reading = reading.with_columns(
            read=rest.str.starts_with("/") & _named_references_only(text),
            **{_MESSAGE: bound_message_expr(_unescaped(text), first_line=True)},
        )
        unread = reading.filter(~pl.col("read")).get_column("row").to_list()
        texts = reading.filter("read").select(*_OVERRIDES)
    frame = frame.with_columns(simple=(pl.col("quiet") | pl.col("single")) & ~pl.col("row").is_in(unread))
    simple = frame.filter("simple")
    overrides = pl.concat(
        [simple.filter("single", pl.col("has_message") | pl.col("closed")).select(*_OVERRIDES), texts]
    )
    return frame.get_column("simple").to_list(), simple.select("number", "markup"), overrides


def _named_references_only(text: pl.Expr) -> pl.Expr:
    """Whether every '&' starts one of the five predefined entities, the only references resolved
    column-wise (`_unescaped`); the rest goes through `xml_guard.unescape` one by one."""
    named = text.str.count_matches("&(?:lt|gt|amp|quot|apos);") == text.str.count_matches("&", literal=True)
    return named.fill_null(True)


def _unescaped(text: pl.Expr) -> pl.Expr:
    """`xml_guard.unescape` for text whose references are all named (`_named_references_only`)."""
    return text.str.replace_many(list(NAMED_REFERENCES), list(NAMED_REFERENCES.values()))


def _attribute_value_expr(raw: pl.Expr) -> pl.Expr:
    """`xml_guard.attribute_value` for values whose references are all named."""
    return _unescaped(raw.str.replace_all("\t", " ", literal=True).str.replace_all("\n", " ", literal=True))


def _start_tag_rest(text: str) -> tuple[str, bool, int]:
    """What follows `<testcase` -> (attribute markup, self-closing, where the tag ends)."""
    end = text.find(">")
    markup = text[:end]
    if markup.count('"') % 2 or "'" in markup:  # a '>' may sit in a value: parse exactly
        _, markup, empty, end = start_tag("testcase" + text)
        return markup, empty, end - len("testcase")
    if markup.endswith("/"):
        return markup[:-1], True, end + 1
    return markup, False, end + 1


def _rejoin(head: str, chunks: list[str]) -> tuple[str, list[str]]:
    """Undo the splits at `<testcase` that began another element's name (`<testcases>`)."""
    kept: list[str] = []
    for chunk in chunks:
        if chunk[:1] in (" ", "\t", "\n", "/", ">"):
            kept.append(chunk)
        elif kept:
            kept[-1] += _TESTCASE + chunk
        else:
            head += _TESTCASE + chunk
    return head, kept


def _attribute_frame(numbers: list[int], tags: list[str]) -> tuple[list[bool], pl.DataFrame, bool]:
    """Testcase start tags without their name (` a="1" b="2"/>`, blanks may follow, no '<') ->
    which are that plain form (double quotes only), the attributes of those, column-wise, and
    whether a title among them may need `clean_title` (test_rows.untidy_text).

    The tags are joined and split at '"': values sit at odd places, and the even places joined give
    each tag's layout (its markup with every value emptied). A writer repeats a handful of layouts,
    so the attribute names are read once per layout."""
    parts = "\x00".join(tags).split('"')
    layouts = '""'.join(parts[0::2]).split("\x00") if tags else []
    names = {layout: _layout_names(layout) for layout in set(layouts)}
    if len(layouts) != len(tags) or None in names.values():  # a stray quote in text, another form
        valid = [_layout_names('""'.join(tag.split('"')[0::2])) is not None for tag in tags]
        return valid, *_attribute_frame(list(compress(numbers, valid)), list(compress(tags, valid)))[1:]
    if len(names) == 1:  # one layout: the values of an attribute are every width-th part
        found = next(iter(names.values())) or []
        width = 2 * len(found)
        columns = {
            key: parts[2 * found.index(key) + 1 :: width] if key in found else None
            for key in _CASE_ATTRIBUTES
        }
        present = {key: values for key, values in columns.items() if values is not None}
        frame = pl.DataFrame(
            {"row": numbers, **present}, schema={"row": pl.UInt64, **dict.fromkeys(present, pl.String)}
        )
    else:
        frame = _values_by_layout(numbers, layouts, names, parts)
    frame = frame.with_columns(pl.col("row") * (1 << _ROW_BITS))
    values = "\x00".join(parts[1::2])  # the values alone: the blanks between tags do not count
    references = "&" in values
    if references or "\t" in values or "\n" in values:
        frame = _decoded(frame)
    return [True] * len(tags), frame, references or untidy_text(values)


def _values_by_layout(
    numbers: list[int], layouts: list[str], names: dict[str, list[str] | None], parts: list[str]
) -> pl.DataFrame:
    """Several layouts: each tag's values start where the previous tag's end."""
    table = pl.DataFrame(
        {
            "layout": list(names),
            "count": [len(found or []) for found in names.values()],
            **{key: [_value_index(found, key) for found in names.values()] for key in _CASE_ATTRIBUTES},
        },
        schema={"layout": pl.String, "count": pl.Int64, **dict.fromkeys(_CASE_ATTRIBUTES, pl.Int64)},
    )
    frame = pl.DataFrame({"row": numbers, "layout": layouts}, schema={"row": pl.UInt64, "layout": pl.String})
    frame = frame.join(table, on="layout", how="left", maintain_order="left")
    start = (pl.col("count").cum_sum() - pl.col("count")) * 2  # where a tag's parts begin
    values = pl.lit(pl.Series(parts, dtype=pl.String))
    return frame.select("row", *(values.gather(start + pl.col(key)).alias(key) for key in _CASE_ATTRIBUTES))


def _exact_attributes(markups: list[tuple[int, str]]) -> tuple[pl.DataFrame, bool]:
    """The rare start tags `_attribute_frame` does not take, parsed one by one."""
    parsed = [(row, attributes(markup)) for row, markup in markups]
    untidy = any("&" in markup or untidy_text(markup) for _, markup in markups)
    return pl.DataFrame(
        {
            "row": [row for row, _ in parsed],
            **{key: [found.get(key) for _, found in parsed] for key in _CASE_ATTRIBUTES},
        },
        schema=_CASE_ROWS,
    ), untidy


def _layout_names(layout: str) -> list[str] | None:
    """Attribute names of a layout like ` classname="" name="" time=""/>`, None if not that plain form."""
    *named, rest = layout.split('""')
    names = [part.strip(" \t\n").removesuffix("=").rstrip(" \t\n") for part in named]
    plain = rest.strip(" \t\n") == "/>" and all(
        name
        and not any(char in name for char in " \t\n='\"/>")
        and part.rstrip(" \t\n").endswith("=")
        and part[:1] in (" ", "\t", "\n")
        for name, part in zip(names, named, strict=True)
    )
    return names if plain else None


def _value_index(names: list[str] | None, key: str) -> int | None:
    return 2 * names.index(key) + 1 if names and key in names else None


def _decoded(frame: pl.DataFrame) -> pl.DataFrame:
    """`xml_guard.attribute_value` for the values read column-wise (blanks and references)."""
    needs = [
        key
        for key in _CASE_ATTRIBUTES
        if key in frame.columns and frame.get_column(key).str.contains(r"[&\t\n]").any()
    ]
    if not needs:
        return frame
    named, chars = list(NAMED_REFERENCES), list(NAMED_REFERENCES.values())
    other_references = ~pl.all_horizontal(_named_references_only(pl.col(key)) for key in needs)
    plain = frame.filter(~other_references).with_columns(
        pl.col(key)
        .str.replace_all("\t", " ", literal=True)
        .str.replace_all("\n", " ", literal=True)
        .str.replace_many(named, chars)
        for key in needs
    )
    exact = frame.filter(other_references).with_columns(
        pl.col(key).map_elements(attribute_value, return_dtype=pl.String) for key in needs
    )
    return pl.concat([plain, exact]).sort("row") if exact.height else plain


def looks_like_junit(head: bytes) -> bool:
    return root_element(head) in ROOTS


def read_junit(path: Path) -> Parsed:
    """Every testcase attempt of a JUnit XML file as ARTIFACT_RESULTS, plus test_meta from properties
    and title tags. Raises ArtifactRejected for anything that is not a well-formed, safe JUnit report."""
    scan = _scan(path)
    if scan.root is None:
        raise ArtifactRejected("no <testsuites> or <testsuite> element found")
    if not scan.chunks:
        scan.chunks.append(
            _prepare(pl.DataFrame(schema=_SUITE_ROWS), [], 0).drop("owner", "raw_name", "unnamed")
        )
    rows = pl.concat(scan.chunks)
    if (rows.get_column("duration_ms").max() or 0) > NANOSECOND_THRESHOLD_MS:
        rows = rows.with_columns(pl.col("duration_ms") / 1e9)
    if scan.extras:
        rows = _with_extra_attempts(rows, scan.extras)
    results = number_attempts(rows, SUREFIRE_FORMAT if scan.surefire else FORMAT)
    if scan.pytest:
        results = _pytest_reruns_failed(results)
    return Parsed(results=results, meta=meta_frame(scan.meta + _property_meta(rows, scan)))


def _prepare(
    cases: pl.DataFrame, suites: list[_Suite], unnamed_before: int, untidy: bool | None = None
) -> pl.DataFrame:
    """Rows of one segment -> raw result columns with test_id (test_rows.with_ids).

    Durations stay in the producer's unit scaled as seconds; `read_junit` fixes nanosecond files once
    it has seen every row."""
    for column in (*_CASE_ATTRIBUTES, _SUITE, _STATUS, _MESSAGE, _PLATFORM):
        if column not in cases.columns:
            cases = cases.with_columns(
                pl.lit(None, dtype=pl.Int32 if column == _SUITE else pl.String).alias(column)
            )
    suite_table = pl.DataFrame(
        {
            _SUITE: range(len(suites)),
            "suite": [s.name for s in suites],
            "suite_file": [s.file for s in suites],
            "suite_platform": [s.props.get("platform") for s in suites],
        },
        schema={_SUITE: pl.Int32, "suite": pl.String, "suite_file": pl.String, "suite_platform": pl.String},
    )
    cases = cases.join(suite_table, on=_SUITE, how="left", maintain_order="left")
    status_attr = pl.col("status").str.to_lowercase().is_in(_SKIP_STATUS_ATTR)
    blank_name = pl.col("name").fill_null("").str.strip_chars(" \t\r\n") == ""
    raw = cases.select(
        "row",
        pl.lit(0, dtype=pl.Int32).alias("order"),
        pl.col(_SUITE).alias("suite_index"),
        pl.coalesce(blank_to_null(pl.col("classname")), pl.col("class")).alias("owner"),
        "suite",
        pl.coalesce("file", "suite_file").alias("file"),
        "name",
        blank_name.alias("unnamed"),
        pl.coalesce(_PLATFORM, "suite_platform").alias("platform"),
        pl.coalesce(_STATUS, pl.when(status_attr).then(pl.lit(SKIPPED)).otherwise(pl.lit(PASSED))).alias(
            "status"
        ),
        (
            pl.col("time")
            .str.replace_all(",", "", literal=True)
            .str.strip_chars()
            .cast(pl.Float64, strict=False)
            * 1000.0
        ).alias("duration_ms"),
        pl.col(_MESSAGE).alias("message"),
    )
    if raw.get_column("unnamed").any():
        number = pl.col("unnamed").cast(pl.Int32).cum_sum() + unnamed_before
        raw = raw.with_columns(
            name=pl.when("unnamed").then(pl.format("(unnamed {})", number)).otherwise(pl.col("name"))
        )
    return with_ids(raw, untidy)


def _pytest_reruns_failed(results: pl.DataFrame) -> pl.DataFrame:
    """pytest's JUnit writer lists each pytest-rerunfailures rerun as a testcase but drops the
    failure that caused it, so an earlier attempt looks passed. pytest node ids are unique in a
    session and only failures are rerun: every attempt but the last of a repeated test failed."""
    if not (results.get_column("attempt") > 0).any():  # no test repeats: nothing to correct
        return results
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
        schema={"row": pl.UInt64, "order": pl.Int32, "status": pl.String, "message": pl.String},
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
