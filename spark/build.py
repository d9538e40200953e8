"""One dbt command on Spark in this process: raw views registered, then dbt, one JVM.

dbt-spark's `method: session` runs Spark inside the dbt process, and the Derby metastore
admits one process at a time, so registering the raw views and running dbt must share a
process (and a session): `python spark/build.py --raw R --spark-dir S -- build --select ...`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True, help="raw directory")
    parser.add_argument("--spark-dir", type=Path, required=True, help="CP_SPARK_DIR")
    parser.add_argument("--skip-raw", action="store_true", help="raw views already registered")
    parser.add_argument(
        "--incremental-rerun",
        action="store_true",
        help="then build the incremental models again, on their incremental path",
    )
    parser.add_argument("--export", type=Path, help="write the --table relations here as Parquet")
    parser.add_argument("--table", action="append", default=[], help="schema.table to export")
    parser.add_argument("dbt_args", nargs="*", help="the dbt command, after --")
    args = parser.parse_args(argv)
    os.environ["CP_DBT_TARGET"] = "spark"
    os.environ["CP_SPARK_DIR"] = str(args.spark_dir.resolve())
    os.environ["CP_RAW_DIR"] = str(args.raw.resolve())
    os.environ.setdefault("DBT_TARGET_PATH", str(args.spark_dir.resolve() / "target"))
    os.environ.setdefault("DBT_LOG_PATH", str(args.spark_dir.resolve() / "logs"))

    from dbt.cli.main import dbtRunner

    from orchestration.settings import Settings
    from orchestration.spark import spark_session
    from orchestration.spark_raw import register_raw_sources_spark

    started = time.perf_counter()
    spark = spark_session(Settings.from_env())
    spark.sparkContext.setLogLevel("ERROR")
    print(f"spark session up in {time.perf_counter() - started:.1f}s", flush=True)
    if not args.skip_raw:
        for source in register_raw_sources_spark(spark, args.raw.resolve()):
            print(f"raw.{source.name}: {source.rows:,} rows", flush=True)
    dbt_args = args.dbt_args or ["build"]
    runs = [("build", dbt_args)]
    if args.incremental_rerun:
        # Every incremental model again on the built warehouse: its incremental path, then
        # its tests (uniqueness included) on the result.
        runs.append(("incremental run", ["build", "--select", "config.materialized:incremental"]))
    for name, run_args in runs:
        started = time.perf_counter()
        result = dbtRunner().invoke(
            [*run_args, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR)]
        )
        print(f"dbt {' '.join(run_args)} ({name}) on spark: {time.perf_counter() - started:.1f}s")
        if not result.success:
            return 1
    if args.export:
        export_tables(spark, args.table, args.export)
    print(f"spark JVM cpu time: {_jvm_cpu_seconds(spark):.0f}s", flush=True)
    return 0


def _jvm_cpu_seconds(spark) -> float:
    """CPU seconds the Spark JVM used (user + system), a measure of the work that does not
    depend on how busy the machine was; 0 where /proc is not available."""
    try:
        pid = spark.sparkContext._gateway.proc.pid
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (AttributeError, OSError, IndexError, ValueError):
        return 0.0


def export_tables(spark, tables: list[str], out: Path) -> None:
    """Each table to `<out>/<schema.table>.parquet` through Arrow, for a process without Spark
    (and without the Derby lock) to read."""
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    for table in tables:
        pq.write_table(spark.table(table).toArrow(), out / f"{table}.parquet")
        print(f"exported {table}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
