"""OneID on a hand-made dataset whose right answer is obvious, rebuilt as data arrives."""

import json

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dbtrunner import dbt_build

AS_OF = "--vars", "{as_of_date: '2025-12-31'}"
STORE_PHONE = "13700137000"


def _write(raw, source, rows, name="part-0.parquet"):
    folder = raw / source
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / name)


def _crm(ref, system, name, phone, email=None):
    return {
        "customer_ref": ref, "source_system": system, "name": name, "phone": phone,
        "email": email, "gender": "F", "city": "上海", "province": "上海市",
        "registered_at": "2024-01-01 10:00:00", "updated_at": "2024-06-01 10:00:00",
        "marketing_consent": True,
    }  # fmt: skip


def _order(order_id, customer_ref=None, id_type=None, id_value=None, day="2025-03-01"):
    return {
        "order_id": order_id, "customer_ref": customer_ref, "id_type": id_type,
        "id_value": id_value, "ordered_at": f"{day} 12:00:00", "total_amount": 100.0,
        "channel": "offline_store", "status": "completed",
    }  # fmt: skip


def _link(type_a, value_a, type_b, value_b):
    return {
        "id_type_a": type_a, "id_value_a": value_a, "id_type_b": type_b, "id_value_b": value_b,
        "observed_at": "2025-01-01 08:00:00", "source": "app_login",
    }  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("identity")
    raw = root / "raw"
    _write(raw, "customers", [
        _crm("M1", "crm", "张三", "+86 138 0013 8001", "ZS@QQ.COM "),
        _crm("TM1", "tmall", "张三", "138-0013-8001"),  # the same person in a second system
        _crm("M2", "crm", "李四", "13900139002"),
        _crm("M3", "crm", "王五", STORE_PHONE),  # signed up by staff with the store phone
        _crm("M4", "crm", "赵六", "137 0013 7000"),  # ... the same store phone, typed otherwise
    ])  # fmt: skip
    _write(raw, "orders", [
        _order("SO1", customer_ref="M1"),
        _order("SO2", id_type="phone", id_value="13800138001"),  # the third way to write it
        _order("SO3", customer_ref="M3"),
        _order("SO4", customer_ref="M4"),
        _order("SO5", id_type="phone", id_value=STORE_PHONE),  # a walk-in at the counter
        _order("SO6", id_type="email", id_value="guest@163.com"),
        _order("SO7", id_type="wechat_openid", id_value="oGUEST"),
    ])  # fmt: skip
    _write(raw, "identity_links", [
        _link("device_id", "dev1", "member_id", "M1"),
        _link("device_id", "dev_family", "member_id", "M2"),  # a tablet two members share
        _link("device_id", "dev_family", "member_id", "M4"),
    ])  # fmt: skip
    warehouse = root / "warehouse.duckdb"
    dbt_build(raw, warehouse, *AS_OF)
    return raw, warehouse


def _ids(warehouse) -> dict[str, str]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            "select identifier_key, customer_id from intermediate.int_identity__customer_ids"
        ).fetchall()
    finally:
        con.close()
    return dict(rows)


def _query(warehouse, sql):
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _owner(warehouse, order_id):
    return _query(
        warehouse,
        f"select customer_id from intermediate.int_orders_attributed where order_id = '{order_id}'",
    )[0][0]


def test_a_phone_written_three_ways_is_one_identifier_and_one_customer(world):
    _, warehouse = world
    ids = _ids(warehouse)
    phones = [k for k in ids if k.startswith("phone:")]
    m1 = ids["member_id:M1"]
    assert ids["member_id:TM1"] == m1
    assert ids["device_id:dev1"] == m1
    assert _owner(warehouse, "SO1") == _owner(warehouse, "SO2") == m1
    # M1's phone (three spellings) and M2's phone: the store phone is not stitched.
    assert len(phones) == 2
    assert sum(1 for k in ids if ids[k] == m1 and k.startswith("email:")) == 1


def test_a_shared_store_phone_does_not_merge_two_members(world):
    _, warehouse = world
    ids = _ids(warehouse)
    assert ids["member_id:M3"] != ids["member_id:M4"]
    assert _owner(warehouse, "SO5") is None  # a counter-phone order belongs to no one
    reasons = dict(
        _query(warehouse, "select id_type, shared_reason from audit.identity_shared_identifiers")
    )
    assert reasons == {
        "phone": "on_records_with_different_names",
        "device_id": "linked_to_several_people",
    }


def test_a_family_tablet_does_not_merge_two_members(world):
    _, warehouse = world
    ids = _ids(warehouse)
    assert ids["member_id:M2"] != ids["member_id:M4"]
    assert "device_id:dev_family" not in ids


def test_guests_known_by_one_identifier_are_customers(world):
    _, warehouse = world
    customers = _query(warehouse, "select count(*) from marts.customer_360")[0][0]
    # M1 (+TM1), M2, M3, M4, the email guest and the openid guest
    assert customers == 6
    assert _owner(warehouse, "SO6") != _owner(warehouse, "SO7")


def test_customer_ids_survive_unrelated_new_data_and_merges_are_recorded(world, tmp_path):
    raw, warehouse = world
    before = _ids(warehouse)
    # New, unrelated people arrive: nobody's id changes.
    _write(raw, "customers", [_crm("M9", "crm", "孙七", "13600136009")], name="part-1.parquet")
    _write(
        raw, "orders", [_order("SO9", customer_ref="M9", day="2025-06-01")], name="part-1.parquet"
    )
    dbt_build(raw, warehouse, *AS_OF)
    after = _ids(warehouse)
    assert {k: after[k] for k in before} == before
    assert _query(warehouse, "select count(*) from audit.customer_id_merges") == [(0,)]

    # Then evidence arrives that the email guest is 李四 (M2): two customers become one.
    _write(raw, "identity_links", [_link("email", "guest@163.com", "phone", "139-0013-9002")],
           name="part-1.parquet")  # fmt: skip
    dbt_build(raw, warehouse, *AS_OF)
    merged = _ids(warehouse)
    old_ids = {after["member_id:M2"], after["email:" + _email_key(warehouse)]}
    assert len(old_ids) == 2
    assert merged["member_id:M2"] == merged["email:" + _email_key(warehouse)] == min(old_ids)
    assert _query(
        warehouse,
        "select old_customer_id, new_customer_id, change_type from audit.customer_id_merges",
    ) == [(max(old_ids), min(old_ids), "merged")]
    # Everyone else kept their id.
    unchanged = {k: v for k, v in after.items() if v not in old_ids}
    assert {k: merged[k] for k in unchanged} == unchanged


def _email_key(warehouse) -> str:
    """The hashed key of guest@163.com, read from the order it was placed under."""
    return _query(
        warehouse,
        "select buyer_id_value from staging.stg_commerce__orders where order_id = 'SO6'",
    )[0][0]


def test_a_merge_that_renames_a_customer_reaches_the_incremental_roll_ups(tmp_path):
    """Two members (周八's two accounts), each a member id and a phone, ordered in March; a
    third customer ordered in June, so March lies outside the roll-ups' lookback. Then a
    link shows the two accounts are one person. Whichever id survives, the other's two
    identifiers change id together; the identity version must still change (an xor of
    per-row hashes once cancelled exactly this), so the roll-ups are rebuilt and the
    survivor's features count both orders."""
    raw = tmp_path / "raw"
    _write(raw, "customers", [
        _crm("M5", "crm", "周八", "13500135005"),
        _crm("M6", "crm", "周八", "13500135006"),
        _crm("M7", "crm", "吴九", None),
    ])  # fmt: skip
    _write(raw, "orders", [
        _order("SO51", customer_ref="M5", day="2025-03-01"),
        _order("SO61", customer_ref="M6", day="2025-03-02"),
        _order("SO71", customer_ref="M7", day="2025-06-01"),
    ])  # fmt: skip
    warehouse = tmp_path / "warehouse.duckdb"
    select = ("--select", "+customer_features", "--exclude", "resource_type:test")
    dbt_build(raw, warehouse, *AS_OF, *select)
    before = _ids(warehouse)
    assert before["member_id:M5"] != before["member_id:M6"]

    _write(raw, "identity_links", [_link("member_id", "M5", "member_id", "M6")])
    dbt_build(raw, warehouse, *AS_OF, *select)
    after = _ids(warehouse)
    survivor = after["member_id:M5"]
    assert after["member_id:M6"] == survivor
    renamed = sorted(key for key in before if after[key] != before[key])
    assert len(renamed) == 2  # one account's member id and phone: the case that cancelled
    orders = _query(
        warehouse,
        "select customer_id, sum(orders_placed) from intermediate.int_daily_orders_per_customer"
        " group by 1 order by 2 desc, 1",
    )
    assert orders == [(survivor, 2), (after["member_id:M7"], 1)]
    assert _query(
        warehouse,
        f"select order_count from marts.customer_features where customer_id = '{survivor}'",
    ) == [(2,)]


def test_customer_ids_refuse_to_build_against_a_stale_copy_of_their_last_mapping(tmp_path):
    """int_identity__customer_ids keeps ids stable against the copy of its last build that
    int_identity__previous_customer_ids takes. A selection that leaves the copy out would
    compare with an older mapping, so it stops with an error; the selections a developer
    uses after touching the identity models (components and what follows) take the copy."""
    raw = tmp_path / "raw"
    _write(raw, "customers", [_crm("M5", "crm", "周八", "13500135005")])
    _write(raw, "orders", [_order("SO51", customer_ref="M5")])
    warehouse = tmp_path / "warehouse.duckdb"
    no_tests = ("--exclude", "resource_type:test", "resource_type:unit_test")
    dbt_build(raw, warehouse, *AS_OF, "--select", "+int_identity__customer_ids", *no_tests)
    with pytest.raises(AssertionError, match="is not a copy of the last build"):
        dbt_build(raw, warehouse, *AS_OF, "--select", "int_identity__customer_ids", *no_tests)
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    project = "model.customer_profiles."
    downstream = manifest["child_map"][project + "int_identity__components"]
    assert project + "int_identity__previous_customer_ids" in downstream
    pair = ("int_identity__previous_customer_ids", "int_identity__customer_ids")
    dbt_build(raw, warehouse, *AS_OF, "--select", *pair, *no_tests)


def test_a_split_never_hands_the_kept_id_to_the_other_part(tmp_path):
    """Two members merge, then split again. The part with more identifiers keeps the merged
    id; when that id had been derived from the other part's label, the other part used to
    derive it again, and the two people stayed one customer with nothing recorded."""
    raw = tmp_path / "raw"
    _write(raw, "customers", [_crm("M5", "crm", "周八", "13500135005"),
                              _crm("M6", "crm", "周八", "13500135006")])  # fmt: skip
    _write(raw, "orders", [_order("SO51", customer_ref="M5"), _order("SO61", customer_ref="M6")])
    warehouse = tmp_path / "warehouse.duckdb"
    select = ("--select", "+int_identity__customer_ids", "--exclude", "resource_type:test")
    dbt_build(raw, warehouse, *AS_OF, *select)
    first = _ids(warehouse)
    kept = min(first["member_id:M5"], first["member_id:M6"])
    source, other = ("M5", "M6") if first["member_id:M5"] == kept else ("M6", "M5")

    # The merge night: a link says they are one, and the other member gains an email.
    _write(raw, "identity_links", [_link("member_id", "M5", "member_id", "M6")])
    _write(raw, "customers", [_crm(other, "crm", "周八", None, "zhou@qq.com")],
           name="part-1.parquet")  # fmt: skip
    dbt_build(raw, warehouse, *AS_OF, *select)
    assert set(_ids(warehouse).values()) == {kept}

    # The link is withdrawn: the other member's part (more identifiers) keeps the id.
    (raw / "identity_links" / "part-0.parquet").unlink()
    dbt_build(raw, warehouse, *AS_OF, *select)
    split = _ids(warehouse)
    assert split[f"member_id:{other}"] == kept
    assert split[f"member_id:{source}"] != kept
