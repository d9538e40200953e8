"""The performance benchmark: `python bench/bench.py --scale s|m|l` (or `make bench SCALE=l`).

In one run, each step a separate process timed from outside (`/usr/bin/time -v`: wall clock and
the peak RSS of the largest process in the step's tree):

1. floor: one DuckDB pass that reads every raw event and order once and aggregates per customer
   identifier, the least work any profile build must do;
2. full: `customer-profiles run` (every asset: dbt, the Python models, publish) on a new warehouse;
3. incremental: the same command on the same warehouse after one more day of data, which the
   incremental dbt models pick up without rebuilding history. The full build reads the
   export made at the end of the day before the data's last day (bench/cut_off.py), the
   refresh the whole data: a real night, with that day's new members and the devices it
   stitches to known ones.

Data is generated once per scale under bench/data/<scale>/raw (seed 42) and reused; at scale l an
existing dataset can be linked in with --raw. Writes bench/results/<scale>.json and prints a
table. The machine's load average is recorded beside every step (the machine is shared), and
each build's profile beside it: seconds per Dagster step and the slowest dbt nodes
(bench/dbt_profile.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cut_off import built_as_of_date, generated_last_day, write_cut_off  # noqa: E402
from dbt_profile import latest_run_id, slowest_dbt_nodes, step_seconds  # noqa: E402

SCALES = {"s": 10_000, "m": 100_000, "l": 1_000_000}
PYTHON = sys.executable
SEED = 42

FLOOR_SQL = """
set threads = {threads};
set memory_limit = '{memory_limit}';
create table floor_per_customer as
with orders as (
    select
        coalesce(customer_ref, id_value) as customer_key,
        count(*) as orders,
        sum(total_amount) as spend,
        min(try_cast(ordered_at as timestamp)) as first_order_at,
        max(try_cast(ordered_at as timestamp)) as last_order_at
    from read_parquet('{raw}/orders/*.parquet', union_by_name = true)
    group by 1
),
events as (
    select
        id_value as customer_key,
        count(*) as events,
        count(distinct session_id) as sessions,
        count(distinct cast(try_cast(event_at as timestamp) as date)) as active_days,
        sum(dwell_seconds) as dwell_seconds,
        max(try_cast(event_at as timestamp)) as last_event_at
    from read_parquet('{raw}/events/*.parquet', union_by_name = true)
    group by 1
)
select * from orders full outer join events using (customer_key);
select count(*) from floor_per_customer;
"""


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def timed(name: str, command: list[str], env: dict[str, str], log: Path) -> dict[str, object]:
    """Run one step under /usr/bin/time -v; its output goes to LOG."""
    load_before = load()
    started = time.perf_counter()
    with log.open("w") as out:
        result = subprocess.run(
            ["/usr/bin/time", "-v", *command], env=env, cwd=ROOT, stdout=out, stderr=out
        )
    seconds = time.perf_counter() - started
    text = log.read_text()
    if result.returncode != 0:
        sys.exit(f"step {name} failed (exit {result.returncode}); see {log}\n{text[-3000:]}")
    peak_kb = int(re.findall(r"Maximum resident set size \(kbytes\): (\d+)", text)[-1])
    return {
        "seconds": round(seconds, 1),
        "peak_rss_gb": round(peak_kb / 1024**2, 2),
        "load_before": load_before,
        "load_after": load(),
        "log": str(log.relative_to(ROOT)),
    }


def run_profile(dagster_home: Path) -> dict[str, object]:
    """The profile of the run a stage just made: seconds per step and the slowest dbt nodes."""
    run_id = latest_run_id(dagster_home)
    return {
        "run_id": run_id,
        "steps": step_seconds(dagster_home, run_id),
        "slowest_dbt_nodes": slowest_dbt_nodes(run_id),
    }


def ensure_raw(scale: str, data: Path, raw_from: Path | None) -> Path:
    raw = data / "raw"
    if raw_from is not None and not raw.exists():
        data.mkdir(parents=True, exist_ok=True)
        raw.symlink_to(raw_from.resolve())
    if not (raw / "orders").exists():
        customers = SCALES[scale]
        print(f"generating {customers:,} customers into {raw}")
        subprocess.run(
            [PYTHON, "-m", "orchestration.cli", "generate", "--customers", str(customers),
             "--seed", str(SEED), "--out", str(raw), "--quiet"],
            cwd=ROOT, check=True,
        )  # fmt: skip
    return raw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=SCALES, default="s")
    parser.add_argument("--raw", type=Path, help="an existing raw folder to link in (read only)")
    args = parser.parse_args()

    data = ROOT / "bench" / "data" / args.scale
    raw = ensure_raw(args.scale, data, args.raw)
    raw_prev = data / "raw_prev"
    work = data / "run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(exist_ok=True)

    env = {
        **os.environ,
        "CP_WAREHOUSE": str(work / "warehouse.duckdb"),
        "DAGSTER_HOME": str(work / "dagster"),
        "CP_EXPORT_DIR": str(work / "exports"),
        "CP_THREADS": os.environ.get("CP_THREADS", "2"),
        "CP_DBT_THREADS": os.environ.get("CP_DBT_THREADS", "1"),
        "CP_MEMORY_LIMIT": os.environ.get("CP_MEMORY_LIMIT", "7GB"),
    }
    cli = [PYTHON, "-m", "orchestration.cli", "run"]
    stages: dict[str, dict[str, object]] = {}

    floor_sql = work / "floor.sql"
    floor_sql.write_text(
        FLOOR_SQL.format(
            raw=raw.resolve(), threads=env["CP_THREADS"], memory_limit=env["CP_MEMORY_LIMIT"]
        )
    )
    floor_cmd = [PYTHON, "-c", (
        "import duckdb, sys; con = duckdb.connect(sys.argv[1]);"
        "print(con.execute(open(sys.argv[2]).read()).fetchall())"
    ), str(work / "floor.duckdb"), str(floor_sql)]  # fmt: skip
    print(f"[{time.strftime('%H:%M:%S')}] floor (load {load()})", flush=True)
    stages["floor"] = timed("floor", floor_cmd, env, work / "floor.log")
    print(f"[{time.strftime('%H:%M:%S')}] full build (load {load()})", flush=True)
    last_day = generated_last_day(raw)
    write_cut_off(raw, raw_prev, last_day - timedelta(days=1))
    stages["full"] = timed("full", cli, {**env, "CP_RAW_DIR": str(raw_prev)}, work / "full.log")
    stages["full"].update(run_profile(Path(env["DAGSTER_HOME"])))
    as_of = built_as_of_date(work / "warehouse.duckdb")
    stages["full"]["as_of_date"] = as_of.isoformat()
    print(f"[{time.strftime('%H:%M:%S')}] incremental +{last_day} (load {load()})", flush=True)
    stages["incremental"] = timed(
        "incremental", cli, {**env, "CP_RAW_DIR": str(raw)}, work / "incremental.log"
    )
    stages["incremental"].update(run_profile(Path(env["DAGSTER_HOME"])))
    refreshed_as_of = built_as_of_date(work / "warehouse.duckdb")
    stages["incremental"]["as_of_date"] = refreshed_as_of.isoformat()
    if (as_of, refreshed_as_of) != (last_day - timedelta(days=1), last_day):
        raise SystemExit(
            f"the builds ran as of {as_of} and {refreshed_as_of}, not {last_day} - 1 day and {last_day}"
        )

    result = {
        "scale": args.scale,
        "customers": SCALES[args.scale],
        "raw_dir": str(raw.resolve()),
        "appended_day": f"the data's last day, {last_day} (bench/cut_off.py)",
        "threads": env["CP_THREADS"],
        "dbt_threads": env["CP_DBT_THREADS"],
        "memory_limit": env["CP_MEMORY_LIMIT"],
        "stages": stages,
        "full_over_floor": round(stages["full"]["seconds"] / stages["floor"]["seconds"], 2),
        "incremental_over_full": round(
            stages["incremental"]["seconds"] / stages["full"]["seconds"], 3
        ),
        "peak_rss_gb": max(stage["peak_rss_gb"] for stage in stages.values()),
    }
    (results_dir / f"{args.scale}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nscale {args.scale} ({SCALES[args.scale]:,} customers)")
    print(f"{'stage':<12} {'seconds':>9} {'peak RSS GB':>12}  load before/after")
    for name, stage in stages.items():
        print(
            f"{name:<12} {stage['seconds']:>9.1f} {stage['peak_rss_gb']:>12.2f}"
            f"  {stage['load_before']} / {stage['load_after']}"
        )
    for name in ("full", "incremental"):
        print(f"\n{name}: seconds per step, then the slowest dbt nodes")
        for step, seconds in stages[name]["steps"].items():
            print(f"  {seconds:8.1f}  {step}")
        for seconds, step, unique_id in stages[name]["slowest_dbt_nodes"][:10]:
            print(f"  {seconds:8.1f}  {step:<14} {unique_id}")
    print()
    print(f"full / floor        {result['full_over_floor']:.2f}  (target <= 5)")
    print(f"incremental / full  {result['incremental_over_full']:.3f} (target <= 0.15)")
    print(f"peak RSS            {result['peak_rss_gb']:.2f} GB (target <= 8)")


if __name__ == "__main__":
    main()
