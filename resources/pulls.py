"""Raw-first paged pulls: every page is on disk before the next is requested, the manifest last."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from pathlib import Path

from testintel_assets.landing.raw import save_raw
from testintel_assets.parsers.tracker import PullManifest, manifest_name, new_pull_id, page_name


def save_pull(
    landing_root: Path,
    source: str,
    day: date,
    pages: Iterable[bytes],
    count_issues: Callable[[bytes], int],
    query: dict[str, object],
    now: datetime | None = None,
) -> PullManifest:
    """Save each raw page under landing/<source>/<day>/ as it arrives, then the manifest.

    `pages` is consumed lazily, so a page is on disk before its successor is requested (and before
    anything parses it). If the pull fails half-way the saved pages stay for inspection, but without
    a manifest no reader takes them for the day's snapshot.
    """
    pull_id = new_pull_id(now or datetime.now(UTC))
    names: list[str] = []
    issues = 0
    for number, content in enumerate(pages, start=1):
        names.append(save_raw(landing_root, source, day, page_name(pull_id, number), content).name)
        issues += count_issues(content)
    manifest = PullManifest(pull_id=pull_id, source=source, pages=names, issues=issues, query=query)
    save_raw(landing_root, source, day, manifest_name(pull_id), manifest.to_json())
    return manifest
