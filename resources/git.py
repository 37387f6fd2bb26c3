"""A local git clone as a Dagster resource: commits and touched lines through `git log` itself."""

from __future__ import annotations

import os
import subprocess
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl

from testintel_assets import schemas
from testintel_assets.configuration import Catalog
from testintel_assets.parsers.git_log import (
    GIT_DIFF_TREE_ARGS,
    GIT_LOG_ARGS,
    merge_parent_pairs,
    parse_git_history,
)


class GitError(RuntimeError):
    """git is missing, the path is not a repository, or the ref does not exist; stderr says which."""


def _git(repo: Path, args: list[str], stdin: bytes = b"") -> bytes:
    # The flags callers pass override the config that changes diff output; a pager must not start.
    env = {**os.environ, "GIT_PAGER": "cat", "LC_ALL": "C"}
    command = ["git", "-C", str(repo), "-c", "log.showRoot=true", *args]
    try:
        completed = subprocess.run(command, input=stdin, capture_output=True, env=env, check=False)
    except FileNotFoundError as exc:
        raise GitError("git is not installed or not on PATH") from exc
    if completed.returncode != 0:
        stderr = completed.stderr.decode("utf-8", errors="replace").strip()
        raise GitError(f"git {args[0]} in {repo} failed ({completed.returncode}): {stderr[:500]}")
    return completed.stdout


def read_git_changes(
    repo: Path, first_day: date, last_day: date, ref: str = "HEAD", catalog: Catalog | None = None
) -> pl.DataFrame:
    """CODE_CHANGES rows (one per commit and file, as `git log -- <file>` lists them) committed on
    first_day..last_day, UTC committer dates.

    The walk starts at `ref` and stops at --since (inclusive, committer dates, as `git log --since`
    does); commits after last_day are walked but not kept, since their merges decide which older
    commits a file's simplified history reaches.
    """
    log = _git(repo, ["log", ref, *GIT_LOG_ARGS, f"--since={first_day.isoformat()}T00:00:00+00:00", "--"])
    pairs = merge_parent_pairs(log)
    merge_diffs = _git(repo, ["diff-tree", *GIT_DIFF_TREE_ARGS], stdin=pairs) if pairs else b""
    changes = parse_git_history(log, merge_diffs, catalog)
    return changes.filter(pl.col("day").is_between(first_day, last_day))


class GitRepository(dg.ConfigurableResource):
    """`path` is a local clone kept up to date by whoever runs testintel (CI checkout, a cron fetch);
    empty means no clone, and code_changes come from run.json changed_files instead."""

    path: str = ""
    ref: str = "HEAD"

    @property
    def configured(self) -> bool:
        return bool(self.path)

    def code_changes(self, first_day: date, last_day: date, catalog: Catalog | None = None) -> pl.DataFrame:
        """CODE_CHANGES rows (one per commit and file) committed on first_day..last_day (UTC)."""
        if not self.configured:
            return schemas.empty(schemas.CODE_CHANGES)
        return read_git_changes(Path(self.path), first_day, last_day, self.ref, catalog)
