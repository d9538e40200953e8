"""spark/compare.py's row comparison: it must see a real difference and forgive engine noise.

Pure pandas (no Spark), but kept beside the Spark tests it serves.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd

_spec = importlib.util.spec_from_file_location(
    "spark_compare", Path(__file__).resolve().parent.parent / "spark" / "compare.py"
)
compare = importlib.util.module_from_spec(_spec)
sys.modules["spark_compare"] = compare  # dataclasses look their module up by name
_spec.loader.exec_module(compare)


def _duckdb_like() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3"],
            "as_of_date": pd.to_datetime(["2025-12-31"] * 3),
            "monetary_total": [100.25, 0.0, None],
            "order_count": [3, 0, 1],
            "is_member": [True, False, None],
        }
    )


def _spark_like() -> pd.DataFrame:
    """The same rows as Spark's Arrow export delivers them: other order, dates as dates,
    decimals as Decimal, a last-bit float difference."""
    return pd.DataFrame(
        {
            "customer_id": ["c3", "c1", "c2"],
            "as_of_date": [datetime.date(2025, 12, 31)] * 3,
            "monetary_total": [None, Decimal("100.250000"), Decimal("0.000000")],
            "order_count": pd.array([1, 3, 0], dtype="Int64"),
            "is_member": [None, True, False],
        }
    )


def test_the_same_rows_in_another_order_and_representation_are_equal():
    assert compare.compare_table("t", _duckdb_like(), _spark_like()) == []


def test_a_changed_number_beyond_the_tolerance_is_a_difference():
    spark = _spark_like()
    spark.loc[1, "monetary_total"] = Decimal("100.260000")
    [difference] = compare.compare_table("t", _duckdb_like(), spark)
    assert difference.problem.startswith("monetary_total: 1 rows differ")


def test_a_changed_text_or_date_is_a_difference():
    spark = _spark_like()
    spark.loc[2, "customer_id"] = "c4"
    spark.loc[0, "as_of_date"] = datetime.date(2025, 12, 30)
    problems = [d.problem for d in compare.compare_table("t", _duckdb_like(), spark)]
    assert any(p.startswith("customer_id") for p in problems)
    assert any(p.startswith("as_of_date") for p in problems)


def test_a_null_against_a_value_is_a_difference():
    spark = _spark_like()
    spark.loc[0, "monetary_total"] = Decimal("0")
    [difference] = compare.compare_table("t", _duckdb_like(), spark)
    assert difference.problem.startswith("monetary_total")


def test_a_missing_row_or_column_is_a_difference():
    assert (
        "3 rows on one side, 2 on the other"
        in compare.compare_table("t", _duckdb_like(), _spark_like().iloc[:2])[0].problem
    )
    assert (
        "columns differ"
        in compare.compare_table("t", _duckdb_like(), _spark_like().drop(columns="is_member"))[
            0
        ].problem
    )


def test_a_table_empty_on_both_engines_is_a_difference_unless_expected(monkeypatch):
    empty = _duckdb_like().iloc[:0]
    [difference] = compare.compare_table("churn_scores", empty, _spark_like().iloc[:0])
    assert "no rows on either side" in difference.problem
    monkeypatch.setattr(compare, "EXPECTED_EMPTY", frozenset({"churn_scores"}))
    assert compare.compare_table("churn_scores", empty, _spark_like().iloc[:0]) == []


def _metrics(auc: float, seconds: float) -> str:
    calibration = json.dumps([{"bin": 1, "mean_predicted": auc / 2, "count": 120}])
    return json.dumps({"roc_auc": auc, "bg_nbd_seconds": seconds, "calibration": calibration})


def test_numbers_inside_json_text_are_compared_with_the_tolerance():
    one = pd.DataFrame({"model_name": ["churn"], "metrics_json": [_metrics(0.8123456789, 0.5)]})
    noise = one.assign(metrics_json=[_metrics(0.8123456789 * (1 + 1e-12), 0.5)])
    changed = one.assign(metrics_json=[_metrics(0.8124, 0.5)])
    assert compare.compare_table("model_runs", one, noise) == []
    [difference] = compare.compare_table("model_runs", one, changed)
    assert difference.problem.startswith("metrics_json: 1 rows differ")


def test_the_wall_clock_time_of_a_fit_is_not_compared_but_its_keys_are():
    one = pd.DataFrame({"metrics_json": [_metrics(0.8, 0.5)]})
    assert (
        compare.compare_table("model_runs", one, one.assign(metrics_json=[_metrics(0.8, 9.0)]))
        == []
    )
    missing = json.dumps({"roc_auc": 0.8})
    assert compare.compare_table("model_runs", one, one.assign(metrics_json=[missing])) != []


def test_which_run_wrote_a_published_row_is_left_out(tmp_path):
    published = tmp_path / "published.duckdb"
    con = duckdb.connect(str(published))
    con.execute(
        "create table model_runs as select 'churn' as model_name, 'run-1' as run_id,"
        " timestamp '2026-01-01 06:00:00' as created_at"
    )
    con.close()
    assert list(compare.read_published(published, "model_runs").columns) == ["model_name"]
