"""Resources and executor of the embedded default (DuckDB file + landing folder under TESTINTEL_HOME)."""

import dagster as dg

from resources import build_resources
from testintel_assets.settings import config_dir, testintel_home


@dg.definitions
def resources() -> dg.Definitions:
    # In-process: steps of a run share one process, so only one DuckDB writer exists per run; the
    # `warehouse` pool (limit 1, dagster.yaml) serialises runs (docs/warehouse.md).
    return dg.Definitions(
        resources=build_resources(testintel_home(), config_dir()), executor=dg.in_process_executor
    )
