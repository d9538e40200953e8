"""`make test-spark`: build the dbt project on DuckDB and on Spark, compare every public table.

Generates the small sample (1,500 customers, the pytest fixture's seed), builds dbt on DuckDB
(tests/dbtrunner.py's way) and on a local Spark (spark/build.py: raw views, `dbt build`, then
an incremental `dbt build` on top, which must leave every table as it was), and compares the
public models (`access: public`, read from the manifest as orchestration/publish.py does) row
by row: the same columns, the same rows, numbers within a small tolerance, dates and
timestamps equal. Exits non-zero on the first build failure or on any difference.

    python spark/compare.py [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from orchestration.publish import is_public  # noqa: E402
from orchestration.sampledata.generate import generate  # noqa: E402
from orchestration.sampledata.simulate import GeneratorConfig  # noqa: E402
from orchestration.warehouse import register_raw_sources  # noqa: E402

# tests/conftest.py's SMALL dataset: the size `make test` builds, so both suites see one sample.
SAMPLE = GeneratorConfig(customers=1_500, seed=7, bad_row_rate=0.01)
# Numbers may differ in the last bits (sums in another order, another libm): a relative 1e-9
# is far above float noise on these sizes. Decimal(28,6) columns may differ by one unit in the
# last place (Spark divides decimals exactly, DuckDB through doubles, then both round): 1e-6.
RELATIVE_TOLERANCE = 1e-9
ABSOLUTE_TOLERANCE = 1e-6
DBT = str(Path(sys.executable).with_name("dbt"))


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def public_models(manifest_path: Path) -> list[tuple[str, str]]:
    """(name, schema.relation) of every public dbt model, sorted by name."""
    manifest = json.loads(manifest_path.read_text())
    return sorted(
        (node.get("alias") or node["name"], f"{node['schema']}.{node.get('alias') or node['name']}")
        for node in manifest["nodes"].values()
        if is_public(node)
    )


def build_duckdb(raw_dir: Path, workdir: Path) -> tuple[Path, float]:
    """dbt build into a fresh DuckDB file; returns it and the seconds the build took."""
    warehouse = workdir / "warehouse.duckdb"
    started = time.perf_counter()
    con = duckdb.connect(str(warehouse))
    try:
        register_raw_sources(con, raw_dir)
    finally:
        con.close()
    env = {
        **os.environ,
        "CP_DBT_TARGET": "duckdb",
        "CP_WAREHOUSE": str(warehouse),
        "CP_RAW_DIR": str(raw_dir),
        "DBT_TARGET_PATH": str(workdir / "target"),
        "DBT_LOG_PATH": str(workdir / "logs"),
    }
    command = [DBT, "build", "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR)]
    _run(command, env, workdir / "dbt.log")
    return warehouse, time.perf_counter() - started


def build_spark(raw_dir: Path, workdir: Path, tables: list[str]) -> float:
    """Raw views, dbt build, an incremental dbt build, then the public tables to Parquet
    (one process: Derby admits one); returns the seconds it all took."""
    started = time.perf_counter()
    command = [
        sys.executable,
        str(PROJECT_DIR / "spark" / "build.py"),
        "--raw",
        str(raw_dir),
        "--spark-dir",
        str(workdir),
        "--incremental-rerun",
        "--export",
        str(workdir / "export"),
        *[arg for table in tables for arg in ("--table", table)],
        "--",
        "build",
    ]
    _run(command, dict(os.environ), workdir / "build.log")
    return time.perf_counter() - started


def _run(command: list[str], env: dict[str, str], log_path: Path) -> None:
    """Run a build, echoing dbt's progress lines; on failure, show the end of its log."""
    with log_path.open("w") as out:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=PROJECT_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        for line in process.stdout:
            out.write(line)
            if _progress(line):
                print("    " + line.rstrip()[-160:], flush=True)
        process.wait()
    if process.returncode != 0:
        tail = log_path.read_text().splitlines()[-60:]
        raise SystemExit(
            f"build failed ({' '.join(command[:3])}...); log {log_path}:\n" + "\n".join(tail)
        )


def _progress(line: str) -> bool:
    markers = (
        "ERROR",
        "FAIL ",
        "WARN ",
        "Finished running",
        "Done.",
        "on spark:",
        "raw.",
        "cpu time",
    )
    return any(marker in line for marker in markers) or " OK created " in line


@dataclass(frozen=True)
class Difference:
    table: str
    problem: str


def normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """One representation per value whichever engine wrote it: timestamps naive UTC, dates
    as dates, decimals and integers as floats (compared with a tolerance), text as text."""
    out = pd.DataFrame(index=range(len(frame)))
    for name in frame.columns:
        column = frame[name].reset_index(drop=True)
        if column.dtype == object and _all_instances(column, datetime.date):
            column = pd.to_datetime(column)  # Arrow's dates; DuckDB's .df() gives datetime64
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            column = column.dt.tz_convert("UTC").dt.tz_localize(None)
        if pd.api.types.is_datetime64_any_dtype(column):
            column = column.astype("datetime64[us]")
        elif pd.api.types.is_bool_dtype(column) or column.dtype == object and _all_bool(column):
            column = column.astype("boolean")
        elif pd.api.types.is_numeric_dtype(column) or _all_decimal(column):
            column = (
                column.astype(object)
                .map(lambda v: np.nan if pd.isna(v) else float(v))
                .astype(float)
            )
        out[name] = column
    return out


def _all_instances(column: pd.Series, kind: type) -> bool:
    values = column.dropna()
    return len(values) > 0 and all(isinstance(v, kind) for v in values)


def _all_bool(column: pd.Series) -> bool:
    values = column.dropna()
    return len(values) > 0 and all(isinstance(v, (bool, np.bool_)) for v in values)


def _all_decimal(column: pd.Series) -> bool:
    from decimal import Decimal

    values = column.dropna()
    return (
        column.dtype == object and len(values) > 0 and all(isinstance(v, Decimal) for v in values)
    )


def compare_table(table: str, expected: pd.DataFrame, actual: pd.DataFrame) -> list[Difference]:
    """Differences between the DuckDB rows (expected) and the Spark rows (actual)."""
    if list(expected.columns) != list(actual.columns):
        return [
            Difference(table, f"columns differ: {list(expected.columns)} vs {list(actual.columns)}")
        ]
    if len(expected) != len(actual):
        return [Difference(table, f"{len(expected)} rows on DuckDB, {len(actual)} on Spark")]
    expected, actual = normalised(expected), normalised(actual)
    numeric = [c for c in expected.columns if pd.api.types.is_float_dtype(expected[c])]
    exact = [c for c in expected.columns if c not in numeric]

    # Sort on the exact columns, then the numbers rounded well above the tolerance, so two
    # engines' last-bit differences cannot reorder rows.
    def ordered(frame: pd.DataFrame) -> pd.DataFrame:
        keys = frame[exact].astype(str).copy()
        for c in numeric:
            keys[c] = frame[c].round(6).astype(str)
        order = keys.sort_values(list(keys.columns), kind="stable").index
        return frame.loc[order].reset_index(drop=True)

    expected, actual = ordered(expected), ordered(actual)
    differences = []
    for c in exact:
        left, right = expected[c].astype(object), actual[c].astype(object)
        same = (left == right) | (left.isna() & right.isna())
        if not same.all():
            row = int(np.flatnonzero(~same.to_numpy())[0])
            differences.append(
                Difference(
                    table,
                    f"{c}: {int((~same).sum())} rows differ, e.g. {left[row]!r} vs {right[row]!r}",
                )
            )
    for c in numeric:
        left, right = expected[c].to_numpy(float), actual[c].to_numpy(float)
        same = np.isclose(
            left, right, rtol=RELATIVE_TOLERANCE, atol=ABSOLUTE_TOLERANCE, equal_nan=True
        )
        if not same.all():
            row = int(np.flatnonzero(~same)[0])
            differences.append(
                Difference(
                    table,
                    f"{c}: {int((~same).sum())} rows differ, e.g. {left[row]!r} vs {right[row]!r}",
                )
            )
    return differences


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="keep everything here (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="do not delete the temp dir")
    parser.add_argument(
        "--compare-only",
        action="store_true",
        help="compare the builds already in --workdir (duckdb/, spark/export/) without building",
    )
    args = parser.parse_args(argv)
    root = args.workdir or Path(tempfile.mkdtemp(prefix="cp-test-spark-"))
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        raw_dir = root / "raw"
        if not raw_dir.exists():
            log(f"generating {SAMPLE.customers:,} customers (seed {SAMPLE.seed}) into {raw_dir}")
            generate(SAMPLE, raw_dir, progress=False, workers=1)

        spark_dir = root / "spark"
        warehouse, duckdb_seconds, spark_seconds = root / "duckdb" / "warehouse.duckdb", 0.0, 0.0
        if not args.compare_only:
            log("building on DuckDB")
            (root / "duckdb").mkdir(exist_ok=True)
            warehouse, duckdb_seconds = build_duckdb(raw_dir, root / "duckdb")
            log(f"DuckDB build: {duckdb_seconds:.0f}s")
        tables = public_models(root / "duckdb" / "target" / "manifest.json")
        log(f"public models: {', '.join(name for name, _ in tables)}")
        if not args.compare_only:
            log("building on Spark (build, then the incremental models again)")
            if spark_dir.exists():
                shutil.rmtree(spark_dir)
            spark_dir.mkdir()
            spark_seconds = build_spark(raw_dir, spark_dir, [relation for _, relation in tables])
            log(f"Spark build + incremental run + export: {spark_seconds:.0f}s")

        differences: list[Difference] = []
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            for name, relation in tables:
                expected = con.execute(f"select * from {relation}").df()
                actual = pd.read_parquet(spark_dir / "export" / f"{relation}.parquet")
                found = compare_table(name, expected, actual)
                differences += found
                log(f"{name}: {len(expected):,} rows, {'same' if not found else 'DIFFERENT'}")
                for difference in found:
                    print(f"    {difference.problem}", flush=True)
        finally:
            con.close()
        log(
            f"DuckDB build {duckdb_seconds:.0f}s, Spark {spark_seconds:.0f}s,"
            f" total {time.perf_counter() - started:.0f}s"
        )
        if differences:
            log(
                f"FAILED: {len(differences)} difference(s) in {len({d.table for d in differences})} table(s)"
            )
            return 1
        log(f"OK: {len(tables)} public tables equal on DuckDB and Spark")
        return 0
    finally:
        if not (args.workdir or args.keep):
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
