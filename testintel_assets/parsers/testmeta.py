"""The testintel pytest plugin's export (`--testintel-export PATH`) and the metadata precedence rule.

Export shape (docs/pytest-plugin.md):
    {"testintel_export": 1, "generated_at": "...", "rootdir": "...",
     "tests": [{"nodeid": "...", "test_id": "...", "tags": {"flow": "cart", ...},
                "attempts": [{"attempt": 0, "status": "failed", "duration_ms": 12.5, "message": "..."}]}]}

`resolve_meta` merges metadata rows of several sources into one row per test (docs/test-results.md):
a column takes the value of the most authoritative source that sets it, so a source that is silent
on a key never erases what another one said.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from testintel_assets.parsers import ArtifactRejected, Parsed, test_ids
from testintel_assets.parsers.json_input import load_document, require_mapping
from testintel_assets.parsers.test_rows import (
    META_COLUMNS,
    STATUSES,
    bound_message,
    meta_frame,
    number_attempts,
)
from testintel_assets.schemas import ARTIFACT_META, conform

FORMAT = "testintel-export"
EXPORT_KEY = "testintel_export"
SUPPORTED_VERSIONS = {1}
# Most authoritative first: explicit markers and annotations beat structured report properties,
# which beat tags parsed out of titles.
SOURCE_PRECEDENCE = (
    "pytest-plugin",
    "playwright-annotation",
    "playwright-tag",
    "junit-property",
    "nunit-property",
    "title-tag",
)


def looks_like_export(head: bytes) -> bool:
    return head.lstrip().startswith(b"{") and f'"{EXPORT_KEY}"'.encode() in head[:512]


def read_testmeta(path: Path) -> Parsed:
    """Result rows for every recorded attempt and one meta row per tagged test (source pytest-plugin)."""
    export = require_mapping(load_document(path), "a testintel export", EXPORT_KEY, "tests")
    if export[EXPORT_KEY] not in SUPPORTED_VERSIONS:
        raise ArtifactRejected(f"unsupported testintel export version {export[EXPORT_KEY]!r} (expected 1)")
    if not isinstance(export["tests"], list):
        raise ArtifactRejected("not a testintel export: `tests` is not a list")
    rows: list[dict[str, Any]] = []
    meta: list[dict[str, str | None]] = []
    for index, test in enumerate(export["tests"]):
        if not isinstance(test, dict) or not (test.get("test_id") or test.get("nodeid")):
            raise ArtifactRejected(f"testintel export: tests[{index}] has neither test_id nor nodeid")
        nodeid = str(test.get("nodeid") or "")
        test_id = str(test.get("test_id") or test_ids.from_pytest_nodeid(nodeid))
        tags = {
            key: str(v).strip() for k, v in (test.get("tags") or {}).items() if (key := test_ids.meta_key(k))
        }
        if any(tags.values()):
            meta.append(
                {"test_id": test_id, "source": "pytest-plugin", **{k: v for k, v in tags.items() if v}}
            )
        for position, attempt in enumerate(test.get("attempts") or []):
            rows.append(_attempt_row(test_id, nodeid, tags, attempt, f"tests[{index}].attempts[{position}]"))
    frame = pl.DataFrame(rows, schema=_ROW_SCHEMA, orient="row") if rows else pl.DataFrame(schema=_ROW_SCHEMA)
    results = number_attempts(frame.sort("test_id", "platform", "order", maintain_order=True), FORMAT)
    return Parsed(results=results, meta=meta_frame(meta))


_ROW_SCHEMA = {
    "test_id": pl.String,
    "suite": pl.String,
    "file": pl.String,
    "name": pl.String,
    "platform": pl.String,
    "order": pl.Int64,
    "status": pl.String,
    "duration_ms": pl.Float64,
    "message": pl.String,
}


def _attempt_row(test_id: str, nodeid: str, tags: dict[str, str], attempt: Any, where: str) -> tuple:
    if not isinstance(attempt, dict) or attempt.get("status") not in STATUSES:
        raise ArtifactRejected(f"testintel export: {where} needs a status in {', '.join(STATUSES)}")
    file = nodeid.split("::", 1)[0] or None
    name = test_id.rsplit("::", 1)[-1]
    duration = attempt.get("duration_ms")
    return (
        test_id,
        file,
        file,
        name,
        tags.get("platform") or None,
        int(attempt.get("attempt", 0)),
        attempt["status"],
        float(duration) if duration is not None else None,
        bound_message(attempt.get("message")),
    )


def resolve_meta(meta: pl.DataFrame) -> pl.DataFrame:
    """ARTIFACT_META rows of any sources -> one row per test_id, column by column by SOURCE_PRECEDENCE.

    `source` of the result names every source that contributed, most authoritative first."""
    if meta.is_empty():
        return conform(meta, ARTIFACT_META)
    rank = {source: position for position, source in enumerate(SOURCE_PRECEDENCE)}
    ranked = meta.with_columns(
        rank=pl.col("source").replace_strict(rank, default=len(rank), return_dtype=pl.Int32)
    ).sort("test_id", "rank", maintain_order=True)
    merged = ranked.group_by("test_id", maintain_order=True).agg(
        *(pl.col(key).drop_nulls().first() for key in META_COLUMNS),
        pl.col("source").unique(maintain_order=True).str.join("+"),
    )
    return conform(merged, ARTIFACT_META)
