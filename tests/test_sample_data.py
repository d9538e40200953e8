"""The sample-data generator: deterministic, on contract, and consistent with its truth."""

import json
import re
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from orchestration.raw_contract import CONTRACT
from orchestration.sampledata.generate import RAW_SCHEMAS, generate
from orchestration.sampledata.simulate import CHUNK_SIZE, GeneratorConfig
from orchestration.sampledata.world import PERSONAS


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _read(root: Path, source: str) -> str:
    return f"read_parquet('{root}/{source}/*.parquet')"


def _one(sql: str) -> tuple:
    return duckdb.execute(sql).fetchone()


def test_the_same_seed_and_size_give_byte_identical_files_whatever_the_worker_count(tmp_path):
    # Two chunks, so the chunk boundary and the parallel path are both exercised.
    config = GeneratorConfig(customers=CHUNK_SIZE + 300, seed=11)
    generate(config, tmp_path / "a" / "raw", progress=False, workers=1)
    generate(config, tmp_path / "b" / "raw", progress=False, workers=2)
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert first.keys() == second.keys()
    assert len(first) > 2 * len(CONTRACT.names)
    assert [name for name in first if first[name] != second[name]] == []


def test_a_different_seed_gives_different_data(tmp_path, small_dataset):
    config = GeneratorConfig(customers=1_500, seed=8, bad_row_rate=0.01)
    generate(config, tmp_path / "raw", progress=False, workers=1)
    ours = (tmp_path / "raw" / "orders" / "part-00000.parquet").read_bytes()
    theirs = (small_dataset / "raw" / "orders" / "part-00000.parquet").read_bytes()
    assert ours != theirs


@pytest.mark.parametrize("source", CONTRACT.names)
def test_every_source_is_written_with_the_contract_columns(small_dataset, source):
    files = sorted((small_dataset / "raw" / source).glob("*.parquet"))
    assert files, f"no files for {source}"
    for path in files:
        schema = pq.read_schema(path)
        assert schema.names == list(RAW_SCHEMAS[source].names)
        assert set(schema.names) == set(CONTRACT[source].columns)
        assert schema.equals(RAW_SCHEMAS[source], check_metadata=False)
    rows = _one(f"select count(*) from {_read(small_dataset / 'raw', source)}")[0]
    assert rows > 0


def test_regenerating_into_the_same_folder_leaves_no_stale_files(tmp_path):
    generate(GeneratorConfig(customers=CHUNK_SIZE + 10, seed=1), tmp_path / "raw", progress=False)
    generate(GeneratorConfig(customers=50, seed=1), tmp_path / "raw", progress=False)
    assert [p.name for p in (tmp_path / "raw" / "orders").iterdir()] == ["part-00000.parquet"]


def _canonical(id_type: str, value: str) -> str:
    if id_type == "phone":
        digits = re.sub(r"\D", "", value)
        return digits[2:] if len(digits) == 13 and digits.startswith("86") else digits
    if id_type == "email":
        return value.strip().lower()
    return value


def test_every_identifier_in_the_raw_data_has_a_known_owner(small_dataset):
    raw = small_dataset / "raw"
    seen = duckdb.execute(
        f"""
        select 'member_id' as id_type, customer_ref as id_value from {_read(raw, "customers")}
        union select 'phone', phone from {_read(raw, "customers")}
        union select 'email', email from {_read(raw, "customers")}
        union select id_type, id_value from {_read(raw, "orders")}
        union select 'member_id', customer_ref from {_read(raw, "orders")}
        union select id_type, id_value from {_read(raw, "events")}
        union select id_type_a, id_value_a from {_read(raw, "identity_links")}
        union select id_type_b, id_value_b from {_read(raw, "identity_links")}
        """
    ).fetchall()
    truth = _read(small_dataset / "truth", "identifiers")
    known = set(duckdb.execute(f"select id_type, id_value from {truth}").fetchall())
    # Bad rows (null keys, unknown codes) are the only identifiers allowed to be unknown.
    unknown = {
        (t, v) for t, v in seen
        if t is not None and v is not None and (t, _canonical(t, v)) not in known
        and t not in ("???", "unknown_value", "测试")
    }  # fmt: skip
    assert unknown == set()


def test_every_personal_identifier_belongs_to_exactly_one_person(small_dataset):
    owners = f"""
        select kind, id_type, id_value, count(distinct person_id) as persons
        from {_read(small_dataset / "truth", "identifiers")}
        group by all
    """
    assert _one(f"select max(persons) from ({owners}) where kind = 'personal'") == (1,)
    # ... and the shared ones really are shared: these are the traps for identity resolution.
    shared = duckdb.execute(
        f"select kind, min(persons), count(*) from ({owners}) where kind <> 'personal' group by 1"
    ).fetchall()
    kinds = {kind: least for kind, least, _ in shared}
    assert set(kinds) == {"family_device", "recycled_cookie", "store_phone"}
    assert kinds["family_device"] >= 2 and kinds["recycled_cookie"] >= 2


def test_each_person_appears_under_one_to_five_identifiers(small_dataset):
    truth = small_dataset / "truth"
    low, high = _one(
        f"""
        select min(identifiers), max(identifiers) from (
            select p.person_id, count(distinct (i.id_type, i.id_value)) as identifiers
            from {_read(truth, "persons")} as p
            left join {_read(truth, "identifiers")} as i
                on i.person_id = p.person_id and i.kind <> 'store_phone'
            group by all
        )
        """
    )
    assert (low, high) == (1, 5)


def test_every_person_has_a_persona_and_a_consistent_lapse_date(small_dataset):
    persons = _read(small_dataset / "truth", "persons")
    manifest = json.loads((small_dataset / "truth" / "manifest.json").read_text())
    assert _one(f"select count(*) from {persons}") == (1_500,)
    personas = duckdb.execute(f"select distinct persona from {persons}").fetchall()
    assert {p for (p,) in personas} == set(PERSONAS)
    future_end = f"date '{manifest['data_end']}' + interval {manifest['future_days']} day"
    inconsistent = _one(
        f"""select count(*) from {persons}
            where lapse_date < acquired_date
               or lapse_date > {future_end}
               or (is_alive_at_end and lapse_date <= date '{manifest["data_end"]}')
               or (not is_alive_at_end and lapse_date is null)"""
    )
    assert inconsistent == (0,)
    # Every order in the raw data has a known buyer.
    orders = _one(f"select count(*) from {_read(small_dataset / 'raw', 'orders')}")[0]
    duplicates = manifest["bad_rows"]["orders"]["duplicate"]
    owners = _one(f"select count(*) from {_read(small_dataset / 'truth', 'order_owners')}")[0]
    assert owners == orders - duplicates


def test_the_withheld_future_matches_its_stated_probabilities(small_dataset):
    # The truth's P(no purchase in the next 90 days) is exact for the simulated process, so
    # across people it must agree with what actually happened, within sampling error.
    expected, actual, n = _one(
        f"""select sum(p_no_purchase_next_90d), sum(1 - bought_next_90d::int), count(*)
            from {_read(small_dataset / "truth", "persons")}"""
    )
    variance = _one(
        f"""select sum(p_no_purchase_next_90d * (1 - p_no_purchase_next_90d))
            from {_read(small_dataset / "truth", "persons")}"""
    )[0]
    assert abs(expected - actual) < 4 * variance**0.5
    # No one who lapsed before the end buys in the future.
    lapsed_buyers = _one(
        f"""select count(*) from {_read(small_dataset / "truth", "persons")}
            where not is_alive_at_end and bought_next_90d"""
    )[0]
    assert lapsed_buyers == 0


def test_campaign_uplift_differs_by_persona_and_control_groups_exist(small_dataset):
    uplift = duckdb.execute(
        f"""select persona, sum(n_control) as control,
                   sum(true_uplift * (n_treatment + n_control)) / sum(n_treatment + n_control) as uplift
            from read_parquet('{small_dataset / "truth" / "campaign_uplift.parquet"}')
            group by persona"""
    ).fetchall()
    by_persona = {persona: (control, lift) for persona, control, lift in uplift}
    assert all(control > 0 for control, _ in by_persona.values())
    assert by_persona["price_sensitive"][1] > 2 * by_persona["quality_seeker"][1]


def test_bad_rows_of_every_kind_are_planted_and_counted(small_dataset):
    manifest = json.loads((small_dataset / "truth" / "manifest.json").read_text())
    raw = small_dataset / "raw"
    for source in CONTRACT.names:
        assert sum(manifest["bad_rows"][source].values()) > 0, source
    orders = manifest["bad_rows"]["orders"]
    assert set(orders) == {
        "null_key", "duplicate", "future_timestamp", "unparseable_timestamp",
        "negative_amount", "absurd_amount", "unknown_enum",
    }  # fmt: skip
    in_data = _one(
        f"""select count(*) filter (where order_id is null),
                   count(*) filter (where try_cast(ordered_at as timestamp) is null),
                   count(*) filter (where total_amount < 0),
                   count(*) - count(distinct (order_id, ordered_at, total_amount))
            from {_read(raw, "orders")}"""
    )
    assert in_data[0] >= orders["null_key"]
    assert in_data[1] >= orders["unparseable_timestamp"]
    assert in_data[2] >= orders["negative_amount"]
    assert in_data[3] >= orders["duplicate"]


def test_messy_but_valid_formats_are_present(small_dataset):
    raw = small_dataset / "raw"
    phones, emails, cities = _one(
        f"""select count(*) filter (where phone like '+86%' or phone like '%-%' or phone like '% %'),
                   count(*) filter (where email <> lower(trim(email))),
                   count(distinct city)
            from {_read(raw, "customers")}"""
    )
    assert phones > 0 and emails > 0
    assert cities > 50


def test_seasonality_shows_double_eleven_and_the_spring_festival_dip(small_dataset):
    daily = f"""
        select try_cast(ordered_at as timestamp)::date as day, count(*) as orders
        from {_read(small_dataset / "raw", "orders")} group by 1
    """

    def orders_on(days: str) -> float:
        return _one(f"select avg(orders) from ({daily}) where day in ({days})")[0]

    typical = _one(f"select median(orders) from ({daily})")[0]
    assert orders_on("date '2024-11-11', date '2025-11-11'") > 3 * typical
    assert orders_on("date '2025-01-29', date '2025-01-30', date '2025-01-31'") < typical
