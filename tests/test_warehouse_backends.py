"""The warehouse interface behaves the same on DuckDB and on Spark: the same tests on both, and
the SQL the assets run gives the same rows on both.

One local Spark session serves the whole module (it takes 10-30 s to start); each test works
in a schema of its own. The Spark cases skip when pyspark (the `[spark]` extra) or Java is
missing.
"""

from __future__ import annotations

import itertools
import shutil
from dataclasses import replace
from datetime import UTC, date, datetime

import duckdb
import pandas as pd
import pytest

from orchestration.assets.churn import training_query
from orchestration.assets.segments import STABILITY_QUERY, sample_query
from orchestration.audiences.definitions import parse_definitions
from orchestration.audiences.lookalike import LookalikeConfig
from orchestration.audiences.members import build_audiences, profile_columns
from orchestration.model_runs import ModelRun, record_model_run
from orchestration.publish import PublicTable, publish
from orchestration.settings import Settings
from orchestration.warehouse import DuckDBWarehouse, Warehouse

_schemas = itertools.count()


@pytest.fixture(scope="module")
def spark_warehouse(tmp_path_factory):
    pytest.importorskip("pyspark", reason="pyspark (pip install -e '.[spark]') is not installed")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17 on PATH")
    from orchestration.warehouse_spark import SparkWarehouse

    root = tmp_path_factory.mktemp("spark")
    opened = SparkWarehouse.from_settings(
        replace(Settings.from_env(), spark_dir=root, target="spark")
    )
    yield opened
    opened.spark.stop()


@pytest.fixture
def duckdb_warehouse():
    con = duckdb.connect()
    yield DuckDBWarehouse(con)
    con.close()


@pytest.fixture(params=["duckdb", "spark"])
def warehouse(request) -> tuple[Warehouse, str]:
    """Each engine in turn, with a schema no other test uses."""
    opened = request.getfixturevalue(f"{request.param}_warehouse")
    schema = f"t{next(_schemas)}"
    yield opened, schema
    if request.param == "spark":
        opened.spark.sql(f"drop database if exists {schema} cascade")


def _people(ids: range) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [f"c{i:05d}" for i in ids],
            "spend": [float(i) for i in ids],
            "first_order_date": [date(2025, 1, 1) for _ in ids],
        }
    )


def _ids(opened: Warehouse, relation: str) -> list[str]:
    return [r[0] for r in opened.query_rows(f"select customer_id from {relation} order by 1")]


def test_batches_including_an_empty_one_replace_the_table_with_exactly_their_rows(warehouse):
    opened, schema = warehouse
    opened.replace_table(schema, "people", _people(range(100)))
    batches = [_people(range(3)), _people(range(0)), _people(range(3, 5))]
    assert opened.replace_table(schema, "people", iter(batches)) == 5
    assert _ids(opened, f"{schema}.people") == ["c00000", "c00001", "c00002", "c00003", "c00004"]
    assert opened.columns(f"{schema}.people") == [
        ("customer_id", "VARCHAR"),
        ("spend", "DOUBLE"),
        ("first_order_date", "DATE"),
    ]
    # Frames come back with DuckDB's pandas types, whichever engine answers.
    frame = opened.query_frame(f"select * from {schema}.people where spend > ?", [3.5])
    assert frame["customer_id"].tolist() == ["c00004"]
    assert str(frame["first_order_date"].dtype) == "datetime64[us]"
    assert frame["spend"].dtype == "float64"

    # An empty frame alone still makes a table, with no rows and the frame's columns.
    assert opened.replace_table(schema, "people", _people(range(0))) == 0
    assert opened.scalar(f"select count(*) from {schema}.people") == 0
    assert [name for name, _ in opened.columns(f"{schema}.people")] == [
        "customer_id",
        "spend",
        "first_order_date",
    ]


def test_a_write_that_fails_midway_leaves_the_old_table_and_the_next_one_succeeds(warehouse):
    opened, schema = warehouse
    opened.replace_table(schema, "people", _people(range(3)))

    def failing():
        yield _people(range(10, 20))
        raise RuntimeError("the model crashed on batch 2")

    with pytest.raises(RuntimeError, match="batch 2"):
        opened.replace_table(schema, "people", failing())
    assert _ids(opened, f"{schema}.people") == ["c00000", "c00001", "c00002"]
    assert opened.replace_table(schema, "people", _people(range(7, 9))) == 2
    assert _ids(opened, f"{schema}.people") == ["c00007", "c00008"]
    assert not opened.table_exists(schema, "people__new")


def test_stream_batches_never_exceed_the_batch_size_and_cover_every_row(warehouse):
    opened, schema = warehouse
    opened.replace_table(schema, "people", _people(range(10_000)))
    batches = list(opened.stream_batches(f"select * from {schema}.people", 4096))
    assert len(batches) >= 3
    assert max(len(b) for b in batches) <= 4096
    streamed = pd.concat(batches).sort_values("customer_id", ignore_index=True)
    pd.testing.assert_frame_equal(
        streamed, opened.query_frame(f"select * from {schema}.people order by customer_id")
    )


def test_an_empty_result_still_streams_its_columns_for_a_copy_to_create_the_table(warehouse):
    opened, schema = warehouse
    opened.replace_table(schema, "people", _people(range(3)))
    batches = list(opened.stream_arrow(f"select * from {schema}.people where spend < 0", 10))
    assert [b.num_rows for b in batches] == [0]
    assert batches[0].schema.names == ["customer_id", "spend", "first_order_date"]


def test_recording_a_model_run_twice_for_the_same_run_keeps_one_row(warehouse):
    opened, schema = warehouse
    run = ModelRun(
        model_name="churn",
        run_id="r1",
        as_of_date=date(2025, 6, 30),
        created_at=datetime(2026, 1, 1, 6, 0, tzinfo=UTC),
        metrics={"auc": 0.5},
    )
    record_model_run(opened, run, schema=schema)
    record_model_run(opened, replace(run, run_id="r2"), schema=schema)
    record_model_run(opened, replace(run, metrics={"auc": 0.75}, as_of_date=None), schema=schema)
    rows = opened.query_rows(
        f"select run_id, as_of_date, metrics_json, created_at from {schema}.model_runs"
        " order by run_id"
    )
    assert rows == [
        ("r1", None, '{"auc": 0.75}', datetime(2026, 1, 1, 6, 0)),
        ("r2", date(2025, 6, 30), '{"auc": 0.5}', datetime(2026, 1, 1, 6, 0)),
    ]


# ---- Spark's crash recovery -----------------------------------------------------------------


def test_a_spark_swap_killed_between_its_renames_is_finished_by_recovery(spark_warehouse):
    opened, schema = spark_warehouse, f"t{next(_schemas)}"
    opened.replace_table(schema, "people", _people(range(3)))
    opened.replace_table(schema, "people__new", _people(range(5, 7)))
    # The state after steps (2) and (3): `__new` marked complete, the old table moved aside.
    opened.spark.sql(
        f"alter table {schema}.people__new set tblproperties ('customer_profiles.complete' = 'true')"
    )
    opened.spark.sql(f"alter table {schema}.people rename to {schema}.people__old")
    assert not opened.table_exists(schema, "people")

    opened.recover(schema, "people")
    assert _ids(opened, f"{schema}.people") == ["c00005", "c00006"]
    assert not opened.table_exists(schema, "people__new")
    assert not opened.table_exists(schema, "people__old")
    opened.spark.sql(f"drop database {schema} cascade")


def test_files_of_a_spark_write_killed_before_it_registered_the_table_do_not_block_the_next(
    spark_warehouse,
):
    opened, schema = spark_warehouse, f"t{next(_schemas)}"
    opened.replace_table(schema, "people", _people(range(3)))
    location = opened.spark.catalog.getDatabase(schema).locationUri.removeprefix("file:")
    orphan = f"{location}/people__new"
    opened.spark.createDataFrame(_people(range(50, 60))).write.parquet(orphan)

    assert opened.replace_table(schema, "people", _people(range(4))) == 4
    assert len(_ids(opened, f"{schema}.people")) == 4
    opened.spark.sql(f"drop database {schema} cascade")


# ---- the SQL the assets run: the same rows on both engines ----------------------------------


def _both(duck: Warehouse, spark: Warehouse, schema: str, table: str, frame: pd.DataFrame):
    duck.replace_table(schema, table, frame)
    spark.replace_table(schema, table, frame)


def _same(duck: Warehouse, spark: Warehouse, sql: str, params=(), order: str | None = None):
    left, right = duck.query_frame(sql, params), spark.query_frame(sql, params)
    if order:
        left = left.sort_values(order, ignore_index=True)
        right = right.sort_values(order, ignore_index=True)
    pd.testing.assert_frame_equal(left, right)
    return left


def test_the_churn_and_segment_queries_return_the_same_rows_on_both_engines(
    duckdb_warehouse, spark_warehouse
):
    duck, spark, schema = duckdb_warehouse, spark_warehouse, f"t{next(_schemas)}"
    cutoffs = [date(2025, 3, 31), date(2025, 6, 30)]
    history = pd.DataFrame(
        {
            "customer_id": [f"c{i:03d}" for i in range(200) for _ in cutoffs],
            "as_of_date": cutoffs * 200,
            "order_count": [i % 7 for i in range(200) for _ in cutoffs],
            "last_order_at": [
                datetime(2025, 1, 1, 12, i % 60) for i in range(200) for _ in cutoffs
            ],
        }
    )
    labels = history[["customer_id", "as_of_date"]].rename(columns={"as_of_date": "cutoff_date"})
    labels["is_churned"] = [i % 3 == 0 for i in range(len(labels))]
    _both(duck, spark, schema, "history", history)
    _both(duck, spark, schema, "labels", labels)

    half = _same(
        duck,
        spark,
        training_query(f"{schema}.history", f"{schema}.labels", 0.5),
        order=["customer_id", "cutoff_date"],
    )
    # About half of the customers, each with every cut-off: a sample of people, not rows.
    assert 70 < half["customer_id"].nunique() < 130
    assert (half.groupby("customer_id").size() == 2).all()
    everyone = duck.query_frame(training_query(f"{schema}.history", f"{schema}.labels", 1.0))
    assert len(everyone) == 400

    latest = history[history["as_of_date"] == cutoffs[-1]]  # one row per customer, as features
    _both(duck, spark, schema, "features", latest)
    sample = _same(duck, spark, sample_query(f"{schema}.features"), [7])
    assert len(sample) == 7

    segments = pd.DataFrame({"customer_id": ["a", "b", "c"], "segment_id": [1, 2, 3]})
    _both(duck, spark, "ml", "customer_segments", segments)
    previous = pd.DataFrame({"customer_id": ["a", "b", "z"], "segment_id": [1, 5, 3]})
    for opened in (duck, spark):
        opened.temp_table("previous_segments", previous)
    assert duck.query_rows(STABILITY_QUERY) == spark.query_rows(STABILITY_QUERY) == [(1, 2)]
    spark.spark.sql(f"drop database {schema} cascade")


PROFILE = pd.DataFrame(
    {
        "customer_id": [f"c{i}" for i in range(12)],
        "as_of_date": [date(2025, 6, 30)] * 12,
        "has_marketing_consent": [True, False] * 6,
        "city": ["上海市"] * 4 + ["北京市"] * 8,
        "age_band": ["90后", "80后", "00后"] * 4,
        "monetary_365d": [
            600.0,
            100.0,
            900.0,
            50.0,
            700.0,
            800.0,
            0.0,
            20.0,
            1000.0,
            300.0,
            5.0,
            1.0,
        ],
        "last_order_date": [date(2025, 6, i + 1) for i in range(12)],
    }
)
CATALOG = pd.DataFrame(
    {"tag_code": ["age_band"], "allowed_values": ['{"00后": "", "90后": "", "80后": ""}']}
)
AUDIENCES = {
    "exclusive": True,
    "audiences": [
        {
            "name": "sh",
            "owner": "crm",
            "description": "d",
            "priority": 1,
            "expression": "city = '上海市' and age_band in ('90后', '80后')",
        },
        {
            "name": "big",
            "owner": "crm",
            "description": "d",
            "priority": 5,
            "expression": "monetary_365d >= 600 or last_order_date > date '2025-06-10'",
        },
        {"name": "like_big", "owner": "crm", "description": "d", "lookalike_of": "big", "size": 3},
    ],
}


def test_audiences_and_their_tables_are_the_same_on_both_engines(duckdb_warehouse, spark_warehouse):
    duck, spark = duckdb_warehouse, spark_warehouse
    for table, frame in [("customer_profile", PROFILE), ("tag_catalog", CATALOG)]:
        _both(duck, spark, "marts", table, frame)
    _both(
        duck,
        spark,
        "marts",
        "customer_features",
        PROFILE[["customer_id", "as_of_date", "monetary_365d"]],
    )
    assert profile_columns(duck, "marts.customer_profile") == profile_columns(
        spark, "marts.customer_profile"
    )
    builds = [
        build_audiences(
            opened,
            parse_definitions(AUDIENCES, source="audiences.yml"),
            profile="marts.customer_profile",
            catalog="marts.tag_catalog",
            features="marts.customer_features",
            lookalike=LookalikeConfig(max_iter=10),
        )
        for opened in (duck, spark)
    ]
    assert builds[0] == builds[1]
    assert builds[0].sizes["big"] == 7  # c0 c2 c4 c5 c8 by spend; c10 c11 by recent order
    members = _same(
        duck, spark, "select * from ml.audience_members", order=["audience_name", "customer_id"]
    )
    assert len(members) == sum(builds[0].sizes.values())
    _same(duck, spark, "select * from ml.audiences", order=["audience_name"])
    _same(duck, spark, "select * from ml.audience_overlaps", order=["audience_a", "audience_b"])


def test_a_publish_from_spark_holds_the_same_tables_as_one_from_the_duckdb_file(
    tmp_path, spark_warehouse
):
    frames = {"people": _people(range(25)), "few": _people(range(2))}
    file = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(file))
    for name, frame in frames.items():
        spark_warehouse.replace_table("pub", name, frame)
        DuckDBWarehouse(con).replace_table("pub", name, frame)
    con.close()
    tables = [PublicTable(name, f"pub.{name}", "one row per customer") for name in frames]
    options = {"run_id": "r1", "export_dir": tmp_path / "exports"}

    from_file = publish(file, tmp_path / "from_duckdb", tables, **options)
    from_spark = publish(file, tmp_path / "from_spark", tables, source=spark_warehouse, **options)
    assert from_spark.row_counts == from_file.row_counts == {"people": 25, "few": 2}

    def published(path, name):
        with duckdb.connect(str(path), read_only=True) as con:
            return con.execute(f"select * from {name} order by customer_id").df()

    for name in frames:
        pd.testing.assert_frame_equal(
            published(from_spark.database_path, name), published(from_file.database_path, name)
        )
