"""Shared fixtures: the real third-party files and a throwaway TESTINTEL_HOME."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# Real third-party files (see their SOURCES.md). CI clones the repo next to ../shared, and the
# repository keeps its own copy under tests/fixtures/real so a clean clone tests on its own.
REAL_FIXTURES = REPO_ROOT / "tests" / "fixtures" / "real"


@pytest.fixture
def real_fixtures() -> Path:
    return REAL_FIXTURES


@pytest.fixture
def testintel_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("TESTINTEL_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    (home / "dagster").mkdir()
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    return home
