"""Cobertura XML: coverage.py, Cobertura, coverlet, dotnet-coverage, scoverage, OpenCppCoverage, Swift.

Per file: the distinct `<line>` numbers of its classes (a file may hold several classes, e.g.
inner or partial classes; a method-only layout like the Swift exporter's falls back to the
method lines), covered when hits > 0; branches from `condition-coverage="50% (1/2)"`; functions
from `<method>`, covered when one of its lines was hit.
"""

from __future__ import annotations

from pathlib import Path

from testintel_assets.parsers import ArtifactRejected, Parsed
from testintel_assets.parsers.coverage.rows import FileCoverage, FrameBuilder, finish
from testintel_assets.parsers.coverage.streams import stream_xml


def _hit(hits: str) -> bool:
    return hits != "0" and float(hits) > 0


def _conditions(text: str) -> tuple[int, int]:
    """(covered, valid) from condition-coverage, e.g. '50% (1/2)'."""
    covered, _, valid = text.rpartition("(")[2].rstrip(")").partition("/")
    return int(float(covered)), int(float(valid))


class _CoberturaHandler:
    def __init__(self, builder: FrameBuilder) -> None:
        self.builder = builder
        self.roots: list[str] = []
        self.root_seen = False
        self.in_source = False
        self.files: dict[str, FileCoverage] = {}
        self.file: FileCoverage | None = None
        self.class_name = ""
        self.class_has_lines = False
        self.method_key: str | None = None
        self.method_hit = False
        self.method_lines: list[tuple[int, bool, str | None]] = []

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if name == "line":
            self._line(attrs)
        elif name == "method":
            self.method_key = f"{self.class_name}::{attrs.get('name', '')}{attrs.get('signature', '')}"
            self.method_hit = float(attrs.get("line-rate", "0") or 0) > 0
        elif name == "lines" and self.method_key is None:
            self.class_has_lines = True
        elif name == "class":
            filename = attrs.get("filename") or attrs.get("name")
            if not filename:
                raise ArtifactRejected("Cobertura <class> without a filename attribute")
            self.file = self.files.get(filename) or self.files.setdefault(filename, FileCoverage(filename))
            self.class_name = attrs.get("name", "")
            self.class_has_lines = False
            self.method_lines = []
        elif name == "source":
            self.in_source = True
            self.roots.append("")
        elif not self.root_seen:
            if name != "coverage":
                raise ArtifactRejected(f"not a Cobertura report: root element <{name}>, expected <coverage>")
            self.root_seen = True

    def _line(self, attrs: dict[str, str]) -> None:
        if self.file is None:
            return
        try:
            number = int(attrs["number"])
            hit = _hit(attrs.get("hits", "0"))
        except (KeyError, ValueError) as exc:
            raise ArtifactRejected(f"Cobertura <line> without a valid number/hits: {attrs}") from exc
        conditions = attrs.get("condition-coverage")
        if self.method_key is not None:
            self.method_hit = self.method_hit or hit
            self.method_lines.append((number, hit, conditions))
            return
        self._add_line(number, hit, conditions)

    def _add_line(self, number: int, hit: bool, conditions: str | None) -> None:
        assert self.file is not None
        self.file.line(number, hit)
        if conditions:
            covered, valid = _conditions(conditions)
            self.file.branch_counts(number, valid, covered)

    def end(self, name: str) -> None:
        if name == "method":
            if self.file is not None and self.method_key is not None:
                self.file.function(self.method_key, self.method_hit)
            self.method_key = None
        elif name == "class":
            if not self.class_has_lines:
                for line in self.method_lines:
                    self._add_line(*line)
            self.file = None
        elif name == "package":
            self.builder.add_all(self.files.values())
            self.files = {}
        elif name == "source":
            self.in_source = False

    def text(self, data: str) -> None:
        if self.in_source:
            self.roots[-1] += data


def read_cobertura_format(path: Path, format_name: str) -> Parsed:
    builder = FrameBuilder(format_name)
    handler = _CoberturaHandler(builder)
    stream_xml(path, handler.start, handler.end, handler.text)
    builder.add_all(handler.files.values())  # classes outside any <package>
    return finish(builder, handler.roots)
