"""Run the dbt project against a throwaway warehouse: raw views registered, then dbt.

dbt runs in the test process from one parsed manifest per warehouse file name, instead of a
`dbt build` subprocess per call: every call with other `--vars` or another warehouse path
would otherwise parse the whole project again (measured: 18 s of CPU per call in a subprocess,
7 s in-process), and the suite calls it 16 times.
"""

import functools
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dbt.adapters.duckdb.connections import DuckDBConnectionManager
from dbt.cli.main import dbtRunner, dbtRunnerResult

from orchestration.settings import PROJECT_DIR, Settings
from orchestration.warehouse import register_raw_sources

PROJECT_ARGS = ("--profiles-dir", str(PROJECT_DIR), "--project-dir", str(PROJECT_DIR))


@contextmanager
def _environment(raw_dir: Path, warehouse: Path) -> Iterator[None]:
    """The variables profiles.yml and dbt read, pointed at this warehouse, then restored."""
    settings = Settings.from_env()
    values = {
        "CP_WAREHOUSE": str(warehouse),
        "CP_RAW_DIR": str(raw_dir),
        "CP_PII_SALT": settings.pii_salt,
        "DBT_TARGET_PATH": str(warehouse.parent / "target"),
        "DBT_LOG_PATH": str(warehouse.parent / "logs"),
    }
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _release_warehouse() -> None:
    """dbt-duckdb keeps its database open in the process after a run; close it, so the test
    (and any subprocess) can open the file with its own settings."""
    environment = DuckDBConnectionManager._ENV
    if environment is not None:
        environment.close()
    DuckDBConnectionManager.close_all_connections()


def _invoke(runner: dbtRunner, *args: str) -> dbtRunnerResult:
    try:
        return runner.invoke([*args, *PROJECT_ARGS])
    finally:
        _release_warehouse()


@functools.cache
def _manifest(warehouse_name: str):
    """The parsed project. DuckDB names its catalog after the file, and the manifest holds
    that name, so one manifest serves every warehouse file of the same name."""
    scratch = Path(tempfile.mkdtemp(prefix="dbt-parse-"))
    with _environment(scratch, scratch / warehouse_name):
        result = _invoke(dbtRunner(), "parse", "--quiet")
    if not result.success:
        raise AssertionError(f"dbt parse failed: {result.exception}")
    return result.result


def _failures(result: dbtRunnerResult) -> str:
    if result.exception is not None:
        return repr(result.exception)
    return "\n".join(
        f"{r.node.unique_id}: {r.status}: {r.message}"
        for r in result.result or []
        if str(r.status) in ("error", "fail", "runtime error")
    )


def dbt_build(raw_dir: Path, warehouse: Path, *args: str) -> dbtRunnerResult:
    """Register raw views, then `dbt build` into `warehouse`; raises with dbt's failures."""
    con = duckdb.connect(str(warehouse))
    try:
        register_raw_sources(con, raw_dir)
    finally:
        con.close()
    manifest = _manifest(warehouse.name)
    with _environment(raw_dir, warehouse):
        result = _invoke(dbtRunner(manifest=manifest), "build", *args)
    if not result.success:
        raise AssertionError(f"dbt build failed:\n{_failures(result)}")
    return result
