"""CTest's native dashboard file (`Testing/<tag>/Test.xml`, root `<Site Generator="ctest-...">`).

Recognised so that it is rejected with a reason a person can act on instead of "unknown format":
CMake >= 3.21 writes JUnit directly (`ctest --output-junit results.xml`), which the JUnit reader
reads with every attempt.
"""

from __future__ import annotations

from pathlib import Path

from testintel_assets.parsers import ArtifactRejected, Parsed
from testintel_assets.parsers.xml_guard import root_element

REASON = (
    'CTest dashboard Test.xml (<Site Generator="ctest...">) is not read: run '
    "`ctest --output-junit results.xml` (CMake >= 3.21) and land the JUnit file instead"
)


def looks_like_ctest(head: bytes) -> bool:
    return root_element(head) == "Site" and b"ctest" in head[:4096].lower()


def read_ctest(path: Path) -> Parsed:
    raise ArtifactRejected(REASON)
