"""Jira search responses as Jira writes them: the real fixtures, field shapes, and bad input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest

from testintel_assets.parsers import ArtifactRejected
from testintel_assets.parsers.jira import JiraFields, parse_jira_response, texts
from testintel_assets.parsers.tracker import DONE, OPEN, TRACKER_ISSUES

JIRA_FIXTURES = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "real" / "jira").glob("*.json"))


def _issues_in(document: dict) -> list[dict]:
    """Independent count: what the file itself holds, read with nothing but json."""
    return document.get("issues", [document])


def test_every_real_jira_fixture_is_exercised() -> None:
    assert len(JIRA_FIXTURES) == 6


@pytest.mark.parametrize("path", JIRA_FIXTURES, ids=lambda p: p.name)
def test_real_fixture_parses_with_every_issue_accounted_for(path: Path) -> None:
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    frame = parse_jira_response(path.read_bytes(), str(path))
    document = json.loads(path.read_text())
    expected = _issues_in(document)

    assert frame.schema == TRACKER_ISSUES
    assert frame["key"].to_list() == [issue["key"] for issue in expected]
    assert frame["status"].to_list() == [issue["fields"]["status"]["name"] for issue in expected]
    assert frame["created_at"].null_count() == 0
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before  # input never modified


def test_status_category_from_jira_categories_and_from_resolution() -> None:
    sprint = parse_jira_response((JIRA_FIXTURES[0]).read_bytes())  # go-jira: statusCategory.key "new"
    assert sprint.row(0, named=True)["status_category"] == OPEN
    # jira-cli's trimmed issues carry no statusCategory: resolution decides.
    search = parse_jira_response(
        next(p for p in JIRA_FIXTURES if p.name == "jira-cli--search.json").read_bytes()
    )
    assert dict(zip(search["key"], search["status_category"], strict=True)) == {
        "TEST-1": OPEN,
        "TEST-2": OPEN,
        "TEST-3": DONE,
    }


def test_go_jira_fields_timezones_and_browse_url_from_self() -> None:
    row = parse_jira_response(JIRA_FIXTURES[0].read_bytes()).row(0, named=True)
    assert row["severity_name"] == "Major"
    # 2015-12-07T14:19:13.000-0800 is 22:19:13 UTC.
    assert row["resolved_at"].isoformat() == "2015-12-07T22:19:13+00:00"
    assert row["url"] == "https://example.atlassian.net/browse/AR-86"


def _issue(key: str = "SHOP-1", **fields: object) -> dict[str, object]:
    base = {"summary": "s", "status": {"name": "Open"}, "created": "2025-03-01T10:00:00.000+0000"}
    return {"key": key, "fields": {**base, **fields}}


def _page(*issues: dict[str, object]) -> bytes:
    return json.dumps({"issues": list(issues), "isLast": True}).encode()


def test_configured_severity_and_flow_fields_in_every_custom_field_shape() -> None:
    fields = JiraFields(
        severity_field="customfield_10050", flow_field="customfield_10042", base_url="https://j/"
    )
    frame = parse_jira_response(
        _page(
            _issue(
                "A-1",
                customfield_10050={"value": "Sev 1", "id": "1"},
                customfield_10042={"value": "Checkout"},
            ),
            _issue("A-2", customfield_10042=[{"value": "cart"}, {"value": "payment"}]),
            _issue("A-3", customfield_10042="login", components=[{"name": "Auth"}], labels=["x"]),
            _issue("A-4", customfield_10042=None),
        ),
        fields=fields,
    )
    rows = {row["key"]: row for row in frame.iter_rows(named=True)}
    assert rows["A-1"]["severity_name"] == "Sev 1"
    assert rows["A-1"]["flow_values"] == ["Checkout"]
    assert rows["A-2"]["flow_values"] == ["cart", "payment"]
    assert rows["A-3"]["flow_values"] == ["login"]
    assert rows["A-3"]["components"] == ["Auth"]
    assert rows["A-4"]["flow_values"] == []
    assert rows["A-2"]["severity_name"] is None
    assert rows["A-1"]["url"] == "https://j/browse/A-1"


def test_requested_fields_name_the_configured_ones_once() -> None:
    requested = JiraFields(severity_field="priority", flow_field="customfield_1").requested()
    assert requested.count("priority") == 1
    assert "customfield_1" in requested
    assert {"created", "resolutiondate", "status", "components", "labels"} <= set(requested)


def test_texts_reads_option_object_and_list_shapes() -> None:
    assert texts({"value": "A", "child": {"value": "B"}}) == ["A"]
    assert texts([{"name": "X"}, "y", 3]) == ["X", "y", "3"]
    assert texts(None) == []
    assert texts("  ") == []
    assert texts({"id": 1}) == []


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty response"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b'{"issues": [', "not valid JSON"),
        (b"[1, 2]", "top level is list"),
        (
            b'{"errorMessages": ["The value \'X\' does not exist for the field \'project\'."], "errors": {}}',
            "error",
        ),
        (b'{"startAt": 0}', "not a Jira search response"),
        (b'{"issues": [{"fields": {}}]}', "has no key"),
        (b'{"issues": [{"key": "A-1", "id": "1"}]}', "has no fields"),
        (_page(_issue(created="yesterday")), "not an ISO 8601 timestamp"),
    ],
)
def test_bad_input_is_rejected_with_a_reason(content: bytes, reason: str) -> None:
    with pytest.raises(ArtifactRejected, match=reason):
        parse_jira_response(content, "page.json")


def test_empty_result_keeps_the_schema() -> None:
    frame = parse_jira_response(b'{"isLast": true, "nextPageToken": "", "issues": []}')
    assert frame.is_empty() and frame.schema == TRACKER_ISSUES
    assert frame.select(pl.len()).item() == 0
