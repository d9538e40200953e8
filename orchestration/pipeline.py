"""Materialise the whole asset graph in-process, recorded in the Dagster instance the UI reads."""

from __future__ import annotations

import time

import dagster as dg

from orchestration.instance import ensure_instance
from orchestration.settings import Settings
from orchestration.writer_lock import LockHolder, WriterLockConfig, hold_warehouse

# The tables a newcomer should look at first, with the layer they live in.
SUMMARY_TABLES = (
    ("raw", "orders"),
    ("raw", "events"),
    ("staging", "stg_commerce__orders"),
    ("staging", "stg_behaviour__events"),
    ("audit", "quarantine_rows"),
    ("audit", "identity_shared_identifiers"),
    ("marts", "customer_360"),
)


def full_build_job() -> dg.JobDefinition:
    """Every asset, in dependency order, after observing the raw folders (see jobs.py)."""
    from orchestration.definitions import defs

    return defs.resolve_job_def("full_build")


def materialize_all(
    settings: Settings, as_of_date: str | None = None, lock: WriterLockConfig | None = None
) -> int:
    """Run `full_build` in this process as the warehouse's only writer; 0 when it succeeded.

    The writer lock is held from before the run starts until the summary has read the
    warehouse: a daemon run (or a second `make run`) started meanwhile waits, and this one
    waits for a run already writing, printing who that is (see writer_lock.py). Raises
    `WarehouseBusyError` when the wait exceeds `lock.wait_seconds`.
    """
    settings.export()
    ensure_instance(settings)
    holder = LockHolder.this_process("customer-profiles run")
    from orchestration.project import prepare_manifest  # reads the settings just exported

    with hold_warehouse(settings.warehouse_path, holder, lock, say=_say):
        prepare_manifest()
        return _execute_full_build(settings, as_of_date)


def _say(message: str) -> None:
    print(message, flush=True)


def _execute_full_build(settings: Settings, as_of_date: str | None) -> int:
    started = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        # The steps run in this process, one after another (jobs.warehouse_writer_executor).
        result = dg.execute_job(
            dg.reconstructable(full_build_job),
            instance=instance,
            run_config={
                "loggers": {"console": {"config": {"log_level": "INFO"}}},
                "resources": {"as_of": {"config": {"as_of_date": as_of_date}}},
            },
        )
        seconds = time.perf_counter() - started
        if not result.success:
            failed = [e.step_key for e in result.all_events if e.is_step_failure]
            print(f"\npipeline FAILED in {seconds:.0f}s; failed steps: {', '.join(failed)}")
            print("see the run in the Dagster UI (make ui) for the error")
            return 1
        left_out = unfinished(instance, result.run_id)
        if left_out:
            # Dagster calls a run with skipped steps a success; a build that left assets
            # unwritten is not one (e.g. a dbt step whose events were lost skips publish).
            print(f"\npipeline INCOMPLETE in {seconds:.0f}s (run {result.run_id}): {left_out}")
            print("see the run in the Dagster UI (make ui)")
            return 1
        print(f"\npipeline finished in {seconds:.0f}s (run {result.run_id})")
    print_summary(settings)
    return 0


def unfinished(instance: dg.DagsterInstance, run_id: str) -> str:
    """What a run left undone despite succeeding: skipped steps, and assets it planned but
    neither materialised nor (raw files) observed. Empty when it did everything."""
    kinds = dg.DagsterEventType
    # from the instance: the planned events are logged when the run is created, not by steps
    events = [record.dagster_event for record in instance.all_logs(run_id) if record.dagster_event]
    skipped = sorted({e.step_key for e in events if e.event_type == kinds.STEP_SKIPPED})
    planned = {e.asset_key for e in events if e.event_type == kinds.ASSET_MATERIALIZATION_PLANNED}
    written = {
        e.asset_key
        for e in events
        if e.event_type in (kinds.ASSET_MATERIALIZATION, kinds.ASSET_OBSERVATION)
    }
    missing = sorted(key.to_user_string() for key in planned - written)
    parts = [f"skipped steps: {', '.join(skipped)}"] if skipped else []
    if missing:
        parts.append(f"assets not written: {', '.join(missing)}")
    return "; ".join(parts)


def print_summary(settings: Settings) -> None:
    from orchestration.warehouse import open_warehouse

    where = settings.spark_dir if settings.target == "spark" else settings.warehouse_path
    with open_warehouse(settings, read_only=True) as opened:
        print(f"\nwarehouse: {where} ({settings.target})")
        for schema, table in SUMMARY_TABLES:
            rows = opened.scalar(f"select count(*) from {schema}.{table}")
            print(f"  {schema}.{table:<28} {rows:>12,} rows")
    print(f"raw data:  {settings.raw_dir}")
    print_published(settings)
    print("explore:   make ui  (Dagster UI on http://127.0.0.1:3000)")


def print_published(settings: Settings) -> None:
    """Where BI connects and where the report is: the two things a run is for."""
    from orchestration.publish import DATABASE_NAME, PARQUET_DIR, read_publish_info
    from orchestration.report import report_path

    database = settings.published_dir / DATABASE_NAME
    if not database.exists():
        print(f"published: nothing yet in {settings.published_dir}")
        return
    info = read_publish_info(database)
    stamp = info[0] if info else {}
    # The tables' as_of_date: an empty table (no audiences) and the history tables have none.
    as_of = max((row["as_of_date"] for row in info if row.get("as_of_date")), default=None)
    print(
        f"published: {database}  (version {stamp.get('version')},"
        f" as of {as_of}, {len(info)} tables; read-only for BI)"
    )
    print(f"parquet:   {settings.published_dir / PARQUET_DIR / 'current'}")
    report = report_path(settings.published_dir)
    print(f"report:    {report if report.exists() else 'not drawn (see the profile_report step)'}")
