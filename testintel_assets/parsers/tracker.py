"""What Jira and Linear have in common: raw pulls on disk, issues in one shape, mapping to the catalogue.

A pull is the pages of one paged search saved under `landing/<source>/<day>/` plus a manifest written
last (like run.json for CI runs): a pull without its manifest did not finish and is ignored, so a
failed pull never shrinks the day's snapshot. The day's snapshot is the latest complete pull.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path

import polars as pl

from testintel_assets import schemas
from testintel_assets.configuration import Catalog, normalise_label
from testintel_assets.parsers import ArtifactRejected

UNMAPPED = "unmapped"
OPEN = "open"
DONE = "done"

# One issue as a tracker describes it, before the catalogue names its flow and component.
TRACKER_ISSUES = pl.Schema(
    {
        "key": pl.String,
        "title": pl.String,
        "severity_name": pl.String,
        "status": pl.String,
        "status_category": pl.String,
        "created_at": schemas.TS,
        "resolved_at": schemas.TS,
        "labels": pl.List(pl.String),
        "components": pl.List(pl.String),
        "flow_values": pl.List(pl.String),
        "url": pl.String,
        "source": pl.String,
    }
)

MANIFEST_SUFFIX = "-manifest.json"
_PULLER_PAGE_RE = re.compile(r"^\d{8}T\d{12}Z-page-\d{4,}(\.[0-9a-f]{8})?\.json$")


@dataclass(frozen=True)
class PullManifest:
    """Written after the last page: which pages make the pull and how many issues they hold."""

    pull_id: str
    source: str
    pages: list[str]
    issues: int
    query: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    @staticmethod
    def from_json(content: bytes, where: str) -> PullManifest:
        try:
            raw = json.loads(content)
            manifest = PullManifest(
                pull_id=str(raw["pull_id"]),
                source=str(raw["source"]),
                pages=[str(page) for page in raw["pages"]],
                issues=int(raw["issues"]),
                query=dict(raw.get("query") or {}),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ArtifactRejected(f"{where}: not a pull manifest ({exc})") from exc
        return manifest


def new_pull_id(now: datetime) -> str:
    """Sortable and unique enough for one puller: UTC time to the microsecond."""
    return now.strftime("%Y%m%dT%H%M%S%fZ")


def page_name(pull_id: str, number: int) -> str:
    return f"{pull_id}-page-{number:04d}.json"


def manifest_name(pull_id: str) -> str:
    return f"{pull_id}{MANIFEST_SUFFIX}"


def load_json(content: bytes, where: str) -> object:
    """Decode a tracker response; anything that is not UTF-8 JSON is rejected with the reason."""
    if not content.strip():
        raise ArtifactRejected(f"{where}: empty response")
    try:
        return json.loads(content.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ArtifactRejected(f"{where}: not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise ArtifactRejected(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc


def issues_frame(rows: list[dict[str, object]], where: str) -> pl.DataFrame:
    """Rows with ISO timestamps as text -> TRACKER_ISSUES; an unreadable date rejects the response."""
    frame = pl.DataFrame(rows, schema={**TRACKER_ISSUES, "created_at": pl.String, "resolved_at": pl.String})
    for column in ("created_at", "resolved_at"):
        parsed = frame[column].str.to_datetime(time_unit="us", time_zone="UTC", strict=False)
        bad = frame.filter(parsed.is_null() & frame[column].is_not_null())
        if bad.height:
            raise ArtifactRejected(
                f"{where}: issue {bad['key'][0]}: {column} '{bad[column][0]}' is not an ISO 8601 timestamp"
            )
        frame = frame.with_columns(parsed.alias(column))
    return schemas.conform(frame, TRACKER_ISSUES)


def _is_puller_page(name: str) -> bool:
    return bool(_PULLER_PAGE_RE.match(name))


def _parse_files(paths: list[Path], parse: Callable[[bytes, str], pl.DataFrame]) -> pl.DataFrame:
    frames = [parse(path.read_bytes(), str(path)) for path in paths]
    return pl.concat(frames) if frames else schemas.empty(TRACKER_ISSUES)


def latest_complete_pull(
    folder: Path, parse: Callable[[bytes, str], pl.DataFrame]
) -> tuple[PullManifest | None, pl.DataFrame]:
    """The day's snapshot: the newest pull that has its manifest, parsed page by page.

    Every issue is accounted for: the parsed rows must equal the count the puller wrote into the
    manifest, and each page the manifest names must exist. A folder without any manifest holds files
    dropped by hand or by another tool (a saved search response, the demo): they are read together
    as one snapshot, except pages our puller left behind from a pull that did not finish.
    """
    if not folder.is_dir():
        return None, schemas.empty(TRACKER_ISSUES)
    manifests = sorted(folder.glob(f"*{MANIFEST_SUFFIX}"))
    if not manifests:
        dropped = [p for p in sorted(folder.glob("*.json")) if not _is_puller_page(p.name)]
        issues = _parse_files(dropped, parse)
        return None, issues.unique(subset="key", keep="last", maintain_order=True)
    latest = manifests[-1]
    manifest = PullManifest.from_json(latest.read_bytes(), str(latest))
    missing = [page for page in manifest.pages if not (folder / page).is_file()]
    if missing:
        raise ArtifactRejected(f"{latest}: page {missing[0]} is missing from {folder}")
    issues = _parse_files([folder / page for page in manifest.pages], parse)
    if issues.height != manifest.issues:
        raise ArtifactRejected(
            f"{latest}: pages hold {issues.height} issues but the pull counted {manifest.issues}"
        )
    # A key can appear twice when an issue moved between pages during the pull; keep its last sight.
    return manifest, issues.unique(subset="key", keep="last", maintain_order=True)


# ---------------------------------------------------------------------------------- catalogue
def _normalised(expr: pl.Expr) -> pl.Expr:
    """The vectorised twin of configuration.normalise_label."""
    return expr.str.to_lowercase().str.replace_all(r"[^a-z0-9]+", "_").str.strip_chars("_")


def _lookup(expr: pl.Expr, mapping: dict[str, str], prefix: str) -> pl.Expr:
    """Map a normalised label, also accepting it written with a prefix (`flow:checkout`)."""
    return pl.coalesce(
        expr.replace_strict(mapping, default=None, return_dtype=pl.String),
        expr.str.strip_prefix(prefix).replace_strict(mapping, default=None, return_dtype=pl.String),
    )


def _candidates(issues: pl.DataFrame, sources: dict[str, int]) -> pl.DataFrame:
    """One row per (key, label) from the given list columns, ranked by precedence then position."""
    parts = [
        issues.select(
            "key",
            pl.lit(rank).alias("rank"),
            pl.col(column).alias("value"),
        )
        .explode("value")
        .with_columns(position=pl.int_range(pl.len()).over("key"))
        for column, rank in sources.items()
    ]
    return pl.concat(parts).drop_nulls("value").with_columns(norm=_normalised(pl.col("value")))


def _first_match(candidates: pl.DataFrame, mapped: pl.Expr, name: str) -> pl.DataFrame:
    return (
        candidates.with_columns(mapped.alias(name))
        .drop_nulls(name)
        .sort("key", "rank", "position")
        .group_by("key", maintain_order=True)
        .agg(pl.col(name).first())
    )


def map_to_catalog(issues: pl.DataFrame, catalog: Catalog, day: date) -> pl.DataFrame:
    """TRACKER_ISSUES -> DEFECTS rows of the pull day; defects no flow claims keep flow 'unmapped'.

    Flow precedence: the flow field, then labels, then tracker components (each through flows.yaml
    names and aliases), then a component that exactly one flow lists in flows.yaml. Component: a
    tracker component or label naming a components.yaml component, else the first tracker component.
    """
    component_by_label = {normalise_label(c.name): c.name for c in catalog.components.components}
    owners: dict[str, set[str]] = {}
    for flow in catalog.flows.flows:
        for component in flow.components:
            owners.setdefault(component, set()).add(flow.name)
    sole_flow_of_component = {name: next(iter(flows)) for name, flows in owners.items() if len(flows) == 1}

    flow_candidates = _candidates(issues, {"flow_values": 0, "labels": 1, "components": 2})
    flows = _first_match(flow_candidates, _lookup(pl.col("norm"), catalog.flow_by_label, "flow_"), "flow")
    owned = _first_match(
        flow_candidates.filter(pl.col("rank") == 2),
        _lookup(pl.col("norm"), component_by_label, "component_").replace_strict(
            sole_flow_of_component, default=None, return_dtype=pl.String
        ),
        "owner_flow",
    )
    component_candidates = _candidates(issues, {"components": 0, "labels": 1})
    components = _first_match(
        component_candidates, _lookup(pl.col("norm"), component_by_label, "component_"), "component"
    )
    severity = (
        pl.col("severity_name")
        .str.to_lowercase()
        .str.replace_all(r"[^a-z0-9]+", "")
        .replace_strict(catalog.scoring.defects.severity_by_alias, default="unknown", return_dtype=pl.String)
        .fill_null("unknown")
    )
    mapped = (
        issues.join(flows, on="key", how="left")
        .join(owned, on="key", how="left")
        .join(components, on="key", how="left")
        .with_columns(
            day=pl.lit(day, dtype=schemas.DAY),
            flow=pl.coalesce("flow", "owner_flow", pl.lit(UNMAPPED)),
            component=pl.coalesce("component", pl.col("components").list.first(), pl.lit(UNMAPPED)),
            severity=severity,
        )
    )
    return schemas.conform(mapped, schemas.DEFECTS)


def defects_from_landing(
    folder: Path, day: date, catalog: Catalog, parse: Callable[[bytes, str], pl.DataFrame]
) -> pl.DataFrame:
    """The day's DEFECTS snapshot from its latest complete pull; empty when the day has none."""
    _, issues = latest_complete_pull(folder, parse)
    return map_to_catalog(issues, catalog, day)
