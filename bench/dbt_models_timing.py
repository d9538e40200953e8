"""Time every dbt model on a raw folder: `python bench/dbt_models_timing.py RAW_DIR WAREHOUSE`.

Registers the raw views, runs `dbt build` without tests (seeds and models) under /usr/bin/time, then
prints each model's seconds from dbt's run_results.json, totals per model folder, and the
dbt process's peak RSS. Used for the closing notes' build-time figures; not part of the suite.
"""

import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestration.settings import Settings  # noqa: E402
from orchestration.warehouse import register_raw_sources  # noqa: E402


def main(raw_dir: Path, warehouse: Path) -> None:
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse))
    register_raw_sources(con, raw_dir)
    con.close()
    target = warehouse.parent / "target"
    env = {
        **os.environ,
        "CP_WAREHOUSE": str(warehouse),
        "CP_RAW_DIR": str(raw_dir),
        "CP_PII_SALT": Settings.from_env().pii_salt,
        "DBT_TARGET_PATH": str(target),
        "DBT_LOG_PATH": str(warehouse.parent / "logs"),
    }
    dbt = str(Path(sys.executable).with_name("dbt"))
    result = subprocess.run(
        [
            "/usr/bin/time",
            "-v",
            dbt,
            "build",
            "--exclude",
            "resource_type:test",
            "resource_type:unit_test",
            "--project-dir",
            str(ROOT),
            "--profiles-dir",
            str(ROOT),
        ],  # fmt: skip
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        sys.exit(f"dbt run failed:\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}")
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr)[1])
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", result.stderr)[1]
    runs = json.loads((target / "run_results.json").read_text())["results"]
    manifest = json.loads((target / "manifest.json").read_text())["nodes"]
    by_folder: dict[str, float] = defaultdict(float)
    for run in sorted(runs, key=lambda r: -r["execution_time"]):
        node = manifest.get(run["unique_id"])
        if node is None or node["resource_type"] != "model":
            continue
        folder = "/".join(node["fqn"][1:-1])
        by_folder[folder] += run["execution_time"]
        print(f"{run['execution_time']:8.1f} s  {folder}/{node['name']}")
    print("\nper folder:")
    for folder, seconds in sorted(by_folder.items(), key=lambda kv: -kv[1]):
        print(f"{seconds:8.1f} s  {folder}")
    print(f"\ndbt build wall clock {wall}, peak RSS {peak_kb / 1024**2:.2f} GB")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
