"""Sensors: new CI runs in the landing folder, and failed SLO checks to the alert webhook."""

import json
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from dagster._core.storage.asset_check_execution_record import (
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
)

from resources.alerts import AlertWebhookResource
from resources.landing import LandingResource
from testintel_assets.landing.ci import RUN_FILE
from testintel_assets.partitions import daily_partitions

# A tick stats every run.json, so it stays well under Dagster's 60 s tick limit; the cap bounds the
# number of run requests one tick can emit after an outage (the rest follow on the next ticks).
MAX_RUNS_PER_TICK = 50
CI_TABLES = ["ci_runs", "test_results", "test_meta", "coverage_files"]

ci_refresh_job = dg.define_asset_job(
    "ci_refresh",
    selection=dg.AssetSelection.assets(*CI_TABLES).downstream(),
    description="Ingest one day's CI runs and recompute everything derived from them.",
)


@dataclass(frozen=True, order=True)
class LandedRun:
    """Ordered by arrival: the later of mtime and ctime of run.json (a copy that keeps an old mtime
    still gets a new ctime), then by path for runs that landed in the same nanosecond."""

    arrived_ns: int
    path: str

    @property
    def day(self) -> str:
        return Path(self.path).parts[0]

    @property
    def run_id(self) -> str:
        return Path(self.path).parts[1]


def landed_runs(ci_root: Path) -> list[LandedRun]:
    runs = []
    for run_file in ci_root.glob(f"*/*/{RUN_FILE}"):
        try:
            stat = run_file.stat()
        except FileNotFoundError:  # removed between glob and stat
            continue
        relative = run_file.parent.relative_to(ci_root).as_posix()
        runs.append(LandedRun(max(stat.st_mtime_ns, stat.st_ctime_ns), relative))
    return sorted(runs)


def last_ingest(instance: dg.DagsterInstance, day: str) -> float:
    """When the day's CI tables were last materialised (0 if never): runs that landed before that
    were read by it, so a sensor started after `make demo` or a backfill does not redo them."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(CI_TABLES[0]), asset_partitions=[day]), limit=1
    ).records
    return records[0].timestamp if records else 0.0


def _read_mark(cursor: str | None) -> LandedRun | None:
    if not cursor:
        return None
    mark = json.loads(cursor)
    return LandedRun(int(mark["arrived_ns"]), str(mark["path"]))


@dg.sensor(
    job=ci_refresh_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="A run folder whose run.json exists -> a run of that day's partition, keyed by run id.",
)
def ci_artifacts_sensor(context: dg.SensorEvaluationContext, landing: LandingResource) -> dg.SensorResult:
    mark = _read_mark(context.cursor)
    fresh = [run for run in landed_runs(landing.path / "ci") if mark is None or run > mark]
    batch = fresh[:MAX_RUNS_PER_TICK]
    ingested_at: dict[str, float] = {}
    requests: list[dg.RunRequest] = []
    for run in batch:
        if not daily_partitions.has_partition_key(run.day):
            context.log.warning(
                f"landing/ci/{run.path}: no partition '{run.day}' (before TESTINTEL_START_DATE "
                f"{daily_partitions.start:%Y-%m-%d}, in the future, or not a YYYY-MM-DD folder); skipped"
            )
            continue
        if run.day not in ingested_at:
            ingested_at[run.day] = last_ingest(context.instance, run.day)
        if run.arrived_ns / 1e9 < ingested_at[run.day]:
            continue  # a backfill or earlier run of that day already read it
        requests.append(
            dg.RunRequest(
                run_key=f"ci:{run.path}",
                partition_key=run.day,
                tags={"testintel/run_id": run.run_id, "testintel/source": "ci_artifacts_sensor"},
            )
        )
    cursor = (
        json.dumps({"arrived_ns": batch[-1].arrived_ns, "path": batch[-1].path}) if batch else context.cursor
    )
    if not requests:
        why = (
            f"{len(batch)} new run folder(s), none needing a run" if batch else "no new CI runs with run.json"
        )
        return dg.SensorResult(skip_reason=dg.SkipReason(why), cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)


ALERT_HISTORY_LIMIT = 100
ALERTED_PARTITIONS_KEPT = 200


def _alert_text(record: AssetCheckExecutionRecord) -> str:
    evaluation = record.event.asset_check_evaluation if record.event else None
    description = evaluation.description if evaluation else "failed"
    where = f" [{record.partition}]" if record.partition else ""
    return f":rotating_light: testintel SLO breached: {record.key.to_user_string()}{where}: {description}"


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Posts failed asset checks to TESTINTEL_ALERT_WEBHOOK_URL, once per check and partition.",
)
def slo_alert_sensor(context: dg.SensorEvaluationContext, alerts: AlertWebhookResource) -> dg.SkipReason:
    state = json.loads(context.cursor) if context.cursor else {}
    storage = context.instance.event_log_storage
    posted = 0
    for check_key in context.repository_def.asset_graph.asset_check_keys:
        name = check_key.to_user_string()
        seen = state.setdefault(name, {"last_id": 0, "alerted": []})
        records = storage.get_asset_check_execution_history(check_key, limit=ALERT_HISTORY_LIMIT)
        for record in sorted(records, key=lambda item: item.id):
            if record.id <= seen["last_id"]:
                continue
            seen["last_id"] = record.id
            partition = record.partition or "-"
            if record.status != AssetCheckExecutionRecordStatus.FAILED or partition in seen["alerted"]:
                continue
            if alerts.post(_alert_text(record)):
                posted += 1
            seen["alerted"] = [*seen["alerted"], partition][-ALERTED_PARTITIONS_KEPT:]
    context.update_cursor(json.dumps(state))
    return dg.SkipReason(f"posted {posted} alert(s)" if posted else "no new failed checks")
