"""flake_stats: exact signals against a literal reference, hand-built cases, classes, accuracy."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from testintel_assets import schemas
from testintel_assets.configuration import Flakes
from testintel_assets.scoring.flakes import _HashIndex, _pairs_with_both, flake_stats, flake_stats_for_days
from testintel_assets.scoring.simulate import FLAKY_KINDS, CiHistory, Population, simulate
from tests.unit.flakes import reference
from tests.unit.flakes.builders import START, frame, meta, run_rows, sequence

PARAMS = Flakes()
NO_META = meta({})


def stats_on(rows: list[dict], day_offset: int, params: Flakes = PARAMS) -> dict[str, dict]:
    out = flake_stats(frame(rows), NO_META, START + timedelta(days=day_offset), params)
    return {row["test_id"]: row for row in out.to_dicts()}


@pytest.fixture(scope="module")
def history() -> CiHistory:
    return CiHistory(tests=160, days=20, runs_per_day=6, outage_rate=0.06, seed=3)


@pytest.fixture(scope="module")
def simulated(history: CiHistory):
    return simulate(history)


def test_every_signal_equals_the_literal_reference(history, simulated) -> None:
    days = [history.start + timedelta(days=offset) for offset in (0, 5, 13, 19)]
    fast = flake_stats_for_days(simulated.results, simulated.meta, days, PARAMS)
    assert fast["day"].n_unique() == len(days)
    for day in days:
        expected = reference.signals(simulated.results, day, PARAMS)
        got = fast.filter(pl.col("day") == day).select(expected.columns)
        joined = expected.join(got, on=["test_id", "day"], how="full", suffix="_fast", nulls_equal=True)
        assert joined.height == expected.height == got.height
        for column in expected.columns:
            if column in ("test_id", "day"):
                continue
            left, right = joined[column], joined[f"{column}_fast"]
            if left.dtype == pl.Float64:
                assert ((left - right).abs() < 1e-9).all(), column
            else:
                assert left.equals(right, check_names=False), column


def test_outages_are_detected_and_left_out(history, simulated) -> None:
    day = history.start + timedelta(days=history.days - 1)
    stats = flake_stats(simulated.results, simulated.meta, day, PARAMS)
    assert stats["infra_failures_excluded"].sum() > 0
    assert (
        stats["infra_failures_excluded"].sum()
        == reference.signals(simulated.results, day, PARAMS)["infra_failures_excluded"].sum()
    )


def test_lazy_input_and_integer_ids_give_the_same_stats(simulated, history) -> None:
    day = history.start + timedelta(days=10)
    eager = flake_stats(simulated.results, simulated.meta, day, PARAMS)
    lazy = flake_stats(simulated.results.lazy(), simulated.meta, day, PARAMS)
    assert lazy.equals(eager)
    codes = simulated.results.select(pl.col("test_id").unique().sort()).with_row_index("code")
    as_ints = simulated.results.join(codes, on="test_id").with_columns(
        pl.col("code").cast(pl.Int32).alias("test_id"), pl.col("run_id").cast(pl.Int64)
    )
    integer = flake_stats(as_ints.drop("code"), NO_META, day, PARAMS)
    renamed = eager.join(codes, on="test_id").with_columns(pl.col("code").cast(pl.String).alias("test_id"))
    assert_frame_equal(integer.drop("flow"), renamed.sort("test_id").drop("flow", "code"), check_exact=False)


def test_flips_streaks_and_rates_of_an_alternating_test() -> None:
    row = stats_on(sequence("t", "P F P F P P"), 5)["t"]
    assert (row["runs"], row["failures"], row["flips"], row["fail_streaks"]) == (6, 2, 4, 2)
    assert row["flip_rate"] == pytest.approx(4 / 5)
    assert row["same_sha_flips"] == 0 and row["failing_shas"] == 2
    assert row["trailing_passes"] == 2 and row["last_failure_day"] == START + timedelta(days=3)
    assert row["flake_class"] == "flaky" and "of its last 6 runs" in row["flake_reason"]


def test_wilson_interval_matches_the_textbook_value() -> None:
    row = stats_on(sequence("t", "F P F P F P F P F P"), 9)["t"]
    assert row["fail_rate"] == 0.5
    assert row["wilson_low"] == pytest.approx(0.2366, abs=1e-4)
    assert row["wilson_high"] == pytest.approx(0.7634, abs=1e-4)
    assert row["entropy"] == pytest.approx(1.0)


def test_pass_on_rerun_is_same_sha_and_same_run_evidence() -> None:
    row = stats_on(sequence("t", "P FP P P"), 3)["t"]
    assert (row["runs"], row["ci_runs"], row["failures"]) == (5, 4, 1)
    assert row["same_sha_flips"] == 1 and row["rerun_flips"] == 1
    assert row["flake_class"] == "flaky" and "passed on 1 sha" in row["flake_reason"]


def test_same_sha_evidence_across_runs_and_days() -> None:
    # Run 0 fails on sha A; run 2, a day later... run 4 re-runs sha A and passes.
    rows = sequence("t", "F P P P P", sha_of=lambda i: "A" if i in (0, 4) else f"s{i}")
    row = stats_on(rows, 4)["t"]
    assert row["same_sha_flips"] == 1 and row["rerun_flips"] == 0
    # Once the failing run leaves the window, the evidence goes with it.
    later = stats_on(rows, 4, Flakes(window_days=4))["t"]
    assert later["same_sha_flips"] == 0 and later["runs"] == 4


def test_broken_test_is_never_flaky() -> None:
    rows = sequence("t", " ".join(["FFF"] * 12), sha_of=lambda i: "same")
    row = stats_on(rows, 11)["t"]
    assert row["flake_class"] == "broken" and row["same_sha_flips"] == 0
    assert row["flake_score"] == 0.0


def test_regression_then_still_failing_is_broken_and_fixed_regression_is_healthy() -> None:
    still_failing = stats_on(sequence("t", "P P P P P F F F F F F F F F F"), 14)["t"]
    assert still_failing["flake_class"] == "broken"
    fixed = stats_on(sequence("t", "P P P P P F F F F P P P P P P"), 14)["t"]
    assert fixed["fail_streaks"] == 1 and fixed["flake_class"] == "healthy"


def test_few_runs_are_new() -> None:
    assert stats_on(sequence("t", "F P"), 1)["t"]["flake_class"] == "new"


def test_mass_failure_runs_count_for_nothing() -> None:
    tests = [f"t{i}" for i in range(25)]
    rows = []
    for run in range(6):
        outage = run == 3
        rows += run_rows(run, {t: ("F" if outage and t != "t0" else "P") for t in tests}, day=run)
    stats = stats_on(rows, 5)
    assert stats["t1"]["runs"] == 5 and stats["t1"]["failures"] == 0
    assert stats["t1"]["infra_failures_excluded"] == 1 and stats["t1"]["flake_class"] == "healthy"
    small = stats_on(rows, 5, Flakes(mass_failure_min_tests=30))
    assert small["t1"]["failures"] == 1 and small["t1"]["infra_failures_excluded"] == 0


def test_mass_failure_is_judged_per_report_not_per_run() -> None:
    """A database outage fails the API report of a run while its browser report passes: the API
    report is an infrastructure failure although the run as a whole is not."""
    api = [f"api{i}" for i in range(25)]
    browser = [f"e2e{i}" for i in range(25)]
    rows = []
    for run in range(6):
        outage = run == 3
        rows += [
            r | {"artifact_hash": "api-report"}
            for r in run_rows(run, {t: "F" if outage else "P" for t in api}, day=run)
        ]
        rows += [
            r | {"artifact_hash": "e2e-report"} for r in run_rows(run, dict.fromkeys(browser, "P"), day=run)
        ]
    stats = stats_on(rows, 5)
    assert stats["api1"]["failures"] == 0 and stats["api1"]["infra_failures_excluded"] == 1
    assert stats["api1"]["flake_class"] == "healthy"
    whole_run = stats_on([{k: v for k, v in r.items() if k != "artifact_hash"} for r in rows], 5)
    assert whole_run["api1"]["failures"] == 1  # judged per run, half the run passed: not an outage


def test_blocking_columns_count_executions_and_flaky_failures_in_blocking_pipelines() -> None:
    rows = sequence("t", "FP P FP P", blocking=True) + [
        r | {"run_id": r["run_id"] + "-n", "pipeline": "nightly", "blocking": False}
        for r in sequence("t", "F P")
    ]
    row = stats_on(rows, 3)["t"]
    assert row["blocking_runs"] == 6 and row["runs"] == 8
    assert row["flake_class"] == "flaky" and row["blocking_flaky_failures"] == 2


def test_skips_are_not_executions_and_window_edges_hold() -> None:
    rows = sequence("t", "F S P P P P")
    assert stats_on(rows, 5)["t"]["runs"] == 5
    assert "t" not in stats_on(rows, 40)
    # The window opening on a failure that continues an older streak still counts one streak.
    row = stats_on(sequence("t", "F F F P P"), 4, Flakes(window_days=4))["t"]
    assert (row["runs"], row["failures"], row["fail_streaks"], row["flips"]) == (4, 2, 1, 1)


def test_decayed_flip_rate_weights_recent_days_more() -> None:
    old_flips = stats_on(sequence("t", "P F P F P P P P P P"), 9)["t"]
    new_flips = stats_on(sequence("t", "P P P P P P F P F P"), 9)["t"]
    assert old_flips["flip_rate"] == new_flips["flip_rate"]
    assert new_flips["flip_rate_decayed"] > new_flips["flip_rate"] > old_flips["flip_rate_decayed"]


def test_empty_input_gives_the_schema() -> None:
    out = flake_stats(frame([]), NO_META, START, PARAMS)
    assert out.is_empty() and out.schema == schemas.FLAKE_STATS


def test_flow_comes_from_the_latest_meta() -> None:
    older = meta({"t": "cart"})
    newer = older.with_columns(
        pl.lit(START + timedelta(days=1)).alias("day"), pl.lit("checkout").alias("flow")
    )
    out = flake_stats(
        frame(sequence("t", "P P P")), pl.concat([newer, older]), START + timedelta(days=2), PARAMS
    )
    assert out["flow"].to_list() == ["checkout"]


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_flaky_precision_and_recall_on_realistic_histories(seed: int) -> None:
    """pytest runs with reruns, random order, outages, regressions: the verdicts vs the truth."""
    spec = CiHistory(tests=500, days=21, runs_per_day=10, reruns=2, outage_rate=0.03, seed=seed)
    sim = simulate(spec)
    day = spec.start + timedelta(days=spec.days - 1)
    verdicts = flake_stats(sim.results, sim.meta, day, PARAMS).join(sim.truth, on="test_id")
    judged = verdicts.filter(pl.col("flake_class") != "new")
    truly = judged["kind"].is_in(FLAKY_KINDS)
    called = judged["flake_class"] == "flaky"
    precision = (truly & called).sum() / called.sum()
    recall = (truly & called).sum() / truly.sum()
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)
    broken = verdicts.filter(pl.col("kind") == "broken")
    assert broken.height > 0 and (broken["flake_class"] == "broken").all()
    assert verdicts.filter(pl.col("kind") == "regressed")["flake_class"].is_in(["healthy", "broken"]).all()


def test_without_reruns_the_fail_ratio_rule_still_finds_most_flaky_tests() -> None:
    spec = CiHistory(
        tests=500, days=21, runs_per_day=10, reruns=0, seed=5, population=Population(flaky_rate=(0.1, 0.45))
    )
    sim = simulate(spec)
    verdicts = flake_stats(sim.results, sim.meta, spec.start + timedelta(days=20), PARAMS).join(
        sim.truth, on="test_id"
    )
    flaky = verdicts.filter(pl.col("kind").is_in(FLAKY_KINDS))
    assert (flaky["flake_class"] == "flaky").mean() >= 0.9
    assert verdicts.filter(pl.col("kind") == "broken")["flake_class"].eq("broken").all()


def test_pair_evidence_is_the_same_with_a_bitmap_or_a_hash_table() -> None:
    rng = np.random.default_rng(0)
    pair = rng.integers(0, 700, 6000)
    fail = rng.random(6000) < 0.05
    both = {p for p in set(pair[fail].tolist()) if p in set(pair[~fail].tolist())}
    expected = [i for i, p in enumerate(pair.tolist()) if p in both]
    assert _pairs_with_both(pair, fail, 700, dense_limit=1 << 28).tolist() == expected
    assert _pairs_with_both(pair, fail, 700, dense_limit=0).tolist() == expected


@pytest.mark.parametrize("size", [5, 3000, 1_100_000])
def test_hash_index_finds_every_key_despite_collisions(size: int) -> None:
    """At load 1/4 about a tenth of the keys share a slot and probe on; both lookups find every
    key's position (over a million keys, in chunks on both cores)."""
    rng = np.random.default_rng(size)
    keys = np.unique(rng.integers(0, 1 << 62, size, dtype=np.uint64))
    index = _HashIndex(keys)
    expected = rng.integers(0, keys.size, 2 * keys.size)
    queries = keys[expected]
    assert (index.lookup_present(queries) == expected).all()
    assert (index.lookup(queries) == expected).all()
    absent = np.setdiff1d(rng.integers(0, 1 << 62, 1000, dtype=np.uint64), keys)
    assert (index.lookup(absent) == -1).all()
