"""CI artifacts -> ci_runs, test_results, test_meta, coverage_files: one scan of the run folders."""

from collections.abc import Iterator

import dagster as dg
import polars as pl

from resources.catalog import CatalogResource
from resources.landing import LandingResource
from resources.warehouse import WarehouseResource
from testintel_assets.defs.common import markdown_table, source_tables
from testintel_assets.landing.ci import read_ci_days
from testintel_assets.partitions import days_of

CI_TABLES = {
    "ci_runs": "One row per run artifact: ingested with its row count, or rejected with the reason.",
    "test_results": "One row per test attempt (retries and reruns kept), from every report format.",
    "test_meta": "Tags per test and day: flow, risk, owner, component, ... from exports, tags, properties.",
    "coverage_files": "Coverage per file, run and format, with repo-relative paths and components.",
}


def _known_hashes(warehouse: WarehouseResource, first_day: str) -> dict[str, str]:
    """Artifacts already ingested on earlier days: the same bytes landing again count once."""
    try:
        rows = warehouse.read(
            "SELECT artifact_hash, min(artifact_path) FROM testintel.ci_runs "
            "WHERE status = 'ingested' AND kind <> 'run' AND day < ?::DATE GROUP BY artifact_hash",
            [first_day],
        )
    except Exception:  # no warehouse or no table yet: nothing was ingested before
        return {}
    return dict(rows.iter_rows())


@dg.multi_asset(**source_tables(CI_TABLES))
def ci_artifacts(
    context: dg.AssetExecutionContext,
    landing: LandingResource,
    catalog: CatalogResource,
    warehouse: WarehouseResource,
) -> Iterator[dg.Output[pl.DataFrame]]:
    days = days_of(context)
    frames = read_ci_days(
        landing.path, days, catalog.load(), known_hashes=_known_hashes(warehouse, days[0].isoformat())
    )
    runs = frames["ci_runs"]
    rejected = runs.filter(pl.col("status") == "rejected")
    results = frames["test_results"]
    first_attempts = results.filter(pl.col("attempt") == 0)
    passed = first_attempts.filter(pl.col("status") == "passed").height
    executed = first_attempts.filter(pl.col("status") != "skipped").height
    yield dg.Output(
        runs,
        output_name="ci_runs",
        metadata={
            "runs": runs.filter(pl.col("kind") == "run")["run_id"].n_unique(),
            "artifacts_rejected": rejected.height,
            "rejected": markdown_table(rejected.select("day", "artifact_path", "reason")),
        },
    )
    yield dg.Output(
        results,
        output_name="test_results",
        metadata={
            "attempts": results.height,
            "tests": results["test_id"].n_unique(),
            "first_try_pass_rate": passed / executed if executed else 0.0,
        },
    )
    yield dg.Output(frames["test_meta"], output_name="test_meta")
    coverage = frames["coverage_files"]
    valid = coverage["lines_valid"].sum() or 0
    yield dg.Output(
        coverage,
        output_name="coverage_files",
        metadata={
            "files": coverage.height,
            "line_rate": (coverage["lines_covered"].sum() or 0) / valid if valid else 0.0,
        },
    )
