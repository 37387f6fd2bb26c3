"""Istanbul JSON: `coverage-final.json` (nyc, jest, vitest, c8) and `coverage-summary.json`.

coverage-final.json: lines follow istanbul-lib-coverage's getLineCoverage (a line is the start
line of a statement; covered when one of its statements ran), branches are the entries of each
`b` array, functions the entries of `f`. coverage-summary.json carries counts only (its `total`
entry is the producer's own total, not a file), so its key lists are null.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from testintel_assets.parsers import ArtifactRejected, Parsed
from testintel_assets.parsers.coverage.rows import Counts, FileCoverage, FrameBuilder, finish
from testintel_assets.parsers.coverage.streams import entries_of, stream_json_members

_SUMMARY_KEYS = {"lines": "lines", "branches": "branches", "functions": "functions"}


def _file_from_final(key: str, entry: Any) -> FileCoverage:
    if isinstance(entry, dict) and isinstance(entry.get("data"), dict):  # FileCoverage.toJSON() wrapper
        entry = entry["data"]
    if not isinstance(entry, dict) or "statementMap" not in entry or "s" not in entry:
        raise ArtifactRejected(f"not Istanbul coverage: entry {key!r} has no statementMap/s")
    coverage = FileCoverage(str(entry.get("path") or key))
    statements = entry["statementMap"]
    for statement, count in entry["s"].items():
        location = statements.get(statement)
        if location:
            coverage.line(int(location["start"]["line"]), count > 0)
    for branch, counts in (entry.get("b") or {}).items():
        for index, count in enumerate(counts):
            coverage.branch(f"{branch}.{index}", count > 0)
    functions = entry.get("fnMap") or {}
    for function, count in (entry.get("f") or {}).items():
        meta = functions.get(function, {})
        start = (meta.get("decl") or meta.get("loc") or {}).get("start", {})
        position = f"{start.get('line', meta.get('line', ''))}:{start.get('column', '')}"
        coverage.function(f"{meta.get('name', function)}@{position}", count > 0)
    return coverage


def read_istanbul_final(path: Path) -> Parsed:
    builder = FrameBuilder("istanbul-final")
    with entries_of("Istanbul coverage"):
        for _parent, key, entry in stream_json_members(path):
            builder.add(_file_from_final(key, entry))
    return finish(builder)


def _file_from_summary(key: str, entry: Any) -> FileCoverage:
    coverage = FileCoverage(key, has_keys=False)
    for dimension, name in _SUMMARY_KEYS.items():
        metric = entry.get(name) if isinstance(entry, dict) else None
        if not isinstance(metric, dict) or "total" not in metric or "covered" not in metric:
            raise ArtifactRejected(f"not an Istanbul summary: entry {key!r} has no {name}.total/covered")
        coverage.counts[dimension] = Counts(int(metric["total"]), int(metric["covered"]))
    return coverage


def read_istanbul_summary(path: Path) -> Parsed:
    builder = FrameBuilder("istanbul-summary")
    with entries_of("Istanbul summary"):
        for _parent, key, entry in stream_json_members(path):
            if key != "total":
                builder.add(_file_from_summary(key, entry))
    return finish(builder)
