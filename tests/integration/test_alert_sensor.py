"""The SLO alert sensor posts each failed check once per partition to a Slack-compatible webhook
(a local HTTP server here), and stays quiet for passing checks and on the next tick."""

import json

import dagster as dg
from pytest_httpserver import HTTPServer

from resources.alerts import AlertWebhookResource
from testintel_assets.defs.sensors import slo_alert_sensor

daily = dg.DailyPartitionsDefinition(start_date="2026-11-01")


@dg.asset(partitions_def=daily)
def flake_stats() -> None:
    return None


@dg.asset_check(asset=flake_stats, partitions_def=daily)
def blocking_flake_rate_slo() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=False, description="flake rate in blocking pipelines 5.4% (target <= 2%)"
    )


@dg.asset_check(asset=flake_stats, partitions_def=daily)
def always_fine() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


def test_failed_checks_are_posted_once_per_check_and_partition(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    definitions = dg.Definitions(
        assets=[flake_stats], asset_checks=[blocking_flake_rate_slo, always_fine], sensors=[slo_alert_sensor]
    )
    alerts = AlertWebhookResource(url=httpserver.url_for("/hook"))
    with dg.instance_for_test() as instance:
        for day in ("2026-11-02", "2026-11-03", "2026-11-03"):  # the 3rd re-runs a partition
            assert dg.materialize(
                [flake_stats, blocking_flake_rate_slo, always_fine], partition_key=day, instance=instance
            ).success
        cursor = None
        for _ in range(2):
            context = dg.build_sensor_context(
                instance=instance, cursor=cursor, definitions=definitions, resources={"alerts": alerts}
            )
            slo_alert_sensor(context)
            cursor = context.cursor
    texts = [json.loads(request.get_data())["text"] for request, _ in httpserver.log]
    assert len(texts) == 2, texts
    assert all("flake_stats:blocking_flake_rate_slo" in text and "5.4%" in text for text in texts)
    assert {text.split("[")[1].split("]")[0] for text in texts} == {"2026-11-02", "2026-11-03"}
