"""Formats are recognised by content, not by file name: each family lists its sniffers here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from testintel_assets.parsers import Parsed
from testintel_assets.parsers import coverage as cov

SNIFF_BYTES = 8192
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True)
class Format:
    """One artifact format: `sniff` sees the first SNIFF_BYTES (BOM stripped), `read` the whole file."""

    name: str
    family: str  # "tests" | "coverage"
    sniff: Callable[[bytes], bool]
    read: Callable[[Path], Parsed]


def head_of(path: Path) -> bytes:
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    for bom in _BOMS:
        if head.startswith(bom):
            return head[len(bom) :]
    return head


# --- coverage family (issue 4, docs/coverage.md) ---------------------------------------------
def _coverage_formats() -> list[Format]:
    """Most specific first: coverage.py XML before generic Cobertura."""
    return [
        Format("coveragepy-json", "coverage", cov.sniff_coveragepy_json, cov.read_coveragepy_json),
        Format("istanbul-summary", "coverage", cov.sniff_istanbul_summary, cov.read_istanbul_summary),
        Format("istanbul-final", "coverage", cov.sniff_istanbul_final, cov.read_istanbul_final),
        Format("jacoco", "coverage", cov.sniff_jacoco, cov.read_jacoco),
        Format("clover", "coverage", cov.sniff_clover, cov.read_clover),
        Format("coveragepy-xml", "coverage", cov.sniff_coveragepy_xml, cov.read_coveragepy_xml),
        Format("cobertura", "coverage", cov.sniff_cobertura, cov.read_cobertura),
        Format("lcov", "coverage", cov.sniff_lcov, cov.read_lcov),
    ]


def all_formats() -> list[Format]:
    """Every known format, most specific first."""
    return [*_test_result_formats(), *_coverage_formats()]


# --- test results and test metadata (issue 3; docs/test-results.md) ---------------------------------
def _test_result_formats() -> list[Format]:
    """JSON formats first (keys decide), then XML by document element; JUnit, the loosest, last."""
    from testintel_assets.parsers import ctest, junit, nunit, playwright, reportlog, testmeta, trx

    return [
        Format("testintel-export", "tests", testmeta.looks_like_export, testmeta.read_testmeta),
        Format("pytest-reportlog", "tests", reportlog.looks_like_reportlog, reportlog.read_reportlog),
        Format("playwright-json", "tests", playwright.looks_like_playwright, playwright.read_playwright),
        Format("trx", "tests", trx.looks_like_trx, trx.read_trx),
        Format("nunit", "tests", nunit.looks_like_nunit, nunit.read_nunit),
        Format("ctest", "tests", ctest.looks_like_ctest, ctest.read_ctest),
        Format("junit", "tests", junit.looks_like_junit, junit.read_junit),
    ]


# --- end of test results formats ---------------------------------------------------------------------


def detect(head: bytes) -> Format | None:
    return next((fmt for fmt in all_formats() if fmt.sniff(head)), None)
