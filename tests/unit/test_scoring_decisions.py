"""Risk scores, Top-N gaps and gates on small frames whose right answers are known by hand."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from testintel_assets import schemas
from testintel_assets.configuration import load_catalog
from testintel_assets.scoring import gates
from testintel_assets.scoring.gaps import top_flows_by_usage, top_n_gaps
from testintel_assets.scoring.risk import POSITIVE_FACTORS, risk_scores

DAY = date(2026, 11, 20)
CATALOG = load_catalog()


def _frame(schema: pl.Schema, rows: list[dict]) -> pl.DataFrame:
    return schemas.conform(pl.DataFrame(rows), schema) if rows else schemas.empty(schema)


def _scores(usage: dict[str, float], coverage: dict[str, float], defects: dict[str, float]) -> pl.DataFrame:
    return risk_scores(
        CATALOG,
        [DAY],
        _frame(
            schemas.FLOW_USAGE,
            [{"day": DAY, "flow": f, "usage_norm": u, "platform_share": 0.5} for f, u in usage.items()],
        ),
        _frame(
            schemas.COVERAGE_BY_FLOW,
            [{"day": DAY, "flow": f, "blended_coverage": c} for f, c in coverage.items()],
        ),
        _frame(
            schemas.DEFECT_DENSITY,
            [{"day": DAY, "scope": "flow", "flow": f, "defect_norm": d} for f, d in defects.items()],
        ),
        schemas.empty(schemas.CHANGE_RATE),
        schemas.empty(schemas.FLAKE_STATS),
    )


def test_risk_is_the_documented_weighted_sum() -> None:
    scores = _scores({"checkout": 1.0}, {"checkout": 0.5}, {"checkout": 0.2})
    row = scores.filter(pl.col("flow") == "checkout").row(0, named=True)
    weights = CATALOG.scoring.weights
    expected = (
        100
        * (
            1.0 * weights.usage  # usage
            + 1.0 * weights.criticality  # critical
            + 1.0 * weights.failure_impact
            + 1.0 * weights.revenue
            + 0.2 * weights.defect_density
            + 0.0 * weights.change_rate
            + 0.5 * weights.coverage_gap
            + 0.5 * weights.platform_dominance
        )
        / sum(getattr(weights, factor) for factor in POSITIVE_FACTORS)
    )
    assert row["risk_score"] == pytest.approx(expected, abs=0.01)
    assert row["decision"] == "automate now"
    assert scores.height == len(CATALOG.flows.flows)  # every configured flow is scored
    assert scores.schema == schemas.RISK_SCORES


def test_unknown_coverage_counts_as_no_coverage_and_decisions_follow_thresholds() -> None:
    scores = _scores({}, {}, {})
    profile = scores.filter(pl.col("flow") == "profile").row(0, named=True)
    assert profile["coverage_gap"] == 1.0
    assert profile["decision"] == "explore only"  # low criticality, no usage: R well below 50


def test_top_gaps_rank_high_usage_low_coverage_first() -> None:
    scores = _scores(
        {"search": 1.0, "checkout": 0.3, "cart": 0.6},
        {"search": 0.3, "checkout": 0.9, "cart": 0.85},
        {"payment": 1.0, "search": 0.1},
    )
    gaps = top_n_gaps(scores, CATALOG)
    coverage_gaps = gaps.filter(pl.col("gap_kind") == "usage_x_coverage").sort("rank")
    assert coverage_gaps["flow"][0] == "search"
    assert coverage_gaps["gap_score"][0] == pytest.approx(0.7)
    assert coverage_gaps.height <= CATALOG.scoring.top_n
    defect_gaps = gaps.filter(pl.col("gap_kind") == "usage_x_defects")
    assert defect_gaps["flow"].to_list() == ["search"]  # payment has defects but no usage
    assert "coverage 30%" in coverage_gaps["reason"][0]
    assert gaps.filter(pl.col("gap_kind") == "revenue_x_risk")["flow"][0] in {"checkout", "payment"}


def _results(rows: list[tuple[str, str, str, int, str]]) -> pl.DataFrame:
    return _frame(
        schemas.TEST_RESULTS,
        [
            {
                "day": DAY,
                "run_id": run,
                "pipeline": pipeline,
                "blocking": pipeline == "pre-merge",
                "test_id": test,
                "attempt": attempt,
                "status": status,
            }
            for run, pipeline, test, attempt, status in rows
        ],
    )


def test_pre_merge_pass_rate_uses_the_final_attempt() -> None:
    results = _results(
        [
            ("r1", "pre-merge", "a", 0, "failed"),
            ("r1", "pre-merge", "a", 1, "passed"),  # passed on rerun: the pipeline saw a pass
            ("r1", "pre-merge", "b", 0, "failed"),
            ("r1", "pre-merge", "c", 0, "passed"),
            ("r1", "pre-merge", "d", 0, "skipped"),
            ("n1", "nightly", "b", 0, "failed"),  # not a pre-merge run
        ]
    )
    measure = gates.pre_merge_pass_rate(results, [DAY, date(2026, 11, 21)])
    assert measure["value"].to_list() == [pytest.approx(2 / 3), None]
    assert measure["detail"][0] == "b"


def test_critical_flow_stability_counts_first_attempts_of_critical_flows_only() -> None:
    results = _results(
        [
            ("r1", "pre-merge", "pay", 0, "failed"),
            ("r1", "pre-merge", "pay", 1, "passed"),
            ("r1", "pre-merge", "cart", 0, "passed"),
            ("r1", "pre-merge", "profile", 0, "failed"),  # low criticality: not counted
        ]
    )
    meta = _frame(
        schemas.TEST_META,
        [
            {"day": DAY, "test_id": "pay", "flow": "payment"},
            {"day": DAY, "test_id": "cart", "flow": "cart"},
            {"day": DAY, "test_id": "profile", "flow": "profile"},
        ],
    )
    measure = gates.critical_flow_stability(results, meta, CATALOG, [DAY])
    assert measure["value"][0] == pytest.approx(0.5)
    assert measure["detail"][0] == "pay"


def test_release_verdict_needs_every_gate() -> None:
    days = [DAY]
    ok = pl.DataFrame({"day": days, "value": [1.0], "detail": [""]})
    low_flake = pl.DataFrame({"day": days, "value": [0.01], "detail": [""]})
    coverage = gates.top_n_coverage(
        _frame(schemas.COVERAGE_BY_FLOW, [{"day": DAY, "flow": "search", "blended_coverage": 0.4}]),
        top_flows_by_usage(
            _frame(schemas.FLOW_USAGE, [{"day": DAY, "flow": "search", "usage_norm": 1.0}]), 5
        ),
        days,
    )
    verdict = gates.release_readiness(days, CATALOG, ok, low_flake, coverage, ok)
    assert verdict.schema == schemas.RELEASE_READINESS
    rows = {row["gate"]: row for row in verdict.iter_rows(named=True)}
    assert rows["blocking_flake_rate"]["passed"] and rows["pre_merge_pass_rate"]["passed"]
    assert not rows["top_n_coverage"]["passed"]
    assert rows["top_n_coverage"]["detail"] == "search 40.0"
    assert not rows["release"]["passed"]
    assert rows["release"]["detail"] == "blocked by: top_n_coverage"
