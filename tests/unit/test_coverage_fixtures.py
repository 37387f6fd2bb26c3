"""Every real coverage fixture: recognised by content, and our totals equal the totals the producing
tool wrote into the same file (read here with the standard library, independently of our readers).

Where a fixture's own totals cannot match (reduced by the fixture's author, or a producer that
counts differently), the test says why and checks the independent count that does apply.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from testintel_assets.parsers import ArtifactRejected
from testintel_assets.parsers.registry import detect, head_of

COVERAGE = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "coverage"
ALL_FILES = sorted(path for path in COVERAGE.rglob("*") if path.is_file())
NOT_WELL_FORMED = {"coverage-reporter--cobertura.xml", "coverage-reporter--cobertura-oneline.xml"}


def _totals(path: Path) -> dict[str, int]:
    fmt = detect(head_of(path))
    assert fmt is not None and fmt.family == "coverage", f"{path.name} not recognised as coverage"
    frame = fmt.read(path).coverage
    assert frame.height > 0
    assert frame["file"].is_duplicated().sum() == 0, "one row per file"
    sums = frame.select(
        pl.col(f"{dimension}_{state}").sum()
        for dimension in ("lines", "branches", "functions")
        for state in ("valid", "covered")
    )
    return sums.row(0, named=True)


def _files(folder: str) -> list[Path]:
    return sorted((COVERAGE / folder).iterdir())


def test_every_fixture_is_exercised() -> None:
    exercised = {
        p
        for folder in ("cobertura", "jacoco", "clover", "lcov", "istanbul", "coveragepy-json")
        for p in _files(folder)
    }
    assert exercised == set(ALL_FILES)


# ------------------------------------------------------------------------------ Cobertura
def _cobertura_rate_matches(written: str, valid: int, covered: int) -> bool:
    """A rate written with N decimals is covered/valid rounded (coverage.py) or truncated
    (coverlet) to N decimals."""
    decimals = len(written.split(".")[1]) if "." in written else 0
    return abs(covered / valid - float(written)) < 10**-decimals


COBERTURA_EXACT = [
    "ReportGenerator--Cobertura2.1.1.xml",
    "ReportGenerator--Cobertura_coverlet.xml",
    "coverage-reporter--cobertura-conditions.xml",
    "coveragepy--x_xml-coverage.xml",
    "coveragepy--y_xml_branch-coverage.xml",
]


@pytest.mark.parametrize("name", COBERTURA_EXACT)
def test_cobertura_totals_equal_root_counts(name: str) -> None:
    path = COVERAGE / "cobertura" / name
    root = ET.parse(path).getroot()
    ours = _totals(path)
    assert ours["lines_valid"] == int(root.get("lines-valid"))
    assert ours["lines_covered"] == int(root.get("lines-covered"))
    assert ours["branches_valid"] == int(root.get("branches-valid"))
    assert ours["branches_covered"] == int(root.get("branches-covered"))
    assert _cobertura_rate_matches(root.get("line-rate"), ours["lines_valid"], ours["lines_covered"])


def test_coveragepy_4_xml_matches_root_line_rate() -> None:
    """coverage.py 4.3.4 writes only line-rate (3 decimals), no counts."""
    path = COVERAGE / "cobertura" / "test-reporter--coveragepy-example.xml"
    root = ET.parse(path).getroot()
    ours = _totals(path)
    assert _cobertura_rate_matches(root.get("line-rate"), ours["lines_valid"], ours["lines_covered"])
    assert ours["lines_valid"] == sum(1 for _ in root.iter("line"))


def _distinct_class_lines(root: ET.Element) -> tuple[int, int]:
    lines: dict[tuple[str, int], bool] = {}
    for cls in root.iter("class"):
        for line in cls.find("lines") or ():
            key = (cls.get("filename"), int(line.get("number")))
            lines[key] = lines.get(key, False) or float(line.get("hits")) > 0
    return len(lines), sum(lines.values())


def test_dotnet_coverage_counts_method_lines_we_count_source_lines() -> None:
    """dotnet-coverage's totals count each (method, line) pair: two methods on one line (an auto
    property's get and set) count twice. We count distinct source lines."""
    path = COVERAGE / "cobertura" / "ReportGenerator--Cobertura_dotnet-coverage.xml"
    root = ET.parse(path).getroot()
    ours = _totals(path)
    method_lines = [line for method in root.iter("method") for line in method.iter("line")]
    assert int(root.get("lines-valid")) == len(method_lines)
    assert int(root.get("lines-covered")) == sum(float(line.get("hits")) > 0 for line in method_lines)
    assert (ours["lines_valid"], ours["lines_covered"]) == _distinct_class_lines(root)
    assert ours["lines_valid"] < int(root.get("lines-valid"))
    assert ours["branches_valid"] == int(root.get("branches-valid"))
    assert ours["branches_covered"] == int(root.get("branches-covered"))


def test_hand_edited_cobertura_example_keeps_branch_totals() -> None:
    """The codeclimate example was edited by hand (duplicate and zero line numbers added to one
    class), so its line-rate no longer fits its lines; its branch-rate still does."""
    path = COVERAGE / "cobertura" / "test-reporter--cobertura-example.xml"
    root = ET.parse(path).getroot()
    ours = _totals(path)
    assert (ours["lines_valid"], ours["lines_covered"]) == _distinct_class_lines(root)
    assert _cobertura_rate_matches(root.get("branch-rate"), ours["branches_valid"], ours["branches_covered"])


def test_swift_cobertura_lines_from_methods() -> None:
    """No class-level <lines>: the lines come from the methods. Its branches-valid="1.0" is a
    placeholder (no line has condition-coverage), so there are no branches to count."""
    path = COVERAGE / "cobertura" / "ReportGenerator--Cobertura_Swift.xml"
    root = ET.parse(path).getroot()
    ours = _totals(path)
    assert ours["lines_valid"] == int(root.get("lines-valid")) == 2
    assert ours["lines_covered"] == int(root.get("lines-covered")) == 1
    assert ours["branches_valid"] == sum(1 for line in root.iter("line") if line.get("condition-coverage"))
    assert (ours["functions_valid"], ours["functions_covered"]) == (2, 1)


def test_reduced_cppcoverage_fixture_counts_its_lines() -> None:
    """ReportGenerator cut this report down to one class; the root line-rate is the original's."""
    path = COVERAGE / "cobertura" / "ReportGenerator--Cobertura_CPPCoverage.xml"
    ours = _totals(path)
    assert (ours["lines_valid"], ours["lines_covered"]) == (2, 0)


@pytest.mark.parametrize("name", sorted(NOT_WELL_FORMED))
def test_non_well_formed_scoverage_rejected_with_position(name: str) -> None:
    path = COVERAGE / "cobertura" / name
    fmt = detect(head_of(path))
    assert fmt is not None and fmt.name == "cobertura"
    with pytest.raises(
        ArtifactRejected, match=r"not well-formed XML: mismatched tag at line \d+, column \d+"
    ):
        fmt.read(path)
    with pytest.raises(ET.ParseError):  # the standard library agrees
        ET.parse(path)


# --------------------------------------------------------------------------------- JaCoCo
def _counters(element: ET.Element) -> dict[str, tuple[int, int]]:
    return {c.get("type"): (int(c.get("missed")), int(c.get("covered"))) for c in element.findall("counter")}


# coverage-reporter's multiple-packages fixture was assembled by hand: the second package is a
# copy of the first, and the report-level counters still total the first package only.
JACOCO_REPORT_COUNTERS_STALE = {"coverage-reporter--jacoco-report-multiple-packages.xml"}
_JACOCO_COUNTERS = (("LINE", "lines"), ("BRANCH", "branches"), ("METHOD", "functions"))


@pytest.mark.parametrize("path", _files("jacoco"), ids=lambda p: p.name)
def test_jacoco_totals_equal_report_counters(path: Path) -> None:
    root = ET.parse(path).getroot()
    counters = _counters(root)
    if path.name in JACOCO_REPORT_COUNTERS_STALE:
        packages = root.findall("package")
        assert counters == _counters(packages[0]) == _counters(packages[1])  # one package's total
        counters = {
            kind: (
                sum(_counters(p).get(kind, (0, 0))[0] for p in packages),
                sum(_counters(p).get(kind, (0, 0))[1] for p in packages),
            )
            for kind, _ in _JACOCO_COUNTERS
            if kind != "METHOD"  # the copied class still names the first package's source file
        }
    ours = _totals(path)
    for counter, dimension in _JACOCO_COUNTERS:
        if counter in counters or counter != "METHOD":
            missed, covered = counters.get(counter, (0, 0))
            assert ours[f"{dimension}_valid"] == missed + covered, counter
            assert ours[f"{dimension}_covered"] == covered, counter


@pytest.mark.parametrize("path", _files("jacoco"), ids=lambda p: p.name)
def test_jacoco_files_equal_sourcefile_counters(path: Path) -> None:
    frame = detect(head_of(path)).read(path).coverage
    ours = {row["file"]: row for row in frame.iter_rows(named=True)}
    for package in ET.parse(path).getroot().iter("package"):
        for sourcefile in package.findall("sourcefile"):
            row = ours[f"{package.get('name')}/{sourcefile.get('name')}"]
            counters = _counters(sourcefile)
            for counter, dimension in (("LINE", "lines"), ("BRANCH", "branches")):
                missed, covered = counters.get(counter, (0, 0))
                assert (row[f"{dimension}_valid"], row[f"{dimension}_covered"]) == (missed + covered, covered)


# --------------------------------------------------------------------------------- Clover
def _clover_project(path: Path) -> tuple[dict[str, str], int]:
    project = ET.parse(path).getroot().find("project")
    metrics = next(child for child in project if child.tag == "metrics")
    return metrics.attrib, len(list(project.iter("file")))


CLOVER_COMPLETE = [
    "ReportGenerator--Clover_Groovy.xml",
    "ReportGenerator--Clover_OpenClover4.3.1.xml",
    "test-reporter--clover-example.xml",
]


@pytest.mark.parametrize("name", CLOVER_COMPLETE)
def test_clover_totals_equal_project_metrics(name: str) -> None:
    path = COVERAGE / "clover" / name
    metrics, _ = _clover_project(path)
    ours = _totals(path)
    for metric, dimension in (
        ("statements", "lines"),
        ("conditionals", "branches"),
        ("methods", "functions"),
    ):
        assert ours[f"{dimension}_valid"] == int(metrics[metric]), metric
        assert ours[f"{dimension}_covered"] == int(metrics[f"covered{metric}"]), metric


@pytest.mark.parametrize(
    "name",
    [
        "ReportGenerator--Clover_Istanbul.xml",
        "coverage-reporter--clover-phpcsutils.xml",
        "coverage-reporter--clover-unleash.xml",
    ],
)
def test_truncated_clover_fixtures_sum_their_file_metrics(name: str) -> None:
    """These fixtures keep a few of the files their project metrics count (files="82" with 2
    <file> elements): the project total cannot match, the per-file metrics must."""
    path = COVERAGE / "clover" / name
    metrics, present = _clover_project(path)
    assert int(metrics["files"]) > present
    root = ET.parse(path).getroot()
    expected = Counter()
    for file in root.find("project").iter("file"):
        file_metrics = file.find("metrics").attrib
        expected["lines_valid"] += int(file_metrics["statements"])
        expected["lines_covered"] += int(file_metrics["coveredstatements"])
        expected["functions_covered"] += int(file_metrics["coveredmethods"])
    ours = _totals(path)
    assert {key: ours[key] for key in expected} == dict(expected)


# ----------------------------------------------------------------------------------- LCOV
def _lcov_records(path: Path) -> list[dict]:
    records, record = [], None
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        tag, _, value = line.partition(":")
        if tag == "SF":
            record = {"SF": value, "DA": [], "FN": [], "FNDA": [], "BRDA": []}
        elif line == "end_of_record":
            records.append(record)
        elif record is not None and tag in ("DA", "FN", "FNDA", "BRDA"):
            record[tag].append(value)
        elif record is not None:
            record[tag] = int(value) if value.isdigit() else value
    return records


@pytest.mark.parametrize("path", _files("lcov"), ids=lambda p: p.name)
def test_lcov_per_file_totals_equal_lf_lh_brf_brh_fnf_fnh(path: Path) -> None:
    fmt = detect(head_of(path))
    assert fmt is not None and fmt.name == "lcov"
    frame = fmt.read(path).coverage
    by_source = {row["source_path"]: row for row in frame.iter_rows(named=True)}
    for record in _lcov_records(path):
        ours = by_source[record["SF"].replace("\\", "/")]
        lines = [int(value.split(",")[0]) for value in record["DA"]]
        if len(set(lines)) == len(lines):
            assert (ours["lines_valid"], ours["lines_covered"]) == (record["LF"], record["LH"])
        else:
            # coverlet writes one DA per method: a line holding two methods is listed twice and
            # LF counts it twice. We count the line once.
            assert record["LF"] == len(lines)
            assert ours["lines_valid"] == len(set(lines))
        if "BRF" in record:
            assert (ours["branches_valid"], ours["branches_covered"]) == (record["BRF"], record["BRH"])
        if "FNF" in record and record["FNF"] == len(record["FN"]):
            assert (ours["functions_valid"], ours["functions_covered"]) == (record["FNF"], record["FNH"])
        elif "FNF" in record:  # coverlet's FNF also counts functions it did not list
            assert ours["functions_valid"] == len(record["FN"])
            assert ours["functions_covered"] == record["FNH"]


# ------------------------------------------------------------------- Istanbul, coverage.py
def test_istanbul_summary_equals_its_total() -> None:
    path = COVERAGE / "istanbul" / "vitest-coverage-report-action--coverage-summary.json"
    total = json.loads(path.read_text())["total"]
    ours = _totals(path)
    for dimension in ("lines", "branches", "functions"):
        assert ours[f"{dimension}_valid"] == total[dimension]["total"]
        assert ours[f"{dimension}_covered"] == total[dimension]["covered"]


@pytest.mark.parametrize(
    "name", ["vitest--coverage-final.json", "vitest-coverage-report-action--coverage-final.json"]
)
def test_istanbul_final_totals_equal_istanbul_lib_coverage_rules(name: str) -> None:
    """coverage-final.json carries no totals; istanbul-lib-coverage derives them: a line is the
    start line of a statement, branches are the entries of b, functions of f."""
    path = COVERAGE / "istanbul" / name
    expected = Counter()
    for entry in json.loads(path.read_text()).values():
        lines: dict[int, int] = {}
        for statement, count in entry["s"].items():
            line = entry["statementMap"][statement]["start"]["line"]
            lines[line] = max(lines.get(line, 0), count)
        expected["lines_valid"] += len(lines)
        expected["lines_covered"] += sum(count > 0 for count in lines.values())
        expected["branches_valid"] += sum(len(counts) for counts in entry["b"].values())
        expected["branches_covered"] += sum(count > 0 for counts in entry["b"].values() for count in counts)
        expected["functions_valid"] += len(entry["f"])
        expected["functions_covered"] += sum(count > 0 for count in entry["f"].values())
    assert _totals(path) == dict(expected)


def test_coveragepy_json_equals_its_totals() -> None:
    path = COVERAGE / "coveragepy-json" / "pdf_toolbox--coverage.json"
    report = json.loads(path.read_text())
    ours = _totals(path)
    assert ours["lines_valid"] == report["totals"]["num_statements"]
    assert ours["lines_covered"] == report["totals"]["covered_lines"]
    assert ours["branches_valid"] == report["totals"].get("num_branches", 0)
    named_regions = [
        region
        for file in report["files"].values()
        for name, region in file["functions"].items()
        if name and region["summary"]["num_statements"]
    ]
    assert ours["functions_valid"] == len(named_regions)


def test_paths_are_repo_relative_where_the_report_says_where_the_repo_is() -> None:
    conditions = COVERAGE / "cobertura" / "coverage-reporter--cobertura-conditions.xml"
    frame = detect(head_of(conditions)).read(conditions).coverage
    assert frame["file"].to_list() == ["src/branchy.py"]
    assert frame["source_path"].to_list() == ["/home/runner/project/src/branchy.py"]
    coverlet = COVERAGE / "cobertura" / "ReportGenerator--Cobertura_coverlet.xml"
    files = detect(head_of(coverlet)).read(coverlet).coverage["file"]
    assert "AbstractClass.cs" in files.to_list()  # <source>C:\temp\</source> + filename
    jacoco = COVERAGE / "jacoco" / "coverage-reporter--jacoco-report-multiple-packages.xml"
    assert "com/proj1/MessageBuilder.java" in detect(head_of(jacoco)).read(jacoco).coverage["file"].to_list()
    assert not any(re.search(r"\\|/\./|//", path) for path in files.to_list())
