"""Reruns and the right to be forgotten, on one tiny warehouse built three times (dbt only):
a rerun on the same data publishes the same content, table for table; then two people on the
deletion list vanish from every table, every published copy and every kept export on the next
run, and are never stitched again."""

import json
import os

import duckdb
import pytest
from dbtrunner import dbt_build

from orchestration.publish import public_tables, publish

# Models only, and none of the point-in-time training history (feature cut-offs, churn labels):
# no public table is built from it (only the Python churn fit, not run here), and it is most
# of a tiny build's time.
MODELS_ONLY = (
    "--exclude",
    "resource_type:test",
    "resource_type:unit_test",
    "customer_feature_history",
    "int_churn_labels",
)


def _build_and_publish(raw, warehouse, out, exports, deletion_list=None):
    previous = os.environ.get("CP_DELETION_LIST")
    if deletion_list is not None:
        os.environ["CP_DELETION_LIST"] = str(deletion_list)
    try:
        dbt_build(raw, warehouse, *MODELS_ONLY)
    finally:
        os.environ.pop("CP_DELETION_LIST", None)
        if previous is not None:
            os.environ["CP_DELETION_LIST"] = previous
    manifest = json.loads((warehouse.parent / "target" / "manifest.json").read_text())
    # The Python-written ml.model_runs needs the Dagster run; every dbt public table is here.
    tables = [t for t in public_tables(manifest) if t.dbt_model is not None]
    return publish(warehouse, out, tables, export_dir=exports)


def _content_hashes(database):
    """One hash per published table, blind to row order (the publish stamp left out)."""
    con = duckdb.connect(str(database), read_only=True)
    try:
        tables = [r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()]
        return {
            table: con.execute(
                f"select count(*), md5(coalesce(string_agg(h, ',' order by h), ''))"
                f" from (select md5(cast(t as varchar)) as h from main.{table} as t)"
            ).fetchone()
            for table in tables
            if table != "publish_info"
        }
    finally:
        con.close()


def _people(con, customer_ids):
    """Identifier keys of the given customers, as the graph holds them now."""
    rows = con.execute(
        "select customer_id, identifier_key from intermediate.int_identity__customer_ids"
        " where customer_id in (select unnest(?))",
        [list(customer_ids)],
    ).fetchall()
    return {key for _, key in rows}


def _traces(con, needles, tables):
    """(table, column) pairs where any needle appears: equal to a value, or inside one (JSON)."""
    found = []
    for table in tables:
        columns = con.execute(f"select * from {table} limit 0").description
        for name, *_ in columns:
            hit = con.execute(
                f'select count(*) from {table} where cast("{name}" as varchar) in'
                f" (select unnest($needles)) or list_has_any(string_split(regexp_replace("
                f"""cast("{name}" as varchar), '[^0-9A-Za-z_:-]+', ' ', 'g'), ' '),"""
                " $needles)",
                {"needles": sorted(needles)},
            ).fetchone()[0]
            if hit:
                found.append((table, name))
    return found


@pytest.fixture(scope="module")
def forgotten(tiny_dataset, tmp_path_factory):
    root = tmp_path_factory.mktemp("forget")
    raw, warehouse = tiny_dataset / "raw", root / "warehouse.duckdb"
    out, exports = root / "published", root / "exports"
    first = _build_and_publish(raw, warehouse, out, exports)
    first_hashes = _content_hashes(first.database_path)
    rerun = _build_and_publish(raw, warehouse, out, exports)
    rerun_hashes = _content_hashes(rerun.database_path)

    con = duckdb.connect(str(warehouse), read_only=True)
    # Two people with a member id, a CRM phone and a device or cookie each: one listed by
    # customer id, one by the phone typed as the CRM holds it (under the alias "mobile").
    rich = con.execute(
        """
        select ids.customer_id, any_value(crm.customer_ref) as member_ref
        from intermediate.int_identity__customer_ids as ids
        inner join staging.stg_crm__customers as crm
            on ids.identifier_key = 'phone:' || crm.phone_hash
        where ids.customer_id in (
            select customer_id from intermediate.int_identity__customer_ids
            where id_type in ('device_id', 'cookie', 'wechat_openid')
        )
        and ids.customer_id in (select customer_id from marts.customer_tag_history)
        group by 1 order by 1 limit 2
        """
    ).fetchall()
    (by_id, _), (by_phone, member_ref) = rich
    keys = _people(con, [by_id, by_phone])
    customers_before = con.execute("select count(*) from marts.customer_360").fetchone()[0]
    con.close()
    phone = (
        duckdb.connect()
        .execute(
            f"select phone from read_parquet('{raw}/customers/*.parquet')"
            " where customer_ref = ? and phone is not null limit 1",
            [member_ref],
        )
        .fetchone()[0]
    )

    exports.mkdir()
    kept = exports / "vip_2025-01-01.csv"
    kept.write_text(f"customer_id,phone_sha256\n{by_id},x\n{by_phone},y\ncu_someone_else,z\n")
    (exports / "vip_2025-01-01.manifest.json").write_text(json.dumps({"rows": 3}))

    deletion_list = root / "forget.csv"
    deletion_list.write_text(
        f"customer_id,id_type,id_value,requested_at\n{by_id},,,2026-01-02\n"
        f',mobile,"{phone}",2026-01-03\n'
    )
    second = _build_and_publish(raw, warehouse, out, exports, deletion_list)
    return {
        "warehouse": warehouse, "out": out, "kept": kept, "first": first, "second": second,
        "first_hashes": first_hashes, "rerun_hashes": rerun_hashes,
        "customer_ids": {by_id, by_phone}, "keys": keys, "customers_before": customers_before,
    }  # fmt: skip


def test_a_rerun_on_the_same_data_publishes_identical_content_in_every_public_table(forgotten):
    first, rerun = forgotten["first_hashes"], forgotten["rerun_hashes"]
    assert len(first) >= 10 and first.keys() == rerun.keys()
    assert first["customer_360"][0] > 0 and first["customer_tag_history"][0] > 0
    assert {t: h for t, h in first.items() if rerun[t] != h} == {}


def test_two_listed_people_leave_no_trace_in_the_published_file_or_parquet(forgotten):
    keys = forgotten["keys"]
    needles = forgotten["customer_ids"] | keys | {k.split(":", 1)[1] for k in keys}
    con = duckdb.connect(str(forgotten["second"].database_path), read_only=True)
    tables = [r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()]
    assert "customer_tag_history" in tables and "customer_360" in tables
    assert _traces(con, needles, tables) == []
    # The scan does find a customer who was not forgotten (it is not blind).
    someone = con.execute("select min(customer_id) from customer_tag_history").fetchone()[0]
    assert ("customer_tag_history", "customer_id") in _traces(con, {someone}, tables)
    con.close()
    parquet = forgotten["out"] / "parquet" / "current"
    views = [f"read_parquet('{p}')" for p in sorted(parquet.glob("*.parquet"))]
    assert len(views) == len(tables)
    assert _traces(duckdb.connect(), needles, views) == []


def test_the_previous_published_version_holding_them_is_deleted(forgotten):
    parquet = forgotten["out"] / "parquet"
    assert not (parquet / forgotten["first"].version).exists()
    # The rerun's version (the one before) named them too: it goes, only the current stays.
    assert [p.name for p in parquet.iterdir() if not p.is_symlink()] == [
        forgotten["second"].version
    ]


def test_they_are_gone_from_every_warehouse_table_and_never_stitched_again(forgotten):
    con = duckdb.connect(str(forgotten["warehouse"]), read_only=True)
    stitched = con.execute(
        "select count(*) from intermediate.int_identity__customer_ids"
        " where identifier_key in (select unnest(?))",
        [sorted(forgotten["keys"])],
    ).fetchone()[0]
    assert stitched == 0
    built = [
        f"{s}.{t}"
        for s, t in con.execute(
            "select schema_name, table_name from duckdb_tables()"
            " where schema_name in ('marts', 'audit', 'ml')"
        ).fetchall()
    ]
    assert _traces(con, forgotten["customer_ids"], built) == []
    # Nobody else was lost: exactly the two people left customer_360.
    after = con.execute("select count(*) from marts.customer_360").fetchone()[0]
    assert after == forgotten["customers_before"] - 2
    remembered = con.execute(
        "select count(distinct request_key), count(distinct customer_id)"
        " from intermediate.int_identity__forgotten_identifiers"
    ).fetchone()
    assert remembered == (2, 2)
    con.close()


def test_a_kept_export_is_rewritten_without_them(forgotten):
    lines = forgotten["kept"].read_text().splitlines()
    assert lines == ["customer_id,phone_sha256", "cu_someone_else,z"]
    manifest = json.loads(forgotten["kept"].with_name("vip_2025-01-01.manifest.json").read_text())
    assert manifest["rows"] == 1 and manifest["forgotten_removed"] == 2
