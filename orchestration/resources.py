"""Dagster resources: the one way assets reach the warehouse, the run's as-of date, and dbt."""

import importlib.metadata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from functools import cached_property
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource
from packaging.version import Version
from pydantic import Field, field_validator

from orchestration.settings import Settings
from orchestration.warehouse import Warehouse, open_warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse and the raw directory, from the environment by default; the engine
    (DuckDB or Spark) is CP_DBT_TARGET's, the same as dbt's in the run."""

    warehouse_path: str = ""
    raw_dir: str = ""

    def settings(self) -> Settings:
        """The environment's settings, with this resource's overrides (if any) applied."""
        overrides = {}
        if self.raw_dir:
            overrides["raw_dir"] = Path(self.raw_dir)
        if self.warehouse_path:
            overrides["warehouse_path"] = Path(self.warehouse_path)
        return replace(Settings.from_env(), **overrides)

    @contextmanager
    def open(self, read_only: bool = False) -> Iterator[Warehouse]:
        """The warehouse behind the one interface assets use, whichever engine holds it."""
        with open_warehouse(self.settings(), read_only=read_only) as opened:
            yield opened


class AsOfDate(dg.ConfigurableResource):
    """The date every time-dependent model is computed as of: one value for the whole run.

    A resource rather than per-asset config so that dbt and every Python model in a run see
    the same date, and a re-execution of failed steps reuses it (it is part of the run
    config). Set it at launch under `resources.as_of.config.as_of_date`.
    """

    as_of_date: str | None = Field(
        default=None,
        description=(
            "YYYY-MM-DD. Null (the default) lets dbt infer it from the data: the latest order"
            " date. Never today's date, so the same inputs always give the same outputs."
        ),
    )

    @field_validator("as_of_date")
    @classmethod
    def _iso_date(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        return date.fromisoformat(value).isoformat()

    def dbt_vars(self) -> dict[str, str]:
        """The `--vars` every dbt invocation in the run receives (dbt var `as_of_date`).

        None when the date is inferred: the var's default already says so, and vars on the
        command line that the manifest was not parsed with cost every dbt step a full re-parse.
        """
        return {"as_of_date": self.as_of_date} if self.as_of_date else {}


class DbtCli(DbtCliResource):
    """dagster-dbt's dbt resource without two start-up costs it pays on every `cli` call for
    things this project does not use (in a fresh process 2.1 s and 1.5 s; a run's steps share
    one process, so about 5 s a run over its four dbt steps, and 3 s at every start's parse):

    - `dbt --version` in a subprocess (2.1 s), to tell dbt-core from dbt Fusion: the project
      pins dbt-core, and the installed package says its version without starting dbt;
    - a dbt adapter started in the step's own process (1.5 s), which dagster-dbt needs only
      to fetch row counts and column schemas; the dbt steps read those from the warehouse
      themselves once dbt has exited (assets/dbt.py, `relation_metadata`).

    Both override private members of dagster-dbt (pinned ~=0.29); a test fails if they go.
    """

    @cached_property
    def _cli_version(self) -> Version:
        return Version(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # type: ignore[override]
        return None
