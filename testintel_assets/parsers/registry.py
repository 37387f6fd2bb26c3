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


# --- end of coverage family ------------------------------------------------------------------


def all_formats() -> list[Format]:
    """Every known format, most specific first."""
    return [*_coverage_formats()]


def detect(head: bytes) -> Format | None:
    return next((fmt for fmt in all_formats() if fmt.sniff(head)), None)
