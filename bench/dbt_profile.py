"""Where one Dagster run's time went: `python bench/dbt_profile.py DAGSTER_HOME [RUN_ID] [TOP]`.

Two views, both read after the fact, so a benchmark's full or incremental build can be
profiled without running it again:
- every step's seconds, from the run's STEP_START / STEP_SUCCESS events in the instance;
- the slowest dbt nodes (models and tests), from run_results.json of every dbt step of the
  run in target/<step>-<run id prefix>-*/ (where dagster-dbt writes them), with the totals of
  models and of tests.
The run is the instance's latest unless RUN_ID is given. bench/bench.py stores both views in
bench/results/<scale>.json beside each stage.
"""

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def latest_run_id(dagster_home: Path) -> str:
    import dagster as dg

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        (run,) = instance.get_runs(limit=1)
        return run.run_id


def step_seconds(dagster_home: Path, run_id: str) -> dict[str, float]:
    """Seconds of each step of the run, in the order they finished."""
    import dagster as dg

    started: dict[str, float] = {}
    seconds: dict[str, float] = {}
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        for record in instance.all_logs(run_id):
            event = record.dagster_event
            if event is None or event.step_key is None:
                continue
            if event.event_type_value == "STEP_START":
                started[event.step_key] = record.timestamp
            elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
                seconds[event.step_key] = round(record.timestamp - started[event.step_key], 1)
    return seconds


def slowest_dbt_nodes(run_id: str, top: int = 15) -> list[tuple[float, str, str]]:
    """(seconds, dbt step, unique_id) of the run's slowest dbt nodes, slowest first."""
    rows = []
    for results in ROOT.glob(f"target/*-{run_id[:7]}-*/run_results.json"):
        step = results.parent.name.split("-")[0]
        for node in json.loads(results.read_text())["results"]:
            rows.append((round(node["execution_time"], 1), step, node["unique_id"]))
    return sorted(rows, reverse=True)[:top]


def main(dagster_home: str, run_id: str | None = None, top: int = 25) -> None:
    home = Path(dagster_home).resolve()
    os.environ.setdefault("DAGSTER_HOME", str(home))
    run_id = run_id or latest_run_id(home)
    print(f"run {run_id}: steps")
    for step, seconds in step_seconds(home, run_id).items():
        print(f"{seconds:8.1f} s  {step}")
    print("slowest dbt nodes")
    for seconds, step, unique_id in slowest_dbt_nodes(run_id, top):
        print(f"{seconds:8.1f} s  {step:<14} {unique_id}")


if __name__ == "__main__":
    main(*sys.argv[1:3], *(int(a) for a in sys.argv[3:]))
