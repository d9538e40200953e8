"""The Python assets on Spark against the same assets on DuckDB, on a real (small) build.

Until the dbt models run on Spark, their tables come from a DuckDB build: this script copies
the dbt tables the Python assets read from a DuckDB warehouse into a fresh local Spark
warehouse, materialises the Python assets (value, churn, segments, audiences) with
CP_DBT_TARGET=spark, publishes their tables from Spark, and compares every table they wrote
with the DuckDB build's. Not collected by pytest (minutes, and a JVM).

    python bench/spark_python_assets.py --warehouse <a built warehouse.duckdb> --work <dir>
    python bench/spark_python_assets.py --customers 1500 --work <dir>   # builds one first
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's orchestration

PYTHON_TABLES = {  # what the Python assets write, and a key that orders their rows
    "ml.customer_value": ["customer_id"],
    "ml.churn_scores": ["customer_id"],
    "ml.customer_segments": ["customer_id"],
    "ml.segment_profiles": ["segment_id"],
    "ml.audience_members": ["audience_name", "customer_id"],
    "ml.audience_overlaps": ["audience_a", "audience_b"],
    "ml.audiences": ["audience_name"],
}
DBT_INPUTS = (  # the dbt models the Python assets read
    "customer_features",
    "customer_feature_history",
    "int_churn_labels",
    "int_customer_purchase_summary",
    "customer_profile",
    "tag_catalog",
)


def build_duckdb(customers: int, work: Path) -> Path:
    """A DuckDB build of everything on generated data: the reference."""
    raw = work / "raw"
    cli = str(Path(sys.executable).with_name("customer-profiles"))
    if not raw.exists():
        subprocess.run(
            [cli, "generate", "--customers", str(customers), "--seed", "7", "--out", str(raw)],
            check=True,
        )
    env = {
        **os.environ,
        "CP_DBT_TARGET": "duckdb",
        "CP_RAW_DIR": str(raw),
        "CP_WAREHOUSE": str(work / "duckdb" / "warehouse.duckdb"),
        "DAGSTER_HOME": str(work / "duckdb" / "dagster"),
    }
    subprocess.run([cli, "run"], env=env, check=True, capture_output=True)
    return work / "duckdb" / "warehouse.duckdb"


def compare(left: pd.DataFrame, right: pd.DataFrame, key: list[str]) -> str:
    """'same', or what differs: rows, columns, types, values (numbers to 1e-9 relative)."""
    if len(left) != len(right):
        return f"rows {len(left)} vs {len(right)}"
    if list(left.columns) != list(right.columns):
        return f"columns {list(left.columns)} vs {list(right.columns)}"
    left = left.sort_values(key, ignore_index=True)
    right = right.sort_values(key, ignore_index=True)
    differences = []
    for column in left.columns:
        a, b = left[column], right[column]
        if str(a.dtype) != str(b.dtype):
            differences.append(f"{column}: {a.dtype} vs {b.dtype}")
        elif pd.api.types.is_float_dtype(a):
            if not np.allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True):
                differences.append(f"{column}: max abs diff {np.nanmax(np.abs(a - b)):.3g}")
        elif not a.equals(b):
            differences.append(f"{column}: {int((a != b).sum())} values differ")
    return "same" if not differences else "; ".join(differences)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, help="a DuckDB warehouse built by `run`")
    parser.add_argument("--customers", type=int, default=1500)
    parser.add_argument("--work", type=Path, required=True)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    reference = args.warehouse or build_duckdb(args.customers, args.work)
    print(f"reference DuckDB build: {reference} ({time.perf_counter() - started:.0f} s)")

    os.environ["CP_DBT_TARGET"] = "spark"
    os.environ["CP_SPARK_DIR"] = str(args.work / "spark")
    os.environ["CP_WAREHOUSE"] = str(args.work / "unused.duckdb")  # must stay untouched
    import dagster as dg

    from orchestration.assets.audiences import audiences
    from orchestration.assets.churn import churn_scores
    from orchestration.assets.dbt import dbt_model_relation
    from orchestration.assets.segments import customer_segments
    from orchestration.assets.value import customer_value
    from orchestration.publish import PublicTable, publish
    from orchestration.resources import WarehouseResource
    from orchestration.settings import Settings
    from orchestration.warehouse import DuckDBWarehouse, open_warehouse

    settings = Settings.from_env()
    source = duckdb.connect(str(reference), read_only=True)
    duck = DuckDBWarehouse(source)
    t = time.perf_counter()
    with open_warehouse(settings) as spark:
        print(f"spark session: {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        for model in DBT_INPUTS:
            relation = dbt_model_relation(model)
            batches = duck.stream_arrow(f"select * from {relation}", 200_000)
            rows = spark.replace_table(
                *relation.split("."), (pa.Table.from_batches([b]) for b in batches)
            )
            print(f"  copied {relation}: {rows:,} rows")
        print(f"copy of the dbt inputs into Spark: {time.perf_counter() - t:.1f} s")

        t = time.perf_counter()
        result = dg.materialize(
            [customer_value, churn_scores, customer_segments, audiences],
            resources={"warehouse": WarehouseResource()},
        )
        assert result.success
        print(
            f"Python assets on Spark (value, churn, segments, audiences): {time.perf_counter() - t:.1f} s"
        )
        for event in result.get_step_success_events():
            print(f"  step {event.step_key}: {event.event_specific_data.duration_ms / 1000:.1f} s")

        worst = 0
        for relation, key in PYTHON_TABLES.items():
            verdict = compare(
                duck.query_frame(f"select * from {relation}"),
                spark.query_frame(f"select * from {relation}"),
                key,
            )
            worst += verdict != "same"
            print(f"  {relation:<24} DuckDB vs Spark: {verdict}")

        t = time.perf_counter()
        tables = [PublicTable(r.split(".")[1], r, r) for r in PYTHON_TABLES]
        published = publish(
            reference,
            args.work / "published",
            tables,
            run_id="spark-bench",
            source=spark,
            export_dir=args.work / "exports",
        )
        print(
            f"publish of {len(tables)} tables from Spark: {time.perf_counter() - t:.1f} s,"
            f" rows {dict(published.row_counts)}"
        )
    source.close()
    print(f"total {time.perf_counter() - started:.0f} s; tables that differ: {worst}")
    return 1 if worst else 0


if __name__ == "__main__":
    sys.exit(main())
