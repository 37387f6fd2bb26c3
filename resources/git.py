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
from testintel_assets.parsers.git_log import GIT_LOG_ARGS, parse_git_log


class GitError(RuntimeError):
    """git is missing, the path is not a repository, or the ref does not exist; stderr says which."""


def git_log(repo: Path, first_day: date, last_day: date, ref: str = "HEAD") -> bytes:
    """Raw `git log` (GIT_LOG_ARGS format) of commits whose committer date falls on first..last day, UTC.

    --since and --until are inclusive and compare committer dates, as `git log --since` does for
    anyone checking the counts by hand.
    """
    command = [
        "git",
        "-C",
        str(repo),
        "-c",
        "log.showRoot=true",
        "log",
        ref,
        *GIT_LOG_ARGS,
        f"--since={first_day.isoformat()}T00:00:00+00:00",
        f"--until={last_day.isoformat()}T23:59:59+00:00",
        "--",
    ]
    # The flags above override the config that changes numstat output; a pager must not start.
    env = {**os.environ, "GIT_PAGER": "cat", "LC_ALL": "C"}
    try:
        completed = subprocess.run(command, capture_output=True, env=env, check=False)
    except FileNotFoundError as exc:
        raise GitError("git is not installed or not on PATH") from exc
    if completed.returncode != 0:
        stderr = completed.stderr.decode("utf-8", errors="replace").strip()
        raise GitError(f"git log in {repo} failed ({completed.returncode}): {stderr[:500]}")
    return completed.stdout


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
        output = git_log(Path(self.path), first_day, last_day, self.ref)
        changes = parse_git_log(output, catalog)
        return changes.filter(pl.col("day").is_between(first_day, last_day))
