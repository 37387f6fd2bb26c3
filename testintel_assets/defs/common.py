"""Conventions every testintel asset shares: partitions, backfill policy, warehouse pool, metadata."""

from collections.abc import Mapping

import dagster as dg
import polars as pl

from testintel_assets.partitions import daily_partitions, single_run

# DuckDB allows one writing process per file; every warehouse reader/writer claims this pool
# (limit 1 in the instance's dagster.yaml) so runs never contend for the lock (docs/warehouse.md).
WAREHOUSE_POOL = "warehouse"
DAY_PARTITIONED = {"partition_expr": "day"}

ASSET_DEFAULTS: dict[str, object] = {
    "partitions_def": daily_partitions,
    "backfill_policy": single_run,
    "pool": WAREHOUSE_POOL,
    "kinds": {"duckdb", "polars"},
    "metadata": DAY_PARTITIONED,
}


def source_tables(tables: Mapping[str, str]) -> dict[str, object]:
    """multi_asset arguments for an ingest step that writes several source tables (name -> description)."""
    outs = {
        name: dg.AssetOut(
            description=description,
            metadata=DAY_PARTITIONED,
            kinds={"duckdb", "polars"},
            group_name="sources",
        )
        for name, description in tables.items()
    }
    return {
        "outs": outs,
        "partitions_def": daily_partitions,
        "backfill_policy": single_run,
        "pool": WAREHOUSE_POOL,
    }


def window(days: int) -> dg.TimeWindowPartitionMapping:
    """An input that reaches back `days` days including the partition's own."""
    return dg.TimeWindowPartitionMapping(start_offset=-(days - 1), allow_nonexistent_upstream_partitions=True)


def markdown_table(frame: pl.DataFrame, limit: int = 20) -> dg.MetadataValue:
    """A small frame as a Markdown table for the Dagster UI (Polars has no to_markdown)."""
    if frame.is_empty():
        return dg.MetadataValue.md("_no rows_")
    head = frame.head(limit)
    lines = [
        "| " + " | ".join(head.columns) + " |",
        "|" + "---|" * len(head.columns),
        *(
            "| " + " | ".join("" if value is None else _cell(value) for value in row) + " |"
            for row in head.iter_rows()
        ),
    ]
    return dg.MetadataValue.md("\n".join(lines))


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value).replace("|", "\\|")


def per_day_counts(frame: pl.DataFrame) -> Mapping[str, int]:
    if frame.is_empty():
        return {}
    return {str(day): count for day, count in frame.group_by("day").len().sort("day").iter_rows()}
