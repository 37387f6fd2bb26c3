"""Quarantine: flaky tests enter, get an owner and an SLA, escalate when it is breached, and leave.

State carries from day to day: the quarantine of day D is `next_quarantine(quarantine of D - 1,
flake_stats of D, ...)`, so the asset for D depends on its own previous partition (a
self-dependency) and a backfill walks the days in order (`quarantine_for_days`). Entries are
keyed by the canonical test_id. docs/flakes.md describes the lifecycle:

- enter: flake_class is flaky, a failure within `quiet_days`, and not already recovered;
- leave (state `released` for that one day): `exit_after_passes` consecutive runs whose first
  attempt passed, or no failure for `quiet_days`;
- orphaned: the test has no execution in the flake window any more (renamed, deleted, skipped);
  kept until a person releases it, so a rename never silently drops a quarantine;
- overrides (config/quarantine.yaml) win: `pin` keeps a test quarantined, `release` keeps it out,
  each until its expiry, after which the detector's rules apply again.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl

from testintel_assets import schemas
from testintel_assets.configuration import Catalog, QuarantineFile, QuarantineOverride

ACTIVE = ("quarantined", "pinned", "orphaned")


def active_overrides(overrides: QuarantineFile, day: date) -> dict[str, QuarantineOverride]:
    return {
        o.test_id: o for o in overrides.overrides if o.expires >= day and (o.added is None or o.added <= day)
    }


def _latest_meta(meta: pl.DataFrame) -> pl.DataFrame:
    return (
        meta.sort("day")
        .group_by("test_id")
        .agg(pl.col(c).drop_nulls().last() for c in ("flow", "owner", "risk", "component"))
    )


def _team_of(owner: str | None, flow: str | None, component: str | None, catalog: Catalog) -> str:
    """The owning team: test_meta's owner (a team, or a member's or EM's address), else the
    flow's owner, else the component's owner, else owners.yaml's default_owner."""
    teams = catalog.teams_by_name
    if owner:
        if owner in teams:
            return owner
        for team in teams.values():
            if owner == team.em or owner in team.members:
                return team.name
    flow_owner = catalog.flows_by_name[flow].owner if flow in catalog.flows_by_name else ""
    if flow_owner:
        return flow_owner
    component_owner = next((c.owner for c in catalog.components.components if c.name == component), "")
    return component_owner or catalog.owners.default_owner


def ownership(test_ids: pl.Series, meta: pl.DataFrame, catalog: Catalog) -> pl.DataFrame:
    """owner, channel, em, critical and flow per test."""
    critical_risks = set(catalog.scoring.flakes.critical_risks)
    rows = []
    tags = pl.DataFrame({"test_id": test_ids.unique()}).join(_latest_meta(meta), on="test_id", how="left")
    for tag in tags.to_dicts():
        flow = catalog.canonical_flow(tag["flow"]) or tag["flow"]
        team = _team_of(tag["owner"], flow, tag["component"], catalog)
        details = catalog.teams_by_name.get(team)
        rows.append(
            {
                "test_id": tag["test_id"],
                "meta_flow": flow,
                "owner": team,
                "channel": details.channel if details else None,
                "em": details.em if details else None,
                "critical": (
                    flow in catalog.flows_by_name and catalog.flows_by_name[flow].criticality == "critical"
                )
                or (tag["risk"] or "").lower() in critical_risks,
            }
        )
    schema = {
        "test_id": pl.String,
        "meta_flow": pl.String,
        "owner": pl.String,
        "channel": pl.String,
        "em": pl.String,
        "critical": pl.Boolean,
    }
    return pl.DataFrame(rows, schema=schema)


def _carry(previous: pl.DataFrame, stats: pl.DataFrame, day: date, catalog: Catalog) -> pl.DataFrame:
    """Yesterday's active entries, moved on by today's flake_stats."""
    params = catalog.scoring.flakes
    carried = previous.join(stats, on="test_id", how="left", suffix="_today")
    present = pl.col("flake_class").is_not_null()
    last_failure = pl.max_horizontal("last_failure_day", "last_failure_day_today")
    passes = pl.coalesce("trailing_passes", "consecutive_passes")
    quiet_since = pl.coalesce(last_failure, pl.col("since"))
    enough_passes = passes >= params.exit_after_passes
    quiet = (pl.lit(day) - quiet_since).dt.total_days() >= params.quiet_days
    return carried.with_columns(
        pl.when(~present)
        .then(pl.lit("orphaned"))
        .when(enough_passes | quiet)
        .then(pl.lit("released"))
        .otherwise(pl.lit("quarantined"))
        .alias("state"),
        pl.when(present & enough_passes)
        .then(pl.format("left quarantine: {} consecutive passing runs", passes))
        .when(present & quiet)
        .then(pl.format("left quarantine: no failure since {}", quiet_since))
        .when(~present)
        .then(
            pl.format(
                "orphaned: no run in the last {} days; {}", pl.lit(params.window_days), pl.col("reason")
            )
        )
        .when(pl.col("flake_class") == "flaky")
        .then(pl.col("flake_reason"))
        .otherwise(pl.col("reason"))
        .alias("reason"),
        pl.lit("detector").alias("source"),
        pl.lit(None, dtype=pl.String).alias("set_by"),
        last_failure.alias("last_failure_day"),
        passes.alias("consecutive_passes"),
        pl.coalesce("flake_score_today", "flake_score").alias("flake_score"),
        pl.coalesce("flow_today", "flow").alias("flow"),
    )


def _entering(stats: pl.DataFrame, known: pl.Series, day: date, catalog: Catalog) -> pl.DataFrame:
    params = catalog.scoring.flakes
    return stats.filter(
        (pl.col("flake_class") == "flaky")
        & (pl.col("trailing_passes") < params.exit_after_passes)
        & ((pl.lit(day) - pl.col("last_failure_day")).dt.total_days() < params.quiet_days)
        & ~pl.col("test_id").is_in(known.implode())
    ).select(
        "test_id",
        "flow",
        "flake_score",
        "last_failure_day",
        pl.lit("quarantined").alias("state"),
        pl.lit("detector").alias("source"),
        pl.col("flake_reason").alias("reason"),
        pl.lit(day).alias("since"),
        pl.col("trailing_passes").alias("consecutive_passes"),
    )


def apply_overrides(
    entries: pl.DataFrame, overrides: dict[str, QuarantineOverride], day: date
) -> pl.DataFrame:
    """Pins become (or stay) entries in state `pinned`; releases leave as `released` today."""
    columns = ["test_id", "state", "source", "reason", "since", "expires", "set_by"]
    decided = pl.DataFrame(
        [
            {
                "test_id": o.test_id,
                "state": "pinned" if o.action == "pin" else "released",
                "source": "override",
                "reason": f"{'pinned' if o.action == 'pin' else 'released'} by {o.by}: {o.reason}",
                "since": o.added or day,
                "expires": o.expires,
                "set_by": o.by,
            }
            for o in overrides.values()
        ],
        schema={name: schemas.QUARANTINE[name] for name in columns},
    )
    releases = decided.filter(pl.col("state") == "released")
    active = entries.filter(pl.col("state").is_in(ACTIVE))
    kept = entries.join(decided, on="test_id", how="anti")
    released = active.drop(columns[1:], strict=False).join(releases, on="test_id")
    pinned = (
        decided.filter(pl.col("state") == "pinned")
        .join(entries.select("test_id", pl.col("since").alias("entered")), on="test_id", how="left")
        .with_columns(pl.min_horizontal("since", "entered").alias("since"))
        .drop("entered")
        .join(entries.drop(columns[1:], strict=False), on="test_id", how="left")
    )
    return pl.concat([kept, released, pinned], how="diagonal_relaxed")


def next_quarantine(
    previous: pl.DataFrame,
    flake_stats: pl.DataFrame,
    meta: pl.DataFrame,
    catalog: Catalog,
    day: date,
    overrides: QuarantineFile,
) -> pl.DataFrame:
    """schemas.QUARANTINE for `day` from the previous day's quarantine and `day`'s flake_stats.

    `previous` may be empty (the first day) or any earlier day's frame; released entries in it
    are gone for good unless the detector sees the test again.
    """
    params = catalog.scoring.flakes
    stats = flake_stats.filter(pl.col("day") == day)
    prev = schemas.conform(previous, schemas.QUARANTINE)
    prev = prev.filter((pl.col("day") == pl.col("day").max()) & pl.col("state").is_in(ACTIVE))
    decisions = active_overrides(overrides, day)
    released = pl.Series([t for t, o in decisions.items() if o.action == "release"], dtype=pl.String)
    entries = pl.concat(
        [
            _carry(prev, stats, day, catalog),
            _entering(stats, pl.concat([prev["test_id"], released]), day, catalog),
        ],
        how="diagonal_relaxed",
    ).with_columns(
        (pl.coalesce("last_failure_day", "since") + pl.duration(days=params.quiet_days)).alias("expires")
    )
    entries = apply_overrides(entries, decisions, day)
    if entries.is_empty():
        return schemas.empty(schemas.QUARANTINE)
    owners = ownership(entries["test_id"], meta, catalog)
    owned = entries.drop(owners.columns[1:], strict=False).join(owners, on="test_id", how="left")
    hours = pl.when(pl.col("critical")).then(params.sla_hours_critical).otherwise(params.sla_hours_other)
    start_of_since = pl.col("since").cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    end_of_day = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    sla_applies = pl.col("state").is_in(["quarantined", "orphaned"])
    frame = (
        owned.with_columns(
            pl.lit(day).alias("day"),
            pl.coalesce("meta_flow", "flow").alias("flow"),
            pl.col("critical").fill_null(False),
            pl.when(sla_applies).then(hours).alias("sla_hours"),
        )
        .with_columns(
            pl.when(sla_applies).then(start_of_since + pl.duration(hours=pl.col("sla_hours"))).alias("due"),
        )
        .with_columns(
            (sla_applies & (pl.col("due") < pl.lit(end_of_day))).fill_null(False).alias("breached"),
        )
        .with_columns(pl.when(pl.col("breached")).then(pl.col("em")).alias("escalate_to"))
    )
    return schemas.conform(frame, schemas.QUARANTINE).sort("test_id")


def quarantine_for_days(
    flake_stats: pl.DataFrame,
    meta: pl.DataFrame,
    catalog: Catalog,
    days: list[date],
    overrides: QuarantineFile,
    previous: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """next_quarantine over consecutive days, each day starting from the one before."""
    state = previous if previous is not None else schemas.empty(schemas.QUARANTINE)
    parts = []
    for day in sorted(days):
        state = next_quarantine(state, flake_stats, meta, catalog, day, overrides)
        parts.append(state)
    return pl.concat(parts) if parts else schemas.empty(schemas.QUARANTINE)
