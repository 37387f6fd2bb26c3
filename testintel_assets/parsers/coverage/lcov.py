"""LCOV tracefiles (geninfo/lcov 1.x and 2.x, istanbul, c8, coverlet, grcov, cargo-llvm-cov).

Records: `SF` opens a file, `end_of_record` closes it. `DA:line,hits` gives lines (a line listed
twice, as coverlet does for two methods on one line, counts once); `BRDA:line,block,branch,taken`
branches (`-` = never reached); `FN:line[,end],name` + `FNDA:hits,name`, or lcov 2.x
`FNL:index,line[,end]` + `FNA:index,hits,name`, functions. The summary records
(`LF/LH/BRF/BRH/FNF/FNH`) are used only for a record that has no detail lines for that dimension.
"""

from __future__ import annotations

from pathlib import Path

from testintel_assets.parsers import ArtifactRejected, Parsed
from testintel_assets.parsers.coverage.rows import Counts, FileCoverage, FrameBuilder, finish
from testintel_assets.parsers.coverage.streams import require_content

_SUMMARIES = {"LF": ("lines", 0), "LH": ("lines", 1), "BRF": ("branches", 0), "BRH": ("branches", 1)}
_SUMMARIES |= {"FNF": ("functions", 0), "FNH": ("functions", 1)}


def _positive(value: str) -> bool:
    return value not in ("-", "0") and int(value) > 0


class _Record:
    """One SF..end_of_record block; functions are keyed by name as FN/FNDA pair them."""

    def __init__(self, path: str) -> None:
        self.coverage = FileCoverage(path)
        self.function_hits: dict[str, bool] = {}
        self.aliases: dict[str, str] = {}  # lcov 2.x FNL index -> FNA name
        self.summary: dict[str, list[int]] = {}

    def add(self, tag: str, value: str) -> None:
        if tag == "DA":
            line, hits = value.split(",")[:2]
            self.coverage.line(int(line), _positive(hits))
        elif tag == "BRDA":
            line, block, branch, taken = value.split(",", 3)
            self.coverage.branch(f"{int(line)}:{block}:{branch}", _positive(taken))
        elif tag == "FN":  # FN:line,name or lcov 2.x FN:line,end,name; names may hold commas
            name = value.split(",", 1)[1]
            end_line, comma, rest = name.partition(",")
            self.function_hits.setdefault(rest if comma and end_line.isdigit() else name, False)
        elif tag == "FNDA":
            hits, name = value.split(",", 1)
            self.function_hits[name] = self.function_hits.get(name, False) or _positive(hits)
        elif tag == "FNA":
            _index, hits, name = value.split(",", 2)
            self.function_hits[name] = self.function_hits.get(name, False) or _positive(hits)
        elif tag in _SUMMARIES:
            dimension, position = _SUMMARIES[tag]
            self.summary.setdefault(dimension, [0, 0])[position] = int(value)

    def close(self) -> FileCoverage:
        coverage = self.coverage
        for name, covered in self.function_hits.items():
            coverage.function(name, covered)
        for dimension, (valid, covered) in self.summary.items():
            if not getattr(coverage, dimension):
                coverage.counts[dimension] = Counts(valid, covered)
        return coverage


def read_lcov(path: Path) -> Parsed:
    require_content(path)
    builder = FrameBuilder("lcov")
    record: _Record | None = None
    records = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8").strip()
            except UnicodeDecodeError as exc:
                raise ArtifactRejected(f"not UTF-8 at line {number}: {exc.reason}") from exc
            if not line:
                continue
            if line == "end_of_record":
                if record is None:
                    raise ArtifactRejected(f"line {number}: end_of_record without an SF record")
                builder.add(record.close())
                record, records = None, records + 1
                continue
            tag, colon, value = line.partition(":")
            if not colon or not tag.isalnum():
                raise ArtifactRejected(f"line {number}: not an LCOV record: {line[:80]!r}")
            if tag == "SF":
                if record is not None:
                    raise ArtifactRejected(f"line {number}: SF before end_of_record of the previous file")
                record = _Record(value)
            elif record is not None:
                try:
                    record.add(tag, value)
                except ValueError as exc:
                    raise ArtifactRejected(f"line {number}: malformed {tag} record: {line[:80]!r}") from exc
    if record is not None:
        raise ArtifactRejected(f"truncated: the record of {record.coverage.path!r} has no end_of_record")
    if not records:
        raise ArtifactRejected("not an LCOV tracefile: no SF ... end_of_record record")
    return finish(builder)
