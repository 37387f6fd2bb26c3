"""Per-file coverage as counts plus the keys behind them, and the union that merges several reports.

Every reader fills a `FileCoverage` per source file: line numbers, branch keys and function keys,
each marked covered or missed. Counts normally derive from those keys; a format whose producer
counts in another unit (Clover statements, coverage.py lines it executed but does not count)
overrides the counts and keeps its keys. `merge_files` then unions reports of the same files
(sharded CI, one file listed twice in one report) without double counting (docs/coverage.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import compress
from operator import not_

import polars as pl
import pyarrow as pa

from testintel_assets.parsers import ArtifactRejected, Parsed
from testintel_assets.parsers.coverage.paths import normalise_frame
from testintel_assets.schemas import ARTIFACT_COVERAGE, conform, empty

DIMENSIONS = ("lines", "branches", "functions")
# Rows are turned into a Polars frame every CHUNK_FILES files so Python objects stay bounded.
CHUNK_FILES = 2000
# A line with more branches than this is a hostile or broken report, not code: its keys would not fit.
MAX_BRANCHES_PER_LINE = 1 << 16


@dataclass(slots=True)
class Counts:
    """A producer's own totals for one file and dimension, when they are not the number of keys."""

    valid: int
    covered: int


@dataclass(slots=True)
class FileCoverage:
    """What one report says about one source file; keys map to covered (True) or missed (False)."""

    path: str
    # line number -> covered; hot XML readers key by the digits as written (see FrameBuilder)
    lines: dict[int | str, bool] = field(default_factory=dict)
    branches: dict[str, bool] = field(default_factory=dict)
    # line -> (branches, covered branches) for formats that only count a line's branches
    branch_totals: dict[str, tuple[int, int]] = field(default_factory=dict)
    functions: dict[str, bool] = field(default_factory=dict)
    counts: dict[str, Counts] = field(default_factory=dict)
    # False when the format gives counts only: the key lists are then null, not empty.
    has_keys: bool = True

    def line(self, number: int | str, covered: bool) -> None:
        self.lines[number] = covered or self.lines.get(number, False)

    def branch(self, key: str, covered: bool) -> None:
        self.branches[key] = covered or self.branches.get(key, False)

    def function(self, key: str, covered: bool) -> None:
        self.functions[key] = covered or self.functions.get(key, False)

    def branch_counts(self, line: str, valid: int, covered: int) -> None:
        """Formats that only count a line's branches (Cobertura, JaCoCo) get positional keys
        `line#index`, the first `covered` of them covered, which FrameBuilder makes per chunk in
        one vectorised step. A line listed again keeps the larger counts: the union of the two
        sets of keys, since each is a prefix."""
        if valid > MAX_BRANCHES_PER_LINE:
            raise ArtifactRejected(f"line {line} claims {valid} branches (more than {MAX_BRANCHES_PER_LINE})")
        if valid <= 0:
            return
        if covered > valid:
            covered = valid
        elif covered < 0:
            covered = 0
        seen = self.branch_totals.get(line)
        if seen is None:
            self.branch_totals[line] = (valid, covered)
        else:
            self.branch_totals[line] = (max(valid, seen[0]), max(covered, seen[1]))


_KEY_TYPES = {"lines": pa.int32(), "branches": pa.string(), "functions": pa.string()}


class FrameBuilder:
    """Collects FileCoverage rows column by column and turns each chunk into a typed frame
    through Arrow list arrays (flat values + offsets), which costs far less than nested lists."""

    def __init__(self, format_name: str) -> None:
        self.format_name = format_name
        self._frames: list[pl.DataFrame] = []
        self._reset()

    def _reset(self) -> None:
        self._paths: list[str] = []
        self._keyed: list[bool] = []
        self._counts: dict[str, list[int]] = {
            f"{dimension}_{state}": [] for dimension in DIMENSIONS for state in ("valid", "covered")
        }
        self._values: dict[str, list] = {f"{s}_{d}": [] for d in DIMENSIONS for s in ("covered", "missed")}
        self._offsets: dict[str, list[int]] = {name: [0] for name in self._values}
        # FileCoverage.branch_totals of the chunk, flat: the row each belongs to, line, counts
        self._totals: dict[str, list] = {"row": [], "line": [], "valid": [], "covered": []}

    def add(self, coverage: FileCoverage) -> None:
        self._paths.append(coverage.path)
        self._keyed.append(coverage.has_keys)
        for dimension in DIMENSIONS:
            keys: dict = getattr(coverage, dimension)
            covered = list(compress(keys, keys.values()))
            missed = list(compress(keys, map(not_, keys.values())))
            counts = Counts(len(keys), len(covered))
            if dimension == "branches" and coverage.branch_totals:
                counts = self._add_totals(coverage.branch_totals, counts)
            counts = coverage.counts.get(dimension) or counts  # a producer's own counts win
            self._counts[f"{dimension}_valid"].append(counts.valid)
            self._counts[f"{dimension}_covered"].append(counts.covered)
            for state, values in (("covered", covered), ("missed", missed)):
                column = f"{state}_{dimension}"
                self._values[column].extend(values)
                self._offsets[column].append(len(self._values[column]))
        if len(self._paths) >= CHUNK_FILES:
            self._flush()

    def _add_totals(self, totals: dict[str, tuple[int, int]], counts: Counts) -> Counts:
        valid, covered = zip(*totals.values(), strict=True)
        self._totals["row"].extend([len(self._paths) - 1] * len(totals))
        self._totals["line"].extend(totals)
        self._totals["valid"].extend(valid)
        self._totals["covered"].extend(covered)
        return Counts(counts.valid + sum(valid), counts.covered + sum(covered))

    def add_all(self, files: Iterable[FileCoverage]) -> None:
        for coverage in files:
            self.add(coverage)

    def _flush(self) -> None:
        if not self._paths:
            return
        nulls = pa.array([not keyed for keyed in self._keyed], pa.bool_()) if not all(self._keyed) else None
        columns: dict[str, pa.Array] = {"source_path": pa.array(self._paths, pa.string())}
        columns |= {name: pa.array(values, pa.int64()) for name, values in self._counts.items()}
        for name, values in self._values.items():
            columns[name] = pa.ListArray.from_arrays(
                pa.array(self._offsets[name], pa.int32()), self._key_array(name, values), mask=nulls
            )
        frame = self._with_counted_branches(pl.from_arrow(pa.table(columns)))
        frame = frame.with_columns(
            pl.lit(self.format_name).alias("format"), *[pl.col(name).list.sort() for name in self._values]
        )
        self._frames.append(conform(frame, ARTIFACT_COVERAGE))
        self._reset()

    def _with_counted_branches(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Append the `line#index` keys of the chunk's branch totals to its branch key lists."""
        if not self._totals["row"]:
            return frame
        totals = pl.DataFrame(
            self._totals, schema={"row": pl.UInt32, "line": pl.String, "valid": pl.Int64, "covered": pl.Int64}
        )
        keys = totals.with_columns(index=pl.int_ranges("valid")).explode("index").drop_nulls("index")
        key = pl.concat_str("line", pl.lit("#"), pl.col("index").cast(pl.String))
        is_covered = pl.col("index") < pl.col("covered")
        per_row = keys.group_by("row").agg(
            key.filter(is_covered).alias("_covered"), key.filter(~is_covered).alias("_missed")
        )
        frame = frame.with_row_index("row").join(per_row, on="row", how="left", maintain_order="left")
        return frame.with_columns(
            pl.concat_list("covered_branches", pl.col("_covered").fill_null([])).alias("covered_branches"),
            pl.concat_list("missed_branches", pl.col("_missed").fill_null([])).alias("missed_branches"),
        ).drop("row", "_covered", "_missed")

    def _key_array(self, name: str, values: list) -> pa.Array:
        """Keys as Arrow values; line numbers a reader kept as the digits the report wrote are
        converted here in one vectorised cast instead of one int() per line."""
        key_type = _KEY_TYPES[name.split("_", 1)[1]]
        if key_type != pa.int32() or not values or not isinstance(values[0], str):
            return pa.array(values, key_type)
        try:
            return pa.array(values, pa.string()).cast(key_type)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ArtifactRejected(f"{self.format_name}: a line number is not an integer ({exc})") from exc

    def frame(self) -> pl.DataFrame:
        """All rows so far, the raw path in `source_path` (the reader normalises it afterwards)."""
        self._flush()
        if not self._frames:
            return empty(ARTIFACT_COVERAGE)
        return pl.concat(self._frames, how="vertical")


def _union_expressions(dimension: str) -> list[pl.Expr]:
    """Union of the keys of one dimension across the rows of a group, corrected for producers
    whose counts differ from their key lists (the largest per-row excess is subtracted)."""
    covered, missed = f"covered_{dimension}", f"missed_{dimension}"
    valid_count, covered_count = f"{dimension}_valid", f"{dimension}_covered"
    seen = pl.concat_list(pl.col(covered).fill_null([]), pl.col(missed).fill_null([]))
    return [
        pl.col(covered).is_not_null().all().alias(f"_{dimension}_keyed"),
        pl.col(covered).explode().drop_nulls().unique().sort().alias(f"_{dimension}_cov"),
        seen.explode().drop_nulls().unique().sort().alias(f"_{dimension}_seen"),
        (pl.col(covered).list.len() - pl.col(covered_count)).max().alias(f"_{dimension}_cov_excess"),
        (seen.list.len() - pl.col(valid_count)).max().alias(f"_{dimension}_seen_excess"),
        pl.col(valid_count).max().alias(f"_{dimension}_valid_max"),
        pl.col(covered_count).max().alias(f"_{dimension}_covered_max"),
    ]


def _finish_union(dimension: str) -> list[pl.Expr]:
    prefix = f"_{dimension}"
    keyed = pl.col(f"{prefix}_keyed")
    union_valid = pl.col(f"{prefix}_seen").list.len() - pl.col(f"{prefix}_seen_excess")
    union_covered = pl.col(f"{prefix}_cov").list.len() - pl.col(f"{prefix}_cov_excess")
    valid = (
        pl.when(keyed)
        .then(pl.max_horizontal(union_valid, pl.col(f"{prefix}_valid_max")))
        .otherwise(pl.col(f"{prefix}_valid_max"))
    )
    covered = (
        pl.when(keyed)
        .then(pl.max_horizontal(union_covered, pl.col(f"{prefix}_covered_max")))
        .otherwise(pl.col(f"{prefix}_covered_max"))
    )
    return [
        valid.cast(pl.Int64).alias(f"{dimension}_valid"),
        pl.min_horizontal(covered, valid).cast(pl.Int64).alias(f"{dimension}_covered"),
        pl.when(keyed).then(pl.col(f"{prefix}_cov")).alias(f"covered_{dimension}"),
        pl.when(keyed)
        .then(pl.col(f"{prefix}_seen").list.set_difference(pl.col(f"{prefix}_cov")))
        .alias(f"missed_{dimension}"),
    ]


def merge_files(frame: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """One row per `keys` group: key lists unioned, counts recomputed from the union.

    Columns outside the coverage counts and lists take their first value in the group, so the
    caller sorts by preference first (e.g. the latest run first).
    """
    duplicated = frame.select(pl.struct(keys).is_duplicated()).to_series() if frame.height else None
    if duplicated is None or not duplicated.any():
        return frame
    single, repeated = frame.filter(~duplicated), frame.filter(duplicated)
    return pl.concat([single, _union(repeated, keys)], how="vertical")


def _union(frame: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """The merge proper, for the rows whose keys repeat."""
    coverage_columns = {
        f"{dimension}_{suffix}" for dimension in DIMENSIONS for suffix in ("valid", "covered")
    } | {f"{state}_{dimension}" for dimension in DIMENSIONS for state in ("covered", "missed")}
    passthrough = [name for name in frame.columns if name not in coverage_columns and name not in keys]
    merged = frame.group_by(keys, maintain_order=True).agg(
        *[pl.col(name).first() for name in passthrough],
        *[expr for dimension in DIMENSIONS for expr in _union_expressions(dimension)],
    )
    merged = merged.with_columns(
        *[expr for dimension in DIMENSIONS for expr in _finish_union(dimension)]
    ).select(frame.columns)
    return merged.cast(dict(frame.schema))


def finish(builder: FrameBuilder, roots: Sequence[str] = ()) -> Parsed:
    """Normalise the paths of a report's rows and merge files the report lists more than once."""
    frame = normalise_frame(builder.frame(), roots)
    return Parsed(coverage=merge_files(frame, ["file"]))
