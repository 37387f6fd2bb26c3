"""The warehouse IO manager: typed tables even for empty days, loads on duckdb 2, additive columns."""

from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from resources.warehouse import SCHEMA, WarehouseIOManager, ensure_tables, write_frame
from testintel_assets import schemas

daily = dg.DailyPartitionsDefinition(start_date="2026-11-01")


@dg.asset(partitions_def=daily, metadata={"partition_expr": "day"})
def defects(context: dg.AssetExecutionContext) -> pl.DataFrame:
    return schemas.empty(schemas.DEFECTS)  # a day without any tracker data


@dg.asset(partitions_def=daily, metadata={"partition_expr": "day"})
def defect_density(context: dg.AssetExecutionContext, defects: pl.DataFrame) -> pl.DataFrame:
    assert defects.schema == schemas.DEFECTS  # typed, although nothing was ever written
    day = context.partition_time_window.start.date()
    return pl.DataFrame({"day": [day], "flow": ["checkout"], "open_defects": [len(defects)]})


def test_empty_day_creates_typed_table_and_loads_on_duckdb_2(tmp_path: Path) -> None:
    database = tmp_path / "w.duckdb"
    result = dg.materialize(
        [defects, defect_density],
        partition_key="2026-11-02",
        resources={"io_manager": WarehouseIOManager(database=str(database), schema=SCHEMA)},
    )
    assert result.success
    connection = duckdb.connect(str(database), read_only=True)
    columns = {row[0]: row[1] for row in connection.sql(f"DESCRIBE {SCHEMA}.defects").fetchall()}
    stored = connection.sql(f"SELECT * FROM {SCHEMA}.defect_density").pl()
    connection.close()
    assert list(columns) == list(schemas.DEFECTS)
    assert columns["labels"] == "VARCHAR[]"
    # conformed to the contract: missing columns arrive as typed nulls
    assert stored.columns == list(schemas.DEFECT_DENSITY)
    assert stored["open_defects"].to_list() == [0]


def test_rerunning_a_partition_replaces_it(tmp_path: Path) -> None:
    database = tmp_path / "w.duckdb"
    resources = {"io_manager": WarehouseIOManager(database=str(database), schema=SCHEMA)}
    for _ in range(2):
        assert dg.materialize(
            [defects, defect_density], partition_key="2026-11-02", resources=resources
        ).success
    connection = duckdb.connect(str(database), read_only=True)
    count = connection.sql(f"SELECT count(*) FROM {SCHEMA}.defect_density").fetchall()[0][0]
    connection.close()
    assert count == 1


def test_new_contract_columns_are_added_to_existing_tables(tmp_path: Path) -> None:
    connection = duckdb.connect(str(tmp_path / "w.duckdb"))
    write_frame(connection, SCHEMA, "t", pl.DataFrame({"day": ["2026-11-01"], "a": [1]}))
    write_frame(connection, SCHEMA, "t", pl.DataFrame({"day": ["2026-11-02"], "a": [2], "b": [0.5]}))
    rows = connection.sql(f"SELECT day, a, b FROM {SCHEMA}.t ORDER BY day").fetchall()
    connection.close()
    assert rows == [("2026-11-01", 1, None), ("2026-11-02", 2, 0.5)]


def test_ensure_tables_creates_every_contract_table(tmp_path: Path) -> None:
    database = tmp_path / "sub" / "w.duckdb"
    ensure_tables(database)
    connection = duckdb.connect(str(database), read_only=True)
    tables = {
        row[0]
        for row in connection.sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'testintel'"
        ).fetchall()
    }
    connection.close()
    assert tables == set(schemas.TABLES)
