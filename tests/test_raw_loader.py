"""The raw landing zone: files checked against the contract, errors that name file and column."""

import logging

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.warehouse import RawDataError, register_raw_sources


def _orders(**overrides) -> pa.Table:
    columns = {
        "order_id": ["SO1", "SO2"],
        "customer_ref": ["M1", None],
        "id_type": [None, "phone"],
        "id_value": [None, "13800000000"],
        "ordered_at": ["2025-01-01 10:00:00", "2025-01-02 11:00:00"],
        "total_amount": [100.0, 50.5],
    }
    columns.update(overrides)
    return pa.table({k: v for k, v in columns.items() if v is not None})


def _write(raw, source, table, name="part-0.parquet"):
    folder = raw / source
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / name)
    return folder / name


@pytest.fixture
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


def test_a_missing_required_column_stops_the_run_naming_the_file_and_the_column(tmp_path, con):
    path = _write(tmp_path, "orders", _orders(total_amount=None))
    with pytest.raises(RawDataError, match=rf"{path}.*'total_amount'"):
        register_raw_sources(con, tmp_path)


def test_orders_are_the_one_required_source(tmp_path, con):
    with pytest.raises(RawDataError, match=r"orders.*required source 'orders' has no"):
        register_raw_sources(con, tmp_path)


def test_an_order_file_that_cannot_name_its_buyer_is_rejected(tmp_path, con):
    path = _write(tmp_path, "orders", _orders(customer_ref=None, id_type=None, id_value=None))
    with pytest.raises(RawDataError, match=rf"{path}.*customer_ref or id_type\+id_value"):
        register_raw_sources(con, tmp_path)


def test_an_unreadable_file_is_reported_by_name(tmp_path, con):
    _write(tmp_path, "orders", _orders())
    broken = tmp_path / "orders" / "broken.parquet"
    broken.write_bytes(b"this is not parquet")
    with pytest.raises(RawDataError, match=rf"{broken}: cannot be read"):
        register_raw_sources(con, tmp_path)


def test_a_shop_with_only_orders_gets_empty_views_for_every_optional_source(tmp_path, con, caplog):
    _write(tmp_path, "orders", _orders())
    with caplog.at_level(logging.WARNING):
        registered = {r.name: r for r in register_raw_sources(con, tmp_path)}
    assert registered["orders"].rows == 2
    assert registered["events"].rows == 0
    assert con.execute("select count(*) from raw.surveys").fetchone()[0] == 0
    assert "optional source 'events' is absent" in caplog.text
    # Absent optional columns are null, not errors.
    assert con.execute("select count(channel) from raw.orders").fetchone()[0] == 0
    assert "channel" in registered["orders"].missing_optional_columns


def test_parquet_and_csv_files_of_one_source_are_read_together(tmp_path, con):
    _write(tmp_path, "orders", _orders())
    (tmp_path / "orders" / "export.csv").write_text(
        "\ufefforder_id,customer_ref,ordered_at,total_amount,channel\n"
        "SO3,M9,2025-01-03 09:00:00,12.50,app\n",
        encoding="utf-8",
    )
    register_raw_sources(con, tmp_path)
    rows = con.execute("select order_id, channel from raw.orders order by order_id").fetchall()
    assert rows == [("SO1", None), ("SO2", None), ("SO3", "app")]


def test_extra_columns_are_ignored_with_a_warning(tmp_path, con, caplog):
    _write(tmp_path, "orders", _orders(internal_note=["x", "y"]))
    with caplog.at_level(logging.WARNING):
        registered = {r.name: r for r in register_raw_sources(con, tmp_path)}
    assert registered["orders"].extra_columns == ("internal_note",)
    assert "internal_note" in caplog.text
    columns = [r[0] for r in con.execute("describe raw.orders").fetchall()]
    assert "internal_note" not in columns


CSV_HEADER = "order_id,customer_ref,ordered_at,total_amount\n"
CSV_ROWS = "".join(f"SO{i},M{i},2025-01-03 09:00:00,{i}.50\n" for i in range(10, 60))


@pytest.mark.parametrize(
    ("bad_row", "problem"),
    [
        ("SO99,M99,2025-01-03 09:00:00,9.50,oops\n", "has 5 fields where the header has 4"),
        ("SO99,M99\n", "has 2 fields where the header has 4"),
    ],
)
@pytest.mark.parametrize("beside_parquet", [True, False])
def test_a_csv_row_with_more_or_fewer_fields_stops_the_run_naming_file_and_line(
    tmp_path, con, bad_row, problem, beside_parquet
):
    # Beside other files, DuckDB's sniffer once read such a file as one column: every row
    # reached staging as a null key with its values gone; alone, it failed with a binder error.
    if beside_parquet:
        _write(tmp_path, "orders", _orders())
    path = tmp_path / "orders" / "new.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = CSV_ROWS.splitlines(keepends=True)
    path.write_text(CSV_HEADER + "".join(lines[:20]) + bad_row + "".join(lines[20:]))
    with pytest.raises(RawDataError, match=rf"{path}: line 22 {problem}"):
        register_raw_sources(con, tmp_path)


def test_a_csv_with_an_unclosed_quote_names_the_file(tmp_path, con):
    _write(tmp_path, "orders", _orders())
    path = tmp_path / "orders" / "new.csv"
    path.write_text(CSV_HEADER + CSV_ROWS + '"SO98,M98,2025-01-03 09:00:00,1.50\n')
    with pytest.raises(RawDataError, match=rf"{path}: line \d+"):
        register_raw_sources(con, tmp_path)


def test_files_no_run_reads_are_named_in_a_warning_and_the_metadata(tmp_path, con, caplog):
    _write(tmp_path, "orders", _orders())
    (tmp_path / "orders" / "late.CSV").write_text(CSV_HEADER + CSV_ROWS)
    (tmp_path / "orders" / "day=2025-12-31").mkdir()
    (tmp_path / "orders" / ".DS_Store").write_bytes(b"")
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "events.json").write_text("{}")
    with caplog.at_level(logging.WARNING):
        registered = {r.name: r for r in register_raw_sources(con, tmp_path)}
    assert registered["orders"].rows == 2
    assert registered["orders"].unread_files == ("day=2025-12-31/", "late.CSV")
    assert "day=2025-12-31/, late.CSV in" in caplog.text and "are not read" in caplog.text
    assert "optional source 'events' is absent (no .parquet or .csv files (it holds" in caplog.text


CSV_ORDERS = "order_id,customer_ref,ordered_at,total_amount,store_city\nSO3,M9,2025-01-03 09:00:00,12.50,上海\n"


def test_a_gbk_csv_is_reported_as_gbk_with_its_line_not_loaded_as_mojibake(tmp_path, con):
    _write(tmp_path, "orders", _orders())
    export = tmp_path / "orders" / "excel_export.csv"
    export.write_bytes(CSV_ORDERS.encode("gbk"))
    with pytest.raises(RawDataError, match=rf"{export}: is not UTF-8 \(line 2\).*GBK.*UTF-8"):
        register_raw_sources(con, tmp_path)


def test_a_utf8_csv_with_a_byte_order_mark_keeps_its_chinese_text(tmp_path, con):
    _write(tmp_path, "orders", _orders())
    (tmp_path / "orders" / "export.csv").write_text("\ufeff" + CSV_ORDERS, encoding="utf-8")
    register_raw_sources(con, tmp_path)
    rows = con.execute("select order_id, store_city from raw.orders where order_id = 'SO3'")
    assert rows.fetchall() == [("SO3", "上海")]


def test_a_column_whose_type_cannot_be_cast_to_a_value_stops_the_run_naming_it(tmp_path, con):
    path = _write(tmp_path, "orders", _orders(total_amount=[[1.0, 2.0], [3.0]]))
    with pytest.raises(
        RawDataError, match=rf"{path}: column 'total_amount'.*list<.*cannot be cast"
    ):
        register_raw_sources(con, tmp_path)


def test_a_required_source_whose_files_hold_no_rows_fails_fast(tmp_path, con):
    _write(tmp_path, "orders", _orders().slice(0, 0))
    with pytest.raises(
        RawDataError, match=r"orders: required source 'orders' has files but no rows"
    ):
        register_raw_sources(con, tmp_path)


def test_a_deletion_list_row_naming_nobody_is_rejected(tmp_path, con):
    _write(tmp_path, "orders", _orders())
    listed = tmp_path / "forget.csv"
    listed.write_text("customer_id,id_type,id_value\ncu_1,,\n,phone,\n")
    with pytest.raises(RawDataError, match=rf"{listed}: 1 deletion request\(s\) name neither"):
        register_raw_sources(con, tmp_path, deletion_list=listed)


def test_a_deletion_list_with_an_unknown_column_is_rejected(tmp_path, con):
    _write(tmp_path, "orders", _orders())
    listed = tmp_path / "forget.csv"
    listed.write_text("customer,reason\ncu_1,asked\n")
    with pytest.raises(RawDataError, match=rf"{listed}: deletion list column 'customer'"):
        register_raw_sources(con, tmp_path, deletion_list=listed)


def test_a_deletion_list_with_a_ragged_row_names_the_file_and_line(tmp_path, con):
    # A request read as one garbled column would forget no one.
    _write(tmp_path, "orders", _orders())
    listed = tmp_path / "forget.csv"
    listed.write_text("customer_id,id_type,id_value\ncu_1,,\ncu_2,,,extra\n")
    with pytest.raises(
        RawDataError, match=rf"{listed}: line 3 has 4 fields where the header has 3"
    ):
        register_raw_sources(con, tmp_path, deletion_list=listed)
