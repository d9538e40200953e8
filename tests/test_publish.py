"""Publishing for BI: the public tables, whole and documented, swapped in under live readers."""

import json
import os
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.model_runs import ModelRun, record_model_run
from orchestration.project import dbt_project
from orchestration.publish import (
    CURRENT_LINK,
    DATABASE_NAME,
    MODEL_RUNS,
    PARQUET_DIR,
    PUBLISH_INFO,
    PublicColumn,
    PublicTable,
    is_public,
    public_tables,
    publish,
    read_publish_info,
)
from orchestration.settings import PROJECT_DIR, Settings

THE_PUBLIC_TABLES = {
    "customer_360", "customer_features", "customer_tags", "customer_profile", "tag_catalog",
    "customer_tag_history", "customer_segments", "segment_profiles", "churn_scores",
    "customer_value", "model_runs",
}  # fmt: skip

# A reader as a BI tool would be: its own process, a fresh read-only connection per query
# round, checking that the version stamp and the row counts of every table agree, in the
# DuckDB file and in the Parquet folder the `current` link points at.
READER = r"""
import json, os, sys, time
import duckdb

published, stop = sys.argv[1], sys.argv[2]
database = os.path.join(published, "customer_profiles.duckdb")
reads, errors, versions = 0, [], []

def check(con, where):
    info = con.execute(
        f"select table_name, version, row_count from {where('publish_info')}"
    ).fetchall()
    stamp = {v for _, v, _ in info}
    if len(stamp) != 1:
        errors.append(f"publish_info mixes versions {sorted(stamp)}")
    for table, _, expected in info:
        found = con.execute(f"select count(*) from {where(table)}").fetchone()[0]
        if found != expected:
            errors.append(f"{table}: {found} rows, publish_info says {expected}")
    return stamp.pop() if stamp else None

while not os.path.exists(stop):
    try:
        con = duckdb.connect(database, read_only=True)
        try:
            version = check(con, lambda t: f'main."{t}"')
        finally:
            con.close()
        folder = os.path.realpath(os.path.join(published, "parquet", "current"))
        con = duckdb.connect()
        try:
            parquet_version = check(con, lambda t: f"read_parquet('{folder}/{t}.parquet')")
        finally:
            con.close()
        reads += 1
        if version not in versions:
            versions.append(version)
        versions += [] if parquet_version in versions else [parquet_version]
    except Exception as exc:
        errors.append(repr(exc))
print(json.dumps({"reads": reads, "errors": errors[:20], "versions": versions}))
"""


def _manifest() -> dict:
    return json.loads(dbt_project.manifest_path.read_text())


def _model(name: str, access: str, alias: str | None = None) -> dict:
    return {
        "resource_type": "model",
        "name": name,
        "alias": alias or name,
        "schema": "marts",
        "access": access,
        "description": f"About {name}.",
        "columns": {"customer_id": {"name": "customer_id", "description": "The customer."}},
    }


def test_the_public_tables_are_the_models_dbt_marks_public_plus_model_runs():
    tables = public_tables(_manifest())
    assert {t.name for t in tables} >= THE_PUBLIC_TABLES
    marked = {n["name"] for n in _manifest()["nodes"].values() if n.get("access") == "public"}
    assert {t.dbt_model for t in tables if t.dbt_model} == marked
    # A model that lands later is public the moment its yml says so, and only then.
    manifest = {"nodes": {"a": _model("audience_members", "public"), "b": _model("x", "protected")}}
    (audience, runs) = public_tables(manifest)
    assert (audience.name, audience.relation, runs) == (
        "audience_members",
        "marts.audience_members",
        MODEL_RUNS,
    )
    assert audience.columns == (PublicColumn("customer_id", "The customer."),)


def test_the_copy_is_published_in_the_repo_or_beside_a_relocated_warehouse_unless_told(
    tmp_path, monkeypatch
):
    for variable in ("CP_WAREHOUSE", "CP_PUBLISHED_DIR"):
        monkeypatch.delenv(variable, raising=False)
    assert Settings.from_env().published_dir == PROJECT_DIR / "published"
    monkeypatch.setenv("CP_WAREHOUSE", str(tmp_path / "w" / "warehouse.duckdb"))
    assert Settings.from_env().published_dir == tmp_path / "w" / "published"
    monkeypatch.setenv("CP_PUBLISHED_DIR", str(tmp_path / "bi"))
    assert Settings.from_env().published_dir == tmp_path / "bi"


def test_two_public_tables_with_one_published_name_are_refused():
    manifest = {"nodes": {"a": _model("a", "public", "same"), "b": _model("b", "public", "same")}}
    with pytest.raises(ValueError, match="'same'"):
        public_tables(manifest)


def _hand_made_warehouse(path: Path, rows: int) -> list[PublicTable]:
    con = duckdb.connect(str(path))
    con.execute("create schema marts; create schema ml")
    con.execute(f"create table marts.people as select range as customer_id from range({rows})")
    con.execute("create table ml.model_runs as select 'churn' as model_name")
    con.close()
    return [
        PublicTable("people", "marts.people", "People.", (PublicColumn("customer_id", "Who."),)),
        PublicTable("model_runs", "ml.model_runs", "Fits.", (PublicColumn("model_name", "What."),)),
    ]


def test_a_failed_publish_leaves_the_previous_copy_in_place_and_no_temporary_files(tmp_path):
    tables = _hand_made_warehouse(tmp_path / "w.duckdb", rows=5)
    first = publish(tmp_path / "w.duckdb", tmp_path / "out", tables, run_id="run-1")
    missing = PublicTable("ghost", "marts.ghost", "Never built.")
    with pytest.raises(ValueError, match="marts.ghost is not in the warehouse"):
        publish(tmp_path / "w.duckdb", tmp_path / "out", [*tables, missing], run_id="run-2")
    assert {row["version"] for row in read_publish_info(first.database_path)} == {first.version}
    leftovers = [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]
    assert leftovers == []
    assert os.readlink(tmp_path / "out" / PARQUET_DIR / CURRENT_LINK) == first.version
    assert sorted(p.name for p in (tmp_path / "out" / PARQUET_DIR).iterdir()) == sorted(
        [first.version, CURRENT_LINK]
    )


ROWS_PER_TABLE = 40  # a few rows each: enough for counts to differ between versions


@pytest.fixture
def warehouse(tmp_path) -> Path:
    """A warehouse with every public table, shaped by its dbt contract (rows of nulls) and a
    real model_runs row: what publishing needs, without building the whole graph."""
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    for i, node in enumerate(n for n in _manifest()["nodes"].values() if is_public(n)):
        columns = ", ".join(
            f'cast(null as {c["data_type"]}) as "{c["name"]}"' for c in node["columns"].values()
        )
        con.execute(f"create schema if not exists {node['schema']}")
        con.execute(
            f"create table {node['schema']}.{node['alias']} as"
            f" select {columns} from range({ROWS_PER_TABLE + i})"
        )
    record_model_run(
        con,
        ModelRun("churn", "run-0", date(2025, 12, 31), datetime(2026, 1, 1), {"auc": 0.8}),
    )
    con.close()
    return path


def _publish_with_the_asset(warehouse: Path) -> dg.MaterializeResult:
    from orchestration.assets.publish import published_tables
    from orchestration.resources import WarehouseResource

    result = dg.materialize(
        [published_tables],
        resources={"warehouse": WarehouseResource(warehouse_path=str(warehouse))},
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node("published_tables")
    return materialization


def test_the_asset_publishes_every_public_table_with_column_comments_and_a_version_stamp(
    warehouse, tmp_path, monkeypatch
):
    published = tmp_path / "published"
    monkeypatch.setenv("CP_PUBLISHED_DIR", str(published))
    materialization = _publish_with_the_asset(warehouse)
    database = published / DATABASE_NAME
    assert materialization.metadata["database"].value == str(database)
    tables = {t.name: t for t in public_tables(_manifest())}
    con = duckdb.connect(str(database), read_only=True)
    try:
        names = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
        assert names == set(tables) | {PUBLISH_INFO}
        assert names >= THE_PUBLIC_TABLES
        comments = {
            (table, column): comment
            for table, column, comment in con.execute(
                "select table_name, column_name, comment from duckdb_columns() where not internal"
            ).fetchall()
        }
        for table in tables.values():
            for column in table.columns:
                assert comments[(table.name, column.name)] == column.description
        assert [k for k, v in comments.items() if not v] == []
        table_comments = dict(
            con.execute("select table_name, comment from duckdb_tables()").fetchall()
        )
        assert table_comments["customer_profile"] == tables["customer_profile"].description
        info = con.execute(
            f"select table_name, version, run_id, row_count from {PUBLISH_INFO}"
        ).fetchall()
        assert len({version for _, version, _, _ in info}) == 1
        assert {run_id for _, _, run_id, _ in info} == {materialization.metadata["run_id"].value}
        for table, _, _, rows in info:
            assert con.execute(f'select count(*) from "{table}"').fetchone()[0] == rows
        assert dict((t, r) for t, _, _, r in info)["model_runs"] == 1
    finally:
        con.close()
    parquet = published / PARQUET_DIR / CURRENT_LINK
    assert {p.stem for p in parquet.iterdir()} == set(tables) | {PUBLISH_INFO}


def _mutate(warehouse: Path, round_: int) -> None:
    """Drop a different number of rows from each public table, so versions differ in counts."""
    con = duckdb.connect(str(warehouse))
    try:
        for i, table in enumerate(public_tables(_manifest())):
            con.execute(
                f"delete from {table.relation} where rowid in"
                f" (select rowid from {table.relation} limit {1 + (round_ + i) % 3})"
            )
    finally:
        con.close()


def test_a_reader_polling_the_published_file_during_republishes_sees_only_whole_versions(
    warehouse, tmp_path, monkeypatch
):
    published = tmp_path / "published"
    monkeypatch.setenv("CP_PUBLISHED_DIR", str(published))
    versions = [_publish_with_the_asset(warehouse).metadata["version"].value]
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(published), str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        old = duckdb.connect(str(published / DATABASE_NAME), read_only=True)
        old_rows = old.execute("select count(*) from customer_tags").fetchone()[0]
        for round_ in range(3):
            time.sleep(0.3)  # let the reader read this version too
            _mutate(warehouse, round_)
            versions.append(_publish_with_the_asset(warehouse).metadata["version"].value)
        # A reader that opened the file before the swaps still reads its version, whole.
        assert old.execute("select count(*) from customer_tags").fetchone()[0] == old_rows
        old.close()
        time.sleep(0.3)
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    seen = json.loads(out)
    assert seen["errors"] == []
    assert len(set(versions)) == 4 and seen["reads"] >= 4
    assert set(seen["versions"]) <= set(versions) and len(seen["versions"]) >= 2
    # Old Parquet versions are deleted: the current one and the one before remain.
    kept = {p.name for p in (published / PARQUET_DIR).iterdir()} - {CURRENT_LINK}
    assert kept == set(versions[-2:])
