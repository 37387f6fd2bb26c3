"""Coverage per component and per flow, the day's coverage, and the delta the pre-merge gate reads.

- `assign_components`: components.yaml applied to parsed rows (its strip_prefixes, then globs).
- `run_coverage`: the latest run per (sha, pipeline), its shard reports merged as a union.
- `day_coverage`: per pipeline, the latest sha on the base branch; pipelines merged per file.
- `coverage_by_component` / `coverage_by_flow`: counts summed, rates, blended coverage.
- `coverage_delta`: a run's touched components against the latest coverage of the base branch.

Blended coverage = min(cap, sum(w_d * rate_d) / sum(w_d)) over the dimensions d (line, branch,
function) that were measured: a report without branch data does not count as 0% branches, its
weight is shared among the others (docs/coverage.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta

import polars as pl

from testintel_assets import schemas
from testintel_assets.configuration import Catalog, CoverageBlend
from testintel_assets.parsers.coverage.paths import clean, is_absolute, prefix_pattern, strip_workspace
from testintel_assets.parsers.coverage.rows import DIMENSIONS, merge_files

COUNTS = [f"{dimension}_{state}" for dimension in DIMENSIONS for state in ("valid", "covered")]
_RATE_NAMES = {"lines": "line", "branches": "branch", "functions": "function"}
RUN_KEYS = ["sha", "pipeline"]


# ------------------------------------------------------------------------------- components
def _anchor_to_component(path: str, catalog: Catalog) -> str:
    """An absolute path no rule could place: its longest suffix that a component glob matches."""
    parts = [part for part in path.split("/") if part]
    for start in range(1, len(parts)):
        suffix = "/".join(parts[start:])
        if catalog.component_of(suffix) is not None:
            return suffix
    return path


def assign_components(coverage: pl.DataFrame, catalog: Catalog) -> pl.DataFrame:
    """`file` and `component` from components.yaml: its strip_prefixes applied to source_path,
    absolute leftovers anchored at the longest suffix a component glob matches, then the globs."""
    prefixes = prefix_pattern(catalog.components.strip_prefixes)
    pairs = coverage.select("source_path", "file").unique()
    resolved_files, components = [], []
    for source_path, file in pairs.iter_rows():
        stripped = strip_workspace(clean(source_path), prefixes) if prefixes and source_path else None
        resolved = stripped or file or ""
        if is_absolute(resolved):
            resolved = _anchor_to_component(resolved, catalog)
        resolved_files.append(resolved)
        components.append(catalog.component_of(resolved))
    mapping = pairs.with_columns(
        pl.Series("_file", resolved_files, dtype=pl.String),
        pl.Series("component", components, dtype=pl.String),
    )
    joined = coverage.drop("component", strict=False).join(
        mapping, on=["source_path", "file"], how="left", nulls_equal=True, maintain_order="left"
    )
    return joined.with_columns(pl.col("_file").alias("file")).drop("_file")


# ------------------------------------------------------------------------- which reports count
def _latest(frame: pl.DataFrame, keys: list[str], item: str) -> pl.DataFrame:
    """Rows of the latest `item` (by started_at, then name) within each `keys` group."""
    order = frame.group_by([*keys, item]).agg(pl.col("started_at").max())
    order = order.sort(["started_at", item], nulls_last=False)
    latest = order.group_by(keys).agg(pl.col(item).last()) if keys else order.tail(1).select(item)
    return frame.join(latest, on=[*keys, item], how="semi", nulls_equal=True)


def _newest_first(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(["started_at", "run_id"], descending=True, nulls_last=True)


def run_coverage(coverage_files: pl.DataFrame) -> pl.DataFrame:
    """One row per (sha, pipeline, file): the latest run of each sha and pipeline (a rerun
    replaces the run before it), with that run's shard reports merged as a union."""
    if coverage_files.is_empty():
        return coverage_files
    latest = _latest(coverage_files, RUN_KEYS, "run_id")
    return merge_files(_newest_first(latest), [*RUN_KEYS, "file"])


def _snapshot(runs: pl.DataFrame) -> pl.DataFrame:
    """Per pipeline its latest sha; the pipelines' reports merged into one row per file."""
    if runs.is_empty():
        return runs
    latest = _latest(runs, ["pipeline"], "sha")
    return merge_files(_newest_first(latest), ["file"])


def day_coverage(
    coverage_files: pl.DataFrame, catalog: Catalog, base_branch: str | None = None
) -> pl.DataFrame:
    """The coverage of the codebase as of the newest rows given: on the base branch (config
    `coverage.base_branch`), each pipeline's latest sha and run, shards and pipelines merged."""
    branch = base_branch or catalog.scoring.coverage.base_branch
    on_base = coverage_files.filter(pl.col("branch") == branch)
    return _snapshot(run_coverage(assign_components(on_base, catalog)))


# ----------------------------------------------------------------------------- rates, blend
def with_rates(frame: pl.DataFrame, blend: CoverageBlend, prefix: str = "") -> pl.DataFrame:
    """line/branch/function rates (null when nothing was measured) and the capped blend over the
    dimensions that were measured and carry weight."""
    weights = {"lines": blend.line, "branches": blend.branch, "functions": blend.function}
    rates, weighted, used, names = [], [], [], []
    for dimension in DIMENSIONS:
        valid, covered = pl.col(f"{prefix}{dimension}_valid"), pl.col(f"{prefix}{dimension}_covered")
        measured = (valid > 0) & pl.lit(weights[dimension] > 0)
        rate = pl.when(valid > 0).then(covered / valid)
        rates.append(rate.alias(f"{prefix}{_RATE_NAMES[dimension]}_rate"))
        weighted.append(pl.when(measured).then(rate * weights[dimension]).otherwise(0.0))
        used.append(pl.when(measured).then(weights[dimension]).otherwise(0.0))
        names.append(pl.when(measured).then(pl.lit(_RATE_NAMES[dimension])))
    total_weight = pl.sum_horizontal(used)
    blended = pl.when(total_weight > 0).then(
        pl.min_horizontal(pl.sum_horizontal(weighted) / total_weight, pl.lit(blend.cap))
    )
    return frame.with_columns(
        *rates,
        blended.alias(f"{prefix}blended_coverage"),
        pl.concat_list(names).list.drop_nulls().alias(f"{prefix}dimensions"),
    )


def _sum_counts(frame: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    return frame.group_by(by, maintain_order=True).agg(
        pl.len().cast(pl.Int64).alias("files"), *[pl.col(name).sum() for name in COUNTS]
    )


# ------------------------------------------------------------------------- component, flow
def coverage_by_component(
    coverage_files: pl.DataFrame, catalog: Catalog, day: date, base_branch: str | None = None
) -> pl.DataFrame:
    """COVERAGE_BY_COMPONENT for `day` from the rows given up to that day (null component: the
    files no glob matched)."""
    snapshot = day_coverage(coverage_files.filter(pl.col("day") <= day), catalog, base_branch)
    if snapshot.is_empty():
        return schemas.empty(schemas.COVERAGE_BY_COMPONENT)
    frame = with_rates(_sum_counts(snapshot, ["component"]), catalog.scoring.coverage)
    return schemas.conform(frame.with_columns(pl.lit(day).alias("day")), schemas.COVERAGE_BY_COMPONENT)


def flow_components(catalog: Catalog, test_meta: pl.DataFrame | None = None) -> pl.DataFrame:
    """(flow, component, from_tests): flows.yaml's components plus the known components that
    test_meta names for tests of the flow (flow labels canonicalised through aliases)."""
    pairs = {(flow.name, component) for flow in catalog.flows.flows for component in flow.components}
    known = {component.name for component in catalog.components.components}
    from_tests: set[tuple[str, str]] = set()
    if test_meta is not None and not test_meta.is_empty():
        tagged = test_meta.select("flow", "component").drop_nulls().unique()
        for label, component in tagged.iter_rows():
            flow = catalog.canonical_flow(label)
            if flow and component in known and (flow, component) not in pairs:
                from_tests.add((flow, component))
    rows = [(flow, component, False) for flow, component in pairs]
    rows += [(flow, component, True) for flow, component in from_tests]
    return pl.DataFrame(
        rows, schema={"flow": pl.String, "component": pl.String, "from_tests": pl.Boolean}, orient="row"
    )


def coverage_by_flow(
    coverage_files: pl.DataFrame,
    catalog: Catalog,
    day: date,
    test_meta: pl.DataFrame | None = None,
    base_branch: str | None = None,
) -> pl.DataFrame:
    """COVERAGE_BY_FLOW for `day`: every flow of flows.yaml, summed over the files of its
    components; rates and blend null when none of them was measured."""
    by_component = coverage_by_component(coverage_files, catalog, day, base_branch)
    if by_component.is_empty():
        return schemas.empty(schemas.COVERAGE_BY_FLOW)
    mapping = flow_components(catalog, test_meta)
    joined = mapping.join(by_component.select("component", "files", *COUNTS), on="component", how="left")
    per_flow = joined.group_by("flow").agg(
        pl.col("component").sort().alias("components"),
        pl.col("component").filter(pl.col("from_tests")).sort().alias("components_from_tests"),
        *[pl.col(name).fill_null(0).sum() for name in ["files", *COUNTS]],
    )
    flows = pl.DataFrame({"flow": [flow.name for flow in catalog.flows.flows]})
    frame = with_rates(flows.join(per_flow, on="flow", how="left"), catalog.scoring.coverage)
    frame = frame.with_columns(
        pl.lit(day).alias("day"), *[pl.col(c).fill_null(0) for c in ["files", *COUNTS]]
    )
    return schemas.conform(frame, schemas.COVERAGE_BY_FLOW)


def _for_days(
    build: Callable[..., pl.DataFrame],
    schema: pl.Schema,
    coverage_files: pl.DataFrame,
    days: Sequence[date],
    lookback_days: int,
    **kwargs: object,
) -> pl.DataFrame:
    parts = [
        build(coverage_files.filter(pl.col("day") > day - timedelta(days=lookback_days)), day=day, **kwargs)
        for day in days
    ]
    return pl.concat(parts) if parts else schemas.empty(schema)


def coverage_by_component_for_days(
    coverage_files: pl.DataFrame, days: Sequence[date], catalog: Catalog, lookback_days: int = 7
) -> pl.DataFrame:
    """coverage_by_component for each day, from the rows of the `lookback_days` up to it (a day
    without CI runs keeps the newest coverage of that window)."""
    return _for_days(
        coverage_by_component,
        schemas.COVERAGE_BY_COMPONENT,
        coverage_files,
        days,
        lookback_days,
        catalog=catalog,
    )


def coverage_by_flow_for_days(
    coverage_files: pl.DataFrame,
    days: Sequence[date],
    catalog: Catalog,
    test_meta: pl.DataFrame | None = None,
    lookback_days: int = 7,
) -> pl.DataFrame:
    """coverage_by_flow for each day, from the rows of the `lookback_days` up to it."""
    return _for_days(
        coverage_by_flow,
        schemas.COVERAGE_BY_FLOW,
        coverage_files,
        days,
        lookback_days,
        catalog=catalog,
        test_meta=test_meta,
    )


# ---------------------------------------------------------------------------------- delta
def _base_rows(
    history: pl.DataFrame, head: dict, branch: str, base_sha: str | None
) -> tuple[pl.DataFrame, list[str]]:
    """The base coverage (one row per file) and its run ids: the given sha, else the newest sha of
    the base branch that started no later than the run; the run's own pipeline when the base has
    it, else all pipelines."""
    rows = history.filter(pl.col("run_id") != head["run_id"])
    if base_sha is not None:
        rows = rows.filter(pl.col("sha") == base_sha)
    else:
        rows = rows.filter(pl.col("branch") == branch)
        if head["started_at"] is not None:
            rows = rows.filter(pl.col("started_at").is_null() | (pl.col("started_at") <= head["started_at"]))
    same_pipeline = rows.filter(pl.col("pipeline") == head["pipeline"])
    if not same_pipeline.is_empty():
        rows = same_pipeline
    if rows.is_empty():
        return rows, []
    newest = _latest(run_coverage(rows), [], "sha")
    newest_runs = _latest(rows.filter(pl.col("sha") == newest["sha"][0]), RUN_KEYS, "run_id")
    return merge_files(_newest_first(newest), ["file"]), sorted(newest_runs["run_id"].unique())


def _component_rates(rows: pl.DataFrame, blend: CoverageBlend, prefix: str) -> pl.DataFrame:
    counts = _sum_counts(rows.filter(pl.col("component").is_not_null()), ["component"])
    rated = with_rates(counts.rename({name: f"{prefix}{name}" for name in ["files", *COUNTS]}), blend, prefix)
    return rated.rename({f"{prefix}blended_coverage": f"{prefix}blended"})


def coverage_delta(
    run_rows: pl.DataFrame,
    history: pl.DataFrame,
    catalog: Catalog,
    changed_files: Sequence[str] | None = None,
    base_sha: str | None = None,
    base_branch: str | None = None,
) -> pl.DataFrame:
    """COVERAGE_DELTA: for each component the run touched (its changed_files; every component
    its reports cover when it names none), head coverage against the base coverage.

    run_rows: the coverage_files rows of one run (all its shards); history: coverage_files rows
    to find the base in (the run's own rows are ignored there).
    """
    if run_rows.is_empty():
        return schemas.empty(schemas.COVERAGE_DELTA)
    if run_rows["run_id"].n_unique() != 1:
        raise ValueError("coverage_delta takes the rows of exactly one run")
    blend = catalog.scoring.coverage
    branch = base_branch or blend.base_branch
    head_info = _newest_first(run_rows).row(0, named=True)
    head = merge_files(assign_components(run_rows, catalog), ["file"])
    base, base_runs = _base_rows(assign_components(history, catalog), head_info, branch, base_sha)

    if changed_files is None:
        touched = head.select("component", pl.lit(None, pl.String).alias("changed")).drop_nulls("component")
    else:
        cleaned = sorted({clean(path) for path in changed_files if path.strip()})
        touched = pl.DataFrame(
            {"component": [catalog.component_of(path) for path in cleaned], "changed": cleaned},
            schema={"component": pl.String, "changed": pl.String},
        ).drop_nulls("component")
    touched = touched.group_by("component").agg(pl.col("changed").drop_nulls().sort().alias("changed_files"))

    changed = head.join(
        touched.explode("changed_files"),
        left_on=["component", "file"],
        right_on=["component", "changed_files"],
    )
    changed_rate = changed.group_by("component").agg(
        pl.when(pl.col("lines_valid").sum() > 0)
        .then(pl.col("lines_covered").sum() / pl.col("lines_valid").sum())
        .alias("changed_files_line_rate")
    )
    frame = (
        touched.join(_component_rates(head, blend, "head_"), on="component", how="left")
        .join(_component_rates(base, blend, "base_"), on="component", how="left")
        .join(changed_rate, on="component", how="left")
        .with_columns(pl.col("head_files", "base_files").fill_null(0))
        .with_columns(
            (pl.col("head_line_rate") - pl.col("base_line_rate")).alias("delta_line_rate"),
            (pl.col("head_blended") - pl.col("base_blended")).alias("delta_blended"),
            pl.when(pl.col("head_files") == 0)
            .then(pl.lit("no_head"))
            .when(pl.col("base_files") == 0)
            .then(pl.lit("no_base"))
            .otherwise(pl.lit("compared"))
            .alias("status"),
            pl.lit(base["sha"][0] if not base.is_empty() else None, pl.String).alias("base_sha"),
            pl.lit(base_runs, pl.List(pl.String)).alias("base_run_ids"),
            pl.lit(branch).alias("base_branch"),
            *[pl.lit(head_info[name]).alias(name) for name in ("day", "run_id", "sha", "branch", "pipeline")],
        )
        .sort("component")
    )
    return schemas.conform(frame, schemas.COVERAGE_DELTA)
