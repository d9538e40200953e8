"""`make test-spark`: the whole Dagster graph on DuckDB and on Spark, every public table compared.

Generates the small sample (1,500 customers, the pytest fixture's seed), then runs
`customer-profiles run` (the `full_build` job: raw views, dbt, the Python models, the dbt
models downstream of them, publish) twice on it, with CP_DBT_TARGET=duckdb and with
CP_DBT_TARGET=spark, each in a folder of its own. Each run publishes the same read-only
DuckDB file (orchestration/publish.py), so the two published copies are compared table by
table (`publish_info` lists them): the same tables, columns and rows, numbers within a small
tolerance (inside JSON text too), text, booleans, dates and timestamps equal. A table with no
rows on either engine fails: an empty table compares equal to anything empty, which is how
the ML tables went unchecked before (none is expected to be empty: `EXPECTED_EMPTY`).

Then the incremental models are built again on the Spark warehouse (spark/build.py: their
incremental path, then their tests, uniqueness included), and every public table must be as
the Spark run published it. Exits non-zero on a failed run or any difference.

    python spark/compare.py [--workdir DIR] [--keep] [--compare-only]
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from orchestration.publish import DATABASE_NAME, PUBLISH_INFO  # noqa: E402
from orchestration.sampledata.generate import generate  # noqa: E402
from orchestration.sampledata.simulate import GeneratorConfig  # noqa: E402

# tests/conftest.py's SMALL dataset: the size `make test` builds, so both suites see one sample.
SAMPLE = GeneratorConfig(customers=1_500, seed=7, bad_row_rate=0.01)
# Numbers may differ in the last bits (sums in another order, another libm): a relative 1e-9
# is far above float noise on these sizes. Decimal(28,6) columns may differ by one unit in the
# last place (Spark divides decimals exactly, DuckDB through doubles, then both round): 1e-6.
RELATIVE_TOLERANCE = 1e-9
ABSOLUTE_TOLERANCE = 1e-6
# Public tables allowed to be empty on the sample. None: every public table has rows on it
# (audiences.yml's audiences select members, the campaigns have touches), so an empty one
# means a step did not run or wrote nothing.
EXPECTED_EMPTY: frozenset[str] = frozenset()
# Columns that say which run wrote a row and when, not what the warehouse computed: they
# differ between any two runs, whatever the engine.
RUN_SPECIFIC_COLUMNS: Mapping[str, tuple[str, ...]] = {"model_runs": ("run_id", "created_at")}
# Keys of the fit metrics (model_runs.metrics_json) that time the fit on the wall clock.
WALL_CLOCK_METRICS = frozenset({"bg_nbd_seconds"})
# What dbt reads of the project (tests/test_orchestration_webserver.py copies the same).
DBT_PROJECT_PARTS = ("dbt_project.yml", "profiles.yml", "models", "macros", "seeds", "tests/dbt")
CLI = str(Path(sys.executable).with_name("customer-profiles"))
PIPELINE_DONE = re.compile(r"pipeline finished in \d+s \(run ([0-9a-f-]+)\)")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass(frozen=True)
class Difference:
    table: str
    problem: str


@dataclass(frozen=True)
class PipelineRun:
    target: str
    published: Path  # the published DuckDB file
    run_id: str
    seconds: float


def pipeline_env(
    target: str, raw_dir: Path, workdir: Path, dbt_project_dir: Path = PROJECT_DIR
) -> dict[str, str]:
    """`customer-profiles run`'s environment: everything it writes under `workdir`."""
    return {
        **os.environ,
        "CP_DBT_PROJECT_DIR": str(dbt_project_dir),
        "CP_DBT_TARGET": target,
        "CP_RAW_DIR": str(raw_dir),
        "CP_WAREHOUSE": str(workdir / "warehouse.duckdb"),  # also where the writer lock lives
        "CP_SPARK_DIR": str(workdir / "spark"),
        "CP_PUBLISHED_DIR": str(workdir / "published"),
        "CP_EXPORT_DIR": str(workdir / "exports"),
        "DAGSTER_HOME": str(workdir / "dagster"),
    }


def copy_dbt_project(destination: Path) -> Path:
    """The dbt project's files (as tests/test_orchestration_webserver.py copies them), for a
    run whose manifest and partial parse must not be the other run's: dbt writes both into
    the project's `target/`, and they differ by target (Spark builds some models as tables)."""
    for part in DBT_PROJECT_PARTS:
        source = PROJECT_DIR / part
        if source.is_dir():
            shutil.copytree(source, destination / part, ignore=shutil.ignore_patterns("target"))
        else:
            (destination / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, destination / part)
    return destination


def run_pipeline(
    target: str, raw_dir: Path, workdir: Path, dbt_project_dir: Path = PROJECT_DIR
) -> PipelineRun:
    """The whole `full_build` job on `target`; fails unless it published a copy of its own."""
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    env = pipeline_env(target, raw_dir, workdir, dbt_project_dir)
    output = _run([CLI, "run"], env, workdir / "run.log", label=target)
    seconds = time.perf_counter() - started
    done = PIPELINE_DONE.search(output)
    if done is None:
        raise SystemExit(f"{target} run did not report a finished pipeline; see {workdir}/run.log")
    published = workdir / "published" / DATABASE_NAME
    if not published.exists():
        raise SystemExit(f"{target} run {done[1]} published nothing ({published} is missing)")
    stamped = _published_run_id(published)
    if stamped != done[1]:
        raise SystemExit(f"{published} was published by run {stamped}, not by {done[1]}")
    return PipelineRun(target, published, done[1], seconds)


def _published_run_id(published: Path) -> str | None:
    con = duckdb.connect(str(published), read_only=True)
    try:
        row = con.execute(f"select max(run_id) from main.{PUBLISH_INFO}").fetchone()
    finally:
        con.close()
    return row[0] if row else None


def rerun_incremental_on_spark(raw_dir: Path, spark_run_dir: Path, relations: list[str]) -> float:
    """The incremental models again on the Spark warehouse the run built (their incremental
    path, then their tests), then the public relations exported to Parquet; returns seconds."""
    started = time.perf_counter()
    command = [
        sys.executable,
        str(PROJECT_DIR / "spark" / "build.py"),
        "--skip-raw",  # the run registered the raw views; they live in the metastore
        "--raw",
        str(raw_dir),
        "--spark-dir",
        str(spark_run_dir / "spark"),
        "--export",
        str(spark_run_dir / "export"),
        *[arg for relation in relations for arg in ("--table", relation)],
        "--",
        "build",
        "--select",
        "config.materialized:incremental",
    ]
    env = {**os.environ, "CP_WAREHOUSE": str(spark_run_dir / "warehouse.duckdb")}
    _run(command, env, spark_run_dir / "incremental.log", label="spark")
    return time.perf_counter() - started


def _run(command: list[str], env: dict[str, str], log_path: Path, label: str) -> str:
    """Run a command, echoing its progress lines under `label`; returns its output. On
    failure, exits with the end of its log."""
    lines = []
    with log_path.open("w") as out:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=PROJECT_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        _RUNNING.add(process)
        assert process.stdout is not None
        for line in process.stdout:
            out.write(line)
            lines.append(line)
            shown = _progress(line)
            if shown:
                print(f"    {label:<6} {shown}", flush=True)
        process.wait()
        _RUNNING.discard(process)
    if process.returncode != 0:
        tail = "".join(lines[-60:])
        raise SystemExit(f"{' '.join(command[:3])}... failed; log {log_path}:\n{tail}")
    return "".join(lines)


# The runs in progress, so that when one fails the other is stopped rather than awaited.
_RUNNING: set[subprocess.Popen] = set()
STEP_EVENT = re.compile(r" - (\S+) - (STEP_START|STEP_WORKER_STARTED|STEP_FAILURE) - ")
PROGRESS_MARKERS = (
    "Skipping step",
    "pipeline finished",
    "pipeline FAILED",
    "pipeline INCOMPLETE",
    "dagster - ERROR",
    "Done. PASS=",
    " on spark:",
    "cpu time",
    "waited ",
)


def _progress(line: str) -> str | None:
    """The part of a line worth showing while a run goes on, or None."""
    event = STEP_EVENT.search(line)
    if event:
        return f"[{time.strftime('%H:%M:%S')}] step {event[1]}: {event[2].lower()}"
    if any(marker in line for marker in PROGRESS_MARKERS):
        return line.rstrip()[-160:]
    return None


# -- the comparison --------------------------------------------------------------------------


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


def _close(left: float, right: float) -> bool:
    return math.isclose(left, right, rel_tol=RELATIVE_TOLERANCE, abs_tol=ABSOLUTE_TOLERANCE)


def same_json(left: Any, right: Any) -> bool:
    """Two parsed JSON values alike: the same keys and strings, numbers within the tolerance,
    JSON text nested in a string compared the same way; wall-clock metrics left out."""
    if isinstance(left, dict) and isinstance(right, dict):
        keys = set(left) - WALL_CLOCK_METRICS
        return keys == set(right) - WALL_CLOCK_METRICS and all(
            same_json(left[k], right[k]) for k in keys
        )
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(
            same_json(a, b) for a, b in zip(left, right, strict=True)
        )
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return _close(float(left), float(right))
    if isinstance(left, str) and isinstance(right, str) and left != right:
        parsed = _json(left), _json(right)
        return None not in parsed and same_json(*parsed)
    return left == right


def _json(text: str) -> Any:
    """The JSON document in `text` (an object or an array), else None."""
    if text[:1] not in ("{", "["):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _same_text(left: Any, right: Any) -> bool:
    """Equal, or both null, or both JSON documents alike (`same_json`)."""
    if pd.isna(left) or pd.isna(right):
        return bool(pd.isna(left) and pd.isna(right))
    if left == right:
        return True
    return isinstance(left, str) and isinstance(right, str) and same_json(left, right)


def compare_table(table: str, expected: pd.DataFrame, actual: pd.DataFrame) -> list[Difference]:
    """Differences between one engine's rows (expected) and the other's (actual)."""
    if list(expected.columns) != list(actual.columns):
        return [
            Difference(table, f"columns differ: {list(expected.columns)} vs {list(actual.columns)}")
        ]
    if len(expected) != len(actual):
        return [Difference(table, f"{len(expected)} rows on one side, {len(actual)} on the other")]
    if len(expected) == 0 and table not in EXPECTED_EMPTY:
        return [Difference(table, "no rows on either side: the step that fills it did not")]
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
        same = np.array([_same_text(a, b) for a, b in zip(left, right, strict=True)], dtype=bool)
        differences += _column_differences(table, c, same, left, right)
    for c in numeric:
        left, right = expected[c].to_numpy(float), actual[c].to_numpy(float)
        same = np.isclose(
            left, right, rtol=RELATIVE_TOLERANCE, atol=ABSOLUTE_TOLERANCE, equal_nan=True
        )
        differences += _column_differences(table, c, same, left, right)
    return differences


def _column_differences(table: str, column: str, same: np.ndarray, left, right) -> list[Difference]:
    """None when every row of the column is the same; else one naming the first row that is not."""
    if same.all():
        return []
    row = int(np.flatnonzero(~same)[0])
    problem = f"{column}: {int((~same).sum())} rows differ, e.g. {left[row]!r} vs {right[row]!r}"
    return [Difference(table, problem)]


def published_tables(published: Path) -> dict[str, str]:
    """{table: the warehouse relation it was copied from} of a published file."""
    con = duckdb.connect(str(published), read_only=True)
    try:
        rows = con.execute(
            f"select table_name, source_relation from main.{PUBLISH_INFO} order by table_name"
        ).fetchall()
    finally:
        con.close()
    return dict(rows)


def read_published(published: Path, table: str) -> pd.DataFrame:
    """A published table, without the columns that only say which run wrote it."""
    con = duckdb.connect(str(published), read_only=True)
    try:
        frame = con.execute(f'select * from main."{table}"').df()
    finally:
        con.close()
    return without_run_columns(table, frame)


def without_run_columns(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The table's rows without the columns that only say which run wrote it."""
    return frame.drop(columns=list(RUN_SPECIFIC_COLUMNS.get(table, ())))


def _compared(
    table: str, left: pd.DataFrame, right: pd.DataFrame, outcome: tuple[str, str], note: str = ""
) -> list[Difference]:
    """compare_table, logged: a line for the table (outcome: what to say when the two are
    equal, and when they are not), then a line per difference."""
    found = compare_table(table, left, right)
    log(f"  {table}: {note}{outcome[1] if found else outcome[0]}")
    for difference in found:
        print(f"      {difference.problem}", flush=True)
    return found


def compare_published(expected: Path, actual: Path) -> list[Difference]:
    """Every table of two published copies, logged one line a table."""
    tables, others = published_tables(expected), published_tables(actual)
    if set(tables) != set(others):
        return [Difference("publish_info", f"tables differ: {sorted(tables)} vs {sorted(others)}")]
    differences = []
    for table in tables:
        left, right = read_published(expected, table), read_published(actual, table)
        differences += _compared(table, left, right, ("same", "DIFFERENT"), f"{len(left):,} rows, ")
    return differences


def compare_exported(published: Path, export_dir: Path) -> list[Difference]:
    """Every public table as exported from the Spark warehouse now, against its published
    copy (which `compare_published` checked)."""
    differences = []
    for table, relation in published_tables(published).items():
        left = read_published(published, table)
        right = without_run_columns(table, pd.read_parquet(export_dir / f"{relation}.parquet"))
        differences += _compared(table, left, right, ("unchanged", "CHANGED"))
    return differences


def run_both(raw_dir: Path, duck_dir: Path, spark_dir: Path) -> list[PipelineRun]:
    """The whole graph on both engines at once: the Spark run waits on its JVMs and its
    metastore more than it computes (about half a core of two), so the DuckDB run beside it
    costs it little and saves its whole duration. The DuckDB run reads a copy of the dbt
    project, since dbt keeps each target's manifest in the project's `target/`."""
    for workdir in (duck_dir, spark_dir):
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
    duck_project = copy_dbt_project(duck_dir / "dbt_project")
    log("the whole graph on DuckDB and on Spark, side by side: customer-profiles run")
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [
            pool.submit(run_pipeline, "duckdb", raw_dir, duck_dir, duck_project),
            pool.submit(run_pipeline, "spark", raw_dir, spark_dir),
        ]
        try:
            runs = [future.result() for future in futures]
        except BaseException:
            for process in list(_RUNNING):
                process.terminate()  # the other run: its result no longer matters
            raise
    for run in runs:
        log(f"{run.target} run {run.run_id}: {run.seconds:.0f}s")
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="keep everything here (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="do not delete the temp dir")
    parser.add_argument(
        "--compare-only",
        action="store_true",
        help="compare the runs already in --workdir (duckdb/, spark/) without running",
    )
    args = parser.parse_args(argv)
    root = (args.workdir or Path(tempfile.mkdtemp(prefix="cp-test-spark-"))).resolve()
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    try:
        raw_dir = root / "raw"
        if not raw_dir.exists():
            log(f"generating {SAMPLE.customers:,} customers (seed {SAMPLE.seed}) into {raw_dir}")
            generate(SAMPLE, raw_dir, progress=False, workers=1)
        duck_dir, spark_dir = root / "duckdb", root / "spark"
        if not args.compare_only:
            for run in run_both(raw_dir, duck_dir, spark_dir):
                seconds[run.target] = run.seconds
            relations = list(published_tables(spark_dir / "published" / DATABASE_NAME).values())
            log("Spark: the incremental models again, then the public tables exported")
            seconds["incremental"] = rerun_incremental_on_spark(raw_dir, spark_dir, relations)
            log(f"Spark incremental run + export: {seconds['incremental']:.0f}s")

        duck_published = duck_dir / "published" / DATABASE_NAME
        spark_published = spark_dir / "published" / DATABASE_NAME
        log("published on DuckDB vs published on Spark")
        differences = compare_published(duck_published, spark_published)
        log("Spark after the incremental run vs as it was published")
        differences += compare_exported(spark_published, spark_dir / "export")
        timings = ", ".join(f"{name} {value:.0f}s" for name, value in seconds.items())
        log(f"{timings}; total {time.perf_counter() - started:.0f}s")
        if differences:
            tables = {d.table for d in differences}
            log(f"FAILED: {len(differences)} difference(s) in {len(tables)} table(s)")
            return 1
        count = len(published_tables(duck_published))
        log(f"OK: {count} public tables equal on DuckDB and Spark, and after the incremental run")
        return 0
    finally:
        if not (args.workdir or args.keep):
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
