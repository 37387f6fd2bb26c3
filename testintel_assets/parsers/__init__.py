"""Pure readers: one module per format family, bytes or paths in, Polars frames of a fixed schema out.

Conventions every reader follows (docs/parsers.md):
- no Dagster imports; no network; never modify the input file;
- the output has the table's schema from `testintel_assets.schemas` even for empty input, minus the
  run-level columns (day, run_id, sha, ...) that the landing reader adds;
- bad input raises `ArtifactRejected` with a reason a person can act on; the caller records it and
  carries on with the rest of the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from testintel_assets.schemas import ARTIFACT_COVERAGE, ARTIFACT_META, ARTIFACT_RESULTS, empty


class ArtifactRejected(ValueError):
    """The artifact cannot be ingested; `str(exc)` is the reason stored in ci_runs."""


@dataclass(frozen=True)
class Parsed:
    """What one artifact yields; a parser fills the frames its format carries and leaves the rest empty."""

    results: pl.DataFrame = field(default_factory=lambda: empty(ARTIFACT_RESULTS))
    meta: pl.DataFrame = field(default_factory=lambda: empty(ARTIFACT_META))
    coverage: pl.DataFrame = field(default_factory=lambda: empty(ARTIFACT_COVERAGE))
