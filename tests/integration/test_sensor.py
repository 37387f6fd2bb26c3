"""The CI-artifact sensor: a run with run.json -> one run request for its day, keyed by run id,
with a high-water-mark cursor and a bounded number of runs per tick."""

import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from resources.landing import LandingResource
from testintel_assets.defs import sensors
from testintel_assets.defs.sensors import ci_artifacts_sensor


def _land(landing: Path, day: str, run_id: str, complete: bool = True, arrived: float | None = None) -> None:
    folder = landing / "ci" / day / run_id
    folder.mkdir(parents=True)
    (folder / "junit.xml").write_text("<testsuites/>")
    if complete:
        run_file = folder / "run.json"
        run_file.write_text(json.dumps({"run_id": run_id}))
        if arrived is not None:
            os.utime(run_file, (arrived, arrived))


@pytest.fixture(scope="module")
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def _tick(landing: Path, cursor: str | None, instance: dg.DagsterInstance) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"landing": LandingResource(root=str(landing))}
    )
    return ci_artifacts_sensor(context)


def test_one_request_per_complete_run_and_cursor_advances(tmp_path: Path, instance) -> None:
    landing = tmp_path / "landing"
    _land(landing, "2026-11-01", "r1")
    _land(landing, "2026-11-02", "r2")
    _land(landing, "2026-11-02", "uploading", complete=False)

    first = _tick(landing, None, instance)
    assert sorted((r.partition_key, r.run_key) for r in first.run_requests) == [
        ("2026-11-01", "ci:2026-11-01/r1"),
        ("2026-11-02", "ci:2026-11-02/r2"),
    ]
    assert len(first.cursor) < 200  # a high-water mark, not a list of every run

    second = _tick(landing, first.cursor, instance)
    assert not second.run_requests

    (landing / "ci" / "2026-11-02" / "uploading" / "run.json").write_text("{}")  # the upload finished
    third = _tick(landing, second.cursor, instance)
    assert [r.run_key for r in third.run_requests] == ["ci:2026-11-02/uploading"]


def test_today_works_and_days_outside_the_partitions_are_skipped_not_crashed(
    tmp_path: Path, instance
) -> None:
    landing = tmp_path / "landing"
    today = datetime.now(UTC).date().isoformat()
    _land(landing, today, "today-run")
    _land(landing, "1999-01-01", "ancient")
    _land(landing, "not-a-day", "junk")
    result = _tick(landing, None, instance)
    assert [r.partition_key for r in result.run_requests] == [today]
    # the skipped runs are behind the cursor: they are reported once, not retried every tick
    assert not _tick(landing, result.cursor, instance).run_requests


def test_a_tick_takes_a_bounded_number_of_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instance
) -> None:
    monkeypatch.setattr(sensors, "MAX_RUNS_PER_TICK", 3)
    landing = tmp_path / "landing"
    base = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    for index in range(7):
        _land(
            landing,
            (date(2026, 11, 1) + timedelta(days=index % 2)).isoformat(),
            f"r{index}",
            arrived=base + index,
        )
    cursor, seen = None, []
    for _ in range(3):
        result = _tick(landing, cursor, instance)
        assert len(result.run_requests) <= 3
        seen += [r.run_key for r in result.run_requests]
        cursor = result.cursor
    assert len(seen) == len(set(seen)) == 7


def test_runs_read_by_a_later_materialisation_are_not_requested_again(tmp_path: Path, instance) -> None:
    landing = tmp_path / "landing"
    old = datetime(2026, 11, 3, tzinfo=UTC).timestamp()
    _land(landing, "2026-11-03", "read-by-backfill", arrived=old)
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="ci_runs", partition="2026-11-03"))
    _land(landing, "2026-11-03", "landed-after")  # arrives now, after the materialisation
    result = _tick(landing, None, instance)
    assert [r.run_key for r in result.run_requests] == ["ci:2026-11-03/landed-after"]
