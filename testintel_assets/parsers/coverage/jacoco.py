"""JaCoCo XML (report.dtd 1.0/1.1, with or without `<group>`s).

Per `<sourcefile>` of a `<package>`: its `<line nr mi ci mb cb>` elements give lines (covered
when ci > 0, as JaCoCo's LINE counter counts a partly covered line as covered) and branches
(mb + cb per line). Methods live in `<class sourcefilename=...>` elements that precede the
source files of the same package (DTD 1.0 reports omit `sourcefilename`; the top-level class
name then names the file); a method is covered when its METHOD counter says so.
`<sessioninfo>` is recognised but not needed: the run's time comes from run.json.
"""

from __future__ import annotations

from pathlib import Path

from testintel_assets.parsers import ArtifactRejected, Parsed
from testintel_assets.parsers.coverage.rows import FileCoverage, FrameBuilder, finish
from testintel_assets.parsers.coverage.streams import XmlHandler, stream_xml


class _JacocoHandler(XmlHandler):
    ordered_attributes = True  # [name, value, ...]: expat builds no dict per line
    """Start events only (an end callback per element would cost a third of the time): a method
    ends with its METHOD counter, the last one JaCoCo writes for it; a source file ends where the
    next source file or package starts, or the document ends."""

    def __init__(self, builder: FrameBuilder) -> None:
        self.builder = builder
        self.root_seen = False
        self.package = ""
        self.class_name = ""
        self.class_file = ""
        self.method_key: str | None = None
        # sourcefilename -> method key -> covered, for the current package
        self.methods: dict[str, dict[str, bool]] = {}
        self.file: FileCoverage | None = None
        self.lines: dict[int, bool] | None = None  # the current file's, bound for the hot path

    def start(self, name: str, ordered: list[str]) -> None:
        if name == "line":  # the hot path: one call per source line, kept inline
            lines = self.lines
            if lines is None:
                return
            # JaCoCo writes nr, mi, ci, mb, cb in this order; any other layout takes the slow path.
            if len(ordered) == 10 and ordered[4] == "ci" and ordered[8] == "cb":
                if ordered[5] == "0":
                    lines.setdefault(ordered[1], False)
                else:
                    lines[ordered[1]] = True
                if ordered[7] == "0" == ordered[9]:  # no branches: most lines
                    return
                nr, missed, covered = ordered[1], ordered[7], ordered[9]
            else:
                attrs = dict(zip(ordered[::2], ordered[1::2], strict=False))
                nr = attrs.get("nr", "")
                if attrs.get("ci", "0") != "0":
                    lines[nr] = True
                else:
                    lines.setdefault(nr, False)
                missed, covered = attrs.get("mb", "0"), attrs.get("cb", "0")
            if missed != "0" or covered != "0":
                try:
                    missed_branches, covered_branches = int(missed), int(covered)
                except ValueError as exc:
                    raise ArtifactRejected(f"JaCoCo <line> without valid mb/cb: {ordered}") from exc
                self.file.branch_counts(nr, missed_branches + covered_branches, covered_branches)
            return
        # Only a method's METHOD counter matters: not class, file and package totals, nor the other
        # counters of a method ("METHOD" can only be the value of `type`; the others are numbers).
        if name == "counter" and (self.method_key is None or "METHOD" not in ordered):
            return
        attrs = dict(zip(ordered[::2], ordered[1::2], strict=False))
        if name == "counter":
            if attrs.get("type") == "METHOD":
                covered = int(attrs.get("covered", "0")) > 0
                self.methods.setdefault(self.class_file, {})[self.method_key] = covered
                self.method_key = None
        elif name == "method":
            self.method_key = f"{self.class_name}.{attrs.get('name', '')}{attrs.get('desc', '')}"
        elif name == "class":
            self.method_key = None
            self.class_name = attrs.get("name", "")
            # DTD 1.0 reports have no sourcefilename: the top-level class names its file.
            outer_class = self.class_name.rsplit("/", 1)[-1].split("$", 1)[0]
            self.class_file = attrs.get("sourcefilename") or f"{outer_class}.*"
        elif name == "sourcefile":
            self.flush()
            filename = attrs.get("name", "")
            self.file = FileCoverage(f"{self.package}/{filename}" if self.package else filename)
            self.lines = self.file.lines
        elif name == "package":
            self.flush()
            self.package = attrs.get("name", "")
            self.methods = {}
        elif not self.root_seen:
            if name != "report":
                raise ArtifactRejected(f"not a JaCoCo report: root element <{name}>, expected <report>")
            self.root_seen = True

    def flush(self) -> None:
        if self.file is None:
            return
        filename = self.file.path.rsplit("/", 1)[-1]
        for source in (filename, f"{filename.rsplit('.', 1)[0]}.*"):
            for key, covered in self.methods.get(source, {}).items():
                self.file.function(key, covered)
        self.builder.add(self.file)
        self.file, self.lines = None, None


def read_jacoco(path: Path) -> Parsed:
    builder = FrameBuilder("jacoco")
    handler = _JacocoHandler(builder)
    stream_xml(path, handler)
    handler.flush()
    return finish(builder)
