"""Sensors: rebuild when the raw directory changes."""

import json

import dagster as dg

from orchestration.jobs import fail_abandoned_writer_runs_on_tick, full_build
from orchestration.raw_contract import CONTRACT
from orchestration.raw_files import fingerprint_raw_dir
from orchestration.resources import WarehouseResource

RAW_FILES_POLL_SECONDS = 60


@dg.sensor(
    job=full_build,
    minimum_interval_seconds=RAW_FILES_POLL_SECONDS,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Request a full build when files are added, changed or removed in the raw directory.",
)
def raw_files_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    """Compare the raw folders' fingerprints with the cursor; request a run when they differ.

    The cursor holds the fingerprint of every source at the last request, so a tick with no
    change requests nothing, and a change made while a run is going is picked up by the next
    tick and queued behind it. A change that leaves the required sources empty is recorded but
    requests nothing: that build could only fail. There is no run key on purpose: putting
    back an earlier export is a change too and must rebuild, which a key derived from the
    fingerprint would deduplicate away.

    Each tick also fails writer runs abandoned by a killed process: until then they hold the
    run queue's one writer place, and the run this sensor requests would queue forever.
    """
    fail_abandoned_writer_runs_on_tick(context)
    raw_dir = warehouse.settings().raw_dir
    current = {name: fp.version for name, fp in fingerprint_raw_dir(raw_dir).items()}
    previous = json.loads(context.cursor) if context.cursor else {}
    changed = sorted(name for name in current if current[name] != previous.get(name))
    if not changed:
        return dg.SkipReason(f"no raw file changed in {raw_dir}")

    cursor = json.dumps(current, sort_keys=True)
    missing = [s.name for s in CONTRACT.sources if s.required and current[s.name] == "absent"]
    if missing:
        return dg.SensorResult(
            skip_reason=f"raw files changed ({', '.join(changed)}) but required source(s)"
            f" {', '.join(missing)} have no files in {raw_dir}",
            cursor=cursor,
        )
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                tags={
                    "customer_profiles/trigger": "raw_files_sensor",
                    "customer_profiles/changed_sources": ",".join(changed),
                },
            )
        ],
        cursor=cursor,
    )
