"""Code changes -> CODE_CHANGES: from git history, or from run.json changed_files.

Git: resources.git runs two commands and this module reads exactly their output.
1. `git log <ref> GIT_LOG_ARGS --since`: every commit in topological order, each as a header
   `\\x1e<sha>\\x1f<committer date>\\x1f<parents>` followed, for non-merges, by `--numstat` tokens
   `<added>\\t<deleted>\\t<path>`; NUL-terminated (-z), so paths arrive unquoted. Binary files show
   `-\\t-`: changed, line counts unknown (null). Renames are off: a rename is a delete and an add.
2. `git diff-tree GIT_DIFF_TREE_ARGS` fed merge_parent_pairs(1): for each merge and each of its
   parents, the files that differ (a `\\x1e<sha>` header per pair, --always, so empty diffs keep
   their place).
A file's commits are then the ones `git log -- <file>` lists. That command simplifies history per
path: at a merge that leaves the file as one parent had it, it follows only that parent, so
side-branch commits whose change the merge did not keep (an "ours" resolution, a cherry-pick merged
back) are not the file's; a merge that differs from every parent is. parse_git_history replays that
rule for all files at once, with one bit per file, in one pass over the commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import polars as pl

from testintel_assets import schemas
from testintel_assets.configuration import Catalog
from testintel_assets.parsers import ArtifactRejected

GIT_SOURCE = "git"
RUN_SOURCE = "run.json"
_QUIET = ("--no-renames", "-z", "--no-color", "--no-ext-diff", "--no-textconv")
GIT_LOG_ARGS = ("--topo-order", "--numstat", "--no-show-signature", *_QUIET, "--format=%x1e%H%x1f%cI%x1f%P")
GIT_DIFF_TREE_ARGS = ("--stdin", "--always", "-r", "--name-only", *_QUIET, "--format=%x1e%H")
_COLUMNS = {
    "sha": pl.String,
    "committed": pl.String,
    "file": pl.String,
    "lines_added": pl.Int64,
    "lines_deleted": pl.Int64,
}


@dataclass
class _Commit:
    sha: str
    committed: str
    parents: list[str]
    numstat: list[tuple[str, int | None, int | None]] = field(default_factory=list)


def _components(frame: pl.DataFrame, catalog: Catalog | None) -> pl.DataFrame:
    """Add the component of each path; globs are matched once per distinct path."""
    if catalog is None or frame.is_empty():
        return frame.with_columns(component=pl.lit(None, dtype=pl.String))
    paths = frame["file"].unique().to_list()
    mapping = {path: catalog.component_of(path) for path in paths}
    return frame.with_columns(
        component=pl.col("file").replace_strict(mapping, default=None, return_dtype=pl.String)
    )


def _blocks(output: bytes, fields: int) -> Iterator[tuple[list[str], list[bytes]]]:
    """(header fields, file tokens) per `\\x1e`-headed block of NUL-terminated git output."""
    header: list[str] | None = None
    tokens: list[bytes] = []
    for token in output.split(b"\0"):
        token = token.lstrip(b"\n")
        if not token:
            continue
        if token.startswith(b"\x1e"):
            if header is not None:
                yield header, tokens
            header = token[1:].decode("ascii", errors="replace").split("\x1f")
            tokens = []
            if len(header) != fields or len(header[0]) < 40:
                raise ArtifactRejected(f"git: unexpected commit header {token[:120]!r}")
        elif header is None:
            raise ArtifactRejected(f"git: file line before any commit header: {token[:80]!r}")
        else:
            tokens.append(token)
    if header is not None:
        yield header, tokens


def _line_count(text: bytes, token: bytes) -> int | None:
    if text == b"-":
        return None
    if not text.isdigit():
        raise ArtifactRejected(f"git log: {token[:80]!r} is not a numstat line (added, deleted, path)")
    return int(text)


def _commits(log_output: bytes) -> list[_Commit]:
    commits = []
    for (sha, committed, parents), tokens in _blocks(log_output, 3):
        commit = _Commit(sha, committed, parents.split())
        for token in tokens:
            parts = token.split(b"\t", 2)
            if len(parts) != 3:
                raise ArtifactRejected(
                    f"git log: {token[:80]!r} is not a numstat line (added, deleted, path)"
                )
            path = parts[2].decode("utf-8", errors="replace")
            commit.numstat.append((path, _line_count(parts[0], token), _line_count(parts[1], token)))
        commits.append(commit)
    return commits


def merge_parent_pairs(log_output: bytes) -> bytes:
    """The stdin of `git diff-tree --stdin`: one `<merge> <parent>` line per merge and parent."""
    lines = [
        f"{c.sha} {parent}\n" for c in _commits(log_output) if len(c.parents) > 1 for parent in c.parents
    ]
    return "".join(lines).encode()


def parse_git_history(
    log_output: bytes, merge_diffs: bytes = b"", catalog: Catalog | None = None
) -> pl.DataFrame:
    """The two git outputs -> one CODE_CHANGES row per (commit, file) that `git log -- <file>` lists;
    merges carry null line counts (a merge has no single diff)."""
    commits = _commits(log_output)
    merges = [c for c in commits if len(c.parents) > 1]
    blocks = list(_blocks(merge_diffs, 1))
    expected = sum(len(c.parents) for c in merges)
    if len(blocks) != expected:
        raise ArtifactRejected(f"git diff-tree: {len(blocks)} merge diffs for {expected} merge parents")
    bit: dict[str, int] = {}
    for commit in commits:
        for path, _, _ in commit.numstat:
            bit.setdefault(path, len(bit))
    changed_vs_parent: dict[str, list[int]] = {c.sha: [] for c in merges}
    pairs = iter(blocks)
    for merge in merges:
        for _ in merge.parents:
            (sha,), tokens = next(pairs)
            if sha != merge.sha:
                raise ArtifactRejected(f"git diff-tree: diff of {sha} where {merge.sha} was expected")
            mask = 0
            for token in tokens:
                mask |= 1 << bit.setdefault(token.decode("utf-8", errors="replace"), len(bit))
            changed_vs_parent[merge.sha].append(mask)
    path_of = list(bit)
    every = (1 << len(bit)) - 1
    # reach[sha]: the files whose simplified history passes through the commit (HEAD: all).
    reach: dict[str, int] = {commits[0].sha: every} if commits else {}
    rows: list[tuple[str, str, str, int | None, int | None]] = []
    for commit in commits:
        files = reach.pop(commit.sha, 0)
        if not files:
            continue
        if len(commit.parents) <= 1:
            rows += [
                (commit.sha, commit.committed, path, added, deleted)
                for path, added, deleted in commit.numstat
                if files >> bit[path] & 1
            ]
            for parent in commit.parents:
                reach[parent] = reach.get(parent, 0) | files
            continue
        # A merge follows, per file, the first parent it is TREESAME to; all parents if none.
        per_parent = changed_vs_parent[commit.sha]
        differs_from_all = files
        for mask in per_parent:
            differs_from_all &= mask
        rows += [(commit.sha, commit.committed, path_of[i], None, None) for i in _bits(differs_from_all)]
        not_yet_treesame = every
        for parent, mask in zip(commit.parents, per_parent, strict=True):
            follow = (not_yet_treesame & ~mask & every) | differs_from_all
            reach[parent] = reach.get(parent, 0) | (files & follow)
            not_yet_treesame &= mask
    frame = pl.DataFrame(rows, schema=_COLUMNS, orient="row").with_columns(
        day=pl.col("committed").str.to_datetime(time_unit="us", time_zone="UTC").dt.date(),
        source=pl.lit(GIT_SOURCE),
    )
    return schemas.conform(_components(frame, catalog), schemas.CODE_CHANGES)


def _bits(value: int) -> Iterator[int]:
    while value:
        lowest = value & -value
        yield lowest.bit_length() - 1
        value ^= lowest


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
