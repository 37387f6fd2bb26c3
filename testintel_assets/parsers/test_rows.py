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
_LINE_BREAK = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")  # where str.splitlines splits

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
    if "\x1b" in text:
        text = _ANSI_RE.sub("", text)
    if first_line:  # the first non-blank line: what follows the leading blanks, up to a line break
        text = text.lstrip()
        if line_break := _LINE_BREAK.search(text):
            text = text[: line_break.start()]
    text = text.strip()
    if len(text) > MESSAGE_LIMIT:
        return text[: MESSAGE_LIMIT - 1] + "…"
    return text or None


def bound_message_expr(text: pl.Expr, *, first_line: bool = False) -> pl.Expr:
    """Vectorised `bound_message` for text an XML parser delivers. XML 1.0 excludes the C0 controls,
    so there is no ANSI escape to strip, nor one of \\x1c-\\x1f, the only blanks Python's and Rust's
    strip disagree on."""
    if first_line:
        text = text.str.strip_chars_start().str.extract(f"^([^{_LINE_BREAK.pattern[1:-1]}]*)")
    text = text.str.strip_chars()
    capped = (
        pl.when(text.str.len_chars() > MESSAGE_LIMIT)
        .then(pl.concat_str(text.str.slice(0, MESSAGE_LIMIT - 1), pl.lit("…")))
        .otherwise(text)
    )
    return pl.when(capped != "").then(capped)


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


def test_id_expr(owner: pl.Expr, clean_name: pl.Expr, suite: pl.Expr, *, untidy: bool = True) -> pl.Expr:
    """Vectorised `test_ids.from_junit(owner, name, suite)` over an already cleaned name; with
    `untidy` False the caller knows that no owner needs `clean_title` beyond stripping blanks."""
    owner = pl.coalesce(blank_to_null(owner), blank_to_null(suite))
    if untidy:
        owner = clean_title_expr(owner)
        owner = pl.when(owner != "").then(owner)
    name_part = pl.when(clean_name == "").then(pl.lit(test_ids.UNNAMED)).otherwise(clean_name)
    return pl.when(owner.is_null()).then(name_part).otherwise(pl.concat_str(owner, pl.lit("::"), name_part))


def with_ids(raw: pl.DataFrame, untidy: bool | None = None) -> pl.DataFrame:
    """Add the canonical test_id and replace `name` by its clean title (tags stripped).

    Most frames hold no title that cleaning would change (`untidy` False: the caller knows, None:
    look): then stripping spaces is all cleaning does, and the regular expressions are skipped."""
    if untidy is None:
        untidy = _untidy(raw, "owner", "name", "suite")
    name = pl.col("name").fill_null("")
    name = clean_title_expr(name) if untidy else name.str.strip_chars(" ")
    return raw.with_columns(
        raw_name=pl.col("name"),
        name=name,
        test_id=test_id_expr(pl.col("owner"), name, pl.col("suite"), untidy=untidy),
    )


_UNTIDY_MARKS = ("@", "\t", "\r", "\n", "  ")


def untidy_text(text: str) -> bool:
    """Whether a title taken from `text` may need `clean_title` beyond stripping spaces: a tag needs
    '@' or both '[' and ':', a run of blanks two spaces or a tab, CR or LF."""
    return any(mark in text for mark in _UNTIDY_MARKS) or ("[" in text and ":" in text)


def _untidy(frame: pl.DataFrame, *columns: str) -> bool:
    """`untidy_text` over the titles that these columns may form together."""
    marks = "|".join(_UNTIDY_MARKS)  # no regex metacharacter among them
    found = frame.select(
        pl.any_horizontal(pl.col(column).str.contains(marks).any() for column in columns).alias("marks"),
        pl.any_horizontal(pl.col(column).str.contains("[", literal=True).any() for column in columns).alias(
            "["
        ),
        pl.any_horizontal(pl.col(column).str.contains(":", literal=True).any() for column in columns).alias(
            ":"
        ),
    ).row(0)
    return bool(found[0] or (found[1] and found[2]))


def number_attempts(frame: pl.DataFrame, format_name: str) -> pl.DataFrame:
    """Rows with test_id in report order -> ARTIFACT_RESULTS with attempts per (test_id, platform).

    Grouping goes by a 64-bit hash of the id, several times cheaper than grouping long strings,
    and only over the rows whose test repeats (a window over every row costs as much as a sort).
    """
    if frame.is_empty():
        return empty(ARTIFACT_RESULTS)
    # Repeated ids found by sorting the hashes: a hash table over every row (is_duplicated) would
    # take several times the memory, and filtering the whole frame would copy it.
    hashes = frame.get_column("test_id").hash()
    ordered = hashes.sort()
    repeated = hashes.is_in(ordered.filter(ordered == ordered.shift(1)).unique().implode()).arg_true()
    attempt = pl.zeros(frame.height, dtype=pl.Int32, eager=True)
    if repeated.len():
        keys = pl.DataFrame([hashes[repeated], frame.get_column("platform")[repeated]])
        counts = keys.select(pl.int_range(pl.len(), dtype=pl.Int32).over(keys.columns))
        attempt.scatter(repeated, counts.to_series())
    return conform(_with_aligned(frame, attempt=attempt, format=pl.lit(format_name)), ARTIFACT_RESULTS)


def _with_aligned(frame: pl.DataFrame, **columns: pl.Series | pl.Expr) -> pl.DataFrame:
    """`frame.with_columns(**columns)`, cut at the frame's chunks: a new one-chunk column beside a
    frame read in chunks makes the next operation copy the whole frame into a single chunk."""
    lengths = frame.get_column(frame.columns[0]).chunk_lengths()
    if len(lengths) < 2:
        return frame.with_columns(**columns)
    pieces, start = [], 0
    for length in lengths:
        piece = {
            key: value.slice(start, length) for key, value in columns.items() if isinstance(value, pl.Series)
        }
        pieces.append(frame.slice(start, length).with_columns(**{**columns, **piece}))
        start += length
    return pl.concat(pieces)


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


def title_tag_meta(raw: pl.DataFrame, untidy: bool | None = None) -> list[dict[str, str | None]]:
    """Meta rows from `[key:value]` / `@key:value` tags in the raw owner and name of each row.

    `raw` has the producer's owner and name and the test_id computed from them (`with_ids` output
    keeps the raw name in `raw_name`)."""
    if not (_untidy(raw, "owner", "raw_name") if untidy is None else untidy):
        return []
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
