"""The DuckDB warehouse: an IO manager for Polars frames, and a read-only handle for people and CLIs.

Two upstream gaps are closed here (docs/warehouse.md):
- dagster-duckdb-polars' `load_input` calls `DuckDBPyConnection.arrow()`, which duckdb 2.x removed;
  our handler loads with `connection.sql(select).pl()`, which works on duckdb 1.4+ and 2.x, so duckdb
  is not pinned below 2.
- the stock handler skips empty frames, so a day without CI runs leaves no table and the next load
  fails; ours always creates the table from the table contract in `testintel_assets.schemas`,
  and adds columns that a newer contract introduced.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
from dagster._core.storage.db_io_manager import DbTypeHandler, TableSlice
from dagster_duckdb import DuckDBIOManager
from dagster_duckdb.io_manager import DuckDbClient

from testintel_assets.schemas import TABLES, conform, empty

SCHEMA = "testintel"


def _duckdb_type(connection: duckdb.DuckDBPyConnection, frame: pl.DataFrame, column: str) -> str:
    """The DuckDB type DuckDB itself infers for a Polars column."""
    probe = frame.select(column).head(0).to_arrow()  # noqa: F841  (read by the replacement scan)
    return connection.sql("DESCRIBE SELECT * FROM probe").fetchall()[0][1]


def write_frame(connection: duckdb.DuckDBPyConnection, schema: str, table: str, frame: pl.DataFrame) -> None:
    """Create the table from the frame's schema if needed, add new columns, then insert by name."""
    connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    arrow_frame = frame.to_arrow()  # noqa: F841  (read by the replacement scan)
    connection.execute(f"CREATE TABLE IF NOT EXISTS {schema}.{table} AS SELECT * FROM arrow_frame LIMIT 0")
    existing = {row[0] for row in connection.execute(f"DESCRIBE {schema}.{table}").fetchall()}
    for column in frame.columns:
        if column not in existing:
            column_type = _duckdb_type(connection, frame, column)
            connection.execute(f'ALTER TABLE {schema}.{table} ADD COLUMN "{column}" {column_type}')
    if frame.height:
        connection.execute(f"INSERT INTO {schema}.{table} BY NAME SELECT * FROM arrow_frame")


class PolarsTableHandler(DbTypeHandler[pl.DataFrame]):
    def handle_output(
        self,
        context: dg.OutputContext,
        table_slice: TableSlice,
        obj: pl.DataFrame,
        connection: duckdb.DuckDBPyConnection,
    ) -> None:
        contract = TABLES.get(table_slice.table)
        frame = conform(obj, contract) if contract is not None else obj
        write_frame(connection, table_slice.schema, table_slice.table, frame)
        context.add_output_metadata(
            {
                "dagster/row_count": frame.height,
                "dagster/column_schema": dg.TableSchema(
                    columns=[dg.TableColumn(name, str(dtype)) for name, dtype in frame.schema.items()]
                ),
            }
        )

    def load_input(
        self,
        context: dg.InputContext,
        table_slice: TableSlice,
        connection: duckdb.DuckDBPyConnection,
    ) -> pl.DataFrame:
        contract = TABLES.get(table_slice.table)
        no_partitions = table_slice.partition_dimensions and len(context.asset_partition_keys) == 0
        try:
            frame = (
                pl.DataFrame()
                if no_partitions
                else connection.sql(DuckDbClient.get_select_statement(table_slice)).pl()
            )
        except duckdb.CatalogException:
            frame = pl.DataFrame()
        if contract is None:
            return frame
        return empty(contract) if frame.is_empty() and not frame.columns else conform(frame, contract)

    @property
    def supported_types(self) -> Sequence[type]:
        return [pl.DataFrame]


class WarehouseIOManager(DuckDBIOManager):
    """Polars frames <-> DuckDB tables in schema `testintel`, one table per asset."""

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler]:
        return [PolarsTableHandler()]

    @staticmethod
    def default_load_type() -> type | None:
        return pl.DataFrame


class WarehouseResource(dg.ConfigurableResource):
    """Direct SQL for checks and CLIs; in-process with the IO manager, so no second writer exists."""

    database: str

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        if read_only and not Path(self.database).exists():
            raise FileNotFoundError(f"{self.database}: no warehouse yet (run `make demo` or a backfill)")
        connection = duckdb.connect(self.database, read_only=read_only)
        try:
            yield connection
        finally:
            connection.close()

    def read(self, sql: str, params: Sequence[object] | None = None) -> pl.DataFrame:
        with self.connect(read_only=True) as connection:
            return connection.sql(sql, params=params or None).pl()


def ensure_tables(database: Path) -> None:
    """Create every contract table (empty) so readers never meet a missing table."""
    database.parent.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(str(database))
    try:
        for table, contract in TABLES.items():
            write_frame(connection, SCHEMA, table, empty(contract))
    finally:
        connection.close()
