"""CI histories with known truth, for testing the flake detector and benchmarking it at scale.

A history looks like real pytest runs: pre-merge runs on new commits and on commits being re-run
("retry" pressed), a nightly run on the tip, pytest-rerunfailures reruns of failed tests (attempt
1, 2, ...), random test order (pytest-randomly) that makes order-dependent tests fail only when
their polluter ran first, infrastructure outages that fail nearly every test of a run, commits
that break a stable test until a later commit fixes it, and tests that are broken throughout.
Each test's true kind is returned so a detector can be scored against it.

Vectorised with NumPy per day: 90 days x 20,000 tests x 20 runs is generated one day at a time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl

from testintel_assets import schemas

KINDS = ("stable", "flaky", "order_dependent", "broken", "regressed", "skipped")
FLAKY_KINDS = ("flaky", "order_dependent")

# Failure messages as pytest prints them; `{n}` and `{h}` are filled with numbers and hex ids so
# the signature normaliser has real variation to fold.
_MESSAGES = {
    "flaky": [
        "TimeoutError: Timed out after {n}ms waiting for locator('#cart-item-{n}')",
        "requests.exceptions.ReadTimeout: HTTPConnectionPool(host='10.0.{n}.{n}', port=8080): "
        "Read timed out. (read timeout=5)",
        "AssertionError: assert {n} == {n}",
    ],
    "order_dependent": ["AssertionError: expected an empty cart, found {n} items (session {h})"],
    "broken": [
        "ImportError: cannot import name 'legacy_total' from 'shop.cart.pricing' "
        "(/home/runner/work/shop/shop/shop/cart/pricing.py)"
    ],
    "regressed": ["AssertionError: assert Decimal('{n}.{n}') == Decimal('{n}.{n}')"],
    "outage": [
        'psycopg.OperationalError: connection to server at "10.0.{n}.{n}", port 5432 failed: '
        "Connection refused at 2025-03-0{n}T0{n}:1{n}:00Z"
    ],
}
_OUTAGE_FAIL_SHARE = 0.97


@dataclass(frozen=True)
class Population:
    """Shares of each kind of test (the rest is stable) and their failure probabilities."""

    flaky: float = 0.08
    order_dependent: float = 0.02
    broken: float = 0.02
    regressed: float = 0.04
    skipped: float = 0.02
    late: float = 0.03  # tests added during the history (few runs: class `new`)
    flaky_rate: tuple[float, float] = (0.04, 0.45)
    order_rate: tuple[float, float] = (0.25, 0.6)  # chance the polluter runs first
    order_rerun_fail: float = 0.9  # the polluted state usually survives an immediate rerun
    stable_rate: float = 0.0  # residual failure probability of stable tests
    regression_days: tuple[int, int] = (1, 4)


@dataclass(frozen=True)
class CiHistory:
    tests: int = 300
    days: int = 21
    runs_per_day: int = 10  # including the nightly run
    start: date = date(2025, 3, 1)
    reruns: int = 2  # pytest --reruns N
    rerun_same_sha: float = 0.25  # share of pre-merge runs that re-run an existing commit
    outage_rate: float = 0.02
    seed: int = 7
    population: Population = field(default_factory=Population)
    flows: tuple[str, ...] = ("login", "search", "cart", "checkout", "payment", "profile")
    owners: tuple[str, ...] = ("identity", "discovery", "commerce", "commerce", "payments", "identity")


@dataclass(frozen=True)
class Simulated:
    results: pl.DataFrame  # schemas.TEST_RESULTS
    meta: pl.DataFrame  # schemas.TEST_META
    truth: pl.DataFrame  # test_id, kind, fail_probability, first_day


@dataclass
class _Tests:
    ids: pl.Series
    kind: np.ndarray  # index into KINDS
    rate: np.ndarray
    first_day: np.ndarray
    duration_ms: np.ndarray
    regression_start: np.ndarray  # day offsets, -1 for none
    regression_end: np.ndarray


def _draw_tests(history: CiHistory, rng: np.random.Generator) -> _Tests:
    n, pop = history.tests, history.population
    shares = [pop.flaky, pop.order_dependent, pop.broken, pop.regressed, pop.skipped]
    draw = rng.random(n)
    kind = np.zeros(n, dtype=np.int8)
    for index, upper in enumerate(np.cumsum(shares), start=1):
        kind[(kind == 0) & (draw < upper)] = index
    rate = np.full(n, pop.stable_rate)
    rate[kind == 1] = rng.uniform(*pop.flaky_rate, size=int((kind == 1).sum()))
    rate[kind == 2] = rng.uniform(*pop.order_rate, size=int((kind == 2).sum()))
    rate[kind == 3] = 1.0
    late = (rng.random(n) < pop.late) & (kind != 4)
    first_day = np.where(late, rng.integers(history.days - 2, history.days, size=n), 0)
    start = np.where(kind == 4, rng.integers(0, max(history.days - 3, 1), size=n), -1)
    length = rng.integers(pop.regression_days[0], pop.regression_days[1] + 1, size=n)
    flows = np.array(history.flows)[np.arange(n) % len(history.flows)]
    ids = pl.Series(
        "test_id",
        [f"tests.{flow}.test_{flow}_{i // 8}::test_case_{i}" for i, flow in enumerate(flows)],
    )
    return _Tests(
        ids=ids,
        kind=kind,
        rate=rate,
        first_day=first_day,
        duration_ms=rng.lognormal(6.0, 1.0, size=n),
        regression_start=start,
        regression_end=np.where(start >= 0, start + length, -1),
    )


def _fill(template: str, rng: np.random.Generator) -> str:
    parts = template.split("{")
    out = [parts[0]]
    for part in parts[1:]:
        token, rest = part[0], part[2:]
        out.append(str(int(rng.integers(1, 9999))) if token == "n" else rng.bytes(6).hex())
        out.append(rest)
    return "".join(out)


def _messages(kinds: list[str], rng: np.random.Generator) -> list[str]:
    return [_fill(_MESSAGES[k][int(rng.integers(len(_MESSAGES[k])))], rng) for k in kinds]


def _sha(seed: int, index: int) -> str:
    return hashlib.sha1(f"{seed}/{index}".encode()).hexdigest()


def simulate_days(history: CiHistory) -> Iterator[pl.DataFrame]:
    """One TEST_RESULTS frame per day, in day order (memory stays at one day's rows)."""
    rng = np.random.default_rng(history.seed)
    tests = _draw_tests(history, rng)
    n_tests, per_day = history.tests, history.runs_per_day
    sha_day: list[int] = []  # the day each commit was made: a regression breaks commits, not days
    run_count = 0
    for offset in range(history.days):
        day = history.start + timedelta(days=offset)
        # Runs of the day: pre-merge (blocking) first, the nightly (not blocking) last.
        shas: list[int] = []
        for _ in range(per_day - 1):
            if sha_day and rng.random() < history.rerun_same_sha:
                shas.append(int(rng.integers(max(0, len(sha_day) - 6), len(sha_day))))
            else:
                shas.append(len(sha_day))
                sha_day.append(offset)
        shas.append(len(sha_day) - 1)
        outage = rng.random(per_day) < history.outage_rate
        seconds = np.sort(rng.integers(0, 86_000, size=per_day))
        made = np.array(sha_day)[shas][:, None]
        regressed = (tests.regression_start <= made) & (made < tests.regression_end)

        u = rng.random((per_day, n_tests))
        present = np.broadcast_to(tests.first_day <= offset, (per_day, n_tests))
        kind = np.broadcast_to(tests.kind, (per_day, n_tests))
        failing = u < tests.rate
        failing |= regressed
        failing |= (rng.random((per_day, n_tests)) < _OUTAGE_FAIL_SHARE) & outage[:, None]
        skipped = kind == KINDS.index("skipped")
        failing &= ~skipped

        rows_run, rows_test = np.nonzero(present)
        attempt_status = [np.where(skipped[present], 2, failing[present].astype(np.int8))]
        rerun_run, rerun_test, rerun_attempt, rerun_status = [], [], [], []
        still = failing.copy()
        for attempt in range(1, history.reruns + 1):
            r, t = np.nonzero(still & present)
            if r.size == 0:
                break
            repeat = np.where(
                kind[r, t] == KINDS.index("order_dependent"),
                history.population.order_rerun_fail,
                tests.rate[t],
            )
            refail = (rng.random(r.size) < repeat) | regressed[r, t] | outage[r]
            rerun_run.append(r)
            rerun_test.append(t)
            rerun_attempt.append(np.full(r.size, attempt, dtype=np.int32))
            rerun_status.append(refail.astype(np.int8))
            still = np.zeros_like(still)
            still[r[refail], t[refail]] = True
        run_idx = np.concatenate([rows_run, *rerun_run])
        test_idx = np.concatenate([rows_test, *rerun_test])
        attempt = np.concatenate([np.zeros(rows_run.size, dtype=np.int32), *rerun_attempt])
        status = np.concatenate([*attempt_status, *rerun_status])

        failed_rows = np.nonzero(status == 1)[0]
        cause = np.where(
            outage[run_idx[failed_rows]],
            "outage",
            np.where(
                regressed[run_idx[failed_rows], test_idx[failed_rows]],
                "regressed",
                np.array(KINDS)[tests.kind[test_idx[failed_rows]]],
            ),
        )
        cause = np.where(cause == "stable", "flaky", cause)
        message = pl.Series("message", [None] * status.size, dtype=pl.String).scatter(
            failed_rows, pl.Series(_messages(cause.tolist(), rng), dtype=pl.String)
        )
        duration = tests.duration_ms[test_idx] * rng.uniform(0.8, 1.3, size=status.size)

        run_ids = pl.Series([f"{9_000_000 + run_count + i}" for i in range(per_day)])
        run_sha = pl.Series([_sha(history.seed, s) for s in shas])
        started = pl.Series(
            [datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=int(s)) for s in seconds]
        )
        pipeline = pl.Series(["pre-merge"] * (per_day - 1) + ["nightly"])
        runs = pl.Series(run_idx.astype(np.uint32))
        yield pl.DataFrame(
            {
                "day": pl.repeat(day, status.size, eager=True),
                "run_id": run_ids.gather(runs),
                "sha": run_sha.gather(runs),
                "branch": pl.Series(np.where(run_idx == per_day - 1, "main", "feature")),
                "pipeline": pipeline.gather(runs),
                "blocking": pl.Series(run_idx != per_day - 1),
                "started_at": started.gather(runs),
                "test_id": tests.ids.gather(pl.Series(test_idx.astype(np.uint32))),
                "status": pl.Series(np.array(["passed", "failed", "skipped"])[status]),
                "attempt": pl.Series(attempt),
                "duration_ms": pl.Series(duration),
                "message": message,
                "format": pl.repeat("pytest-reportlog", status.size, eager=True),
            }
        ).pipe(schemas.conform, schemas.TEST_RESULTS)
        run_count += per_day


def truth(history: CiHistory) -> pl.DataFrame:
    """The kind of every test: the answer a detector is scored against."""
    tests = _draw_tests(history, np.random.default_rng(history.seed))
    return pl.DataFrame(
        {
            "test_id": tests.ids,
            "kind": pl.Series(np.array(KINDS)[tests.kind]),
            "fail_probability": pl.Series(tests.rate),
            "first_day": pl.Series([history.start + timedelta(days=int(d)) for d in tests.first_day]),
        }
    )


def meta(history: CiHistory) -> pl.DataFrame:
    """test_meta rows as the pytest plugin export gives them: flow and owner per test."""
    ids = truth(history)["test_id"]
    flow_index = np.arange(history.tests) % len(history.flows)
    return schemas.conform(
        pl.DataFrame(
            {
                "day": pl.repeat(history.start, history.tests, eager=True),
                "test_id": ids,
                "flow": pl.Series(np.array(history.flows)[flow_index]),
                "owner": pl.Series(np.array(history.owners)[flow_index]),
                "risk": pl.Series(np.where(flow_index % 3 == 0, "critical", "medium")),
                "component": pl.Series(np.array(history.flows)[flow_index]),
                "source": pl.repeat("simulated", history.tests, eager=True),
            }
        ),
        schemas.TEST_META,
    )


def simulate(history: CiHistory) -> Simulated:
    return Simulated(
        results=pl.concat(list(simulate_days(history))), meta=meta(history), truth=truth(history)
    )
