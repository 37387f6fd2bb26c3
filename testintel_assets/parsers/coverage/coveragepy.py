"""coverage.py `coverage json` (format 2 and 3).

Counts are the file's `summary` (num_statements / covered_lines, num_branches / covered_branches),
which is what `totals` adds up. coverage.py may list in executed_lines a line it does not count
as a statement (a docstring, a decorator line), so the keys can exceed the counts; the merge
corrects for that (rows.merge_files). Branch keys are the `from>to` arcs; functions (format 3,
coverage.py >= 7.5) are the named regions with statements, covered when one of them ran.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from testintel_assets.parsers import ArtifactRejected, Parsed
from testintel_assets.parsers.coverage.rows import Counts, FileCoverage, FrameBuilder, finish
from testintel_assets.parsers.coverage.streams import entries_of, stream_json_members


def _file(key: str, entry: dict[str, Any]) -> FileCoverage:
    coverage = FileCoverage(key)
    for line in entry.get("executed_lines", ()):
        coverage.line(int(line), True)
    for line in entry.get("missing_lines", ()):
        coverage.line(int(line), False)
    for source, target in entry.get("executed_branches", ()):
        coverage.branch(f"{source}>{target}", True)
    for source, target in entry.get("missing_branches", ()):
        coverage.branch(f"{source}>{target}", False)
    for name, region in (entry.get("functions") or {}).items():
        if name and region["summary"]["num_statements"] > 0:
            coverage.function(name, region["summary"]["covered_lines"] > 0)
    summary = entry["summary"]
    coverage.counts["lines"] = Counts(int(summary["num_statements"]), int(summary["covered_lines"]))
    if "num_branches" in summary:
        coverage.counts["branches"] = Counts(int(summary["num_branches"]), int(summary["covered_branches"]))
    return coverage


def read_coveragepy_json(path: Path) -> Parsed:
    builder = FrameBuilder("coveragepy-json")
    seen_meta = False
    with entries_of("coverage.py JSON file"):
        for parent, key, value in stream_json_members(path, descend="files"):
            if parent == "files":
                builder.add(_file(key, value))
            elif key == "meta":
                seen_meta = isinstance(value, dict)
    if not seen_meta:
        raise ArtifactRejected("not a coverage.py JSON report: no 'meta' object")
    return finish(builder)
