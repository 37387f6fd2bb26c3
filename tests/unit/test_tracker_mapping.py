"""Defects -> flows and components through the catalogue; pulls on disk -> the day's snapshot."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from testintel_assets import schemas
from testintel_assets.configuration import load_catalog, normalise_label, severity_key
from testintel_assets.parsers import ArtifactRejected
from testintel_assets.parsers.jira import JiraFields, jira_defects, parse_jira_response
from testintel_assets.parsers.tracker import (
    TRACKER_ISSUES,
    UNMAPPED,
    PullManifest,
    _normalised,
    latest_complete_pull,
    manifest_name,
    map_to_catalog,
    page_name,
)

DAY = date(2025, 3, 10)


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _issues(*rows: dict[str, object]) -> pl.DataFrame:
    defaults = {
        "title": "t",
        "severity_name": None,
        "status": "Open",
        "status_category": "open",
        "created_at": datetime(2025, 3, 1, tzinfo=UTC),
        "resolved_at": None,
        "labels": [],
        "components": [],
        "flow_values": [],
        "url": None,
        "source": "jira",
    }
    return pl.DataFrame([{**defaults, **row} for row in rows], schema=TRACKER_ISSUES)


def test_flow_precedence_field_then_labels_then_components_then_sole_owner(catalog) -> None:
    mapped = map_to_catalog(
        _issues(
            # the flow field wins over a label and a component naming other flows
            {"key": "K-1", "flow_values": ["Check-Out"], "labels": ["basket"], "components": ["Payments"]},
            # labels beat components; the first label that names a flow wins
            {
                "key": "K-2",
                "labels": ["customer-reported", "flow:search", "cart"],
                "components": ["Payments"],
            },
            # a component alias
            {"key": "K-3", "components": ["Back office"]},
            # a component no alias names but exactly one flow lists in flows.yaml (catalog: product_view)
            {"key": "K-4", "components": ["Mobile", "Catalog"]},
            # auth is listed by both login and password_reset, but "auth" is also login's alias
            {"key": "K-7", "components": ["Auth"]},
            # accounts is listed by signup and profile and is no alias: it names no single flow
            {"key": "K-8", "components": ["Accounts"]},
            # a shared component (web-ui) names no single flow: unmapped, kept
            {"key": "K-5", "components": ["web-ui"], "labels": ["customer-reported"]},
            {"key": "K-6"},
        ),
        catalog,
        DAY,
    )
    flows = dict(zip(mapped["key"], mapped["flow"], strict=True))
    assert flows == {
        "K-1": "checkout",
        "K-2": "search",
        "K-3": "admin_reports",
        "K-4": "product_view",
        "K-5": UNMAPPED,
        "K-6": UNMAPPED,
        "K-7": "login",
        "K-8": UNMAPPED,
    }
    assert mapped.height == 8  # unmapped defects are kept, never dropped
    assert mapped.filter(pl.col("flow") == UNMAPPED).height == 3
    assert mapped.schema == schemas.DEFECTS
    assert mapped["day"].unique().to_list() == [DAY]


def test_component_is_the_catalogue_name_else_the_trackers_first(catalog) -> None:
    mapped = map_to_catalog(
        _issues(
            {"key": "K-1", "components": ["Checkout Service", "Payments"]},
            {"key": "K-2", "labels": ["component:cart"]},
            {"key": "K-3", "components": ["Mobile App"]},
            {"key": "K-4"},
        ),
        catalog,
        DAY,
    )
    assert dict(zip(mapped["key"], mapped["component"], strict=True)) == {
        "K-1": "payments",
        "K-2": "cart",
        "K-3": "Mobile App",
        "K-4": UNMAPPED,
    }


def test_severity_through_the_configured_aliases(catalog) -> None:
    names = [
        "Highest",
        "Blocker",
        "Sev 1",
        "P2",
        "Major",
        "Normal",
        "Minor",
        "Lowest",
        "No priority",
        None,
        "Weird",
    ]
    mapped = map_to_catalog(
        _issues(*({"key": f"K-{i}", "severity_name": name} for i, name in enumerate(names))), catalog, DAY
    )
    assert mapped["severity"].to_list() == [
        "critical",
        "critical",
        "critical",
        "high",
        "high",
        "medium",
        "low",
        "low",
        "unknown",
        "unknown",
        "unknown",
    ]


@pytest.mark.parametrize(
    "label", ["Check-Out", "  check out ", "SHOPPING_cart", "a--b__c", "Ünïcode 1", "---"]
)
def test_vectorised_normalisation_equals_the_catalogues(label: str) -> None:
    vectorised = pl.select(_normalised(pl.lit(label))).item()
    assert vectorised == normalise_label(label)


def test_severity_key_ignores_case_and_punctuation() -> None:
    assert severity_key("SEV-1") == severity_key("sev 1") == "sev1"


def _write_pull(folder: Path, pull_id: str, pages: list[bytes], counted: int | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for number, content in enumerate(pages, start=1):
        names.append(page_name(pull_id, number))
        (folder / names[-1]).write_bytes(content)
    total = counted if counted is not None else sum(len(json.loads(p)["issues"]) for p in pages)
    manifest = PullManifest(pull_id=pull_id, source="jira", pages=names, issues=total)
    (folder / manifest_name(pull_id)).write_bytes(manifest.to_json())


def _page(*keys: str, status: str = "Open") -> bytes:
    issues = [
        {"key": key, "fields": {"status": {"name": status}, "created": "2025-03-01T10:00:00.000+0000"}}
        for key in keys
    ]
    return json.dumps({"issues": issues}).encode()


def _parse(content: bytes, where: str) -> pl.DataFrame:
    return parse_jira_response(content, where, JiraFields())


def test_latest_complete_pull_wins_and_unfinished_pulls_are_ignored(tmp_path: Path) -> None:
    folder = tmp_path / "jira" / DAY.isoformat()
    _write_pull(folder, "20250310T010000000000Z", [_page("A-1", "A-2"), _page("A-3")])
    _write_pull(folder, "20250310T020000000000Z", [_page("A-1", status="Done"), _page("A-2")])
    # a third pull that died after its first page: no manifest
    (folder / page_name("20250310T030000000000Z", 1)).write_bytes(_page("A-9"))

    manifest, issues = latest_complete_pull(folder, _parse)
    assert manifest is not None and manifest.pull_id == "20250310T020000000000Z"
    assert issues["key"].to_list() == ["A-1", "A-2"]
    assert issues["status"].to_list() == ["Done", "Open"]


def test_a_pull_whose_pages_disagree_with_its_manifest_is_rejected(tmp_path: Path) -> None:
    folder = tmp_path / "day"
    _write_pull(folder, "20250310T010000000000Z", [_page("A-1", "A-2")], counted=3)
    with pytest.raises(ArtifactRejected, match="pages hold 2 issues but the pull counted 3"):
        latest_complete_pull(folder, _parse)
    (folder / page_name("20250310T010000000000Z", 1)).unlink()
    with pytest.raises(ArtifactRejected, match="is missing"):
        latest_complete_pull(folder, _parse)


def test_folder_without_manifest_reads_dropped_files_as_one_snapshot(tmp_path: Path, catalog) -> None:
    folder = tmp_path / "jira" / DAY.isoformat()
    folder.mkdir(parents=True)
    (folder / "search-page-1.json").write_bytes(_page("A-1", "A-2"))
    (folder / "search-page-2.json").write_bytes(_page("A-3"))
    (folder / page_name("20250310T030000000000Z", 1)).write_bytes(_page("A-9"))  # unfinished pull
    defects = jira_defects(folder, DAY, catalog)
    assert sorted(defects["key"]) == ["A-1", "A-2", "A-3"]


def test_missing_day_folder_gives_an_empty_typed_frame(tmp_path: Path, catalog) -> None:
    defects = jira_defects(tmp_path / "nothing", DAY, catalog)
    assert defects.is_empty() and defects.schema == schemas.DEFECTS
