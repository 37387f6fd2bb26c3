"""Code changes -> CODE_CHANGES: from `git log --numstat` output, or from run.json changed_files.

The git output is what resources.git asks for (GIT_LOG_ARGS): per commit a header token
`\\x1e<sha>\\x1f<committer date ISO 8601>` and then one `<added>\\t<deleted>\\t<path>` token per file,
all NUL-terminated (-z, so paths arrive unquoted, whatever their characters). Binary files show
`-\\t-`: they count as changed with unknown line counts (null). Renames are off (--no-renames):
a rename is a delete plus an add, which keeps the commit count of every path equal to
`git log -- <path>`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import polars as pl

from testintel_assets import schemas
from testintel_assets.configuration import Catalog
from testintel_assets.parsers import ArtifactRejected

GIT_SOURCE = "git"
RUN_SOURCE = "run.json"
# The format resources.git passes to `git log`; this parser reads exactly that.
GIT_LOG_ARGS = (
    "--no-renames",
    "--numstat",
    "-z",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--no-show-signature",
    "--format=%x1e%H%x1f%cI",
)


def _components(frame: pl.DataFrame, catalog: Catalog | None) -> pl.DataFrame:
    """Add the component of each path; globs are matched once per distinct path."""
    if catalog is None or frame.is_empty():
        return frame.with_columns(component=pl.lit(None, dtype=pl.String))
    paths = frame["file"].unique().to_list()
    mapping = {path: catalog.component_of(path) for path in paths}
    return frame.with_columns(
        component=pl.col("file").replace_strict(mapping, default=None, return_dtype=pl.String)
    )


def _line_count(text: str, token: bytes) -> int | None:
    if text == "-":
        return None
    if not text.isdigit():
        raise ArtifactRejected(f"git log: '{token[:80]!r}' is not a numstat line (added, deleted, path)")
    return int(text)


def parse_git_log(output: bytes, catalog: Catalog | None = None) -> pl.DataFrame:
    """`git log` output in the GIT_LOG_ARGS format -> one CODE_CHANGES row per (commit, file)."""
    shas: list[str] = []
    committed: list[str] = []
    files: list[str] = []
    added: list[int | None] = []
    deleted: list[int | None] = []
    sha = committed_at = ""
    for token in output.split(b"\0"):
        token = token.lstrip(b"\n")
        if not token:
            continue
        if token.startswith(b"\x1e"):
            header = token[1:].decode("ascii", errors="replace").split("\x1f")
            if len(header) != 2 or len(header[0]) < 40:
                raise ArtifactRejected(f"git log: unexpected commit header {token[:80]!r}")
            sha, committed_at = header
            continue
        if not sha:
            raise ArtifactRejected(f"git log: file line before any commit header: {token[:80]!r}")
        parts = token.split(b"\t", 2)
        if len(parts) != 3:
            raise ArtifactRejected(f"git log: '{token[:80]!r}' is not a numstat line (added, deleted, path)")
        shas.append(sha)
        committed.append(committed_at)
        added.append(_line_count(parts[0].decode("ascii", errors="replace"), token))
        deleted.append(_line_count(parts[1].decode("ascii", errors="replace"), token))
        files.append(parts[2].decode("utf-8", errors="replace"))
    frame = pl.DataFrame(
        {"sha": shas, "committed": committed, "file": files, "lines_added": added, "lines_deleted": deleted},
        schema={
            "sha": pl.String,
            "committed": pl.String,
            "file": pl.String,
            "lines_added": pl.Int64,
            "lines_deleted": pl.Int64,
        },
    ).with_columns(
        day=pl.col("committed").str.to_datetime(time_unit="us", time_zone="UTC").dt.date(),
        source=pl.lit(GIT_SOURCE),
    )
    return schemas.conform(_components(frame, catalog), schemas.CODE_CHANGES)


def _count(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _changed_file(item: object) -> tuple[str, int | None, int | None] | None:
    """A changed_files entry: a path, or {path|file|filename, additions|added, deletions|deleted}."""
    if isinstance(item, str):
        path, lines_added, lines_deleted = item, None, None
    elif isinstance(item, Mapping):
        path = next((item[k] for k in ("path", "file", "filename") if isinstance(item.get(k), str)), "")
        lines_added = next((item[k] for k in ("additions", "added", "lines_added") if k in item), None)
        lines_deleted = next((item[k] for k in ("deletions", "deleted", "lines_deleted") if k in item), None)
    else:
        return None
    path = path.strip().removeprefix("./")
    if not path:
        return None
    return path, _count(lines_added), _count(lines_deleted)


def changes_from_runs(runs: Iterable[Mapping[str, object]], catalog: Catalog | None = None) -> pl.DataFrame:
    """run.json documents -> CODE_CHANGES from their changed_files, once per (sha, file).

    For when no clone is configured. The day is the run's start day (its landing partition); runs
    without changed_files add nothing, and several runs of one sha count its files once.
    """
    rows: list[dict[str, object]] = []
    for run in runs:
        changed = run.get("changed_files")
        if not isinstance(changed, list) or not run.get("sha"):
            continue
        started = str(run.get("started_at") or "")
        for item in changed:
            parsed = _changed_file(item)
            if parsed:
                path, lines_added, lines_deleted = parsed
                rows.append(
                    {
                        "started_at": started,
                        "sha": str(run["sha"]),
                        "file": path,
                        "lines_added": lines_added,
                        "lines_deleted": lines_deleted,
                    }
                )
    if not rows:
        return schemas.empty(schemas.CODE_CHANGES)
    frame = (
        pl.DataFrame(rows, schema_overrides={"lines_added": pl.Int64, "lines_deleted": pl.Int64})
        .with_columns(
            day=pl.col("started_at").str.to_datetime(time_unit="us", time_zone="UTC", strict=False).dt.date(),
            source=pl.lit(RUN_SOURCE),
        )
        .sort("day", nulls_last=True)
        .unique(subset=["sha", "file"], keep="first", maintain_order=True)
    )
    return schemas.conform(_components(frame, catalog), schemas.CODE_CHANGES)
