"""The Dagster instance (DAGSTER_HOME) that `make run`, `make ui` and the tests share.

Its `dagster.yaml` is where the single-writer rule on the DuckDB file is enforced, at two
levels:

- **steps**: every asset that writes the warehouse is in the `warehouse` pool, and every pool
  has a limit of one slot (`pools.default_limit: 1`, granularity `op`). A step waits for the
  slot across all runs, including ad-hoc materialisations from the UI and `make run` (which
  executes in-process, outside the run queue). Steps that do not write the warehouse (the
  raw-files observation, the HTML report) take no slot. Within a run, steps run one after
  another in the run's own process anyway (`jobs.warehouse_writer_executor`).
- **runs**: runs tagged as warehouse writers (every run of `full_build`, so every scheduled
  and sensor run) wait in the run queue while another one is in progress
  (`runs.tag_concurrency_limits`), so a sensor run and a scheduled run never interleave their
  steps. The queue is served by the daemon that `dagster dev` starts.
"""

import logging
from pathlib import Path

from orchestration.jobs import WAREHOUSE_WRITER_TAG, WAREHOUSE_WRITER_VALUE
from orchestration.settings import Settings

log = logging.getLogger(__name__)

MANAGED_MARKER = "# managed by customer-profiles"

INSTANCE_CONFIG = f"""\
{MANAGED_MARKER} (orchestration/instance.py): rewritten when the project's
# version of it changes. Delete this first line to keep your own edits.
concurrency:
  pools:
    # DuckDB allows one writer per file: one step at a time in the "warehouse" pool.
    granularity: op
    default_limit: 1
  runs:
    # One warehouse-writing run in progress at a time; the others wait in the queue.
    tag_concurrency_limits:
      - key: "{WAREHOUSE_WRITER_TAG}"
        value: "{WAREHOUSE_WRITER_VALUE}"
        limit: 1
telemetry:
  enabled: false
"""


def ensure_instance(settings: Settings) -> Path:
    """Write (or refresh) the project's dagster.yaml in DAGSTER_HOME; keep a user's own file."""
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    # The seeds' dbt step can start before anything has opened the warehouse, and DuckDB
    # creates a missing file but not its folder (a fresh clone has no warehouse/): for
    # `make run` and `make ui` alike.
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    config = settings.dagster_home / "dagster.yaml"
    if config.exists():
        current = config.read_text()
        if current == INSTANCE_CONFIG:
            return config
        if not current.startswith(MANAGED_MARKER):
            if "default_limit: 1" not in current or WAREHOUSE_WRITER_TAG not in current:
                log.warning(
                    "%s is not managed by customer-profiles and lacks its concurrency limits;"
                    " two runs may then write the warehouse at once (see orchestration/instance.py)",
                    config,
                )
            return config
    config.write_text(INSTANCE_CONFIG)
    return config
