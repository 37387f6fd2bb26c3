"""The warehouse contract: one fixed Polars schema per table (docs/tables.md describes each column).

Every parser and scoring function returns frames of these schemas, even when empty, so that a day
with no input still writes a typed table and downstream loads never meet a missing table.
"""

from __future__ import annotations

import polars as pl

DAY = pl.Date
TS = pl.Datetime("us", "UTC")

CI_RUNS = pl.Schema(
    {
        "day": DAY,
        "run_id": pl.String,
        "sha": pl.String,
        "branch": pl.String,
        "pipeline": pl.String,
        "blocking": pl.Boolean,
        "started_at": TS,
        "finished_at": TS,
        "changed_files": pl.List(pl.String),
        "artifact_path": pl.String,
        "kind": pl.String,
        "format": pl.String,
        "artifact_hash": pl.String,
        "bytes": pl.Int64,
        "rows": pl.Int64,
        "status": pl.String,
        "reason": pl.String,
    }
)

# One row per test attempt. attempt 0 is the first try; retries and reruns count up from 1.
TEST_RESULTS = pl.Schema(
    {
        "day": DAY,
        "run_id": pl.String,
        "sha": pl.String,
        "branch": pl.String,
        "pipeline": pl.String,
        "blocking": pl.Boolean,
        "started_at": TS,
        "test_id": pl.String,
        "suite": pl.String,
        "file": pl.String,
        "name": pl.String,
        "platform": pl.String,
        "status": pl.String,
        "attempt": pl.Int32,
        "duration_ms": pl.Float64,
        "message": pl.String,
        "format": pl.String,
        "artifact_hash": pl.String,
    }
)

TEST_META = pl.Schema(
    {
        "day": DAY,
        "test_id": pl.String,
        "flow": pl.String,
        "feature": pl.String,
        "risk": pl.String,
        "event": pl.String,
        "persona": pl.String,
        "owner": pl.String,
        "platform": pl.String,
        "component": pl.String,
        "source": pl.String,
    }
)

COVERAGE_FILES = pl.Schema(
    {
        "day": DAY,
        "run_id": pl.String,
        "sha": pl.String,
        "branch": pl.String,
        "pipeline": pl.String,
        "file": pl.String,
        "component": pl.String,
        "lines_valid": pl.Int64,
        "lines_covered": pl.Int64,
        "branches_valid": pl.Int64,
        "branches_covered": pl.Int64,
        "functions_valid": pl.Int64,
        "functions_covered": pl.Int64,
        "format": pl.String,
        "artifact_hash": pl.String,
        # Coverage (docs/coverage.md): when the run started, so the latest report per sha and
        # pipeline can be chosen; the path as the report names it (joined to its <source> root);
        # and the keys behind the counts, so shards of one run merge as a union, not a sum.
        # A list is null when the format gives counts only (Istanbul coverage-summary.json).
        "started_at": TS,
        "source_path": pl.String,
        "covered_lines": pl.List(pl.Int32),
        "missed_lines": pl.List(pl.Int32),
        "covered_branches": pl.List(pl.String),
        "missed_branches": pl.List(pl.String),
        "covered_functions": pl.List(pl.String),
        "missed_functions": pl.List(pl.String),
    }
)

# One row per (day, flow, route or event, method, status, traffic class, platform, browser, persona,
# tier, plan, device, app_version, locale, experiment_id, source, format); docs/usage.md describes
# each column. Columns a source does not know stay null (access logs have no plan or locale).
USAGE_EVENTS = pl.Schema(
    {
        "day": DAY,
        "flow": pl.String,
        "route": pl.String,
        "event": pl.String,
        "method": pl.String,
        "status": pl.Int32,
        "traffic": pl.String,
        "status_class": pl.String,
        "platform": pl.String,
        "browser": pl.String,
        "persona": pl.String,
        "tier": pl.String,
        "plan": pl.String,
        "device": pl.String,
        "app_version": pl.String,
        "locale": pl.String,
        "experiment_id": pl.String,
        "source": pl.String,
        "format": pl.String,
        "events": pl.Int64,
        "users": pl.Int64,
        "errors": pl.Int64,
        "p95_latency_ms": pl.Float64,
    }
)

# Bottom-k sketch of salted user hashes per (day, source, flow), human traffic only: distinct users
# over any window are estimated by merging these rows (parsers/usage.py, docs/usage.md).
USAGE_USERS = pl.Schema(
    {
        "day": DAY,
        "source": pl.String,
        "flow": pl.String,
        "user_key": pl.UInt64,
    }
)

# Lines of usage inputs that did not become usage_events rows, counted per file and reason, so that
# events + rejected lines reconcile with the file's line count.
USAGE_REJECTS = pl.Schema(
    {
        "day": DAY,
        "file": pl.String,
        "format": pl.String,
        "reason": pl.String,
        "lines": pl.Int64,
        "first_line": pl.Int64,
    }
)

DEFECTS = pl.Schema(
    {
        "day": DAY,
        "key": pl.String,
        "title": pl.String,
        "flow": pl.String,
        "component": pl.String,
        "severity": pl.String,
        "status": pl.String,
        "status_category": pl.String,
        "created_at": TS,
        "resolved_at": TS,
        "labels": pl.List(pl.String),
        "source": pl.String,
        "url": pl.String,
    }
)

CODE_CHANGES = pl.Schema(
    {
        "day": DAY,
        "sha": pl.String,
        "file": pl.String,
        "component": pl.String,
        "lines_added": pl.Int64,
        "lines_deleted": pl.Int64,
        "source": pl.String,
    }
)

FLOW_USAGE = pl.Schema(
    {
        "day": DAY,
        "flow": pl.String,
        "window_days": pl.Int32,
        "events": pl.Int64,
        "users": pl.Int64,
        "errors": pl.Int64,
        "daily_events_p95": pl.Float64,
        "usage_norm": pl.Float64,
        "top_platform": pl.String,
        "platform_share": pl.Float64,
        "tier_weight": pl.Float64,
        "source": pl.String,
        "sources": pl.List(pl.String),
        "days_with_usage": pl.Int32,
    }
)

FLAKE_STATS = pl.Schema(
    {
        "day": DAY,
        "test_id": pl.String,
        "flow": pl.String,
        "window_days": pl.Int32,
        "runs": pl.Int64,
        "failures": pl.Int64,
        "fail_rate": pl.Float64,
        "wilson_low": pl.Float64,
        "wilson_high": pl.Float64,
        "same_sha_flips": pl.Int64,
        "flip_rate": pl.Float64,
        "flake_score": pl.Float64,
        "flake_class": pl.String,
        "blocking_runs": pl.Int64,
        "blocking_flaky_failures": pl.Int64,
        # Further signals and the score's components (docs/flakes.md defines each).
        "ci_runs": pl.Int64,
        "rerun_runs": pl.Int64,
        "rerun_flips": pl.Int64,
        "failing_shas": pl.Int64,
        "fail_streaks": pl.Int64,
        "flips": pl.Int64,
        "flip_rate_decayed": pl.Float64,
        "entropy": pl.Float64,
        "last_runs": pl.Int64,
        "last_runs_failures": pl.Int64,
        "last_runs_red": pl.Int64,
        "trailing_passes": pl.Int64,
        "last_failure_day": DAY,
        "infra_failures_excluded": pl.Int64,
        "score_same_sha": pl.Float64,
        "score_flip": pl.Float64,
        "score_entropy": pl.Float64,
        "score_spread": pl.Float64,
        "flake_reason": pl.String,
    }
)

FLAKE_EVIDENCE = pl.Schema(
    {
        "day": DAY,  # the flake_stats day whose window the failure is in
        "test_id": pl.String,
        "flow": pl.String,
        "run_id": pl.String,
        "sha": pl.String,
        "pipeline": pl.String,
        "blocking": pl.Boolean,
        "run_day": DAY,
        "started_at": TS,
        "attempt": pl.Int32,
        "status": pl.String,
        "message": pl.String,
        "signature": pl.String,
        "passed_on_same_sha": pl.Boolean,
    }
)

FAILURE_SIGNATURES = pl.Schema(
    {
        "day": DAY,
        "scope": pl.String,  # "test": one flaky test's signatures; "overall": across flaky tests
        "test_id": pl.String,  # null for scope "overall"
        "rank": pl.Int32,
        "signature": pl.String,
        "failures": pl.Int64,
        "tests": pl.Int64,
        "share": pl.Float64,  # of the scope's failures
        "example": pl.String,  # one raw message with this signature
        "first_seen": DAY,
        "last_seen": DAY,
    }
)


# One row per quarantine entry and day: the state carried from day to day (docs/flakes.md).
QUARANTINE = pl.Schema(
    {
        "day": DAY,
        "test_id": pl.String,
        "state": pl.String,  # quarantined | pinned | orphaned | released (on the day it leaves)
        "source": pl.String,  # detector | override
        "reason": pl.String,
        "flow": pl.String,
        "owner": pl.String,  # a team of owners.yaml
        "channel": pl.String,
        "critical": pl.Boolean,  # critical flow or critical risk: the short SLA
        "since": DAY,
        "sla_hours": pl.Int64,
        "due": TS,
        "breached": pl.Boolean,
        "escalate_to": pl.String,  # the owner team's EM, set when breached
        "expires": DAY,  # when CI stops honouring the entry unless it is renewed
        "last_failure_day": DAY,
        "consecutive_passes": pl.Int64,
        "flake_score": pl.Float64,
        "set_by": pl.String,  # who pinned or released it (overrides)
    }
)

# Test-health views (docs/flakes.md, "Health views").
FLAKE_TRENDS = pl.Schema(
    {
        "day": DAY,
        "dimension": pl.String,  # owner | component
        "value": pl.String,
        "tests": pl.Int64,
        "flaky_tests": pl.Int64,
        "broken_tests": pl.Int64,
        "flaky_share": pl.Float64,
        "runs": pl.Int64,
        "flaky_failures": pl.Int64,
        "blocking_runs": pl.Int64,
        "blocking_flaky_failures": pl.Int64,
        "blocking_flake_rate": pl.Float64,
    }
)

CI_TIME_WASTED = pl.Schema(
    {
        "day": DAY,
        "runs": pl.Int64,
        "failed_runs": pl.Int64,
        "flaky_only_failed_runs": pl.Int64,
        "ci_hours": pl.Float64,
        "wasted_hours": pl.Float64,
        "wasted_share": pl.Float64,
        "flaky_rerun_hours": pl.Float64,
    }
)

SLOWEST_TESTS = pl.Schema(
    {
        "day": DAY,
        "window_days": pl.Int32,
        "rank": pl.Int32,
        "test_id": pl.String,
        "executions": pl.Int64,
        "total_ms": pl.Float64,
        "mean_ms": pl.Float64,
        "p95_ms": pl.Float64,
        "share_of_ci_time": pl.Float64,
        "cumulative_share": pl.Float64,
    }
)

OUTCOME_EXTREMES = pl.Schema(
    {
        "day": DAY,
        "test_id": pl.String,
        "flow": pl.String,
        "kind": pl.String,  # never_failing | always_failing
        "ci_runs": pl.Int64,
        "runs": pl.Int64,
        "failures": pl.Int64,
    }
)

COVERAGE_BY_FLOW = pl.Schema(
    {
        "day": DAY,
        "flow": pl.String,
        "components": pl.List(pl.String),
        "files": pl.Int64,
        "lines_valid": pl.Int64,
        "lines_covered": pl.Int64,
        "branches_valid": pl.Int64,
        "branches_covered": pl.Int64,
        "functions_valid": pl.Int64,
        "functions_covered": pl.Int64,
        "line_rate": pl.Float64,
        "branch_rate": pl.Float64,
        "function_rate": pl.Float64,
        "blended_coverage": pl.Float64,
        # Coverage (docs/coverage.md): the components that came from test_meta rather than
        # flows.yaml, and the dimensions (line, branch, function) the blend was computed over.
        "components_from_tests": pl.List(pl.String),
        "dimensions": pl.List(pl.String),
    }
)

# One row per component of the day's coverage (docs/coverage.md); component null holds the files
# that no components.yaml glob matched, so nothing measured is dropped.
COVERAGE_BY_COMPONENT = pl.Schema(
    {
        "day": DAY,
        "component": pl.String,
        **{
            name: dtype
            for name, dtype in COVERAGE_BY_FLOW.items()
            if name not in ("day", "flow", "components", "components_from_tests")
        },
    }
)

# What the pre-merge gate reads: per component touched by a run, its coverage at the run's sha
# against the latest coverage of the base branch (docs/coverage.md). status: compared | no_base
# (the base never measured the component) | no_head (the run's reports do not cover it).
COVERAGE_DELTA = pl.Schema(
    {
        "day": DAY,
        "run_id": pl.String,
        "sha": pl.String,
        "branch": pl.String,
        "pipeline": pl.String,
        "base_branch": pl.String,
        "base_sha": pl.String,
        "base_run_ids": pl.List(pl.String),
        "component": pl.String,
        "changed_files": pl.List(pl.String),
        "changed_files_line_rate": pl.Float64,
        "head_files": pl.Int64,
        "head_line_rate": pl.Float64,
        "head_branch_rate": pl.Float64,
        "head_function_rate": pl.Float64,
        "head_blended": pl.Float64,
        "base_files": pl.Int64,
        "base_line_rate": pl.Float64,
        "base_branch_rate": pl.Float64,
        "base_function_rate": pl.Float64,
        "base_blended": pl.Float64,
        "delta_line_rate": pl.Float64,
        "delta_blended": pl.Float64,
        "status": pl.String,
    }
)

# scope 'flow': one row per catalogue flow (plus 'unmapped'), component null, defect_norm across
# flows; scope 'component': one row per (flow, component) with defects, defect_norm across those rows.
DEFECT_DENSITY = pl.Schema(
    {
        "day": DAY,
        "scope": pl.String,
        "flow": pl.String,
        "component": pl.String,
        "window_days": pl.Int32,
        "snapshot_day": DAY,
        "open_defects": pl.Int64,
        "new_defects": pl.Int64,
        "closed_defects": pl.Int64,
        "defects_per_week": pl.Float64,
        "weighted_defects": pl.Float64,
        "kloc": pl.Float64,
        "defects_per_kloc": pl.Float64,
        "defect_norm": pl.Float64,
    }
)

# Same two scopes as DEFECT_DENSITY; change_norm is commits per week over the max of the scope.
CHANGE_RATE = pl.Schema(
    {
        "day": DAY,
        "scope": pl.String,
        "flow": pl.String,
        "component": pl.String,
        "window_days": pl.Int32,
        "commits": pl.Int64,
        "files_changed": pl.Int64,
        "lines_added": pl.Int64,
        "lines_deleted": pl.Int64,
        "commits_per_week": pl.Float64,
        "change_norm": pl.Float64,
    }
)

RISK_SCORES = pl.Schema(
    {
        "day": DAY,
        "flow": pl.String,
        "usage": pl.Float64,
        "criticality": pl.Float64,
        "failure_impact": pl.Float64,
        "revenue": pl.Float64,
        "defect_density": pl.Float64,
        "change_rate": pl.Float64,
        "coverage_gap": pl.Float64,
        "platform_dominance": pl.Float64,
        "determinism": pl.Float64,
        "risk_score": pl.Float64,
        "decision": pl.String,
    }
)

TOP_N_GAPS = pl.Schema(
    {
        "day": DAY,
        "rank": pl.Int32,
        "flow": pl.String,
        "gap_kind": pl.String,
        "gap_score": pl.Float64,
        "usage": pl.Float64,
        "coverage": pl.Float64,
        "defect_density": pl.Float64,
        "revenue": pl.Float64,
        "risk_score": pl.Float64,
        "decision": pl.String,
        "owner": pl.String,
        "reason": pl.String,
    }
)

# The ledger of Jira tickets filed for Top-N gaps (written by `testintel tickets --create`): one row
# per gap label, never rewritten, so a gap is ticketed once.
GAP_TICKETS = pl.Schema(
    {
        "day": DAY,
        "flow": pl.String,
        "gap_kind": pl.String,
        "label": pl.String,
        "ticket_key": pl.String,
        "ticket_url": pl.String,
        "summary": pl.String,
        "action": pl.String,
        "recorded_at": TS,
    }
)

RELEASE_READINESS = pl.Schema(
    {
        "day": DAY,
        "gate": pl.String,
        "value": pl.Float64,
        "threshold": pl.Float64,
        "comparator": pl.String,
        "passed": pl.Boolean,
        "detail": pl.String,
    }
)

TABLES: dict[str, pl.Schema] = {
    "ci_runs": CI_RUNS,
    "test_results": TEST_RESULTS,
    "test_meta": TEST_META,
    "coverage_files": COVERAGE_FILES,
    "usage_events": USAGE_EVENTS,
    "usage_users": USAGE_USERS,
    "usage_rejects": USAGE_REJECTS,
    "defects": DEFECTS,
    "code_changes": CODE_CHANGES,
    "flow_usage": FLOW_USAGE,
    "flake_stats": FLAKE_STATS,
    "flake_evidence": FLAKE_EVIDENCE,
    "failure_signatures": FAILURE_SIGNATURES,
    "quarantine": QUARANTINE,
    "flake_trends": FLAKE_TRENDS,
    "ci_time_wasted": CI_TIME_WASTED,
    "slowest_tests": SLOWEST_TESTS,
    "outcome_extremes": OUTCOME_EXTREMES,
    "coverage_by_flow": COVERAGE_BY_FLOW,
    "coverage_by_component": COVERAGE_BY_COMPONENT,
    "coverage_delta": COVERAGE_DELTA,
    "defect_density": DEFECT_DENSITY,
    "change_rate": CHANGE_RATE,
    "risk_scores": RISK_SCORES,
    "top_n_gaps": TOP_N_GAPS,
    "release_readiness": RELEASE_READINESS,
    "gap_tickets": GAP_TICKETS,
}


def empty(schema: pl.Schema) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


def stack(frames: list[pl.DataFrame], schema: pl.Schema) -> pl.DataFrame:
    """Concatenate frames conformed to the schema; the typed empty table when there are none."""
    return pl.concat([conform(frame, schema) for frame in frames]) if frames else empty(schema)


def conform(frame: pl.DataFrame, schema: pl.Schema) -> pl.DataFrame:
    """Select the schema's columns in order, casting types and filling absent columns with nulls."""
    columns = [
        (pl.col(name) if name in frame.columns else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in schema.items()
    ]
    return frame.select(columns)


# What a single CI artifact parser returns: the table's columns minus those the landing reader
# adds from run.json (day, run_id, sha, branch, pipeline, blocking, started_at) and the hash.
_RUN_COLUMNS = {"day", "run_id", "sha", "branch", "pipeline", "blocking", "started_at", "artifact_hash"}
ARTIFACT_RESULTS = pl.Schema({k: v for k, v in TEST_RESULTS.items() if k not in _RUN_COLUMNS})
ARTIFACT_META = pl.Schema({k: v for k, v in TEST_META.items() if k != "day"})
ARTIFACT_COVERAGE = pl.Schema(
    {k: v for k, v in COVERAGE_FILES.items() if k not in _RUN_COLUMNS and k != "component"}
)
