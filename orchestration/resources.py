"""Dagster resources: the one way assets reach the warehouse."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from orchestration import warehouse
from orchestration.settings import Settings


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file and the raw directory, from the environment by default."""

    warehouse_path: str = ""
    raw_dir: str = ""

    def settings(self) -> Settings:
        base = Settings.from_env()
        return Settings(
            raw_dir=Path(self.raw_dir) if self.raw_dir else base.raw_dir,
            warehouse_path=Path(self.warehouse_path)
            if self.warehouse_path
            else base.warehouse_path,
            dagster_home=base.dagster_home,
            threads=base.threads,
            memory_limit=base.memory_limit,
            pii_salt=base.pii_salt,
        )

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse.connect(self.settings(), read_only=read_only) as con:
            yield con
