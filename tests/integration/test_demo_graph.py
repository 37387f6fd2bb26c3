"""End to end: 5 days of Acme Shop through the whole graph, in one run, against a real DuckDB file;
the planted truths must come out."""

from datetime import date, timedelta

import duckdb
import polars as pl
import pytest

from testintel_assets import schemas
from testintel_assets.cli.backfill import run_backfill
from testintel_assets.definitions import defs
from testintel_assets.demo import org
from testintel_assets.demo.generate import generate
from testintel_assets.instance import get_instance

END = date(2026, 11, 20)
DAYS = 5


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TESTINTEL_HOME", str(home))
        patch.setenv("DAGSTER_HOME", str(home / "dagster"))
        days = generate(home / "landing", days=DAYS, end=END)
        result = run_backfill(days[0], days[-1], instance=get_instance(home))
        assert result.success
        connection = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
        yield connection
        connection.close()


def _table(connection: duckdb.DuckDBPyConnection, name: str) -> pl.DataFrame:
    return connection.sql(f"SELECT * FROM testintel.{name}").pl()


def test_every_table_has_every_day(warehouse: duckdb.DuckDBPyConnection) -> None:
    expected = {END - timedelta(days=offset) for offset in range(DAYS)}
    assets = {key.to_user_string() for key in defs().resolve_asset_graph().get_all_asset_keys()}
    for table in assets - {"usage_rejects"}:  # the demo's logs have no unparseable lines
        frame = _table(warehouse, table)
        assert set(frame["day"].unique()) == expected, table
    assert _table(warehouse, "usage_rejects").schema == schemas.USAGE_REJECTS


def test_nothing_landed_was_rejected(warehouse: duckdb.DuckDBPyConnection) -> None:
    runs = _table(warehouse, "ci_runs")
    assert runs.filter(pl.col("status") == "rejected").is_empty(), runs.filter(pl.col("status") == "rejected")


def test_flaky_tests_are_flagged_and_the_broken_one_is_not(warehouse: duckdb.DuckDBPyConnection) -> None:
    latest = _table(warehouse, "flake_stats").filter(pl.col("day") == END)
    classes = dict(zip(latest["test_id"], latest["flake_class"], strict=True))
    for test_id in org.FLAKY_TESTS:
        assert classes[test_id] == "flaky", test_id
    assert classes[org.BROKEN_TEST] == "broken"
    flaky = {test for test, cls in classes.items() if cls == "flaky"}
    assert flaky == set(org.FLAKY_TESTS), flaky - set(org.FLAKY_TESTS)


def test_high_usage_low_coverage_flow_tops_its_gaps(warehouse: duckdb.DuckDBPyConnection) -> None:
    gaps = _table(warehouse, "top_n_gaps").filter(
        (pl.col("day") == END) & (pl.col("gap_kind") == "usage_x_coverage")
    )
    assert gaps.sort("rank")["flow"][0] == org.HIGH_USAGE_LOW_COVERAGE_FLOW


def test_the_defect_heavy_flow_has_the_highest_density(warehouse: duckdb.DuckDBPyConnection) -> None:
    density = _table(warehouse, "defect_density").filter(pl.col("day") == END)
    assert density.sort("weighted_defects", descending=True)["flow"][0] == org.MANY_DEFECTS_FLOW


def test_release_verdict_is_computed_for_every_day(warehouse: duckdb.DuckDBPyConnection) -> None:
    verdicts = _table(warehouse, "release_readiness").filter(pl.col("gate") == "release")
    assert verdicts.height == DAYS
    assert not verdicts["passed"].any()  # flaky tests and low search coverage block every day
