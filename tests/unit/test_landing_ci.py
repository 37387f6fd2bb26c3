"""The CI landing reader: every file is accounted for, bad input is rejected with a reason, and
the landing folder is never modified."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from testintel_assets import schemas
from testintel_assets.configuration import load_catalog
from testintel_assets.landing.ci import complete_run_folders, file_hash, read_ci_days, read_run_info
from testintel_assets.parsers import ArtifactRejected

DAY = date(2026, 11, 2)
RUN = {
    "run_id": "r1",
    "sha": "abc123",
    "branch": "main",
    "pipeline": "pre-merge",
    "blocking": True,
    "started_at": "2026-11-02T08:00:00Z",
    "finished_at": "2026-11-02T08:10:00Z",
}


def _run(landing: Path, run_id: str = "r1", info: dict | None = None) -> Path:
    folder = landing / "ci" / DAY.isoformat() / run_id
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps(info if info is not None else {**RUN, "run_id": run_id}))
    return folder


def _snapshot(root: Path) -> dict[str, str]:
    return {str(path): file_hash(path) for path in sorted(root.rglob("*")) if path.is_file()}


def test_run_json_is_validated_with_the_key_named(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"run_id": "x", "sha": "y"}))
    with pytest.raises(ArtifactRejected, match="missing required keys: pipeline, started_at"):
        read_run_info(path)
    path.write_text(json.dumps({**RUN, "started_at": "yesterday"}))
    with pytest.raises(ArtifactRejected, match="'started_at' is not an ISO-8601 timestamp"):
        read_run_info(path)
    path.write_bytes(b"\xff\xfe{")
    with pytest.raises(ArtifactRejected, match="not valid UTF-8 JSON"):
        read_run_info(path)
    path.write_text(json.dumps({**RUN, "changed_files": "shop/a.py"}))
    with pytest.raises(ArtifactRejected, match="'changed_files' must be a list"):
        read_run_info(path)


def test_a_run_counts_only_once_run_json_exists(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    _run(landing, "complete")
    (landing / "ci" / DAY.isoformat() / "uploading").mkdir()
    (landing / "ci" / DAY.isoformat() / "uploading" / "junit.xml").write_text("<testsuites/>")
    assert [path.name for path in complete_run_folders(landing, DAY)] == ["complete"]
    assert complete_run_folders(landing, date(2026, 11, 3)) == []


def test_bad_artifacts_are_rejected_with_reasons_and_nothing_is_modified(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    folder = _run(landing)
    (folder / "empty.xml").write_bytes(b"")
    (folder / "notes.txt").write_text("deploy went fine")
    outside = tmp_path / "secret.xml"
    outside.write_text("<testsuite/>")
    os.symlink(outside, folder / "escape.xml")
    (folder / ".partial-upload").write_text("half a file")
    before = _snapshot(tmp_path)

    frames = read_ci_days(landing, [DAY], load_catalog())

    after = _snapshot(tmp_path)
    assert before == after
    runs = frames["ci_runs"]
    assert runs.schema == schemas.CI_RUNS
    reasons = dict(zip(runs["artifact_path"].to_list(), runs["reason"].to_list(), strict=True))
    base = f"ci/{DAY}/r1"
    assert reasons[f"{base}/empty.xml"] == "empty file"
    assert reasons[f"{base}/notes.txt"].startswith("unknown format")
    assert reasons[f"{base}/escape.xml"].startswith("path escapes the landing folder")
    assert f"{base}/.partial-upload" not in reasons  # uploads in progress are not artifacts yet
    run_row = runs.filter(pl.col("kind") == "run").row(0, named=True)
    assert run_row["status"] == "ingested" and run_row["sha"] == "abc123" and run_row["blocking"] is True
    for table in ("test_results", "test_meta", "coverage_files"):
        assert frames[table].is_empty()
        assert frames[table].schema == schemas.TABLES[table]


def test_invalid_run_json_rejects_the_run_but_lists_every_file(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    folder = _run(landing, info={"run_id": "r1"})
    (folder / "junit.xml").write_text("<testsuites/>")
    runs = read_ci_days(landing, [DAY], load_catalog())["ci_runs"]
    assert runs.height == 2
    assert set(runs["status"]) == {"rejected"}
    junit = runs.filter(pl.col("artifact_path").str.ends_with("junit.xml"))["reason"][0]
    assert junit.startswith("run skipped: run.json: missing required keys")


def test_empty_day_gives_typed_empty_tables(tmp_path: Path) -> None:
    frames = read_ci_days(tmp_path / "landing", [DAY], load_catalog())
    for table, frame in frames.items():
        assert frame.is_empty()
        assert frame.schema == schemas.TABLES[table]


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<testsuite name="bomb"><testcase classname="a" name="&lol3;"/></testsuite>"""


def test_a_run_mixing_real_reports_and_hostile_files_ingests_the_good_ones(
    tmp_path: Path, real_fixtures: Path
) -> None:
    landing = tmp_path / "landing"
    folder = _run(landing)
    good_junit = real_fixtures / "junit/pytest/publish-unit-test-result-action--junit.fail.xml"
    good_coverage = real_fixtures / "coverage/cobertura/coveragepy--y_xml_branch-coverage.xml"
    (folder / "junit-1.xml").write_bytes(good_junit.read_bytes())
    (folder / "junit-2.xml").write_bytes(good_junit.read_bytes())  # the same bytes landing twice
    (folder / "coverage.xml").write_bytes(good_coverage.read_bytes())
    (folder / "corrupt.xml").write_bytes(
        (real_fixtures / "junit/edge-cases/publish-unit-test-result-action--corrupt-xml.xml").read_bytes()
    )
    (folder / "bomb.xml").write_bytes(BOMB)
    (folder / "latin1.xml").write_bytes(
        '<testsuite name="caf\xe9"><testcase name="x"/></testsuite>'.encode("latin-1")
    )
    with (folder / "huge.xml").open("wb") as handle:  # 200 MB, sparse: refused before it is read
        handle.write(b"<testsuites>")
        handle.truncate(200 << 20)
    before = _snapshot(tmp_path)

    frames = read_ci_days(landing, [DAY], load_catalog())

    assert _snapshot(tmp_path) == before
    runs = frames["ci_runs"].with_columns(pl.col("artifact_path").str.split("/").list.last().alias("name"))
    status = dict(zip(runs["name"], runs["status"], strict=True))
    reason = dict(zip(runs["name"], runs["reason"], strict=True))
    assert status["junit-1.xml"] == status["coverage.xml"] == status["run.json"] == "ingested"
    assert status["junit-2.xml"] == "rejected"
    assert reason["junit-2.xml"] == f"duplicate of ci/{DAY}/r1/junit-1.xml (same bytes)"
    assert reason["corrupt.xml"].startswith("truncated XML")
    assert "entity expansion" in reason["bomb.xml"]
    assert reason["latin1.xml"].startswith("not UTF-8: invalid byte 0xe9")
    assert "larger than the" in reason["huge.xml"]
    for name in ("corrupt.xml", "bomb.xml", "latin1.xml", "huge.xml"):
        assert status[name] == "rejected", name
    results = frames["test_results"]
    assert results["artifact_hash"].n_unique() == 1
    assert results.height > 0 and set(results["sha"]) == {"abc123"}
    coverage = frames["coverage_files"]
    assert coverage.height > 0 and coverage["lines_valid"].sum() > 0


def test_an_artifact_ingested_on_an_earlier_day_counts_once(tmp_path: Path, real_fixtures: Path) -> None:
    landing = tmp_path / "landing"
    folder = _run(landing)
    report = real_fixtures / "junit/pytest/test-reporter--python-xunit-pytest.xml"
    (folder / "junit.xml").write_bytes(report.read_bytes())
    known = {file_hash(report): "ci/2026-11-01/r0/junit.xml"}
    runs = read_ci_days(landing, [DAY], load_catalog(), known_hashes=known)["ci_runs"]
    junit = runs.filter(pl.col("artifact_path").str.ends_with("junit.xml")).row(0, named=True)
    assert junit["status"] == "rejected"
    assert junit["reason"] == "duplicate of ci/2026-11-01/r0/junit.xml (same bytes)"
