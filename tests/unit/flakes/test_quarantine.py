"""Quarantine lifecycle: enter, SLA and escalation, exits, orphans, overrides, owners."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from testintel_assets import schemas
from testintel_assets.configuration import (
    ConfigError,
    QuarantineFile,
    QuarantineOverride,
    load_catalog,
    load_quarantine_overrides,
)
from testintel_assets.scoring.flakes import flake_stats_for_days
from testintel_assets.scoring.quarantine import next_quarantine, quarantine_for_days
from testintel_assets.scoring.simulate import CiHistory, simulate

CATALOG = load_catalog()
DAY = date(2025, 3, 10)
NONE = QuarantineFile()


def stats(day: date, **tests: dict) -> pl.DataFrame:
    """flake_stats rows: test_id -> overrides of a flaky row that failed yesterday."""
    rows = [
        {
            "day": day,
            "test_id": test_id,
            "flake_class": "flaky",
            "flake_reason": "failed and passed on 1 sha(s)",
            "trailing_passes": 3,
            "last_failure_day": day - timedelta(days=1),
            "flake_score": 0.7,
        }
        | values
        for test_id, values in tests.items()
    ]
    return (
        schemas.conform(pl.DataFrame(rows), schemas.FLAKE_STATS)
        if rows
        else schemas.empty(schemas.FLAKE_STATS)
    )


def meta(**tests: dict) -> pl.DataFrame:
    rows = [{"day": DAY - timedelta(days=30), "test_id": t} | v for t, v in tests.items()]
    return schemas.conform(pl.DataFrame(rows), schemas.TEST_META)


META = meta(
    checkout={"flow": "checkout", "owner": "commerce"},
    profile={"flow": "profile", "owner": "li.wei@shop.example"},
    risky={"flow": "profile", "risk": "critical"},
    orphan={"flow": "search"},
    nobody={},
)


def step(previous: pl.DataFrame, day: date, today: pl.DataFrame, overrides: QuarantineFile = NONE) -> dict:
    frame = next_quarantine(previous, today, META, CATALOG, day, overrides)
    return frame, {row["test_id"]: row for row in frame.to_dicts()}


def test_flaky_test_enters_with_owner_sla_and_escalation_after_breach() -> None:
    day0, rows = step(schemas.empty(schemas.QUARANTINE), DAY, stats(DAY, checkout={}, profile={}))
    entry = rows["checkout"]
    assert (entry["state"], entry["since"], entry["owner"], entry["critical"]) == (
        "quarantined",
        DAY,
        "commerce",
        True,
    )
    assert entry["sla_hours"] == 48 and entry["due"] == datetime(2025, 3, 12, tzinfo=UTC)
    assert not entry["breached"] and entry["escalate_to"] is None
    assert entry["channel"] == "#team-commerce" and entry["reason"] == "failed and passed on 1 sha(s)"
    assert (
        rows["profile"]["owner"] == "identity" and rows["profile"]["sla_hours"] == 168
    )  # a member's address
    day1, rows = step(day0, DAY + timedelta(days=1), stats(DAY + timedelta(days=1), checkout={}, profile={}))
    assert not rows["checkout"]["breached"] and rows["checkout"]["since"] == DAY
    _, rows = step(day1, DAY + timedelta(days=2), stats(DAY + timedelta(days=2), checkout={}, profile={}))
    assert rows["checkout"]["breached"] and rows["checkout"]["escalate_to"] == "sofia.lindqvist@shop.example"
    assert not rows["profile"]["breached"]


def test_critical_risk_gets_the_short_sla_and_unknown_owner_falls_back() -> None:
    _, rows = step(schemas.empty(schemas.QUARANTINE), DAY, stats(DAY, risky={}, nobody={}, stranger={}))
    assert rows["risky"]["critical"] and rows["risky"]["sla_hours"] == 48
    assert rows["nobody"]["owner"] == CATALOG.owners.default_owner
    assert rows["stranger"]["owner"] == CATALOG.owners.default_owner and rows["stranger"]["sla_hours"] == 168


@pytest.mark.parametrize(
    ("entered", "today", "reason"),
    [
        (1, {"flake_class": "healthy", "trailing_passes": 30}, "30 consecutive passing runs"),
        (15, {"flake_class": "healthy", "trailing_passes": 5, "last_failure_day": None}, "no failure since"),
    ],
)
def test_leaves_after_passes_or_a_quiet_period_then_is_gone(entered: int, today: dict, reason: str) -> None:
    start = DAY - timedelta(days=entered)
    day0, _ = step(schemas.empty(schemas.QUARANTINE), start, stats(start, checkout={}))
    day1, rows = step(day0, DAY, stats(DAY, checkout=today))
    assert rows["checkout"]["state"] == "released" and reason in rows["checkout"]["reason"]
    _, rows = step(day1, DAY + timedelta(days=1), stats(DAY + timedelta(days=1), checkout=today))
    assert rows == {}


def test_recovered_flaky_test_does_not_re_enter() -> None:
    _, rows = step(schemas.empty(schemas.QUARANTINE), DAY, stats(DAY, checkout={"trailing_passes": 40}))
    assert rows == {}


def test_test_that_stops_running_is_orphaned_not_dropped() -> None:
    day0, _ = step(schemas.empty(schemas.QUARANTINE), DAY, stats(DAY, orphan={}))
    later = day0
    for offset in range(1, 20):
        later, rows = step(later, DAY + timedelta(days=offset), stats(DAY + timedelta(days=offset)))
    assert rows["orphan"]["state"] == "orphaned" and rows["orphan"]["since"] == DAY
    assert rows["orphan"]["breached"] and rows["orphan"]["escalate_to"] == "daniel.reyes@shop.example"


def test_overrides_pin_and_release_win_until_they_expire() -> None:
    overrides = QuarantineFile(
        overrides=[
            QuarantineOverride(
                test_id="profile", action="pin", reason="vendor sandbox", by="eva", expires=DAY
            ),
            QuarantineOverride(
                test_id="checkout",
                action="release",
                reason="fix merged",
                by="tom",
                expires=DAY + timedelta(days=1),
            ),
        ]
    )
    day0, rows = step(
        schemas.empty(schemas.QUARANTINE),
        DAY - timedelta(days=1),
        stats(DAY - timedelta(days=1), checkout={}),
    )
    day1, rows = step(day0, DAY, stats(DAY, checkout={}, profile={"flake_class": "healthy"}), overrides)
    assert rows["checkout"]["state"] == "released" and rows["checkout"]["set_by"] == "tom"
    assert rows["profile"]["state"] == "pinned" and rows["profile"]["expires"] == DAY
    assert rows["profile"]["sla_hours"] is None and not rows["profile"]["breached"]
    day2, rows = step(day1, DAY + timedelta(days=1), stats(DAY + timedelta(days=1), checkout={}), overrides)
    assert "checkout" not in rows  # released and kept out while the release holds
    assert rows["profile"]["state"] == "orphaned"  # the pin expired: the detector's rules again
    _, rows = step(day2, DAY + timedelta(days=2), stats(DAY + timedelta(days=2), checkout={}), overrides)
    assert rows["checkout"]["state"] == "quarantined" and rows["checkout"]["since"] == DAY + timedelta(days=2)


def test_quarantine_follows_the_detector_over_a_simulated_history() -> None:
    spec = CiHistory(tests=300, days=24, runs_per_day=8, seed=9)
    sim = simulate(spec)
    days = [spec.start + timedelta(days=offset) for offset in range(spec.days)]
    flake_stats = flake_stats_for_days(sim.results, sim.meta, days, CATALOG.scoring.flakes)
    history = quarantine_for_days(flake_stats, sim.meta, CATALOG, days, NONE)
    last = history.filter(pl.col("day") == days[-1])
    flaky_now = flake_stats.filter((pl.col("day") == days[-1]) & (pl.col("flake_class") == "flaky"))
    assert set(flaky_now["test_id"]) <= set(last.filter(pl.col("state") == "quarantined")["test_id"])
    broken = sim.truth.filter(pl.col("kind") == "broken")["test_id"]
    assert not history.filter(pl.col("test_id").is_in(broken.implode())).height
    assert history.group_by("day", "test_id").len()["len"].max() == 1
    assert (history["owner"].is_not_null()).all() and history.schema == schemas.QUARANTINE


def test_override_file_is_validated_with_file_key_and_fix(tmp_path: Path) -> None:
    (tmp_path / "quarantine.yaml").write_text(
        "overrides:\n  - {test_id: a, action: mute, reason: r, by: me, expires: 2025-01-01}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as error:
        load_quarantine_overrides(tmp_path)
    assert "quarantine.yaml" in str(error.value) and "overrides[0].action" in str(error.value)
    assert "fix:" in str(error.value)
    (tmp_path / "quarantine.yaml").write_text(
        "overrides:\n  - {test_id: a, action: pin, reason: r, by: me}\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"overrides\[0\]\.expires"):
        load_quarantine_overrides(tmp_path)
    assert load_quarantine_overrides(tmp_path / "missing") == QuarantineFile()
    assert load_quarantine_overrides() == QuarantineFile()  # the repository's file
