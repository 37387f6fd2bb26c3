"""The plugin export reader and the metadata precedence rule."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from testintel_assets.parsers import ArtifactRejected
from testintel_assets.parsers.testmeta import read_testmeta, resolve_meta
from testintel_assets.schemas import ARTIFACT_META, conform

EXPORT = {
    "testintel_export": 1,
    "generated_at": "2026-11-24T10:00:00Z",
    "rootdir": "/ci/workspace",
    "tests": [
        {
            "nodeid": "tests/test_cart.py::TestCart::test_add[2]",
            "test_id": "tests.test_cart.TestCart::test_add[2]",
            "tags": {"flow": "cart", "risk": "high", "owner": "commerce", "mixpanel": "Cart Updated"},
            "attempts": [
                {"attempt": 0, "status": "failed", "duration_ms": 12.5, "message": "AssertionError: ..."},
                {"attempt": 1, "status": "passed", "duration_ms": 10.1, "message": None},
            ],
        },
        {"nodeid": "tests/test_x.py::test_y", "tags": {}, "attempts": [{"attempt": 0, "status": "skipped"}]},
    ],
}


def test_every_attempt_and_the_tags_are_read(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(EXPORT))
    parsed = read_testmeta(path)
    assert parsed.results.select("test_id", "status", "attempt", "duration_ms").rows() == [
        ("tests.test_cart.TestCart::test_add[2]", "failed", 0, 12.5),
        ("tests.test_cart.TestCart::test_add[2]", "passed", 1, 10.1),
        ("tests.test_x::test_y", "skipped", 0, None),
    ]
    meta = parsed.meta.row(0, named=True)
    assert (meta["flow"], meta["risk"], meta["owner"], meta["event"], meta["source"]) == (
        "cart",
        "high",
        "commerce",
        "Cart Updated",
        "pytest-plugin",
    )
    assert parsed.meta.height == 1


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"testintel_export": 2, "tests": []}, "unsupported testintel export version"),
        ({"tests": []}, "missing key"),
        (
            {"testintel_export": 1, "tests": [{"nodeid": "a.py::b", "attempts": [{"status": "ok"}]}]},
            "needs a status",
        ),
    ],
)
def test_bad_exports_are_rejected(tmp_path: Path, document: dict, reason: str) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ArtifactRejected, match=reason):
        read_testmeta(path)


def test_precedence_takes_each_column_from_the_most_authoritative_source() -> None:
    rows = [
        {
            "test_id": "t",
            "flow": "checkout-title",
            "risk": "low",
            "component": "cart-ui",
            "source": "title-tag",
        },
        {"test_id": "t", "flow": "checkout", "owner": None, "source": "pytest-plugin"},
        {"test_id": "t", "risk": "high", "source": "junit-property"},
    ]
    merged = resolve_meta(conform(pl.DataFrame(rows), ARTIFACT_META)).row(0, named=True)
    assert (merged["flow"], merged["risk"], merged["component"]) == ("checkout", "high", "cart-ui")
    assert merged["source"] == "pytest-plugin+junit-property+title-tag"
