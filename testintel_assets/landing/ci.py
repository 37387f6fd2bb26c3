"""Read CI run folders `landing/ci/<day>/<run_id>/` into the four CI source tables.

A run counts once its run.json exists (CI writes it last). Every file of the run is accounted for
in `ci_runs`: ingested with the rows it produced, or rejected with the reason. Nothing here writes
to the landing folder.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from testintel_assets import schemas
from testintel_assets.configuration import Catalog
from testintel_assets.parsers import ArtifactRejected, Parsed
from testintel_assets.parsers.registry import detect, head_of
from testintel_assets.parsers.testmeta import resolve_meta
from testintel_assets.scoring.coverage import assign_components

RUN_FILE = "run.json"
# Larger reports are refused before any byte is read (like ReportPortal's or Codecov's upload
# limits); TESTINTEL_MAX_ARTIFACT_MB raises it. Readers stream, so the limit guards disk and time.
MAX_ARTIFACT_BYTES = int(float(os.environ.get("TESTINTEL_MAX_ARTIFACT_MB", "128")) * (1 << 20))
_HASH_CHUNK = 1 << 20
# When one run reports a test in several files (pytest's JUnit and the plugin export, Playwright's
# JSON and JUnit reporters), the report that keeps every attempt wins; the others' rows for that
# test are dropped so nothing is counted twice (docs/test-results.md).
RESULT_FORMAT_PRIORITY = {"testintel-export": 0, "pytest-reportlog": 1, "playwright-json": 1}


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    sha: str
    branch: str
    pipeline: str
    blocking: bool
    started_at: datetime
    finished_at: datetime | None
    changed_files: tuple[str, ...] = ()


@dataclass
class CiBatch:
    """The rows one or more run folders contribute to each CI table."""

    ci_runs: list[pl.DataFrame] = field(default_factory=list)
    test_results: list[pl.DataFrame] = field(default_factory=list)
    test_meta: list[pl.DataFrame] = field(default_factory=list)
    coverage_files: list[pl.DataFrame] = field(default_factory=list)

    def frames(self) -> dict[str, pl.DataFrame]:
        return {
            "ci_runs": schemas.stack(self.ci_runs, schemas.CI_RUNS),
            "test_results": schemas.stack(self.test_results, schemas.TEST_RESULTS),
            "test_meta": _resolve_meta_per_day(schemas.stack(self.test_meta, schemas.TEST_META)),
            "coverage_files": schemas.stack(self.coverage_files, schemas.COVERAGE_FILES),
        }


def _parse_time(value: object, key: str) -> datetime:
    if not isinstance(value, str):
        raise ArtifactRejected(f"run.json: '{key}' must be an ISO-8601 timestamp string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ArtifactRejected(f"run.json: '{key}' is not an ISO-8601 timestamp: {value!r}") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def read_run_info(path: Path) -> RunInfo:
    """Validate run.json; the reason names the key that is missing or wrong."""
    try:
        raw = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactRejected(f"run.json: not valid UTF-8 JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ArtifactRejected("run.json: top level must be an object")
    missing = [key for key in ("run_id", "sha", "pipeline", "started_at") if not raw.get(key)]
    if missing:
        raise ArtifactRejected(f"run.json: missing required keys: {', '.join(missing)}")
    changed = raw.get("changed_files") or []
    if not isinstance(changed, list) or not all(isinstance(item, str) for item in changed):
        raise ArtifactRejected("run.json: 'changed_files' must be a list of paths")
    return RunInfo(
        run_id=str(raw["run_id"]),
        sha=str(raw["sha"]),
        branch=str(raw.get("branch") or ""),
        pipeline=str(raw["pipeline"]),
        blocking=bool(raw.get("blocking", False)),
        started_at=_parse_time(raw["started_at"], "started_at"),
        finished_at=_parse_time(raw["finished_at"], "finished_at") if raw.get("finished_at") else None,
        changed_files=tuple(changed),
    )


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def complete_run_folders(landing_root: Path, day: date) -> list[Path]:
    """Run folders of a day that hold run.json, in name order."""
    day_dir = landing_root / "ci" / day.isoformat()
    if not day_dir.is_dir():
        return []
    return sorted(path for path in day_dir.iterdir() if path.is_dir() and (path / RUN_FILE).is_file())


def run_documents(landing_root: Path, days: Iterable[date]) -> list[dict[str, object]]:
    """The run.json of every complete run of the days, as written (runs whose run.json is invalid
    are left out here; ci_runs records them as rejected)."""
    documents = []
    for day in days:
        for run_dir in complete_run_folders(landing_root, day):
            try:
                read_run_info(run_dir / RUN_FILE)
            except ArtifactRejected:
                continue
            documents.append(json.loads((run_dir / RUN_FILE).read_bytes().decode("utf-8-sig")))
    return documents


def _artifact_files(run_dir: Path) -> list[Path]:
    """Every file under the run folder except run.json and dot-files (uploads in progress)."""
    return sorted(
        path
        for path in run_dir.rglob("*")
        if path.name != RUN_FILE
        and not any(part.startswith(".") for part in path.relative_to(run_dir).parts)
        and (path.is_file() or path.is_symlink())
    )


class _RunReader:
    """Reads one run folder; collects one ci_runs row per file."""

    def __init__(self, run_dir: Path, day: date, landing_root: Path, catalog: Catalog, seen: dict[str, str]):
        self.run_dir = run_dir
        self.day = day
        self.landing_root = landing_root.resolve()
        self.catalog = catalog
        self.seen = seen
        self.rows: list[dict[str, object]] = []
        self.batch = CiBatch()
        self.info: RunInfo | None = None

    def _record(self, path: Path, **values: object) -> None:
        info = self.info
        self.rows.append(
            {
                "day": self.day,
                "run_id": info.run_id if info else self.run_dir.name,
                "sha": info.sha if info else None,
                "branch": info.branch if info else None,
                "pipeline": info.pipeline if info else None,
                "blocking": info.blocking if info else None,
                "started_at": info.started_at if info else None,
                "finished_at": info.finished_at if info else None,
                "artifact_path": _relative(path, self.landing_root),
                **values,
            }
        )

    def _run_columns(self, artifact_hash: str) -> list[pl.Expr]:
        info = self.info
        assert info is not None
        return [
            pl.lit(self.day).alias("day"),
            pl.lit(info.run_id).alias("run_id"),
            pl.lit(info.sha).alias("sha"),
            pl.lit(info.branch).alias("branch"),
            pl.lit(info.pipeline).alias("pipeline"),
            pl.lit(info.blocking).alias("blocking"),
            pl.lit(info.started_at).cast(schemas.TS).alias("started_at"),
            pl.lit(artifact_hash).alias("artifact_hash"),
        ]

    def read(self) -> CiBatch:
        run_file = self.run_dir / RUN_FILE
        try:
            self.info = read_run_info(run_file)
        except ArtifactRejected as exc:
            self._record(run_file, kind="run", format="run.json", status="rejected", reason=str(exc))
            for path in _artifact_files(self.run_dir):
                self._record(path, kind=None, status="rejected", reason=f"run skipped: {exc}")
            return self._finish()
        self._record(
            run_file,
            kind="run",
            format="run.json",
            changed_files=list(self.info.changed_files),
            artifact_hash=file_hash(run_file),
            bytes=run_file.stat().st_size,
            rows=1,
            status="ingested",
        )
        for path in _artifact_files(self.run_dir):
            self._read_artifact(path)
        return self._finish()

    def _finish(self) -> CiBatch:
        self.batch.ci_runs.append(pl.DataFrame(self.rows, schema=schemas.CI_RUNS, strict=False))
        if len(self.batch.test_results) > 1:
            self.batch.test_results = [_richest_report_per_test(pl.concat(self.batch.test_results))]
        return self.batch

    def _read_artifact(self, path: Path) -> None:
        resolved = path.resolve()
        if not resolved.is_relative_to(self.landing_root):
            self._record(path, status="rejected", reason=f"path escapes the landing folder (-> {resolved})")
            return
        if not resolved.is_file():
            self._record(path, status="rejected", reason="not a regular file")
            return
        size = resolved.stat().st_size
        if size == 0:
            self._record(path, bytes=0, status="rejected", reason="empty file")
            return
        if size > MAX_ARTIFACT_BYTES:
            self._record(
                path,
                bytes=size,
                status="rejected",
                reason=f"{size} bytes: larger than the {MAX_ARTIFACT_BYTES >> 20} MiB limit "
                "(split the report, or raise TESTINTEL_MAX_ARTIFACT_MB)",
            )
            return
        artifact_hash = file_hash(resolved)
        relative = _relative(path, self.landing_root)
        if artifact_hash in self.seen:
            self._record(
                path,
                artifact_hash=artifact_hash,
                bytes=size,
                status="rejected",
                reason=f"duplicate of {self.seen[artifact_hash]} (same bytes)",
            )
            return
        fmt = detect(head_of(resolved))
        if fmt is None:
            self._record(
                path,
                artifact_hash=artifact_hash,
                bytes=size,
                status="rejected",
                reason="unknown format: not a test report, coverage report or testintel export",
            )
            return
        outcome: dict[str, object] = {"status": "rejected"}
        try:
            parsed = fmt.read(resolved)
        except ArtifactRejected as exc:
            outcome["reason"] = str(exc)
        except Exception as exc:  # a parser bug must not stop the rest of the run
            outcome["reason"] = f"{fmt.name} reader failed: {type(exc).__name__}: {exc}"
        else:
            self.seen[artifact_hash] = relative
            outcome = {"status": "ingested", "rows": self._add(parsed, artifact_hash)}
        self._record(
            path, kind=fmt.family, format=fmt.name, artifact_hash=artifact_hash, bytes=size, **outcome
        )

    def _add(self, parsed: Parsed, artifact_hash: str) -> int:
        run_columns = self._run_columns(artifact_hash)
        if parsed.results.height:
            self.batch.test_results.append(parsed.results.with_columns(run_columns))
        if parsed.meta.height:
            self.batch.test_meta.append(parsed.meta.with_columns(pl.lit(self.day).alias("day")))
        if parsed.coverage.height:
            self.batch.coverage_files.append(
                assign_components(parsed.coverage.with_columns(run_columns), self.catalog)
            )
        return parsed.results.height + parsed.meta.height + parsed.coverage.height


def _relative(path: Path, root: Path) -> str:
    try:
        return path.absolute().relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def read_ci_days(
    landing_root: Path,
    days: Iterable[date],
    catalog: Catalog,
    known_hashes: Mapping[str, str] | None = None,
) -> dict[str, pl.DataFrame]:
    """The CI tables for the given days; `known_hashes` (hash -> path) are artifacts ingested before."""
    seen = dict(known_hashes or {})
    batch = CiBatch()
    for day in days:
        for run_dir in complete_run_folders(landing_root, day):
            part = _RunReader(run_dir, day, landing_root, catalog, seen).read()
            batch.ci_runs += part.ci_runs
            batch.test_results += part.test_results
            batch.test_meta += part.test_meta
            batch.coverage_files += part.coverage_files
    return batch.frames()


def _richest_report_per_test(results: pl.DataFrame) -> pl.DataFrame:
    """Within one run, keep each test's rows from its highest-priority report format only."""
    rank = pl.col("format").replace_strict(RESULT_FORMAT_PRIORITY, default=9, return_dtype=pl.Int8)
    return results.filter(rank == rank.min().over("test_id", "platform"))


def _resolve_meta_per_day(meta: pl.DataFrame) -> pl.DataFrame:
    """One row per (day, test_id), each tag from its most authoritative source (resolve_meta)."""
    if meta.is_empty():
        return meta
    parts = [
        resolve_meta(part.drop("day")).with_columns(pl.lit(day).alias("day"))
        for (day,), part in meta.group_by("day", maintain_order=True)
    ]
    return schemas.conform(pl.concat(parts), schemas.TEST_META).sort("day", "test_id")
