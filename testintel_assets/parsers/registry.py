"""Formats are recognised by content, not by file name: each family lists its sniffers here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from testintel_assets.parsers import Parsed

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


def all_formats() -> list[Format]:
    """Every known format, most specific first."""
    return []


def detect(head: bytes) -> Format | None:
    return next((fmt for fmt in all_formats() if fmt.sniff(head)), None)
