"""spark/compare.py's row comparison: it must see a real difference and forgive engine noise.

Pure pandas (no Spark), but kept beside the Spark tests it serves.
"""

from __future__ import annotations

import datetime
import importlib.util
import sys
from decimal import Decimal
from pathlib import Path

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
        "3 rows on DuckDB, 2 on Spark"
        in compare.compare_table("t", _duckdb_like(), _spark_like().iloc[:2])[0].problem
    )
    assert (
        "columns differ"
        in compare.compare_table("t", _duckdb_like(), _spark_like().drop(columns="is_member"))[
            0
        ].problem
    )
