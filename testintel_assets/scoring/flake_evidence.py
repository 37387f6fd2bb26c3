"""Evidence behind each flaky verdict: the failing runs and their failure signatures.

A flaky list without evidence is the complaint users of the leading tools voice most: each flaky
test here comes with the runs it failed in (run id, sha, pipeline, day, message, and whether the
same sha also passed) and with its failure messages folded into signatures, so "12 failures" reads
as "10 x TimeoutError waiting for <selector>, 2 x connection refused".
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from testintel_assets import schemas
from testintel_assets.configuration import Flakes
from testintel_assets.scoring.flakes import EXECUTED, FAILED, infra_reports, report_keys

SIGNATURE_CHARS = 200
# Order matters: the specific shapes go before the bare numbers they contain.
_NORMALISERS: list[tuple[str, str]] = [
    (r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?", "<ts>"),
    (r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b", "<ts>"),
    (r"(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "<id>"),
    (r"(?i)\b0x[0-9a-f]+\b", "<hex>"),
    (r"(?i)\b[0-9a-f]*[0-9][0-9a-f]*[a-f][0-9a-f]*\b|\b[0-9a-f]*[a-f][0-9a-f]*[0-9][0-9a-f]*\b", "<hex>"),
    (r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b", "<ip>"),
    (r"(?:[A-Za-z]:)?(?:[\\/][\w.@+-]+){2,}[\\/]?", "<path>"),
    (r"\d+(?:\.\d+)?", "<n>"),
    (r"\s+", " "),
]


def normalise_message(message: pl.Expr) -> pl.Expr:
    """A failure message with its variable parts replaced: numbers, ids, hex, paths, IPs, times."""
    out = message.fill_null("")
    for pattern, replacement in _NORMALISERS:
        out = out.str.replace_all(pattern, replacement)
    out = out.str.strip_chars()
    return pl.when(out != "").then(out.str.slice(0, SIGNATURE_CHARS)).otherwise(pl.lit("<no message>"))


def flake_evidence(results: pl.DataFrame, flake_stats: pl.DataFrame, params: Flakes) -> pl.DataFrame:
    """Failed executions of each day's flaky tests within that day's window, with signatures.

    Runs that were infrastructure failures are left out, as they are from flake_stats.
    """
    flaky = flake_stats.filter(pl.col("flake_class") == "flaky").select(
        "day", "test_id", "flow", "window_days"
    )
    if flaky.is_empty():
        return schemas.empty(schemas.FLAKE_EVIDENCE)
    lo = flaky["day"].min() - timedelta(days=params.window_days - 1)
    loaded = results.filter(
        pl.col("day").is_between(lo, flaky["day"].max())
        & pl.col("test_id").is_in(flaky["test_id"].unique().implode())
    )
    bad_reports = infra_reports(results.filter(pl.col("day").is_between(lo, flaky["day"].max())), params)
    loaded = loaded.join(bad_reports, on=report_keys(results.columns), how="anti", nulls_equal=True).filter(
        pl.col("status").is_in(EXECUTED)
    )
    in_window = (pl.col("run_day") <= pl.col("day")) & (
        pl.col("run_day") > pl.col("day") - pl.duration(days=pl.col("window_days"))
    )
    failures = (
        loaded.filter(pl.col("status").is_in(FAILED))
        .rename({"day": "run_day"})
        .join(flaky, on="test_id")
        .filter(in_window)
    )
    passes = loaded.filter(pl.col("status") == "passed").select(
        "test_id", "sha", pl.col("day").alias("run_day")
    )
    same_sha = (
        failures.select("day", "test_id", "sha", "window_days")
        .unique()
        .join(passes.unique(), on=["test_id", "sha"])
        .filter(in_window)
        .select("day", "test_id", "sha", pl.lit(True).alias("passed_on_same_sha"))
        .unique()
    )
    evidence = failures.join(same_sha, on=["day", "test_id", "sha"], how="left").with_columns(
        pl.col("passed_on_same_sha").fill_null(False),
        normalise_message(pl.col("message")).alias("signature"),
    )
    return schemas.conform(evidence, schemas.FLAKE_EVIDENCE).sort("day", "test_id", "started_at", "attempt")


def _ranked(evidence: pl.DataFrame, keys: list[str], top: int) -> pl.DataFrame:
    return (
        evidence.group_by([*keys, "signature"])
        .agg(
            pl.len().alias("failures"),
            pl.col("test_id").n_unique().alias("tests"),
            pl.col("message").drop_nulls().first().alias("example"),
            pl.col("run_day").min().alias("first_seen"),
            pl.col("run_day").max().alias("last_seen"),
        )
        .with_columns((pl.col("failures") / pl.col("failures").sum().over(keys)).alias("share"))
        .sort([*keys, "failures", "signature"], descending=[False] * len(keys) + [True, False])
        .with_columns(pl.int_range(1, pl.len() + 1).over(keys).cast(pl.Int32).alias("rank"))
        .filter(pl.col("rank") <= top)
    )


def failure_signatures(evidence: pl.DataFrame, top: int = 5) -> pl.DataFrame:
    """The `top` signatures per flaky test and across all flaky tests, per day."""
    if evidence.is_empty():
        return schemas.empty(schemas.FAILURE_SIGNATURES)
    per_test = _ranked(evidence, ["day", "test_id"], top).with_columns(pl.lit("test").alias("scope"))
    overall = _ranked(evidence, ["day"], top).with_columns(
        pl.lit("overall").alias("scope"), pl.lit(None, dtype=pl.String).alias("test_id")
    )
    frames = [schemas.conform(frame, schemas.FAILURE_SIGNATURES) for frame in (overall, per_test)]
    return pl.concat(frames).sort("day", "scope", "test_id", "rank", nulls_last=False)
