"""Clover XML: OpenClover, PHPUnit (php-code-coverage), istanbul's clover reporter, Groovy/Gradle.

Counts are each producer's own per-file `<metrics>`: statements, conditionals, methods. Producers
disagree on what the `<line>` elements mean (istanbul writes one line per source line but counts
statements; PHPUnit counts a method as covered only when all its lines ran), so the elements
supply the keys that merge shards and the metrics supply the totals. Only `<project>` is read;
`<testproject>` measures the test code itself.
"""

from __future__ import annotations

from pathlib import Path

from testintel_assets.parsers import ArtifactRejected, Parsed
from testintel_assets.parsers.coverage.rows import Counts, FileCoverage, FrameBuilder, finish
from testintel_assets.parsers.coverage.streams import XmlHandler, stream_xml

_METRICS = {"lines": "statements", "branches": "conditionals", "functions": "methods"}


def _count(attrs: dict[str, str], name: str) -> int:
    return int(attrs.get(name, "0") or 0)


class _CloverHandler(XmlHandler):
    def __init__(self, builder: FrameBuilder) -> None:
        self.builder = builder
        self.stack: list[str] = []
        self.in_project = False
        self.file: FileCoverage | None = None
        self.end = self._end

    def start(self, name: str, attrs: dict[str, str]) -> None:
        parent = self.stack[-1] if self.stack else None
        self.stack.append(name)
        if parent is None and name != "coverage":
            raise ArtifactRejected(f"not a Clover report: root element <{name}>, expected <coverage>")
        if name == "project":
            self.in_project = True
        elif not self.in_project:
            return
        elif name == "line" and self.file is not None:
            self._line(attrs)
        elif name == "file":
            self.file = FileCoverage(attrs.get("path") or attrs.get("name") or "")
        elif name == "metrics" and parent == "file" and self.file is not None:
            for dimension, metric in _METRICS.items():
                self.file.counts[dimension] = Counts(_count(attrs, metric), _count(attrs, f"covered{metric}"))

    def _line(self, attrs: dict[str, str]) -> None:
        assert self.file is not None
        try:
            number = int(attrs["num"])
            kind = attrs.get("type", "stmt")
            count = _count(attrs, "count")
            if kind == "method":
                signature = attrs.get("signature") or attrs.get("name") or ""
                self.file.function(f"{signature}@{number}", count > 0)
                return
            true_count, false_count = _count(attrs, "truecount"), _count(attrs, "falsecount")
        except (KeyError, ValueError) as exc:
            raise ArtifactRejected(f"Clover <line> without a valid num/count: {attrs}") from exc
        self.file.line(number, count > 0 or true_count > 0 or false_count > 0)
        if kind == "cond":
            self.file.branch(f"{number}:true", true_count > 0)
            self.file.branch(f"{number}:false", false_count > 0)

    def _end(self, name: str) -> None:
        self.stack.pop()
        if name == "project":
            self.in_project = False
        elif name == "file" and self.file is not None and self.in_project:
            self.builder.add(self.file)
            self.file = None


def read_clover(path: Path) -> Parsed:
    builder = FrameBuilder("clover")
    handler = _CloverHandler(builder)
    stream_xml(path, handler)
    return finish(builder)
