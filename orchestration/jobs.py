"""Jobs: named selections of the asset graph that schedules, sensors and operators launch,
and the executor that makes every run of them the warehouse's only writer."""

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg

from orchestration.assets.raw import raw_files
from orchestration.settings import Settings
from orchestration.writer_lock import LockHolder, WriterLockConfig, hold_warehouse

# Runs that write the warehouse carry this tag; the instance (see instance.py) lets one such
# run be in progress at a time, so a sensor run and a scheduled run queue, never overlap.
WAREHOUSE_WRITER_TAG = "customer_profiles/warehouse"
WAREHOUSE_WRITER_VALUE = "writer"


def run_warehouse_path(run_config: Mapping[str, Any]) -> Path:
    """The warehouse a run writes: the warehouse resource's override, else CP_WAREHOUSE."""
    resource = (run_config.get("resources") or {}).get("warehouse") or {}
    override = (resource.get("config") or {}).get("warehouse_path")
    return Path(override) if override else Settings.from_env().warehouse_path


def _process_started_at(pid: int) -> tuple[str, float] | None:
    """(state, start time as a Unix timestamp) of a process, from /proc (Linux); None elsewhere
    or when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, IndexError, StopIteration, ValueError):
        return None
    return fields[0], boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def _is_alive(pid: int, since: float) -> bool:
    """Whether the process that started a run at `since` still runs: not a zombie, and not a
    newer process that was given the same pid."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        pass
    found = _process_started_at(pid)
    if found is None:
        return True  # no /proc: trust kill(0)
    state, started_at = found
    return state != "Z" and started_at <= since + 1.0  # /proc start times have 10 ms ticks


def fail_abandoned_writer_runs_on_tick(
    context: dg.ScheduleEvaluationContext | dg.SensorEvaluationContext,
) -> None:
    """What the schedule and the sensor do first on each tick: `fail_abandoned_writer_runs`,
    logged, so the run they request cannot queue forever behind a killed one."""
    try:
        instance = context.instance
    except dg.DagsterInvariantViolationError:  # a context built without an instance (tests)
        return
    for run_id in fail_abandoned_writer_runs(instance):
        context.log.warning(f"run {run_id} was abandoned by a killed process: marked failed")


def fail_abandoned_writer_runs(instance: dg.DagsterInstance, keep: str | None = None) -> list[str]:
    """Mark failed the writer runs the instance still shows in progress although the process
    that orchestrated them is gone (killed, machine rebooted), and free their pool slots.

    Left alone, such a run counts against the run queue's one-writer limit and its step keeps
    the `warehouse` pool slot forever: no later run could write. Dagster's run monitoring
    cannot see it (the default run launcher has no worker health check, and the CLI's run is
    not launched at all), so every writer checks before it starts. A run whose orchestrator
    is alive (say, waiting for the writer lock) is kept. Returns the failed runs' ids.
    """
    runs = instance.get_runs(
        filters=dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING],
            tags={WAREHOUSE_WRITER_TAG: WAREHOUSE_WRITER_VALUE},
        )
    )
    failed = []
    for run in runs:
        if run.run_id == keep:
            continue
        starts = [
            (e.dagster_event.pid, e.timestamp)
            for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_START)
            if e.dagster_event and e.dagster_event.pid
        ]
        if not starts or _is_alive(*starts[-1]):
            continue
        instance.report_run_failed(
            run,
            message=f"run {run.run_id} was abandoned: its process (pid {starts[-1][0]}) ended"
            " without finishing it (killed?); marked failed so the next writer can start",
        )
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        failed.append(run.run_id)
    return failed


class WarehouseWriterExecutor(dg.Executor):
    """Dagster's in-process executor, holding the warehouse's writer lock for the whole run.

    The executor's `execute` is the one call that spans a run, in the process that
    orchestrates it (the daemon's run worker, or `customer-profiles run` itself): a lock
    taken per step would let another run's step in between two of this run's.
    """

    def __init__(self, inner: dg.Executor):
        self._inner = inner

    @property
    def retries(self):
        return self._inner.retries

    @property
    def step_dependency_config(self):
        return self._inner.step_dependency_config

    def execute(self, plan_context, execution_plan) -> Iterator[dg.DagsterEvent]:
        warehouse = run_warehouse_path(plan_context.run_config)
        holder = LockHolder.this_process(
            f"Dagster run of {plan_context.job_name}", run_id=plan_context.run_id
        )
        with hold_warehouse(
            warehouse, holder, WriterLockConfig.from_env(), say=plan_context.log.warning
        ):
            plan_context.log.info(f"run {plan_context.run_id} is the writer of {warehouse}")
            for run_id in fail_abandoned_writer_runs(plan_context.instance, plan_context.run_id):
                plan_context.log.warning(
                    f"run {run_id} was abandoned by a killed process: marked failed, pool"
                    " slots freed"
                )
            yield from self._inner.execute(plan_context, execution_plan)


@dg.executor(
    name="warehouse_writer",
    config_schema=dg.multiprocess_executor.config_schema,
    requirements=dg.multiprocess_executor.get_requirements,
)
def warehouse_writer_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
    """Every step in the run's own process, one after another; the run as the warehouse's
    one writer.

    Steps never run side by side anyway: the warehouse admits one writer (and on Spark,
    Derby one JVM). A process per step bought no parallelism and cost each step a Python
    start and an import of the definitions (5-10 s apiece, most of a small build's time),
    and on Spark a JVM of its own (20-40 s). dbt still runs as its own subprocess; every
    step closes its DuckDB connection, and on Spark a dbt step stops this process's JVM
    before starting its own (orchestration/spark.py), so no step holds the warehouse while
    the next one writes. Same retries and step dependencies as configured.
    """
    config = {
        key: init_context.executor_config[key]
        for key in ("retries", "step_dependency_config")
        if key in init_context.executor_config
    }
    in_process = dg.in_process_executor.executor_creation_fn(
        init_context._replace(executor_config=config)
    )
    return WarehouseWriterExecutor(in_process)


# Everything, in dependency order: observe the raw folders, register the raw views, build
# dbt, then the Python models and dbt models downstream of them. Each asset runs once.
# `AssetSelection.all()` leaves external assets out; the raw folders are added by name.
full_build = dg.define_asset_job(
    "full_build",
    selection=dg.AssetSelection.all() | dg.AssetSelection.assets(raw_files),
    description="Observe the raw files and rebuild every asset from them, in dependency order.",
    tags={WAREHOUSE_WRITER_TAG: WAREHOUSE_WRITER_VALUE},
    executor_def=warehouse_writer_executor,
)
