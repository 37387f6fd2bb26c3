"""defect_density and change_rate on hand-made rows whose expected values are counted by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from testintel_assets import schemas
from testintel_assets.configuration import load_catalog
from testintel_assets.scoring.changes import change_rate, change_rate_for_days
from testintel_assets.scoring.defects import defect_density, defect_density_for_days

AS_OF = date(2025, 3, 31)  # window 30 days: 2025-03-02 .. 2025-03-31


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _ts(day: date | None) -> datetime | None:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC) if day else None


def _defect(key, flow, component, severity, created, resolved=None, done=None, day=AS_OF):
    return {
        "day": day,
        "key": key,
        "flow": flow,
        "component": component,
        "severity": severity,
        "status_category": "done" if (resolved or done) else "open",
        "created_at": _ts(created),
        "resolved_at": _ts(resolved),
    }


def _defects(*rows: dict[str, object]) -> pl.DataFrame:
    return schemas.conform(pl.DataFrame(list(rows)), schemas.DEFECTS)


D = date
SNAPSHOT = _defects(
    # payment: new+open critical, new+closed high, old still open low, old closed long ago (ignored)
    _defect("P-1", "payment", "payments", "critical", D(2025, 3, 20)),
    _defect("P-2", "payment", "payments", "high", D(2025, 3, 5), resolved=D(2025, 3, 8)),
    _defect("P-3", "payment", "payments", "low", D(2025, 1, 10)),
    _defect("P-4", "payment", "payments", "high", D(2025, 1, 5), resolved=D(2025, 2, 1)),
    # checkout: created before the window, resolved inside it (closed only); done without a date
    _defect("C-1", "checkout", "checkout", "medium", D(2025, 2, 1), resolved=D(2025, 3, 10)),
    _defect("C-2", "checkout", "orders", "unknown", D(2025, 3, 30), done=True),
    # created after the as-of day: not there yet
    _defect("C-3", "checkout", "checkout", "critical", D(2025, 4, 2)),
    # unmapped: counted, not normalised
    _defect("U-1", "unmapped", "unmapped", "high", D(2025, 3, 15)),
)


def _row(frame: pl.DataFrame, scope: str, flow: str, component: str | None = None) -> dict[str, object]:
    match = frame.filter((pl.col("scope") == scope) & (pl.col("flow") == flow))
    if component is not None:
        match = match.filter(pl.col("component") == component)
    assert match.height == 1, match
    return match.row(0, named=True)


def test_flow_density_counts_weights_and_norm(catalog) -> None:
    density = defect_density(SNAPSHOT, schemas.empty(schemas.COVERAGE_FILES), catalog, AS_OF)
    assert density.schema == schemas.DEFECT_DENSITY
    payment = _row(density, "flow", "payment")
    # open: P-1, P-3; new: P-1, P-2; closed: P-2; weighted over new-or-open: 5 + 3 + 1
    assert (payment["open_defects"], payment["new_defects"], payment["closed_defects"]) == (2, 2, 1)
    assert payment["weighted_defects"] == 9.0
    assert payment["defects_per_week"] == pytest.approx(2 / (30 / 7))
    checkout = _row(density, "flow", "checkout")
    # open: none (C-2 is done without a date, C-3 is in the future); new: C-2; closed: C-1
    assert (checkout["open_defects"], checkout["new_defects"], checkout["closed_defects"]) == (0, 1, 1)
    assert checkout["weighted_defects"] == 1.0  # C-2, severity unknown
    assert payment["defect_norm"] == 1.0
    assert checkout["defect_norm"] == pytest.approx(1 / 9)
    unmapped = _row(density, "flow", "unmapped")
    assert unmapped["new_defects"] == 1 and unmapped["defect_norm"] is None
    flows = density.filter(pl.col("scope") == "flow")
    assert set(flows["flow"]) == {f.name for f in catalog.flows.flows} | {"unmapped"}
    assert _row(density, "flow", "signup")["defect_norm"] == 0.0
    assert set(density["window_days"]) == {30} and set(density["snapshot_day"]) == {AS_OF}


def test_component_rows_and_per_kloc_from_coverage(catalog) -> None:
    coverage = schemas.conform(
        pl.DataFrame(
            {
                "day": [D(2025, 3, 1), D(2025, 3, 20), D(2025, 3, 20), D(2025, 4, 5)],
                "file": [
                    "shop/payments/a.py",
                    "shop/payments/a.py",
                    "shop/payments/b.py",
                    "shop/payments/c.py",
                ],
                "component": ["payments"] * 4,
                "lines_valid": [100, 1500, 500, 9999],  # a.py: the later report wins; c.py is after the day
            }
        ),
        schemas.COVERAGE_FILES,
    )
    density = defect_density(SNAPSHOT, coverage, catalog, AS_OF)
    payments = _row(density, "component", "payment", "payments")
    assert payments["kloc"] == 2.0
    assert payments["defects_per_kloc"] == pytest.approx(3 / 2.0)  # P-1, P-2, P-3 are new or open
    assert _row(density, "flow", "payment")["kloc"] == 2.0  # payment lists only the payments component
    orders = _row(density, "component", "checkout", "orders")
    assert orders["kloc"] is None and orders["defects_per_kloc"] is None
    components = density.filter(pl.col("scope") == "component")
    assert components["defect_norm"].max() == 1.0


def test_snapshot_is_the_latest_pull_on_or_before_the_day(catalog) -> None:
    earlier = SNAPSHOT.with_columns(
        day=pl.lit(D(2025, 3, 25)), status_category=pl.lit("open"), resolved_at=pl.lit(None, dtype=schemas.TS)
    )
    later = SNAPSHOT.with_columns(day=pl.lit(D(2025, 4, 5)))
    both = pl.concat([earlier, later])
    on_day = _row(
        defect_density(both, schemas.empty(schemas.COVERAGE_FILES), catalog, D(2025, 3, 30)),
        "flow",
        "payment",
    )
    assert on_day["snapshot_day"] == D(2025, 3, 25)
    # the March 25 pull says all open: P-2 and P-4 count as open there
    assert on_day["open_defects"] == 4
    # before the first pull the earliest one is used, its dates telling what was open then
    before = _row(
        defect_density(later, schemas.empty(schemas.COVERAGE_FILES), catalog, D(2025, 3, 6)),
        "flow",
        "payment",
    )
    assert before["snapshot_day"] == D(2025, 4, 5)
    assert before["open_defects"] == 2  # P-2 (created 03-05, resolved 03-08) and P-3


def test_empty_defects_give_a_zero_row_per_flow(catalog) -> None:
    density = defect_density_for_days(
        schemas.empty(schemas.DEFECTS),
        schemas.empty(schemas.COVERAGE_FILES),
        catalog,
        [AS_OF, AS_OF + timedelta(1)],
    )
    assert density.height == 2 * (len(catalog.flows.flows) + 1)
    assert density["weighted_defects"].sum() == 0.0
    assert density.filter(pl.col("flow") != "unmapped")["defect_norm"].to_list() == [0.0] * (
        density.height - 2
    )


def _changes(*rows: tuple[date, str, str, str | None, int | None]) -> pl.DataFrame:
    frame = pl.DataFrame(
        rows,
        schema={
            "day": pl.Date,
            "sha": pl.String,
            "file": pl.String,
            "component": pl.String,
            "lines_added": pl.Int64,
        },
        orient="row",
    )
    return schemas.conform(frame, schemas.CODE_CHANGES)


def test_change_rate_counts_distinct_commits_per_component_and_flow(catalog) -> None:
    changes = _changes(
        (D(2025, 3, 30), "s1", "shop/cart/a.py", "cart", 5),
        (D(2025, 3, 30), "s1", "shop/cart/b.py", "cart", 1),
        (D(2025, 3, 29), "s2", "shop/cart/a.py", "cart", 2),
        (D(2025, 3, 29), "s2", "web/src/app.ts", "web-ui", 3),
        (D(2025, 3, 10), "s3", "shop/payments/p.py", "payments", None),
        (D(2025, 1, 1), "s4", "shop/payments/p.py", "payments", 9),  # outside the window
        (D(2025, 3, 20), "s5", "tools/x.py", None, 1),  # no component: not counted
    )
    rate = change_rate(changes, catalog, AS_OF)
    assert rate.schema == schemas.CHANGE_RATE
    cart = rate.filter((pl.col("scope") == "component") & (pl.col("component") == "cart")).row(0, named=True)
    assert (cart["commits"], cart["files_changed"], cart["lines_added"]) == (2, 2, 8)
    payments = rate.filter((pl.col("scope") == "component") & (pl.col("component") == "payments")).row(
        0, named=True
    )
    assert payments["commits"] == 1 and payments["lines_added"] is None  # run.json-like rows carry no lines
    flows = {row["flow"]: row for row in rate.filter(pl.col("scope") == "flow").iter_rows(named=True)}
    assert flows["cart"]["commits"] == 2  # cart + web-ui, s1 and s2
    assert flows["checkout"]["commits"] == 1  # web-ui only (s2)
    assert flows["payment"]["commits"] == 1
    assert flows["signup"]["commits"] == 1  # web-ui is listed by signup too
    assert flows["order_history"]["commits"] == 0 and flows["order_history"]["change_norm"] == 0.0
    assert flows["cart"]["change_norm"] == 1.0 and flows["payment"]["change_norm"] == 0.5
    assert flows["cart"]["commits_per_week"] == pytest.approx(2 / (30 / 7))
    assert set(flows) == {f.name for f in catalog.flows.flows}


def test_change_rate_for_days_and_empty_input(catalog) -> None:
    rate = change_rate_for_days(schemas.empty(schemas.CODE_CHANGES), catalog, [AS_OF, AS_OF - timedelta(1)])
    assert rate.height == 2 * len(catalog.flows.flows)
    assert rate["change_norm"].sum() == 0.0
