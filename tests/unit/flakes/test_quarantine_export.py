"""`testintel quarantine export` against a real DuckDB warehouse file."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml

from testintel_assets import schemas
from testintel_assets.cli import main
from testintel_assets.pytest_plugin import load_quarantine
from testintel_assets.settings import REPO_ROOT

ROWS = [
    {
        "day": date(2025, 3, 9),
        "test_id": "old",
        "state": "quarantined",
        "reason": "r",
        "since": date(2025, 3, 1),
    },
    {
        "day": date(2025, 3, 10),
        "test_id": "tests.cart.test_cart::test_add",
        "state": "quarantined",
        "reason": "failed and passed on 2 sha(s)",
        "owner": "commerce",
        "since": date(2025, 3, 8),
        "expires": date(2025, 3, 23),
    },
    {
        "day": date(2025, 3, 10),
        "test_id": "gone::test",
        "state": "orphaned",
        "reason": "orphaned",
        "owner": "platform",
        "since": date(2025, 2, 1),
        "expires": date(2025, 2, 20),
    },
    {"day": date(2025, 3, 10), "test_id": "left::test", "state": "released", "reason": "30 passes"},
]


@pytest.fixture
def warehouse(testintel_home: Path) -> Path:
    path = testintel_home / "warehouse.duckdb"
    frame = schemas.conform(pl.DataFrame(ROWS), schemas.QUARANTINE)
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema testintel")
        connection.register("frame", frame)
        connection.execute("create table testintel.quarantine as select * from frame")
    return path


def test_json_export_has_the_documented_shape(warehouse: Path, tmp_path: Path) -> None:
    out = tmp_path / "ci" / "quarantine.json"
    assert main(["quarantine", "export", "--format", "json", "--output", str(out)]) == 0
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["testintel_quarantine"] == 1 and document["generated_at"].endswith("Z")
    assert document["tests"] == [
        {
            "test_id": "gone::test",
            "reason": "orphaned",
            "owner": "platform",
            "since": "2025-02-01",
            "expires": "2025-02-20",
        },
        {
            "test_id": "tests.cart.test_cart::test_add",
            "reason": "failed and passed on 2 sha(s)",
            "owner": "commerce",
            "since": "2025-03-08",
            "expires": "2025-03-23",
        },
    ]


def test_yaml_export_of_an_older_day_to_stdout(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["quarantine", "export", "--format", "yaml", "--day", "2025-03-09"]) == 0
    document = yaml.safe_load(capsys.readouterr().out)
    assert [t["test_id"] for t in document["tests"]] == ["old"]
    assert list(document) == ["testintel_quarantine", "generated_at", "tests"]


def test_overrides_in_config_apply_at_export(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config"
    shutil.copytree(REPO_ROOT / "config", config)
    (config / "quarantine.yaml").write_text(
        "overrides:\n"
        "  - {test_id: gone::test, action: release, reason: deleted, by: ops, expires: 2025-12-31}\n"
        "  - {test_id: new::test, action: pin, reason: vendor, by: eva, expires: 2025-04-01, added: 2025-03-05}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("TESTINTEL_CONFIG", str(config))
    assert main(["quarantine", "export", "--day", "2025-03-10"]) == 0
    tests = {t["test_id"]: t for t in json.loads(capsys.readouterr().out)["tests"]}
    assert set(tests) == {"new::test", "tests.cart.test_cart::test_add"}
    assert tests["new::test"] == {
        "test_id": "new::test",
        "reason": "pinned by eva: vendor",
        "owner": "eva",
        "since": "2025-03-05",
        "expires": "2025-04-01",
    }


def test_missing_warehouse_is_a_clear_error(testintel_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["quarantine", "export"]) == 2
    assert "no warehouse" in capsys.readouterr().err


def test_missing_table_is_a_clear_error(testintel_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    duckdb.connect(str(testintel_home / "warehouse.duckdb")).close()
    assert main(["quarantine", "export"]) == 2
    assert "no table testintel.quarantine" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_the_pytest_plugin_reads_the_exported_file(warehouse: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"quarantine.{fmt}"
    assert main(["quarantine", "export", "--format", fmt, "--output", str(out)]) == 0
    quarantine = load_quarantine(out, date(2025, 3, 10))
    assert set(quarantine.entries) == {"tests.cart.test_cart::test_add"}
    assert set(quarantine.expired) == {"gone::test"}  # expired 2025-02-20: its failures count again
