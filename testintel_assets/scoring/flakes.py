"""flake_stats: every flake signal per test and day over a trailing window, a score and a class.

One row per (day, test) with at least one counted execution in the window [day - W + 1, day].
An execution is one attempt (attempt 0 or a rerun) that passed, failed or errored; skips are not
executions, and runs that were infrastructure failures (>= mass_failure_ratio of their tests
failed on the first attempt) are left out of every signal. docs/flakes.md defines each column.

How it stays fast (36 M rows in seconds, see benchmarks/bench_flakes.py): test and run ids are
hashed and mapped to dense integers; counts per (test, day) are NumPy bincounts and window sums
are differences of cumulative sums; only the cells (test, day) that hold a failure are sorted to
place failures in each test's time-ordered sequence, and flips, failure streaks and the last-N
ratio follow from the positions of failures alone, since every other execution passed. Failures
are about 1% of executions, so the expensive part scales with them, not with the history.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from functools import reduce
from operator import xor

import numpy as np
import polars as pl

from testintel_assets import schemas
from testintel_assets.configuration import Flakes

FAILED = ("failed", "error")
EXECUTED = ("passed", *FAILED)
WILSON_Z = 1.959963984540054  # 95 %
_MAX_SPAN_DAYS = 180  # days per pass, so decay ** -span stays far from float overflow
_BIG = np.int64(1) << np.int64(32)  # key stride: (test, ordinal) -> test * _BIG + ordinal
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_THREADS = 2  # NumPy gathers and sorts release the GIL: two threads use both cores
_NO_SHARED_SCAN = pl.QueryOptFlags(comm_subplan_elim=False)  # run queries side by side, cache nothing


def _in_parallel(*calls: Callable[[], object]) -> list:
    with ThreadPoolExecutor(_THREADS) as pool:
        return [future.result() for future in [pool.submit(call) for call in calls]]


class _HashIndex:
    """Open-addressing map from distinct uint64 keys to their positions 0..n-1, vectorised.

    Polars joins and categorical casts cost seconds on tens of millions of rows; a table at
    load factor <= 1/4 resolves nearly every lookup with one gather.
    """

    def __init__(self, keys: np.ndarray) -> None:
        keys = keys.astype(np.uint64, copy=False)
        bits = max(4, int(np.ceil(np.log2(max(keys.size, 1) * 4))))
        self._shift = np.uint64(64 - bits)
        self._mask = (1 << bits) - 1
        self._keys = np.zeros(1 << bits, dtype=np.uint64)
        self._values = np.full(1 << bits, -1, dtype=np.int32)
        pending = np.arange(keys.size)
        slots = self._slot(keys)
        while pending.size:
            free = self._values[slots] < 0
            taken_slots, first = np.unique(slots[free], return_index=True)
            winners = pending[free][first]
            self._keys[taken_slots] = keys[winners]
            self._values[taken_slots] = winners
            placed = np.zeros(keys.size, dtype=bool)
            placed[winners] = True
            keep = ~placed[pending]
            pending, slots = pending[keep], (slots[keep] + 1) & self._mask
        # A slot is ambiguous when a key hashing to it was placed further on: only keys whose
        # slot is ambiguous need their stored key compared (see lookup_present).
        home = self._slot(keys)
        self._ambiguous = np.zeros(1 << bits, dtype=bool)
        self._ambiguous[home[self._values[home] != np.arange(keys.size)]] = True

    def _slot(self, keys: np.ndarray) -> np.ndarray:
        # A view, not a cast: slots are small non-negative numbers, and NumPy would otherwise
        # convert uint64 indices to intp on every gather.
        return ((keys * _MULTIPLIER) >> self._shift).view(np.int64)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Position of each key (int32), -1 where absent, looked up in chunks on both cores."""
        return self._on_both_cores(self._lookup, keys)

    def lookup_present(self, keys: np.ndarray) -> np.ndarray:
        """Position of each key, for keys that are all in the table (wrong answers otherwise): one
        gather of the position and one of the ambiguity flag settle nearly every key."""
        return self._on_both_cores(self._lookup_present, keys)

    def _on_both_cores(self, lookup: Callable[[np.ndarray], np.ndarray], keys: np.ndarray) -> np.ndarray:
        if keys.size < 1_000_000:
            return lookup(keys)
        chunks = np.array_split(keys, _THREADS)
        return np.concatenate(_in_parallel(*[lambda chunk=chunk: lookup(chunk) for chunk in chunks]))

    def _lookup_present(self, keys: np.ndarray) -> np.ndarray:
        slots = self._slot(keys.astype(np.uint64, copy=False))
        out = self._values[slots]
        ambiguous = np.flatnonzero(self._ambiguous[slots])
        if ambiguous.size:
            out[ambiguous] = self._lookup(keys[ambiguous])
        return out

    def _lookup(self, keys: np.ndarray) -> np.ndarray:
        """One gather resolves nearly every key; the rest probe on."""
        keys = keys.astype(np.uint64, copy=False)
        slots = self._slot(keys)
        values = self._values[slots]
        hit = self._keys[slots] == keys
        out = np.where(hit, values, -1)
        todo = np.flatnonzero(~hit & (values >= 0))  # the slot holds another key: probe on
        slots = (slots[todo] + 1) & self._mask
        while todo.size:
            values = self._values[slots]
            hit = self._keys[slots] == keys[todo]
            out[todo[hit]] = values[hit]
            probe = ~hit & (values >= 0)
            todo, slots = todo[probe], (slots[probe] + 1) & self._mask
        return out


@dataclass
class _History:
    """Executions encoded as dense integers; runs and tests as small lookup tables."""

    lo: date  # day index 0
    days: int
    test: np.ndarray  # per execution: dense test code
    run: np.ndarray  # per execution: dense run code
    attempt: np.ndarray
    fail: np.ndarray
    test_ids: pl.Series  # code -> test_id
    run_day: np.ndarray  # per run: day index
    run_rank: np.ndarray  # per run: position in (day, started_at, run_id) order
    run_sha: np.ndarray  # per run: dense sha code
    run_blocking: np.ndarray
    infra_failure_cells: np.ndarray  # (test, day) cell of each failure in an infrastructure-failure run
    shas: int


def _hashed(column: str, dtype: pl.DataType) -> pl.Expr:
    """Integer ids are their own hash; strings are hashed (64-bit: collisions are negligible)."""
    return pl.col(column).cast(pl.UInt64) if dtype.is_integer() else pl.col(column).hash()


def _encode(results: pl.DataFrame | pl.LazyFrame, lo: date, hi: date, params: Flakes) -> _History:
    """Read the columns used and replace test and run ids by dense integers (three scans: runs, tests, rows)."""
    frame = results.lazy()
    schema = frame.collect_schema()
    executions = (
        frame.filter(pl.col("day").is_between(lo, hi) & pl.col("status").is_in(EXECUTED))
        .with_columns(
            _hashed("test_id", schema["test_id"]).alias("test_hash"),
            _hashed("run_id", schema["run_id"]).alias("run_hash"),
        )
        .with_columns(
            # The run's hash xor-ed with one seeded 64-bit hash per further key column: a report that
            # is its run costs nothing more, and each further key a third of a struct hash.
            reduce(
                xor,
                [
                    pl.col("run_hash"),
                    *[pl.col(key).hash(seed) for seed, key in enumerate(report_keys(schema)[1:], 1)],
                ],
            ).alias("report_hash"),
        )
    )
    # Three scans side by side without a shared cache (caching the scan would hold every column):
    # runs and tests need their strings once each, the rows only integers.
    run_columns = ["run_id", "day", "started_at", "sha", "blocking"]
    runs_query = (
        # A run's rows are usually stored together: only rows where a run column changes can
        # change a first, min or any per run, so the group-by sees a few rows per run.
        executions.filter(pl.any_horizontal(pl.col(c).ne_missing(pl.col(c).shift()) for c in run_columns))
        .group_by("run_hash")
        .agg(
            pl.col("run_id").first().cast(pl.String),
            pl.col("day").min(),
            pl.col("started_at").min(),
            pl.col("sha").first().cast(pl.String),
            pl.col("blocking").fill_null(False).any(),
        )
        .sort("day", "started_at", "run_id", nulls_last=True)
        .with_columns(
            pl.col("sha").fill_null(pl.col("run_id")).rank("dense").cast(pl.Int32).sub(1).alias("sha_code"),
        )
    )
    tests_query = (
        executions.group_by("test_hash").agg(pl.col("test_id").first().cast(pl.String)).sort("test_id")
    )
    rows_query = executions.select(
        "test_hash",
        "run_hash",
        "report_hash",
        pl.col("attempt").fill_null(0).cast(pl.Int32),
        pl.col("status").is_in(FAILED).alias("failed"),
    )
    runs, tests, rows = pl.collect_all([runs_query, tests_query, rows_query], optimizations=_NO_SHARED_SCAN)
    test = _HashIndex(tests["test_hash"].to_numpy()).lookup_present(rows["test_hash"].to_numpy())
    # A run's rows are usually stored together: look up one key per stretch of equal run ids.
    run_hash = rows["run_hash"].to_numpy()
    heads = _group_starts(run_hash)
    run = np.repeat(
        _HashIndex(runs["run_hash"].to_numpy()).lookup_present(run_hash[heads]),
        np.diff(np.append(heads, run_hash.size)),
    )
    del run_hash
    attempt, fail = rows["attempt"].to_numpy(), rows["failed"].to_numpy()
    in_infra = _in_infra_reports(rows["report_hash"].to_numpy(), attempt == 0, fail, params)
    del rows
    days = (hi - lo).days + 1
    run_day = (runs["day"] - lo).dt.total_days().to_numpy().astype(np.int32)
    infra_failed = in_infra & fail
    infra_failure_cells = test[infra_failed].astype(np.int64) * days + run_day[run[infra_failed]]
    if in_infra.any():
        kept = ~in_infra
        test, run, attempt, fail = _in_parallel(*[lambda a=a: a[kept] for a in (test, run, attempt, fail)])
    return _History(
        lo=lo,
        days=days,
        test=test,
        run=run,
        attempt=attempt,
        fail=fail,
        test_ids=tests["test_id"],
        run_day=run_day,
        run_rank=np.arange(runs.height, dtype=np.int64),
        run_sha=runs["sha_code"].to_numpy(),
        run_blocking=runs["blocking"].to_numpy(),
        infra_failure_cells=infra_failure_cells,
        shas=int(runs["sha_code"].max() or 0) + 1,
    )


class _Grid:
    """Per-(test, day) counts with window sums: sums[t, d] over days (d - W, d]."""

    def __init__(self, tests: int, days: int, window: int) -> None:
        self.tests, self.days, self.window = tests, days, window

    def counts(self, cells: np.ndarray) -> np.ndarray:
        return np.bincount(cells, minlength=self.tests * self.days).reshape(self.tests, self.days)

    def prefix(self, per_day: np.ndarray) -> np.ndarray:
        """prefix[t, d] = sum over days < d; shape (tests, days + 1)."""
        out = np.zeros((self.tests, self.days + 1), dtype=per_day.dtype)
        np.cumsum(per_day, axis=1, out=out[:, 1:])
        return out


def _distinct_in_window(
    grid: _Grid, test: np.ndarray, key: np.ndarray, day: np.ndarray, flags: list[np.ndarray]
) -> np.ndarray:
    """Per (test, day): distinct keys having, within the window ending that day, every flag.

    Input rows are (test, key, day, flag...) with any multiplicity. A key counts on day D while
    the latest day <= D with each flag is inside the window, so it counts over one interval
    after each of its days; the intervals become +1/-1 events summed along the days.
    """
    if test.size == 0:
        return np.zeros((grid.tests, grid.days), dtype=np.int64)
    group = test.astype(np.int64) * (int(key.max()) + 1) + key
    order = np.argsort(group * grid.days + day, kind="stable")
    group, day = group[order], day[order].astype(np.int64)
    starts = _group_starts(group, day)  # one entry per (test, key, day)
    group, day = group[starts], day[starts]
    first_of_group = np.zeros(starts.size, dtype=bool)
    first_of_group[_group_starts(group)] = True
    # Latest day so far with each flag, restarting at each (test, key): accumulate max over
    # values offset by the group's position so no group sees another's days.
    offset = np.cumsum(first_of_group) * (grid.days + 1)
    latest = np.full(starts.size, grid.days, dtype=np.int64)
    for flag in flags:
        seen = np.where(np.logical_or.reduceat(flag[order], starts), day + 1, 0) + offset
        since = np.maximum.accumulate(seen) - offset - 1  # -1: not seen yet in this group
        latest = np.minimum(latest, np.where(since >= 0, since, -grid.window - 1))
    next_day = np.append(np.where(first_of_group[1:], grid.days, day[1:]), grid.days)
    until = np.minimum(latest + grid.window, next_day)
    counting = until > day
    rows = (test[order][starts].astype(np.int64) * (grid.days + 1))[counting]
    size = grid.tests * (grid.days + 1)
    delta = np.bincount(rows + day[counting], minlength=size) - np.bincount(
        rows + until[counting], minlength=size
    )
    return np.cumsum(delta.reshape(grid.tests, grid.days + 1), axis=1)[:, : grid.days]


@dataclass
class _Failures:
    """Failed executions in each test's time order: (test, ordinal) sorted, with flags."""

    key: np.ndarray  # test * _BIG + ordinal
    day: np.ndarray
    prefix_all: np.ndarray
    prefix_into: np.ndarray  # cumulative count of pass -> fail flips located at the failure
    prefix_out: np.ndarray  # ... of fail -> pass flips located at the next execution
    prefix_start: np.ndarray  # ... of failure streak starts
    flip_cells: np.ndarray  # grid cell (test, day) of every flip, for decay-weighted sums per test

    def count(self, prefix: np.ndarray, test: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Sum of a flag over failures of `test` with ordinal in [lo, hi)."""
        hi = np.maximum(hi, lo)
        base = test * _BIG
        return prefix[np.searchsorted(self.key, base + hi)] - prefix[np.searchsorted(self.key, base + lo)]


@dataclass
class _RunMarks:
    """CI runs of each test in time order (one per first attempt), as sorted test * _BIG + ordinal."""

    first_failed: np.ndarray  # the first attempt failed
    red: np.ndarray  # no attempt passed

    @staticmethod
    def count(keys: np.ndarray, test: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        base = test * _BIG
        return np.searchsorted(keys, base + hi) - np.searchsorted(keys, base + np.minimum(lo, hi))


def _prefix(values: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(values)])


class _Ordinals:
    """Maps a test's execution number (0-based, time order) to the day index it ran on."""

    def __init__(self, executions_prefix: np.ndarray) -> None:
        self.days = executions_prefix.shape[1] - 1
        offsets = np.arange(executions_prefix.shape[0], dtype=np.int64) * _BIG
        self._cumulative = (executions_prefix[:, 1:] + offsets[:, None]).ravel()

    def day(self, test: np.ndarray, ordinal: np.ndarray) -> np.ndarray:
        found = np.searchsorted(self._cumulative, test * _BIG + ordinal, side="right")
        return np.minimum(found - test * self.days, self.days - 1)


def _failures(
    history: _History, grid: _Grid, cell: np.ndarray, executions_prefix: np.ndarray, runs_prefix: np.ndarray
) -> tuple[_Failures, _RunMarks]:
    """Place failures in each test's execution sequence and failing runs in its run sequence.

    Only cells (test, day) holding a failure are sorted: every execution elsewhere passed.
    """
    failing_cell = np.zeros(grid.tests * grid.days, dtype=bool)
    failing_cell[cell[history.fail]] = True
    rows = np.flatnonzero(failing_cell[cell])
    order_key = (
        (history.test[rows].astype(np.int64) << 40)
        | (history.run_rank[history.run[rows]] << 8)
        | np.minimum(history.attempt[rows], 255).astype(np.int64)
    )
    rows = rows[np.argsort(order_key, kind="stable")]
    sorted_cell, failed, run = cell[rows], history.fail[rows], history.run[rows]
    test_of_cell, day_of_cell = np.divmod(sorted_cell, grid.days)
    ordinal = executions_prefix[test_of_cell, day_of_cell] + _position_in_group(sorted_cell)
    marks = _run_marks(sorted_cell, run, history.attempt[rows], failed, grid, runs_prefix)
    test, ordinal, day = test_of_cell[failed], ordinal[failed], day_of_cell[failed]
    prev_failed = np.concatenate([[False], (test[1:] == test[:-1]) & (ordinal[1:] == ordinal[:-1] + 1)])
    next_failed = np.append(prev_failed[1:], False)
    flip_into = (ordinal >= 1) & ~prev_failed
    flip_out = (ordinal + 1 < executions_prefix[test, grid.days]) & ~next_failed
    next_day = _Ordinals(executions_prefix).day(test, ordinal + 1)
    fails = _Failures(
        key=test * _BIG + ordinal,
        day=day,
        prefix_all=_prefix(np.ones(test.size, dtype=np.int64)),
        prefix_into=_prefix(flip_into),
        prefix_out=_prefix(flip_out),
        prefix_start=_prefix(~prev_failed),
        flip_cells=np.concatenate(
            [test[flip_into] * grid.days + day[flip_into], (test * grid.days + next_day)[flip_out]]
        ),
    )
    return fails, marks


def _in_infra_reports(report: np.ndarray, first: np.ndarray, fail: np.ndarray, params: Flakes) -> np.ndarray:
    """Per row: is its report an infrastructure failure (most of its first attempts failed)?

    A report's rows are usually stored together, so first attempts and their failures are summed
    per stretch of equal report keys before the stretches are grouped by report.
    """
    starts = _group_starts(report)
    if starts.size == 0:
        return np.zeros(0, dtype=bool)
    stretches = pl.DataFrame(
        {
            "report": report[starts],
            "tried": np.add.reduceat(first, starts, dtype=np.int64),
            "first_failed": np.add.reduceat(first & fail, starts, dtype=np.int64),
        }
    )
    reports = stretches.group_by("report").agg(pl.col("tried", "first_failed").sum())
    infra = (pl.col("tried") >= params.mass_failure_min_tests) & (
        pl.col("first_failed") >= params.mass_failure_ratio * pl.col("tried")
    )
    flagged = stretches.join(
        reports.select("report", infra.alias("infra")), on="report", how="left", maintain_order="left"
    )
    return np.repeat(flagged["infra"].to_numpy(), np.diff(np.append(starts, report.size)))


def _group_starts(*keys: np.ndarray) -> np.ndarray:
    changed = np.zeros(keys[0].size, dtype=bool)
    changed[0:1] = True
    for key in keys:
        changed[1:] |= key[1:] != key[:-1]
    return np.flatnonzero(changed)


def _position_in_group(key: np.ndarray) -> np.ndarray:
    """0, 1, 2 ... within each run of equal consecutive keys."""
    starts = _group_starts(key)
    return np.arange(key.size) - np.repeat(starts, np.diff(np.append(starts, key.size)))


def _run_marks(
    cell: np.ndarray,
    run: np.ndarray,
    attempt: np.ndarray,
    failed: np.ndarray,
    grid: _Grid,
    runs_prefix: np.ndarray,
) -> _RunMarks:
    """Per (test, run) in sorted rows: its run ordinal, whether attempt 0 failed, whether all failed."""
    if cell.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return _RunMarks(first_failed=empty, red=empty)
    starts = _group_starts(cell, run)
    any_pass = np.logical_or.reduceat(~failed, starts)
    first = attempt[starts] == 0  # a CI run of the test is its first attempt
    run_cell = cell[starts][first]
    test, day = np.divmod(run_cell, grid.days)
    keys = test * _BIG + runs_prefix[test, day] + _position_in_group(run_cell)
    first_failed = failed[starts][first]
    return _RunMarks(first_failed=keys[first_failed], red=keys[first_failed & ~any_pass[first]])


def _pairs_with_both(pair: np.ndarray, fail: np.ndarray, space: int, dense_limit: int) -> np.ndarray:
    """Rows whose pair (e.g. test x sha) has both a failed and a passed execution.

    Only pairs with a failure can qualify and failures are few: one pass over the rows finds the
    rows on failing pairs, numbered by a bitmap over the pair space when it is small enough, by a
    hash table of the failing pairs otherwise.
    """
    if space <= dense_limit:
        slots = space
        has_failure = np.zeros(space, dtype=bool)
        has_failure[pair[fail]] = True
        candidates = np.flatnonzero(has_failure[pair])
        slot = pair[candidates]
    else:
        failing = np.unique(pair[fail])
        slots = failing.size
        found = _HashIndex(failing).lookup(pair)
        candidates = np.flatnonzero(found >= 0)
        slot = found[candidates]
    passed = np.zeros(slots, dtype=bool)
    passed[slot[~fail[candidates]]] = True
    return candidates[passed[slot]]


def _same_sha(
    history: _History, grid: _Grid, dense_limit: int = 1 << 28
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Same-sha and same-run evidence, and distinct failing shas, per (test, day) and window."""
    test, run, fail = history.test, history.run, history.fail
    # sha-major pairs: the rows of one run look up one narrow stretch of the pair bitmap.
    pair = (history.run_sha.astype(np.int64) * grid.tests)[run]
    pair += test
    rows = _pairs_with_both(pair, fail, grid.tests * history.shas, dense_limit)
    del pair
    t, f, r = test[rows], fail[rows], run[rows]
    d = history.run_day[r]
    same_sha = _distinct_in_window(grid, t, history.run_sha[r], d, [f, ~f])
    failed = np.flatnonzero(fail)
    failed_run = run[failed]
    failing_shas = _distinct_in_window(
        grid,
        test[failed],
        history.run_sha[failed_run],
        history.run_day[failed_run],
        [np.ones(failed.size, bool)],
    )
    # Runs in which the test both failed and passed (a rerun rescued it).
    order = np.argsort(t.astype(np.int64) * (int(r.max(initial=0)) + 1) + r, kind="stable")
    starts = _group_starts(t[order], r[order])
    failed_ = np.logical_or.reduceat(f[order], starts) if starts.size else np.zeros(0, dtype=bool)
    passed = np.logical_or.reduceat(~f[order], starts) if starts.size else np.zeros(0, dtype=bool)
    mixed = starts[failed_ & passed]
    rerun = grid.counts(t[order][mixed].astype(np.int64) * grid.days + d[order][mixed])
    return same_sha, failing_shas, rerun


def _last_in_range(
    keys: np.ndarray, test: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each test's last entry of sorted `keys` with ordinal in [lo, hi): (found, ordinal, index)."""
    index = np.maximum(np.searchsorted(keys, test * _BIG + hi) - 1, 0)
    if keys.size == 0:
        return np.zeros(test.size, dtype=bool), np.full(test.size, -1), index
    ordinal = keys[index] - test * _BIG
    return (ordinal >= lo) & (ordinal < hi), ordinal, index


def _cells_and_slots(history: _History, grid: _Grid) -> tuple[np.ndarray, np.ndarray]:
    """Each execution's grid cell (test, day), and one bincount for every per-cell count: 8 slots
    per cell by (blocking, first attempt, failed). When the rows outnumber the slots, both halves
    of the rows are counted side by side (a second count array then costs less than a row array)."""
    # Per run: its day's slot block and its blocking bit, so one gather per row finds both.
    run_slot = (history.run_day.astype(np.int64) << 3) | (history.run_blocking.astype(np.int64) << 2)
    cell = np.empty(history.test.size, dtype=np.int64)
    slots = grid.tests * grid.days * 8

    def count(part: slice) -> np.ndarray:
        key = np.multiply(history.test[part], grid.days << 3, dtype=np.int64)
        key += run_slot[history.run[part]]
        key |= history.fail[part].view(np.uint8) | ((history.attempt[part] == 0).view(np.uint8) << 1)
        np.right_shift(key, 3, out=cell[part])
        return np.bincount(key, minlength=slots)

    if slots > history.test.size:
        return cell, count(slice(None)).reshape(grid.tests, grid.days, 2, 2, 2)
    half = history.test.size // 2
    first, second = _in_parallel(lambda: count(slice(0, half)), lambda: count(slice(half, None)))
    first += second
    return cell, first.reshape(grid.tests, grid.days, 2, 2, 2)


def _signals(history: _History, out_days: list[int], params: Flakes) -> pl.DataFrame:
    """Raw signals per (test, output day index), before score and class."""
    grid = _Grid(history.test_ids.len(), history.days, params.window_days)
    cell, by_slot = _cells_and_slots(history, grid)  # by_slot[test, day, blocking, first, failed]
    executions = by_slot.sum(axis=(2, 3, 4))
    executions_prefix = grid.prefix(executions)
    decay = np.float64(params.decay)
    # Decay weights decay ** -day, summed per test row so no other test's terms dilute precision.
    weight = decay ** -np.arange(grid.days, dtype=np.float64)
    weighted_prefix = grid.prefix(executions * weight)
    ordinals = _Ordinals(executions_prefix)
    ci_runs = by_slot[:, :, :, 1, :].sum(axis=(2, 3))
    runs_prefix = grid.prefix(ci_runs)
    (fails, marks), (same_sha, failing_shas, rerun) = _in_parallel(
        lambda: _failures(history, grid, cell, executions_prefix, runs_prefix),
        lambda: _same_sha(history, grid),
    )
    flips_per_day = grid.counts(fails.flip_cells)
    flips_prefix = grid.prefix(flips_per_day)
    weighted_flips_prefix = grid.prefix(flips_per_day * weight)
    windowed = {
        name: grid.prefix(values)
        for name, values in {
            "failures": by_slot[..., 1].sum(axis=(2, 3)),
            "rerun_runs": grid.counts(cell[history.attempt == 1]),
            "blocking_runs": by_slot[:, :, 1].sum(axis=(2, 3)),
            "blocking_failures": by_slot[:, :, 1, :, 1].sum(axis=2),
            "rerun_flips": rerun,
            "infra_failures_excluded": grid.counts(history.infra_failure_cells),
        }.items()
    }
    parts = []
    tests = np.arange(grid.tests, dtype=np.int64)
    for d in out_days:
        first_day = max(d + 1 - grid.window, 0)
        present = executions_prefix[:, d + 1] > executions_prefix[:, first_day]
        t = tests[present]
        start, end = executions_prefix[t, first_day], executions_prefix[t, d + 1]
        runs = end - start
        runs_end = runs_prefix[t, d + 1]
        ci_runs_window = runs_end - runs_prefix[t, first_day]
        last_runs = np.minimum(params.last_runs, ci_runs_window)
        run_failed, last_failed_run, _ = _last_in_range(
            marks.first_failed, t, runs_prefix[t, first_day], runs_end
        )
        # Flips and transitions into the window's executions after its first one (flip_rate's
        # n - 1): the window's sums less what lands on its first execution.
        opening_weight = weight[ordinals.day(t, start)]
        flip_at_start = fails.count(fails.prefix_into, t, start, start + 1) + fails.count(
            fails.prefix_out, t, start - 1, start
        )
        flips = flips_prefix[t, d + 1] - flips_prefix[t, first_day] - flip_at_start
        flips_w = (
            weighted_flips_prefix[t, d + 1]
            - weighted_flips_prefix[t, first_day]
            - flip_at_start * opening_weight
        )
        transitions_w = weighted_prefix[t, d + 1] - weighted_prefix[t, first_day] - opening_weight
        failed, _, last_failure = _last_in_range(fails.key, t, start, end)
        columns = {
            "test": t,
            "day_index": np.full(t.size, d, dtype=np.int64),
            "runs": runs,
            "flips": flips,
            # A failure that opens the window starts a streak there, whatever preceded it.
            "fail_streaks": fails.count(fails.prefix_start, t, start + 1, end)
            + fails.count(fails.prefix_all, t, start, start + 1),
            "ci_runs": ci_runs_window,
            "last_runs": last_runs,
            "last_runs_failures": _RunMarks.count(marks.first_failed, t, runs_end - last_runs, runs_end),
            "last_runs_red": _RunMarks.count(marks.red, t, runs_end - last_runs, runs_end),
            "trailing_passes": np.where(run_failed, runs_end - 1 - last_failed_run, ci_runs_window),
            "last_failure_index": np.where(failed, fails.day[last_failure] if fails.day.size else 0, -1),
            "flip_rate_decayed": np.divide(
                flips_w, transitions_w, out=np.zeros(t.size), where=(runs >= 2) & (transitions_w > 0)
            ).clip(0.0, 1.0),
            "same_sha_flips": same_sha[t, d],
            "failing_shas": failing_shas[t, d],
            **{name: prefix[t, d + 1] - prefix[t, first_day] for name, prefix in windowed.items()},
        }
        parts.append(pl.DataFrame(columns))
    return pl.concat(parts)


def report_keys(columns: list[str] | pl.Schema) -> list[str]:
    """What one CI report is: a run's artifact when results carry artifact_hash, else the run.

    Mass-failure protection judges each report on its own (as Trunk judges each upload): a database
    outage that fails the API suite is an infrastructure failure even when the browser suite of the
    same run passed.
    """
    return ["run_id", "artifact_hash"] if "artifact_hash" in columns else ["run_id"]


def infra_reports(results: pl.DataFrame | pl.LazyFrame, params: Flakes) -> pl.DataFrame:
    """Reports that were infrastructure failures: at least mass_failure_ratio of the tests they ran
    failed on the first attempt (and they ran at least mass_failure_min_tests tests)."""
    frame = results.lazy()
    keys = report_keys(frame.collect_schema())
    first = frame.filter((pl.col("attempt") == 0) & pl.col("status").is_in(EXECUTED))
    return (
        first.group_by(keys)
        .agg(pl.len().alias("tests"), pl.col("status").is_in(FAILED).sum().alias("failed"))
        .filter(
            (pl.col("tests") >= params.mass_failure_min_tests)
            & (pl.col("failed") >= params.mass_failure_ratio * pl.col("tests"))
        )
        .select(keys)
        .sort(keys)
        .collect()
    )


def without_infra_reports(results: pl.DataFrame, params: Flakes) -> pl.DataFrame:
    """The rows that do not belong to an infrastructure-failure report."""
    return results.join(
        infra_reports(results, params), on=report_keys(results.columns), how="anti", nulls_equal=True
    )


def _chunks(days: list[date], span: int) -> list[list[date]]:
    chunks: list[list[date]] = []
    for day in days:
        if chunks and (day - chunks[-1][0]).days < span:
            chunks[-1].append(day)
        else:
            chunks.append([day])
    return chunks


def _latest_flow(meta: pl.DataFrame) -> pl.DataFrame:
    return meta.lazy().sort("day").group_by("test_id").agg(pl.col("flow").drop_nulls().last()).collect()


def _wilson(p: pl.Expr, n: pl.Expr, sign: float) -> pl.Expr:
    z2 = WILSON_Z**2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = WILSON_Z * ((p * (1 - p) / n) + z2 / (4 * n * n)).sqrt() / (1 + z2 / n)
    return (centre + sign * half).clip(0.0, 1.0)


def _entropy(p: pl.Expr) -> pl.Expr:
    def part(q: pl.Expr) -> pl.Expr:
        return pl.when(q > 0).then(-q * q.log(2)).otherwise(0.0)

    return part(p) + part(1 - p)


def score_and_classify(signals: pl.DataFrame, params: Flakes) -> pl.DataFrame:
    """Derived rates, the four score components, flake_score, flake_class and its reason."""
    w = params.score_weights
    total = w.same_sha + w.flip + w.entropy + w.spread
    runs, failures = pl.col("runs"), pl.col("failures")
    ratio = pl.col("last_runs_failures") / pl.col("last_runs")
    frame = (
        signals.with_columns(
            (failures / runs).alias("fail_rate"),
            pl.when(runs >= 2).then(pl.col("flips") / (runs - 1)).otherwise(0.0).alias("flip_rate"),
        )
        .with_columns(
            _wilson(pl.col("fail_rate"), runs, -1).alias("wilson_low"),
            _wilson(pl.col("fail_rate"), runs, +1).alias("wilson_high"),
            _entropy(pl.col("fail_rate")).alias("entropy"),
            (1 - 0.5 ** pl.col("same_sha_flips")).alias("score_same_sha"),
            (2 * pl.col("flip_rate_decayed")).clip(0.0, 1.0).alias("score_flip"),
            pl.when(pl.col("fail_streaks") > 0)
            .then(1 - 1 / pl.col("fail_streaks"))
            .otherwise(0.0)
            .alias("score_spread"),
        )
        .with_columns(pl.col("entropy").alias("score_entropy"))
    )
    frame = frame.with_columns(
        (
            (
                w.same_sha * pl.col("score_same_sha")
                + w.flip * pl.col("score_flip")
                + w.entropy * pl.col("score_entropy")
                + w.spread * pl.col("score_spread")
            )
            / total
        ).alias("flake_score")
    )
    same_sha_rule = pl.col("same_sha_flips") > 0
    # Reruns that never rescue the test mean its failures are deterministic (a regression, or a
    # broken commit re-run after the fix): the ratio alone is then no evidence of flakiness.
    reruns_never_rescue = (pl.col("rerun_runs") >= 2) & (pl.col("rerun_flips") == 0)
    ratio_rule = (
        ratio.is_between(params.flaky_min_fail_ratio, params.flaky_max_fail_ratio)
        & (pl.col("fail_streaks") >= params.min_fail_streaks)
        & ~reruns_never_rescue
    )
    score_rule = pl.col("flake_score") >= params.flaky_min_score
    is_new = pl.col("ci_runs") < params.min_runs
    is_broken = pl.col("last_runs_red") == pl.col("last_runs")
    is_flaky = same_sha_rule | ratio_rule | score_rule
    flaky_reason = pl.concat_str(
        pl.when(same_sha_rule).then(pl.format("failed and passed on {} sha(s)", pl.col("same_sha_flips"))),
        pl.when(ratio_rule).then(
            pl.format(
                "failed {} of its last {} runs in {} streaks",
                pl.col("last_runs_failures"),
                pl.col("last_runs"),
                pl.col("fail_streaks"),
            )
        ),
        pl.when(score_rule).then(pl.format("flake_score {}", pl.col("flake_score").round(2))),
        separator="; ",
        ignore_nulls=True,
    )
    return frame.with_columns(
        pl.when(is_new)
        .then(pl.lit("new"))
        .when(is_broken)
        .then(pl.lit("broken"))
        .when(is_flaky)
        .then(pl.lit("flaky"))
        .otherwise(pl.lit("healthy"))
        .alias("flake_class"),
        pl.when(is_new)
        .then(pl.format("{} runs, fewer than min_runs {}", pl.col("ci_runs"), pl.lit(params.min_runs)))
        .when(is_broken)
        .then(pl.format("failed every attempt of its last {} runs", pl.col("last_runs")))
        .when(is_flaky)
        .then(flaky_reason)
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias("flake_reason"),
    ).with_columns(
        pl.when(pl.col("flake_class") == "flaky")
        .then(pl.col("blocking_failures"))
        .otherwise(0)
        .alias("blocking_flaky_failures")
    )


def flake_stats_for_days(
    results: pl.DataFrame | pl.LazyFrame, meta: pl.DataFrame, days: list[date], params: Flakes
) -> pl.DataFrame:
    """schemas.FLAKE_STATS for each day in `days`, each over its own trailing window.

    `results` are test_results rows (a LazyFrame over Parquet keeps memory to the columns used);
    rows outside [min(days) - window + 1, max(days)] are ignored. `meta` gives each test's flow
    (the latest non-null value).
    """
    parts = []
    for chunk in _chunks(sorted(set(days)), _MAX_SPAN_DAYS):
        lo = chunk[0] - timedelta(days=params.window_days - 1)
        history = _encode(results, lo, chunk[-1], params)
        if history.test.size == 0:
            continue
        signals = _signals(history, [(day - lo).days for day in chunk], params)
        parts.append(
            signals.with_columns(
                history.test_ids.gather(signals["test"]).alias("test_id"),
                (pl.lit(lo) + pl.duration(days=pl.col("day_index"))).alias("day"),
                pl.when(pl.col("last_failure_index") >= 0)
                .then(pl.lit(lo) + pl.duration(days=pl.col("last_failure_index")))
                .alias("last_failure_day"),
            )
        )
    if not parts:
        return schemas.empty(schemas.FLAKE_STATS)
    frame = score_and_classify(pl.concat(parts), params).with_columns(
        pl.lit(params.window_days).alias("window_days")
    )
    frame = frame.join(_latest_flow(meta), on="test_id", how="left")
    return schemas.conform(frame, schemas.FLAKE_STATS).sort("day", "test_id")


def flake_stats(
    results: pl.DataFrame | pl.LazyFrame, meta: pl.DataFrame, as_of: date, params: Flakes
) -> pl.DataFrame:
    """flake_stats_for_days for one day."""
    return flake_stats_for_days(results, meta, [as_of], params)
