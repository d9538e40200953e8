"""The `model_runs` log: one row per fit of every ML model, written by the model's asset.

A plain function on the warehouse interface (or a bare DuckDB connection), with no Dagster in
it, so it is testable alone and usable from a notebook; `orchestration.assets.model_fits.record_fit` is the asset-side
wrapper that fills in the run id, start time and code version and turns the metrics into
asset metadata.

The table is a log appended by several assets (segments, churn, value), so it is not the
output of any one of them and is not an asset of its own. It is published as it is, not
through a dbt model: `orchestration/publish.py` declares `ml.model_runs` with its column
descriptions (`MODEL_RUNS`). Rows are keyed by (model_name, run_id): re-executing a failed
step of the same run replaces its row instead of adding a second one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import duckdb
import pyarrow as pa

from orchestration.warehouse import Warehouse, as_warehouse

MODEL_RUNS_SCHEMA = "ml"
MODEL_RUNS_TABLE = "model_runs"

Metric = float | int | str | bool | None


@dataclass(frozen=True)
class ModelRun:
    model_name: str
    run_id: str
    as_of_date: date | None
    created_at: datetime  # when the Dagster run started: reproducible, unlike the wall clock
    metrics: Mapping[str, Metric]
    parameters: Mapping[str, Any] = field(default_factory=dict)
    data_window_start: date | None = None  # first day of the data the fit saw
    data_window_end: date | None = None  # last day of the data the fit saw
    code_version: str | None = None


def _json(value: Mapping[str, Any]) -> str:
    """Stable JSON (sorted keys); NaN and infinities become null, which JSON cannot hold."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, Mapping):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        if isinstance(v, date):
            return v.isoformat()
        return v

    return json.dumps(clean(dict(value)), sort_keys=True, ensure_ascii=False, default=str)


def _utc_naive(moment: datetime) -> datetime:
    """created_at is stored as a UTC timestamp, whatever the session's time zone."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


# The row's types, the same on every engine (a null as_of_date is still a date).
_ROW_TYPES = pa.schema(
    [
        ("model_name", pa.string()),
        ("run_id", pa.string()),
        ("as_of_date", pa.date32()),
        ("parameters_json", pa.string()),
        ("metrics_json", pa.string()),
        ("data_window_start", pa.date32()),
        ("data_window_end", pa.date32()),
        ("code_version", pa.string()),
        ("created_at", pa.timestamp("us")),
    ]
)


def record_model_run(
    con: Warehouse | duckdb.DuckDBPyConnection,
    run: ModelRun,
    schema: str = MODEL_RUNS_SCHEMA,
) -> None:
    """Append (or, for the same model and run, replace) one fit's row in `<schema>.model_runs`."""
    table = f"{schema}.{MODEL_RUNS_TABLE}"
    # Where the engine enforces constraints (DuckDB), the table carries them.
    create_sql = f"""
        create table if not exists {table} (
            model_name varchar not null,
            run_id varchar not null,
            as_of_date date,
            parameters_json varchar not null,
            metrics_json varchar not null,
            data_window_start date,
            data_window_end date,
            code_version varchar,
            created_at timestamp not null,  -- UTC
            primary key (model_name, run_id)
        )
    """
    row = pa.Table.from_pylist(
        [
            {
                "model_name": run.model_name,
                "run_id": run.run_id,
                "as_of_date": _date(run.as_of_date),
                "parameters_json": _json(run.parameters),
                "metrics_json": _json(run.metrics),
                "data_window_start": _date(run.data_window_start),
                "data_window_end": _date(run.data_window_end),
                "code_version": run.code_version,
                "created_at": _utc_naive(run.created_at),
            }
        ],
        schema=_ROW_TYPES,
    )
    as_warehouse(con).upsert(
        schema, MODEL_RUNS_TABLE, row, keys=("model_name", "run_id"), create_sql=create_sql
    )


def _date(value: date | None) -> date | None:
    """A day, also when handed a timestamp (pandas hands those out for date columns)."""
    if value is None or value != value:  # None, NaT
        return None
    return value.date() if isinstance(value, datetime) else value
