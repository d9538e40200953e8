"""Run the dbt project against a throwaway warehouse: raw views registered, then dbt."""

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb

from orchestration.settings import PROJECT_DIR, Settings
from orchestration.warehouse import register_raw_sources

DBT = str(Path(sys.executable).with_name("dbt"))


def dbt_build(raw_dir: Path, warehouse: Path, *args: str) -> subprocess.CompletedProcess:
    """Register raw views, then `dbt build` into `warehouse`; raises with dbt's output on failure."""
    return run_dbt("build", raw_dir, warehouse, *args)


def dbt_show_value(raw_dir: Path, warehouse: Path, sql: str) -> object:
    """The first value of `sql` (dbt Jinja allowed: macros, refs) run by `dbt show`."""
    result = run_dbt("show", raw_dir, warehouse, "--inline", sql, "--output", "json", "--quiet")
    return next(iter(json.loads(result.stdout)["show"][0].values()))


def run_dbt(
    command: str, raw_dir: Path, warehouse: Path, *args: str
) -> subprocess.CompletedProcess:
    """Register raw views, then a dbt command on `warehouse`; raises with dbt's output on failure."""
    settings = Settings.from_env()
    con = duckdb.connect(str(warehouse))
    try:
        register_raw_sources(con, raw_dir)
    finally:
        con.close()
    env = {
        **os.environ,
        "CP_WAREHOUSE": str(warehouse),
        "CP_RAW_DIR": str(raw_dir),
        "CP_PII_SALT": settings.pii_salt,
        "DBT_TARGET_PATH": str(warehouse.parent / "target"),
        "DBT_LOG_PATH": str(warehouse.parent / "logs"),
    }
    result = subprocess.run(
        [
            DBT,
            command,
            "--profiles-dir",
            str(PROJECT_DIR),
            "--project-dir",
            str(PROJECT_DIR),
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"dbt {command} failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
        )
    return result
