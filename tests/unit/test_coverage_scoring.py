"""Shard merge, the day's coverage, components and flows, the blend, and the pre-merge delta."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from testintel_assets import schemas
from testintel_assets.configuration import Catalog, load_catalog
from testintel_assets.parsers import coverage as cov
from testintel_assets.scoring import coverage as scoring

DAY = date(2025, 3, 3)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(Path(__file__).resolve().parents[2] / "config")


def _lcov(
    records: dict[str, tuple[list[int], list[int]]], branches: dict[str, list[str]] | None = None
) -> str:
    """An LCOV tracefile: per file (covered lines, missed lines) and optional BRDA taken values."""
    text = ""
    for name, (covered, missed) in records.items():
        text += f"SF:/home/runner/work/shop/shop/{name}\n"
        text += "".join(f"DA:{line},1\n" for line in covered) + "".join(f"DA:{line},0\n" for line in missed)
        text += "".join(f"BRDA:1,0,{i},{taken}\n" for i, taken in enumerate((branches or {}).get(name, [])))
        text += "end_of_record\n"
    return text


def _rows(
    tmp_path: Path,
    lcov_text: str,
    run_id: str,
    sha: str = "s1",
    pipeline: str = "nightly",
    branch: str = "main",
    hour: int = 1,
) -> pl.DataFrame:
    """coverage_files rows as the landing reader makes them: parsed report + run columns."""
    path = tmp_path / f"{run_id}-{hash(lcov_text)}.info"
    path.write_text(lcov_text)
    parsed = cov.read_lcov(path).coverage
    return schemas.conform(
        parsed.with_columns(
            pl.lit(DAY).alias("day"),
            pl.lit(run_id).alias("run_id"),
            pl.lit(sha).alias("sha"),
            pl.lit(branch).alias("branch"),
            pl.lit(pipeline).alias("pipeline"),
            pl.lit(datetime(2025, 3, 3, hour, tzinfo=UTC)).alias("started_at"),
        ),
        schemas.COVERAGE_FILES,
    )


# ---------------------------------------------------------------------------- shard merge
def test_shards_of_one_run_union_lines_instead_of_summing(tmp_path: Path) -> None:
    shard_a = _rows(
        tmp_path, _lcov({"shop/cart/a.py": ([1, 2], [3, 4])}, {"shop/cart/a.py": ["1", "0"]}), "r1"
    )
    shard_b = _rows(
        tmp_path, _lcov({"shop/cart/a.py": ([2, 3], [1, 4])}, {"shop/cart/a.py": ["0", "1"]}), "r1"
    )
    merged = scoring.run_coverage(pl.concat([shard_a, shard_b]))
    row = merged.row(0, named=True)
    assert merged.height == 1
    assert (row["lines_valid"], row["lines_covered"]) == (4, 3)  # not 8 / 4
    assert row["covered_lines"] == [1, 2, 3] and row["missed_lines"] == [4]
    assert (row["branches_valid"], row["branches_covered"]) == (2, 2)


def test_same_report_landing_twice_counts_once(tmp_path: Path) -> None:
    shard = _rows(tmp_path, _lcov({"shop/cart/a.py": ([1], [2, 3])}), "r1")
    row = scoring.run_coverage(pl.concat([shard, shard])).row(0, named=True)
    assert (row["lines_valid"], row["lines_covered"]) == (3, 1)


def test_counts_only_rows_merge_as_the_larger_shard(tmp_path: Path) -> None:
    summary = tmp_path / "coverage-summary.json"
    summary.write_text(
        '{"total": {}, "/home/runner/work/shop/shop/web/src/a.js": {"lines": {"total": 10, "covered": 4},'
        ' "branches": {"total": 0, "covered": 0}, "functions": {"total": 2, "covered": 1}}}'
    )
    parsed = cov.read_istanbul_summary(summary).coverage
    assert parsed["covered_lines"].to_list() == [None]
    shards = [
        schemas.conform(
            parsed.with_columns(pl.lit("r1").alias("run_id"), pl.lit(covered).alias("lines_covered")),
            schemas.COVERAGE_FILES,
        )
        for covered in (4, 7)
    ]
    row = scoring.run_coverage(pl.concat(shards)).row(0, named=True)
    assert (row["lines_valid"], row["lines_covered"]) == (10, 7)


def test_coveragepy_executed_lines_beyond_statements_do_not_inflate_the_union(tmp_path: Path) -> None:
    """coverage.py lists an executed docstring line it does not count: keys 3, counts 2."""
    reports = []
    for executed, missing in (([1, 2], [5]), ([1, 5], [2])):
        path = tmp_path / f"c{len(reports)}.json"
        path.write_text(
            '{"meta": {"format": 3}, "files": {"shop/a.py": {"executed_lines": '
            f'{executed}, "missing_lines": {missing}, '
            f'"summary": {{"num_statements": 2, "covered_lines": {len(executed) - 1}}}}}}}}}'
        )
        reports.append(schemas.conform(cov.read_coveragepy_json(path).coverage, schemas.COVERAGE_FILES))
    single = scoring.run_coverage(reports[0]).row(0, named=True)
    assert (single["lines_valid"], single["lines_covered"]) == (2, 1)
    merged = scoring.run_coverage(pl.concat(reports)).row(0, named=True)
    assert (merged["lines_valid"], merged["lines_covered"]) == (2, 2)


def test_a_rerun_replaces_the_earlier_run_of_the_same_sha_and_pipeline(tmp_path: Path) -> None:
    first = _rows(tmp_path, _lcov({"shop/cart/a.py": ([1], [2, 3])}), "r1", hour=1)
    rerun = _rows(tmp_path, _lcov({"shop/cart/a.py": ([1, 2, 3], [])}), "r2", hour=2)
    other_pipeline = _rows(tmp_path, _lcov({"shop/cart/a.py": ([], [1, 2, 3])}), "r3", pipeline="e2e")
    merged = scoring.run_coverage(pl.concat([first, rerun, other_pipeline])).sort("pipeline")
    assert merged.select("pipeline", "run_id", "lines_covered").rows() == [
        ("e2e", "r3", 0),
        ("nightly", "r2", 3),
    ]


# ------------------------------------------------------------------------ day, components
def test_day_coverage_takes_latest_sha_per_pipeline_on_base_branch(tmp_path: Path, catalog: Catalog) -> None:
    rows = pl.concat(
        [
            _rows(tmp_path, _lcov({"shop/cart/a.py": ([1], [2])}), "old", sha="s1", hour=1),
            _rows(tmp_path, _lcov({"shop/cart/a.py": ([1, 2], [])}), "new", sha="s2", hour=5),
            _rows(
                tmp_path, _lcov({"shop/cart/a.py": ([], [1, 2])}), "feature", sha="f1", branch="feat", hour=9
            ),
            _rows(tmp_path, _lcov({"shop/cart/a.py": ([3], [4])}), "e2e", sha="s1", pipeline="e2e", hour=2),
        ]
    )
    day = scoring.day_coverage(rows, catalog)
    row = day.row(0, named=True)
    assert day.height == 1 and row["component"] == "cart"
    # nightly's s2 (lines 1, 2 covered) united with e2e's s1 (3 covered, 4 missed)
    assert (row["lines_valid"], row["lines_covered"]) == (4, 3)


def test_components_from_globs_and_config_prefixes(tmp_path: Path, catalog: Catalog) -> None:
    text = (
        "SF:/ci/agent/ws/shop/payments/pay.py\nDA:1,1\nend_of_record\n"
        "SF:/home/dev/checkouts/shop/search/q.py\nDA:1,1\nend_of_record\n"
        "SF:tools/script.py\nDA:1,1\nend_of_record\n"
    )
    rows = _rows(tmp_path, text, "r1")
    plain = scoring.assign_components(rows, catalog).sort("file")
    # no prefix configured: the absolute path is anchored at the longest suffix a glob matches
    assert plain.select("file", "component").rows() == [
        ("shop/payments/pay.py", "payments"),
        ("shop/search/q.py", "search"),
        ("tools/script.py", None),
    ]
    configured = catalog.model_copy(
        update={"components": catalog.components.model_copy(update={"strip_prefixes": ["/ci/*/ws"]})}
    )
    assert "shop/payments/pay.py" in scoring.assign_components(rows, configured)["file"].to_list()


def test_coverage_by_component_counts_and_unmapped_files(tmp_path: Path, catalog: Catalog) -> None:
    rows = _rows(tmp_path, _lcov({"shop/cart/a.py": ([1, 2, 3], [4]), "tools/x.py": ([], [1])}), "r1")
    frame = scoring.coverage_by_component(rows, catalog, DAY)
    assert frame.schema == schemas.COVERAGE_BY_COMPONENT
    by_name = {row["component"]: row for row in frame.iter_rows(named=True)}
    assert by_name["cart"]["line_rate"] == 0.75
    assert by_name[None]["lines_valid"] == 1


# ------------------------------------------------------------------------------- blend, flow
def test_blend_renormalises_over_measured_dimensions(catalog: Catalog) -> None:
    frame = pl.DataFrame(
        {
            "lines_valid": [10, 10, 10, 0],
            "lines_covered": [8, 8, 10, 0],
            "branches_valid": [0, 10, 10, 0],
            "branches_covered": [0, 4, 10, 0],
            "functions_valid": [0, 0, 4, 0],
            "functions_covered": [0, 0, 4, 0],
        }
    )
    rated = scoring.with_rates(frame, catalog.scoring.coverage)
    blend = catalog.scoring.coverage
    # lines only: the line rate itself, not 0.5 * 0.8
    assert rated["blended_coverage"][0] == pytest.approx(0.8)
    expected = (blend.line * 0.8 + blend.branch * 0.4) / (blend.line + blend.branch)
    assert rated["blended_coverage"][1] == pytest.approx(expected)
    assert rated["blended_coverage"][2] == blend.cap  # 100% is capped at 90%
    assert rated["blended_coverage"][3] is None
    assert rated["dimensions"].to_list() == [["line"], ["line", "branch"], ["line", "branch", "function"], []]


def test_coverage_by_flow_uses_config_and_test_meta_components(tmp_path: Path, catalog: Catalog) -> None:
    rows = _rows(
        tmp_path,
        _lcov(
            {"shop/payments/p.py": ([1], [2]), "shop/checkout/c.py": ([1, 2], []), "web/src/w.ts": ([1], [])}
        ),
        "r1",
    )
    test_meta = pl.DataFrame(
        {"flow": ["Pay", "payment", "billing", "nope"], "component": ["checkout", "payments", None, "cart"]}
    )
    frame = scoring.coverage_by_flow(rows, catalog, DAY, test_meta=test_meta)
    assert frame.schema == schemas.COVERAGE_BY_FLOW
    assert frame.height == len(catalog.flows.flows)
    payment = frame.filter(pl.col("flow") == "payment").row(0, named=True)
    assert payment["components"] == ["checkout", "payments"]
    assert payment["components_from_tests"] == ["checkout"]
    assert (payment["files"], payment["lines_valid"], payment["lines_covered"]) == (2, 4, 3)
    assert payment["blended_coverage"] == pytest.approx(0.75)
    search = frame.filter(pl.col("flow") == "search").row(0, named=True)
    assert search["files"] == 1  # web-ui only: the search component was not measured
    admin = frame.filter(pl.col("flow") == "admin_reports").row(0, named=True)
    assert admin["files"] == 0 and admin["blended_coverage"] is None


def test_for_days_keeps_the_newest_coverage_of_the_lookback(tmp_path: Path, catalog: Catalog) -> None:
    rows = _rows(tmp_path, _lcov({"shop/cart/a.py": ([1], [2])}), "r1")
    days = [DAY, date(2025, 3, 5), date(2025, 3, 20)]
    frame = scoring.coverage_by_flow_for_days(rows, days, catalog, lookback_days=7)
    assert sorted(set(frame["day"].to_list())) == days[:2]


# ---------------------------------------------------------------------------------- delta
def test_delta_of_touched_components_against_base(tmp_path: Path, catalog: Catalog) -> None:
    base_old = _rows(tmp_path, _lcov({"shop/cart/a.py": ([1], [2, 3, 4])}), "b0", sha="m0", hour=1)
    base = _rows(
        tmp_path,
        _lcov({"shop/cart/a.py": ([1, 2, 3], [4]), "shop/auth/l.py": ([1], [])}),
        "b1",
        sha="m1",
        hour=2,
    )
    base_later = _rows(tmp_path, _lcov({"shop/cart/a.py": ([], [1, 2, 3, 4])}), "b2", sha="m2", hour=9)
    head = _rows(
        tmp_path,
        _lcov(
            {"shop/cart/a.py": ([1, 2], [3, 4]), "shop/cart/new.py": ([], [1]), "shop/auth/l.py": ([1], [])}
        ),
        "pr",
        sha="h1",
        branch="feat",
        pipeline="nightly",
        hour=3,
    )
    history = pl.concat([base_old, base, base_later, head])
    delta = scoring.coverage_delta(
        head, history, catalog, changed_files=["./shop/cart/a.py", "shop/cart/new.py", "shop/orders/x.py"]
    )
    assert delta.schema == schemas.COVERAGE_DELTA
    rows = {row["component"]: row for row in delta.iter_rows(named=True)}
    assert set(rows) == {"cart", "orders"}  # auth was not touched
    cart = rows["cart"]
    assert cart["base_sha"] == "m1" and cart["base_run_ids"] == ["b1"]  # m2 started after the run
    assert cart["head_line_rate"] == pytest.approx(2 / 5)
    assert cart["base_line_rate"] == pytest.approx(3 / 4)
    assert cart["delta_line_rate"] == pytest.approx(2 / 5 - 3 / 4)
    assert cart["changed_files"] == ["shop/cart/a.py", "shop/cart/new.py"]
    assert cart["changed_files_line_rate"] == pytest.approx(2 / 5)
    assert cart["status"] == "compared"
    assert rows["orders"]["status"] == "no_head"


def test_delta_against_a_given_base_sha_and_without_changed_files(tmp_path: Path, catalog: Catalog) -> None:
    base = _rows(tmp_path, _lcov({"shop/cart/a.py": ([1], [2])}), "b0", sha="m0", branch="release")
    head = _rows(
        tmp_path, _lcov({"shop/cart/a.py": ([1, 2], []), "shop/auth/x.py": ([1], [])}), "pr", sha="h1"
    )
    delta = scoring.coverage_delta(head, pl.concat([base, head]), catalog, base_sha="m0")
    rows = {row["component"]: row for row in delta.iter_rows(named=True)}
    assert rows["cart"]["delta_line_rate"] == pytest.approx(0.5)
    assert rows["auth"]["status"] == "no_base"
    assert rows["cart"]["changed_files"] == []


def test_delta_of_empty_run_is_empty_and_typed(catalog: Catalog) -> None:
    empty = schemas.empty(schemas.COVERAGE_FILES)
    assert scoring.coverage_delta(empty, empty, catalog).schema == schemas.COVERAGE_DELTA
