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
from testintel_assets.parsers.coverage.streams import XmlHandler, stream_xml


def _conditions(text: str) -> tuple[int, int]:
    """(covered, valid) from condition-coverage, e.g. '50% (1/2)'."""
    covered, _, valid = text.rpartition("(")[2].rstrip(")").partition("/")
    return int(float(covered)), int(float(valid))


class _CoberturaHandler(XmlHandler):
    """Start events only once inside <packages> (an end callback per element would cost a third
    of the time): a method ends where the next method, the class's own <lines> or the next class
    starts; a package where the next one starts or the document ends."""

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
        self.method_lines_next = False
        self.method_lines: list[dict[str, str]] = []
        self.end = self._end_in_prolog
        self.text = self._text_in_prolog

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if name == "line":
            if self.method_key is not None:  # kept for classes without their own <lines>
                self.method_lines.append(attrs)
                if not self.method_hit:
                    self.method_hit = self._hit(attrs)
            elif self.file is not None:
                self._add_line(attrs)
        elif name == "lines":
            if self.method_lines_next:
                self.method_lines_next = False
            else:
                self._close_method()
                self.class_has_lines = True
        elif name == "method":
            self._close_method()
            self.method_key = f"{self.class_name}::{attrs.get('name', '')}{attrs.get('signature', '')}"
            self.method_hit = float(attrs.get("line-rate", "0") or 0) > 0
            self.method_lines_next = True
        elif name == "class":
            self._close_class()
            filename = attrs.get("filename") or attrs.get("name")
            if not filename:
                raise ArtifactRejected("Cobertura <class> without a filename attribute")
            self.file = self.files.get(filename) or self.files.setdefault(filename, FileCoverage(filename))
            self.class_name = attrs.get("name", "")
            self.class_has_lines = False
        elif name == "package":
            self.flush()
        elif name == "packages":  # past the <sources>: no more end or text events needed
            self.parser.EndElementHandler = None
            self.parser.CharacterDataHandler = None
        elif name == "source":
            self.in_source = True
            self.roots.append("")
        elif not self.root_seen:
            if name != "coverage":
                raise ArtifactRejected(f"not a Cobertura report: root element <{name}>, expected <coverage>")
            self.root_seen = True

    @staticmethod
    def _hit(attrs: dict[str, str]) -> bool:
        hits = attrs.get("hits", "0")
        try:
            return hits != "0" and (hits[0] in "123456789" or float(hits) > 0)
        except ValueError as exc:
            raise ArtifactRejected(f"Cobertura <line> with hits={hits!r}") from exc

    def _add_line(self, attrs: dict[str, str]) -> None:
        assert self.file is not None
        number = attrs.get("number")
        if not number:
            raise ArtifactRejected(f"Cobertura <line> without a number: {attrs}")
        if self._hit(attrs):
            self.file.lines[number] = True
        else:
            self.file.lines.setdefault(number, False)
        conditions = attrs.get("condition-coverage")
        if conditions:
            covered, valid = _conditions(conditions)
            self.file.branch_counts(number, valid, covered)

    def _close_method(self) -> None:
        if self.method_key is not None and self.file is not None:
            self.file.function(self.method_key, self.method_hit)
        self.method_key = None
        self.method_lines_next = False

    def _close_class(self) -> None:
        self._close_method()
        if self.file is not None and not self.class_has_lines:
            for attrs in self.method_lines:
                self._add_line(attrs)
        self.method_lines = []
        self.file = None

    def flush(self) -> None:
        self._close_class()
        self.builder.add_all(self.files.values())
        self.files = {}

    def _end_in_prolog(self, name: str) -> None:
        if name == "source":
            self.in_source = False

    def _text_in_prolog(self, data: str) -> None:
        if self.in_source:
            self.roots[-1] += data


def read_cobertura_format(path: Path, format_name: str) -> Parsed:
    builder = FrameBuilder(format_name)
    handler = _CoberturaHandler(builder)
    stream_xml(path, handler)
    handler.flush()
    return finish(builder, handler.roots)
