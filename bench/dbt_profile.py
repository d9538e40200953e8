"""The slowest dbt nodes (models and tests) of one Dagster run: `python bench/dbt_profile.py RUN_ID`.

Reads run_results.json of every dbt step of the run from target/<step>-<run id prefix>-*/ (where
dagster-dbt writes them), so a benchmark's full or incremental build can be profiled after the
fact. Prints the top nodes by seconds and the totals of models and of tests.
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(run_id: str, top: int = 25) -> None:
    rows = []
    for results in ROOT.glob(f"target/*-{run_id[:7]}-*/run_results.json"):
        step = results.parent.name.split("-")[0]
        for node in json.loads(results.read_text())["results"]:
            rows.append((node["execution_time"], step, node["unique_id"]))
    rows.sort(reverse=True)
    for seconds, step, unique_id in rows[:top]:
        print(f"{seconds:8.1f} s  {step:<14} {unique_id}")
    for kind in ("model", "test", "unit_test", "seed"):
        total = sum(s for s, _, u in rows if u.startswith(kind + "."))
        count = sum(1 for _, _, u in rows if u.startswith(kind + "."))
        print(f"{kind:>10}: {count:4d} nodes, {total:8.1f} s")


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:]))
