"""The one Definitions entry point loads the whole lineage, and Dagster's own validator accepts it."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from testintel_assets.definitions import defs
from testintel_assets.settings import REPO_ROOT

EXPECTED_ASSETS = {
    "ci_runs",
    "test_results",
    "test_meta",
    "coverage_files",
    "usage_events",
    "defects",
    "code_changes",
    "flow_usage",
    "flake_stats",
    "coverage_by_flow",
    "defect_density",
    "change_rate",
    "risk_scores",
    "top_n_gaps",
    "release_readiness",
}


def test_definitions_hold_the_whole_lineage() -> None:
    definitions = defs()
    dg.Definitions.validate_loadable(definitions)
    graph = definitions.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys >= EXPECTED_ASSETS
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.partitions_def is not None, f"{key} is not daily partitioned"
        assert node.backfill_policy == dg.BackfillPolicy.single_run(), f"{key} backfills run by run"
    checks = {key.to_user_string() for key in graph.asset_check_keys}
    assert {
        "flake_stats:blocking_flake_rate_slo",
        "test_results:critical_flow_stability_slo",
        "coverage_by_flow:top_n_coverage_slo",
        "ci_runs:no_rejected_artifacts",
    } <= checks
    parents = {key.to_user_string() for key in graph.get(dg.AssetKey("risk_scores")).parent_keys}
    assert {"flow_usage", "coverage_by_flow", "defect_density", "change_rate", "flake_stats"} <= parents
    assert definitions.resolve_sensor_def("ci_artifacts_sensor")
    assert definitions.resolve_schedule_def("nightly_pull_schedule")


def test_dagster_cli_validates_the_workspace(tmp_path: Path) -> None:
    env = {**os.environ, "TESTINTEL_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path)}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
