"""Where things live: the paths and knobs the pipeline reads from the environment.

One place for the environment variables the CLI, Dagster and dbt share, so they always agree
on the warehouse and the raw directory (dbt reads the same variables through `profiles.yml`).
Two knobs are read elsewhere: `CP_DBT_THREADS` by dbt alone (`profiles.yml`; `bench/bench.py`
passes it on), and `CP_WRITER_WAIT_SECONDS` by `orchestration/writer_lock.py`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
# A public, clearly-not-secret salt so the demo runs out of the box. Anyone loading real
# customer data must set CP_PII_SALT to a secret of their own. dbt's hash_pii macro carries
# the same default (a test keeps the two equal).
DEMO_PII_SALT = "customer-profiles-DEMO-salt-not-secret"
TARGETS = ("duckdb", "spark")  # the outputs of profiles.yml
DEFAULT_RAW_DIR = "data/raw"  # `make run` fills it with sample data when it is empty


def _path_from_env(variable: str, default: str) -> Path:
    value = os.environ.get(variable, default)
    path = Path(value)
    return path if path.is_absolute() else (PROJECT_DIR / path)


def _threads() -> int:
    text = os.environ.get("CP_THREADS", "2")
    try:
        threads = int(text)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ValueError(f"CP_THREADS={text!r}: expected a whole number of threads, 1 or more")
    return threads


def _memory_limit() -> str:
    """CP_MEMORY_LIMIT as DuckDB reads it (7GB, 500MB, ...), checked by DuckDB itself."""
    import duckdb

    text = os.environ.get("CP_MEMORY_LIMIT", "7GB")
    try:
        duckdb.connect(config={"memory_limit": text}).close()
    except duckdb.Error as error:
        raise ValueError(
            f"CP_MEMORY_LIMIT={text!r}: expected a size such as 7GB ({error})"
        ) from None
    return text


def _warehouse_file() -> Path:
    path = _path_from_env("CP_WAREHOUSE", "warehouse/customer_profiles.duckdb")
    if path.is_dir():
        raise ValueError(
            f"CP_WAREHOUSE={path}: is a folder; give the warehouse file's path"
            " (e.g. <folder>/customer_profiles.duckdb)"
        )
    return path


def _default_published_dir() -> str:
    """`published/` in the repo, or beside the warehouse when CP_WAREHOUSE moves it elsewhere
    (a test's or a server's warehouse never publishes into the repository)."""
    if "CP_WAREHOUSE" not in os.environ:
        return "published"
    return str(_path_from_env("CP_WAREHOUSE", "").parent / "published")


@dataclass(frozen=True)
class Settings:
    raw_dir: Path
    warehouse_path: Path
    dagster_home: Path
    threads: int
    memory_limit: str
    pii_salt: str
    # The dbt project Dagster orchestrates: this repository, unless pointed at a copy or
    # fork (a shop's own tag rules, or a test that injects a failing dbt test).
    dbt_project_dir: Path = PROJECT_DIR
    # The audience definitions analysts edit (orchestration/audiences/definitions.py).
    audiences_file: Path = PROJECT_DIR / "audiences.yml"
    export_dir: Path = PROJECT_DIR / "exports"  # where `customer-profiles export` writes
    # Where BI tools read: the published copy of the public tables (DuckDB and Parquet) and
    # the HTML report, replaced atomically on every run (orchestration/publish.py).
    published_dir: Path = PROJECT_DIR / "published"
    # The right-to-be-forgotten list the operator keeps (a CSV file, or a folder of them):
    # rows of id_type + id_value, or customer_id. None: nobody to forget. README.md,
    # "Forgetting a customer".
    deletion_list: Path | None = None
    # Which dbt target (profiles.yml) and warehouse implementation the run uses: "duckdb"
    # (one machine, the default) or "spark" (orchestration/spark.py; pip install '.[spark]').
    target: str = "duckdb"
    # The local Spark warehouse: table files under warehouse/, the Derby metastore beside.
    spark_dir: Path = PROJECT_DIR / "warehouse" / "spark"

    @classmethod
    def from_env(cls) -> Settings:
        target = os.environ.get("CP_DBT_TARGET", "duckdb")
        if target not in TARGETS:
            raise ValueError(f"CP_DBT_TARGET={target!r}: expected one of {', '.join(TARGETS)}")
        return cls(
            raw_dir=_path_from_env("CP_RAW_DIR", DEFAULT_RAW_DIR),
            warehouse_path=_warehouse_file(),
            dagster_home=_path_from_env("DAGSTER_HOME", ".dagster"),
            threads=_threads(),
            memory_limit=_memory_limit(),
            pii_salt=os.environ.get("CP_PII_SALT", DEMO_PII_SALT),
            dbt_project_dir=_path_from_env("CP_DBT_PROJECT_DIR", "."),
            audiences_file=_path_from_env("CP_AUDIENCES_FILE", "audiences.yml"),
            export_dir=_path_from_env("CP_EXPORT_DIR", "exports"),
            published_dir=_path_from_env("CP_PUBLISHED_DIR", _default_published_dir()),
            deletion_list=_path_from_env("CP_DELETION_LIST", "")
            if os.environ.get("CP_DELETION_LIST")
            else None,
            target=target,
            spark_dir=_path_from_env("CP_SPARK_DIR", "warehouse/spark"),
        )

    def export(self) -> None:
        """Pin the resolved absolute paths in the environment so dbt subprocesses see the same."""
        os.environ["CP_RAW_DIR"] = str(self.raw_dir)
        os.environ["CP_WAREHOUSE"] = str(self.warehouse_path)
        os.environ["CP_THREADS"] = str(self.threads)
        os.environ["CP_MEMORY_LIMIT"] = self.memory_limit
        os.environ["CP_PII_SALT"] = self.pii_salt
        os.environ["CP_DBT_PROJECT_DIR"] = str(self.dbt_project_dir)
        os.environ["CP_AUDIENCES_FILE"] = str(self.audiences_file)
        os.environ["CP_PUBLISHED_DIR"] = str(self.published_dir)
        os.environ["CP_EXPORT_DIR"] = str(self.export_dir)
        os.environ["DAGSTER_HOME"] = str(self.dagster_home)
        os.environ["CP_DBT_TARGET"] = self.target
        os.environ["CP_SPARK_DIR"] = str(self.spark_dir)
        if self.deletion_list is not None:
            os.environ["CP_DELETION_LIST"] = str(self.deletion_list)
