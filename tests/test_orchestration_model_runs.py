"""Model fits: one row per model and run in ml.model_runs, the same metrics as asset metadata."""

import json
from datetime import UTC, date, datetime

import dagster as dg
import duckdb

from orchestration.assets.model_fits import record_fit
from orchestration.model_runs import ModelRun, record_model_run
from orchestration.resources import WarehouseResource


def _rows(path):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("select * from ml.model_runs order by model_name").fetchall()
    finally:
        con.close()


def test_a_fit_is_logged_with_the_run_id_and_start_time_and_returned_as_metadata(tmp_path):
    warehouse = tmp_path / "w.duckdb"

    @dg.asset(code_version="churn-v3")
    def churn_scores(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        metadata = record_fit(
            context,
            warehouse,
            model_name="churn",
            as_of_date=date(2025, 12, 31),
            metrics={"auc": 0.8125, "rows": 1500},
            parameters={"max_depth": 3},
            data_window=(date(2024, 1, 1), date(2025, 9, 30)),
        )
        return dg.MaterializeResult(metadata=metadata)

    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [churn_scores],
            instance=instance,
            resources={"warehouse": WarehouseResource(warehouse_path=str(warehouse))},
        )
        started = instance.get_run_record_by_id(result.run_id).start_time

    (row,) = _rows(warehouse)
    (name, run_id, as_of, parameters, metrics, start, end, code_version, created_at) = row
    assert (name, run_id, as_of) == ("churn", result.run_id, date(2025, 12, 31))
    assert json.loads(metrics) == {"auc": 0.8125, "rows": 1500}
    assert json.loads(parameters) == {"max_depth": 3}
    assert (start, end, code_version) == (date(2024, 1, 1), date(2025, 9, 30), "churn-v3")
    assert created_at == datetime.fromtimestamp(started, tz=UTC).replace(tzinfo=None)

    (materialization,) = result.asset_materializations_for_node("churn_scores")
    assert materialization.metadata["auc"] == dg.MetadataValue.float(0.8125)
    assert materialization.metadata["rows"] == dg.MetadataValue.int(1500)
    assert materialization.metadata["code_version"] == dg.MetadataValue.text("churn-v3")


def test_recording_the_same_model_and_run_twice_keeps_one_row_and_nan_becomes_null(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    run = ModelRun(
        model_name="segments",
        run_id="r1",
        as_of_date=None,
        created_at=datetime(2026, 1, 1, 6, 0, tzinfo=UTC),
        metrics={"silhouette": 0.4},
    )
    con = duckdb.connect(str(warehouse))
    record_model_run(con, run)
    record_model_run(con, ModelRun(**{**run.__dict__, "metrics": {"silhouette": float("nan")}}))
    record_model_run(con, ModelRun(**{**run.__dict__, "model_name": "churn"}))
    con.close()

    rows = _rows(warehouse)
    assert [r[0] for r in rows] == ["churn", "segments"]
    assert json.loads(rows[1][4]) == {"silhouette": None}
