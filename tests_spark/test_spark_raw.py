"""The raw landing zone on Spark: the same checks, views and rows as DuckDB's.

Not in the default `pytest` run (testpaths = tests): needs the [spark] extra and Java 17.
Run with `python -m pytest -q -p no:cacheprovider tests_spark` (one Spark start, ~30 s).
"""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.settings import Settings
from orchestration.spark import spark_session
from orchestration.spark_raw import register_raw_sources_spark
from orchestration.warehouse import RawDataError, register_raw_sources


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    settings = replace(Settings.from_env(), spark_dir=tmp_path_factory.mktemp("spark"), threads=1)
    session = spark_session(settings)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _orders() -> pa.Table:
    return pa.table(
        {
            "order_id": ["SO1", "SO2"],
            "customer_ref": ["M1", None],
            "id_type": [None, "phone"],
            "id_value": [None, "13800000000"],
            "ordered_at": ["2025-01-01 10:00:00", "2025-01-02 11:00:00"],
            "total_amount": [100.0, 50.5],
            "coupon_used": [True, None],
        }
    )


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _raw_dir(root: Path) -> Path:
    """Orders in two Parquet files with different columns plus a CSV export whose columns come in another order, one of them
    quoted with a comma and a doubled quote in it; tickets as two CSVs with different headers."""
    raw = root / "raw"
    (raw / "orders").mkdir(parents=True)
    pq.write_table(_orders(), raw / "orders" / "part-0.parquet")
    # a second Parquet file with one column fewer and one more, in another order
    pq.write_table(
        pa.table(
            {
                "channel": ["app"],
                "total_amount": [7.0],
                "ordered_at": ["2025-01-04"],
                "order_id": ["SO4"],
                "customer_ref": ["M4"],
            }
        ),
        raw / "orders" / "part-1.parquet",
    )
    _write_csv(
        raw / "orders" / "late.csv",
        [
            {
                "total_amount": "9.5",
                "ordered_at": "2025-01-03",
                "order_id": "SO3",
                "customer_ref": 'M"3, x',
            }
        ],
    )
    _write_csv(
        raw / "support_tickets" / "a.csv",
        [
            {
                "ticket_id": "T1",
                "customer_ref": "M1",
                "opened_at": "2025-01-01",
                "topic": "complaint",
            }
        ],
    )
    _write_csv(
        raw / "support_tickets" / "b.csv",
        [{"opened_at": "2025-01-02", "ticket_id": "T2", "customer_ref": "M2", "satisfaction": "4"}],
    )
    return raw


def _duckdb_rows(raw: Path, source: str, deletion_list=None) -> tuple[list[str], set[tuple]]:
    con = duckdb.connect()
    try:
        register_raw_sources(con, raw, deletion_list=deletion_list)
        frame = con.execute(f"select * from raw.{source}").df()
    finally:
        con.close()
    return list(frame.columns), _as_set(frame)


def _as_set(frame) -> set[tuple]:
    """Rows as text tuples, nulls as None whichever null the engine's pandas export uses."""
    return {
        tuple(None if pd.isna(v) else str(v) for v in row) for row in frame.itertuples(index=False)
    }


def test_spark_raw_views_have_duckdbs_columns_and_rows(tmp_path, spark):
    raw = _raw_dir(tmp_path)
    registered = {s.name: s for s in register_raw_sources_spark(spark, raw, deletion_list=None)}
    for source in ("orders", "support_tickets", "events"):
        columns, rows = _duckdb_rows(raw, source)
        frame = spark.table(f"raw.{source}").toPandas()
        assert list(frame.columns) == columns, source
        assert _as_set(frame) == rows, source
        assert registered[source].rows == len(rows)
    assert registered["orders"].rows == 4
    assert registered["events"].rows == 0  # absent optional source: an empty view


def test_registering_again_rebuilds_the_views_and_never_deletes_a_raw_file(tmp_path, spark):
    raw = _raw_dir(tmp_path)
    files = sorted(p for p in raw.rglob("*") if p.is_file())
    register_raw_sources_spark(spark, raw, deletion_list=None)
    registered = register_raw_sources_spark(spark, raw, deletion_list=None)
    assert sorted(p for p in raw.rglob("*") if p.is_file()) == files
    assert {s.name: s.rows for s in registered}["orders"] == 4


def test_spark_raw_types_match_duckdbs(tmp_path, spark):
    raw = _orders_only(tmp_path)
    register_raw_sources_spark(spark, raw, deletion_list=None)
    types = {f.name: f.dataType.simpleString() for f in spark.table("raw.orders").schema.fields}
    assert types["total_amount"] == "double"
    assert types["coupon_used"] == "boolean"
    assert types["ordered_at"] == "string"
    assert types["channel"] == "string"  # absent optional column: a null string, as on DuckDB


def _orders_only(root: Path) -> Path:
    """A raw folder holding one valid orders file, and nothing else."""
    raw = root / "raw"
    (raw / "orders").mkdir(parents=True)
    pq.write_table(_orders(), raw / "orders" / "part-0.parquet")
    return raw


def test_a_missing_required_column_stops_spark_with_duckdbs_message(tmp_path, spark):
    raw = tmp_path / "raw"
    (raw / "orders").mkdir(parents=True)
    path = raw / "orders" / "part-0.parquet"
    pq.write_table(_orders().drop(["total_amount"]), path)
    with pytest.raises(RawDataError, match=rf"{path}.*'total_amount'"):
        register_raw_sources_spark(spark, raw, deletion_list=None)


def test_a_ragged_csv_row_stops_spark_with_duckdbs_message(tmp_path, spark):
    # Spark's default PERMISSIVE mode would cut the extra field off silently.
    raw = _orders_only(tmp_path)
    path = raw / "orders" / "late.csv"
    path.write_text(
        "order_id,customer_ref,ordered_at,total_amount\n"
        "SO7,M7,2025-01-03 09:00:00,1.50\n"
        "SO8,M8,2025-01-03 09:00:00,2.50,oops\n"
    )
    with pytest.raises(RawDataError, match=rf"{path}: line 3 has 5 fields where the header has 4"):
        register_raw_sources_spark(spark, raw, deletion_list=None)


def test_a_ragged_deletion_list_row_stops_spark_with_duckdbs_message(tmp_path, spark):
    raw = _orders_only(tmp_path)
    deletions = tmp_path / "forget.csv"
    deletions.write_text("customer_id,id_type,id_value\ncu_1,,\ncu_2,,,extra\n")
    with pytest.raises(RawDataError, match=rf"{deletions}: line 3 has 4 fields"):
        register_raw_sources_spark(spark, raw, deletion_list=deletions)


def test_a_deletion_request_without_an_identifier_stops_spark_too(tmp_path, spark):
    raw = _orders_only(tmp_path)
    deletions = tmp_path / "forget.csv"
    _write_csv(deletions, [{"id_type": "phone", "id_value": "", "requested_at": "2025-01-01"}])
    with pytest.raises(RawDataError, match="1 deletion request"):
        register_raw_sources_spark(spark, raw, deletion_list=deletions)


def test_the_deletion_list_view_has_every_column_on_spark(tmp_path, spark):
    raw = _orders_only(tmp_path)
    deletions = tmp_path / "forget.csv"
    _write_csv(deletions, [{"customer_id": "C1"}])
    register_raw_sources_spark(spark, raw, deletion_list=deletions)
    rows = spark.table("privacy.deletion_requests").collect()
    assert [tuple(r) for r in rows] == [(None, None, "C1", None)]
    assert spark.table("privacy.deletion_requests").columns == [
        "id_type",
        "id_value",
        "customer_id",
        "requested_at",
    ]
