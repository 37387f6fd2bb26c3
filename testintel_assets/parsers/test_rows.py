"""What every test-result reader shares: statuses, bounded messages, and the vectorised finish.

Readers collect raw columns (owner, suite, file, name as the producer wrote them, status, duration,
message, platform) in document order, one row per attempt, and hand them to `finish_results`, which
computes the canonical test_id (docs/test-ids.md) and the attempt number in one vectorised pass:
rows of the same test (and platform) are attempts 0, 1, 2 ... in the order the report lists them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import polars as pl

from testintel_assets.parsers import test_ids
from testintel_assets.schemas import ARTIFACT_META, ARTIFACT_RESULTS, conform, empty

PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"
STATUSES = (PASSED, FAILED, ERROR, SKIPPED)
MESSAGE_LIMIT = 2000
_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

# The raw columns a reader collects before `finish_results`.
RAW_RESULTS = pl.Schema(
    {
        "owner": pl.String,
        "suite": pl.String,
        "file": pl.String,
        "name": pl.String,
        "platform": pl.String,
        "status": pl.String,
        "duration_ms": pl.Float64,
        "message": pl.String,
    }
)
META_COLUMNS = list(test_ids.META_KEYS)


def bound_message(text: str | None, *, first_line: bool = False) -> str | None:
    """Strip ANSI colours and blanks, optionally keep the first non-blank line, cap the length."""
    if not text:
        return None
    text = _ANSI_RE.sub("", text)
    if first_line:
        text = next((line for line in text.splitlines() if line.strip()), "")
    text = text.strip()
    if len(text) > MESSAGE_LIMIT:
        return text[: MESSAGE_LIMIT - 1] + "…"
    return text or None


def clean_title_expr(column: pl.Expr) -> pl.Expr:
    """Vectorised `test_ids.clean_title`: the same patterns through Polars' regex engine."""
    return (
        column.str.replace_all(test_ids.TAG_PATTERN, " ")
        .str.replace_all(test_ids.SPACES_PATTERN, " ")
        .str.strip_chars(" ")
    )


def blank_to_null(column: pl.Expr) -> pl.Expr:
    stripped = column.str.strip_chars(" \t\r\n")
    return pl.when(stripped == "").then(None).otherwise(stripped)


def test_id_expr(owner: pl.Expr, clean_name: pl.Expr, suite: pl.Expr) -> pl.Expr:
    """Vectorised `test_ids.from_junit(owner, name, suite)` over an already cleaned name."""
    owner_clean = clean_title_expr(pl.coalesce(blank_to_null(owner), blank_to_null(suite))).fill_null("")
    name_part = pl.when(clean_name == "").then(pl.lit(test_ids.UNNAMED)).otherwise(clean_name)
    return (
        pl.when(owner_clean == "")
        .then(name_part)
        .otherwise(pl.concat_str(owner_clean, pl.lit("::"), name_part))
    )


def with_ids(raw: pl.DataFrame) -> pl.DataFrame:
    """Add the canonical test_id and replace `name` by its clean title (tags stripped)."""
    return raw.with_columns(
        raw_name=pl.col("name"), name=clean_title_expr(pl.col("name").fill_null(""))
    ).with_columns(test_id=test_id_expr(pl.col("owner"), pl.col("name"), pl.col("suite")))


def number_attempts(frame: pl.DataFrame, format_name: str) -> pl.DataFrame:
    """Rows with test_id in report order -> ARTIFACT_RESULTS with attempts per (test_id, platform).

    Grouping goes by a 64-bit hash of the id, several times cheaper than grouping long strings.
    """
    if frame.is_empty():
        return empty(ARTIFACT_RESULTS)
    attempt = pl.int_range(pl.len(), dtype=pl.Int32).over(pl.col("test_id").hash(), "platform")
    return conform(frame.with_columns(attempt=attempt, format=pl.lit(format_name)), ARTIFACT_RESULTS)


def finish_results(raw: pl.DataFrame, format_name: str) -> pl.DataFrame:
    """Raw reader columns (RAW_RESULTS) -> ARTIFACT_RESULTS: canonical ids, clean names, attempts."""
    return number_attempts(with_ids(raw), format_name)


def raw_frame(columns: Mapping[str, list]) -> pl.DataFrame:
    return pl.DataFrame(dict(columns), schema=RAW_RESULTS)


def meta_frame(rows: list[dict[str, str | None]]) -> pl.DataFrame:
    """Metadata rows (test_id, source and any META_KEYS) -> ARTIFACT_META, one row per (test, source).

    Within one source, a later row for the same test fills only what earlier rows left empty.
    """
    frame = pl.DataFrame(list(rows), schema=ARTIFACT_META) if rows else empty(ARTIFACT_META)
    if frame.is_empty():
        return frame
    return conform(
        frame.group_by("test_id", "source", maintain_order=True).agg(
            pl.col(key).drop_nulls().first() for key in META_COLUMNS
        ),
        ARTIFACT_META,
    )


def title_tag_meta(raw: pl.DataFrame) -> list[dict[str, str | None]]:
    """Meta rows from `[key:value]` / `@key:value` tags in the raw owner and name of each row.

    `raw` has the producer's owner and name and the test_id computed from them (`with_ids` output
    keeps the raw name in `raw_name`)."""
    title = pl.concat_str(pl.col("owner").fill_null(""), pl.lit(" "), pl.col("raw_name").fill_null(""))
    tagged = raw.select("test_id", title.alias("raw")).filter(
        pl.col("raw").str.contains(test_ids.TAG_PATTERN)
    )
    rows = []
    for test_id, raw in tagged.unique(maintain_order=True).iter_rows():
        keyed = test_ids.title_tags(raw)[1]
        if keyed:
            rows.append({"test_id": test_id, "source": "title-tag", **keyed})
    return rows
