"""The asset side of recording a model fit: one call at the end of every model asset.

    @dg.asset(pool=WAREHOUSE_POOL, code_version="churn-1", deps=[dbt_model_key("customer_features")])
    def churn_scores(context, warehouse: WarehouseResource, config: ChurnConfig):
        ...  # read features, fit (plain functions), write the scores table
        fit = record_fit(context, warehouse, model_name="churn", as_of_date=as_of,
                         metrics={"auc": auc, "brier": brier}, parameters=config.model_dump(),
                         data_window=(first_day, last_day))
        return dg.MaterializeResult(metadata={**fit, "dagster/row_count": rows})

`record_fit` writes the fit to the `model_runs` log (see `orchestration.model_runs`) and
returns the same metrics as asset metadata, so the UI plots each metric across
materialisations and BI reads the same numbers from the warehouse. It writes the warehouse:
call it only from assets in the `warehouse` pool. `as_of_date` is the date the model really
used (the `as_of` resource's value, or the one dbt inferred when that is null).
"""

from collections.abc import Mapping
from datetime import UTC, date, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import dagster as dg

from orchestration.model_runs import Metric, ModelRun, record_model_run
from orchestration.resources import WarehouseResource


def _run_started_at(context: dg.AssetExecutionContext) -> datetime:
    """When the run started (its creation time before that): the same for every fit of a
    run and for a re-executed step of it, unlike the wall clock."""
    record = context.instance.get_run_record_by_id(context.run.run_id)
    if record is None:
        return datetime.now(UTC)
    if record.start_time is not None:
        return datetime.fromtimestamp(record.start_time, tz=UTC)
    return record.create_timestamp.astimezone(UTC)


def _code_version(context: dg.AssetExecutionContext) -> str:
    """The asset's `code_version` when it declares one, else the package version."""
    versions = {v for v in context.assets_def.code_versions_by_key.values() if v}
    if len(versions) == 1:
        return versions.pop()
    try:
        return f"customer-profiles {version('customer-profiles')}"
    except PackageNotFoundError:
        return "unknown"


def fit_metadata(run: ModelRun) -> dict[str, dg.MetadataValue]:
    """The fit as Dagster metadata: one numeric entry per metric, plus its context."""
    metadata: dict[str, dg.MetadataValue] = {}
    for name, value in run.metrics.items():
        if isinstance(value, bool) or value is None or isinstance(value, str):
            metadata[name] = dg.MetadataValue.text(str(value))
        elif isinstance(value, int):
            metadata[name] = dg.MetadataValue.int(value)
        else:
            metadata[name] = dg.MetadataValue.float(float(value))
    window = f"{run.data_window_start or '?'} .. {run.data_window_end or '?'}"
    metadata.update(
        {
            "model_name": dg.MetadataValue.text(run.model_name),
            "as_of_date": dg.MetadataValue.text(str(run.as_of_date)),
            "data_window": dg.MetadataValue.text(window),
            "parameters": dg.MetadataValue.json(dict(run.parameters)),
            "code_version": dg.MetadataValue.text(run.code_version or "unknown"),
        }
    )
    return metadata


def record_fit(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    *,
    model_name: str,
    as_of_date: date | None,
    metrics: Mapping[str, Metric],
    parameters: Mapping[str, Any] | None = None,
    data_window: tuple[date | None, date | None] = (None, None),
) -> dict[str, dg.MetadataValue]:
    """Write one row to `model_runs` for this run and return the fit as asset metadata."""
    run = ModelRun(
        model_name=model_name,
        run_id=context.run.run_id,
        as_of_date=as_of_date,
        created_at=_run_started_at(context),
        metrics=dict(metrics),
        parameters=dict(parameters or {}),
        data_window_start=data_window[0],
        data_window_end=data_window[1],
        code_version=_code_version(context),
    )
    with warehouse.open() as opened:
        record_model_run(opened, run)
    context.log.info(f"recorded fit of {model_name} in model_runs: {dict(metrics)}")
    return fit_metadata(run)
