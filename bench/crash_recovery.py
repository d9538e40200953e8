"""Kill `customer-profiles run` during dbt and during a Python asset's write, then run again.

The slow variant of tests/test_reliability.py (which kills during dbt only, to stay within the
suite's budget). On a fresh folder:

1. a full run publishes version 1 (content hashes of every public table recorded);
2. a run is SIGKILLed (whole process group) while dbt builds the main models;
3. a run is SIGKILLed while the churn asset has written every batch of `ml.churn_scores` to
   its side table and not yet swapped it in;
4. a last run, with no clean-up before it, must succeed and publish the same content.

After each kill: the published file is still version 1 with the same content, the writer lock
is free, and (after 3) the warehouse still holds the old `ml.churn_scores`.

    .venv/bin/python bench/crash_recovery.py [--customers 1500] [--out bench/data/crash]
        [--raw RAW --built DIR]   # reuse raw data and a finished run (its warehouse.duckdb
                                  # and published/) as step 1 instead of building them

Writes bench/results/crash_recovery.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT_DIR), str(PROJECT_DIR / "tests")]

import dagster as dg  # noqa: E402
import duckdb  # noqa: E402
from crash_points import (  # noqa: E402
    dbt_building,
    dbt_models_built,
    kill_group,
    parked_env,
    run_env,
    start_run,
    tail,
    wait_until,
)
from published_content import content_hashes  # noqa: E402

from orchestration.publish import DATABASE_NAME, read_publish_info  # noqa: E402
from orchestration.sampledata.generate import generate  # noqa: E402
from orchestration.sampledata.simulate import GeneratorConfig  # noqa: E402
from orchestration.writer_lock import current_holder  # noqa: E402

PARKED_TABLE = "ml.churn_scores"  # the first Python asset to write in a full build


def _published(root: Path) -> tuple[str, dict]:
    database = root / "published" / DATABASE_NAME
    return read_publish_info(database)[0]["version"], content_hashes(database)


def _rows(root: Path, relation: str) -> int:
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(f"select count(*) from {relation}").fetchone()[0]
    finally:
        con.close()


def _side_tables(root: Path) -> list[str]:
    """Tables a killed `replace_table` left beside the real one (`<table>__new`)."""
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute("select schema_name, table_name from duckdb_tables()").fetchall()
    finally:
        con.close()
    return sorted(f"{s}.{t}" for s, t in rows if t.endswith("__new"))


def _full_run(env: dict[str, str], log: Path) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "run", "--wait-seconds", "0"],
        env=env,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
    )
    log.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise SystemExit(f"run failed ({result.returncode}):\n{tail(log)}")
    return time.perf_counter() - started, result.stderr


def _latest_run(root: Path) -> str:
    with dg.DagsterInstance.from_config(str(root / "dagster")) as instance:
        return instance.get_runs(limit=1)[0].run_id


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=PROJECT_DIR / "bench" / "data" / "crash")
    parser.add_argument("--raw", type=Path, help="an existing raw folder (not written)")
    parser.add_argument("--built", type=Path, help="a finished run's folder on that raw data")
    args = parser.parse_args()

    raw, root = args.raw or args.out / "raw", args.out / "run"
    if not any((raw / "orders").glob("*")):
        generate(GeneratorConfig(customers=args.customers, seed=args.seed), raw, progress=False)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    env = run_env(raw, root)
    results: dict[str, object] = {"raw": str(raw), "built": str(args.built)}

    if args.built:
        shutil.copy(args.built / "warehouse.duckdb", root / "warehouse.duckdb")
        shutil.copytree(args.built / "published", root / "published", symlinks=True)
        seconds = 0.0
    else:
        seconds, _ = _full_run(env, root / "first.log")
    first_version, first = _published(root)
    results["first_run_seconds"] = round(seconds, 1)
    print(f"first run: {seconds:.0f}s, version {first_version}, {len(first)} tables")

    # Killed during dbt.
    log = root / "killed-in-dbt.log"
    started = time.perf_counter()
    run = start_run(env, log)
    wait_until(
        lambda: dbt_building(run.pid) and dbt_models_built(root / "warehouse.duckdb") >= 3,
        run, log, "dbt building the models", timeout=3600,
    )  # fmt: skip
    during = dbt_building(run.pid)
    kill_group(run)
    killed_in_dbt = _latest_run(root)
    version, hashes = _published(root)
    results["killed_in_dbt"] = {
        "after_seconds": round(time.perf_counter() - started, 1),
        "dbt_was_running": during,
        "published_unchanged": version == first_version and hashes == first,
        "lock_free": current_holder(root / "warehouse.duckdb") is None,
    }
    print(f"killed in dbt: {results['killed_in_dbt']}")

    # Killed during the churn asset's write.
    churn_rows = _rows(root, PARKED_TABLE)
    log, ready = root / "killed-in-python.log", root / "parked"
    started = time.perf_counter()
    run = start_run(parked_env(env, PARKED_TABLE, ready, root / "site"), log)
    wait_until(ready.exists, run, log, f"the write of {PARKED_TABLE}", timeout=3600)
    kill_group(run)
    killed_in_python = _latest_run(root)
    version, hashes = _published(root)
    results["killed_in_python_write"] = {
        "after_seconds": round(time.perf_counter() - started, 1),
        "table": PARKED_TABLE,
        "published_unchanged": version == first_version and hashes == first,
        "lock_free": current_holder(root / "warehouse.duckdb") is None,
        "old_table_rows_kept": _rows(root, PARKED_TABLE) == churn_rows,
        "side_table_left": _rows(root, f"{PARKED_TABLE}__new") > 0,
    }
    print(f"killed in a Python write: {results['killed_in_python_write']}")

    seconds, stderr = _full_run(env, root / "rerun.log")
    version, hashes = _published(root)
    differing = sorted(t for t in first if hashes.get(t) != first[t])
    results["rerun"] = {
        "seconds": round(seconds, 1),
        "new_version": version != first_version,
        "abandoned_runs_failed": [
            r for r in (killed_in_dbt, killed_in_python) if f"run {r} was abandoned" in stderr
        ],
        "tables": len(hashes),
        "tables_differing_from_first_run": differing,
        "side_tables_left": _side_tables(root),
    }
    print(f"rerun: {results['rerun']}")
    out = PROJECT_DIR / "bench" / "results" / "crash_recovery.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    ok = (
        results["killed_in_dbt"]["published_unchanged"]
        and results["killed_in_python_write"]["published_unchanged"]
        and not differing
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
