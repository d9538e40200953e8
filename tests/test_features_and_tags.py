"""Features, the tag system and tag history on generated and real (CDNOW) data."""

import sys
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from dbtrunner import dbt_build, dbt_show_value, run_dbt

from orchestration.sampledata.cdnow import write_cdnow_orders
from orchestration.settings import PROJECT_DIR

sys.path.insert(0, str(PROJECT_DIR / "bench"))
from cut_off import write_cut_off  # noqa: E402

CDNOW = Path(__file__).parent / "data" / "cdnow" / "CDNOW_sample.txt"
FIRST_RUN = date(2025, 11, 30)  # the tag-history test's first as_of_date ...
SECOND_RUN = date(2025, 12, 31)  # ... and its second, the small dataset's last day
CUTOFF = date(2025, 6, 30)  # a feature-history cut-off (a month end) for the leakage test
MODELS_ONLY = ("--exclude", "resource_type:test", "resource_type:unit_test")


def _as_of(day: date) -> tuple[str, str]:
    return "--vars", f"{{as_of_date: '{day}'}}"


def _query(warehouse: Path, sql: str) -> pd.DataFrame:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


@pytest.fixture(scope="module")
def two_runs(small_dataset, tmp_path_factory):
    """The small dataset built at FIRST_RUN, its tags kept aside, then built at SECOND_RUN."""
    root = tmp_path_factory.mktemp("tags")
    warehouse = root / "warehouse.duckdb"
    dbt_build(small_dataset / "raw", warehouse, *_as_of(FIRST_RUN), *MODELS_ONLY)
    con = duckdb.connect(str(warehouse))
    con.execute("create schema kept")
    con.execute("create table kept.first_tags as select * from marts.customer_tags")
    con.close()
    dbt_build(small_dataset / "raw", warehouse, *_as_of(SECOND_RUN))
    return warehouse


def test_features_at_a_cutoff_do_not_change_when_every_later_row_is_deleted(
    two_runs, small_dataset, tmp_path
):
    raw = tmp_path / "raw"
    write_cut_off(small_dataset / "raw", raw, CUTOFF)
    truncated = tmp_path / "truncated.duckdb"
    dbt_build(raw, truncated, *_as_of(CUTOFF), "--select", "+customer_features", *MODELS_ONLY[:2])

    # Identity is resolved on all data: a link seen later re-stitches the past (a device's
    # earlier visits, a second member record) and a later identifier can rename a customer.
    # That is identity, not feature leakage, so compare the people whose identifiers seen
    # before the cut-off form the same customer in both worlds, under the full world's id.
    con = duckdb.connect()
    con.execute(f"attach '{two_runs}' as full_data (read_only)")
    con.execute(f"attach '{truncated}' as cut_data (read_only)")
    con.execute("""
        create temp table same_people as
        with full_seen as (
            select f.customer_id, f.identifier_key
            from full_data.intermediate.int_identity__customer_ids f
            inner join cut_data.intermediate.int_identity__identifiers seen using (identifier_key)
        ),
        cut_ids as (
            select customer_id, identifier_key from cut_data.intermediate.int_identity__customer_ids
        ),
        pairs as (
            select full_seen.customer_id as full_id, cut_ids.customer_id as cut_id, count(*) as shared
            from full_seen
            inner join cut_ids using (identifier_key)
            group by 1, 2
        )
        select pairs.full_id, pairs.cut_id
        from pairs
        where pairs.shared = (select count(*) from full_seen where customer_id = pairs.full_id)
          and pairs.shared = (select count(*) from cut_ids where customer_id = pairs.cut_id)
    """)
    history = con.execute(
        "select h.* from full_data.marts.customer_feature_history h"
        " inner join same_people on same_people.full_id = h.customer_id"
        f" where h.as_of_date = '{CUTOFF}'"
    ).df()
    at_cutoff = con.execute(
        "select same_people.full_id as customer_id, f.* exclude (customer_id)"
        " from cut_data.marts.customer_features f"
        " inner join same_people on same_people.cut_id = f.customer_id"
    ).df()
    everyone = con.execute(
        "select count(*) from full_data.marts.customer_feature_history"
        f" where as_of_date = '{CUTOFF}'"
    ).fetchone()[0]
    con.close()

    # Most people are the same customer in both worlds, with exactly the same features.
    assert len(history) > 0.7 * everyone and len(history) > 500, (len(history), everyone)
    history = history.sort_values("customer_id").reset_index(drop=True)
    at_cutoff = at_cutoff.sort_values("customer_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(history, at_cutoff[history.columns], check_exact=False, rtol=1e-9)


def test_tag_history_records_exactly_the_tags_that_changed_between_two_runs(two_runs):
    history = _query(two_runs, "select * from marts.customer_tag_history")
    first = _query(two_runs, "select customer_id, tag_code, tag_value from kept.first_tags")
    second = _query(two_runs, "select customer_id, tag_code, tag_value from marts.customer_tags")
    both = first.merge(second, on=["customer_id", "tag_code"], how="outer", suffixes=("_1", "_2"))
    changed = both[both.tag_value_1 != both.tag_value_2]
    unchanged = both[both.tag_value_1 == both.tag_value_2]
    assert len(changed) > 0 and len(unchanged) > 0

    opened = history[history.valid_from == pd.Timestamp(SECOND_RUN)]
    closed = history[history.valid_to == pd.Timestamp(SECOND_RUN)]
    key = ["customer_id", "tag_code"]
    new_values = changed[changed.tag_value_2.notna()]
    gone_values = changed[changed.tag_value_1.notna()]
    assert sorted(map(tuple, opened[key].values)) == sorted(map(tuple, new_values[key].values))
    assert sorted(map(tuple, closed[key].values)) == sorted(map(tuple, gone_values[key].values))
    assert (opened.merge(new_values, on=key).eval("tag_value == tag_value_2")).all()
    # An unchanged tag is one interval, open since the first run.
    kept = history.merge(unchanged[key], on=key)
    assert len(kept) == len(unchanged)
    assert (kept.valid_from == pd.Timestamp(FIRST_RUN)).all() and kept.valid_to.isna().all()
    # At most one open interval per customer and tag.
    assert not history[history.valid_to.isna()].duplicated(key).any()


def test_customer_tags_are_stored_customer_by_customer(two_runs):
    """Each customer's tags lie together in the table (macro unpivot): what lets the long
    table's repeated customer ids compress (its Parquet is 13x smaller at a million customers)."""
    runs = _query(
        two_runs,
        """
        select
            count(*) filter (where customer_id is distinct from previous) as runs,
            count(distinct customer_id) as customers
        from (
            select customer_id, lag(customer_id) over (order by rowid) as previous
            from marts.customer_tags
        )
        """,
    )
    # A run broken where the engine's parallel chunks meet is harmless; tag by tag is not.
    assert runs.runs[0] <= 1.05 * runs.customers[0]


def test_there_are_at_least_forty_tags_in_every_category_with_names_in_both_languages(two_runs):
    catalog = _query(two_runs, "select * from marts.tag_catalog")
    assert len(catalog) >= 40
    assert set(catalog.category) >= {
        "basic", "behaviour", "value", "interest", "lifecycle", "service", "engagement",
    }  # fmt: skip
    assert catalog.name_zh.str.len().gt(0).all() and catalog.name_en.str.len().gt(0).all()
    assert catalog.coverage.between(0, 1).all()
    # Coverage and distribution are measured: the shares of a closed value set sum to 1.
    closed = catalog[~catalog.is_open_value_set]
    shares = closed.value_distribution.map(lambda d: sum(yaml.safe_load(d).values()))
    assert shares.between(0.999, 1.001).all()
    customers = _query(two_runs, "select count(*) as n from marts.customer_features").n[0]
    assert (catalog.customers == customers).all()


def test_every_tag_column_declares_its_metadata_a_value_test_and_a_unit_test():
    spec = yaml.safe_load((PROJECT_DIR / "models/intermediate/tags/_tags__models.yml").read_text())
    unit_tested = {
        column
        for test in spec["unit_tests"]
        for row in test["expect"]["rows"]
        for column in row
        if column != "customer_id"
    }
    project = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())
    assert {m["name"] for m in spec["models"]} == set(project["vars"]["tag_models"])
    for model in spec["models"]:
        for column in model["columns"]:
            if column["name"] == "customer_id":
                continue
            tag = column["config"]["meta"]["tag"]
            assert {"name_zh", "name_en", "category", "owner", "definition"} <= set(tag)
            tests = column["data_tests"]
            assert ("tag_accepted_values" in tests) == bool(tag["values"]), column["name"]
            assert column["name"] in unit_tested, f"{column['name']} has no unit test"


def test_a_shop_with_only_an_order_export_gets_value_and_lifecycle_tags(tmp_path):
    raw = tmp_path / "raw"
    orders = write_cdnow_orders(CDNOW, raw)
    warehouse = tmp_path / "cdnow.duckdb"
    dbt_build(raw, warehouse)  # every model and every test

    customers = _query(warehouse, "select count(*) as n from marts.customer_360").n[0]
    assert orders == 6919 and customers == 2357
    catalog = _query(warehouse, "select * from marts.tag_catalog").set_index("tag_code")
    filled = catalog[catalog.category.isin(["value", "lifecycle"])]
    assert (filled.coverage == 1).all(), filled.coverage
    # Without customers, items, events, tickets, surveys or campaigns, those tags are unknown.
    unknown = [
        "gender", "age_band", "city", "price_band", "browse_depth_band", "preferred_category",
        "brand_loyalty", "channel_preference", "coupon_sensitivity", "daypart_preference",
        "complaint_prone", "nps_group", "social_driven", "content_engaged",
        "campaign_responsiveness",
    ]  # fmt: skip
    assert (catalog.loc[unknown, "coverage"] == 0).all(), catalog.loc[unknown, "coverage"]
    features = _query(warehouse, "select * from marts.customer_features")
    assert features.sessions_90d.isna().all() and features.tickets_365d.isna().all()
    # Every order up to as_of_date is counted (the last days, with fewer than
    # as_of_min_daily_orders orders, lie after it).
    as_of = features.as_of_date.iloc[0]
    placed = pd.read_parquet(raw / "orders").ordered_at.map(pd.Timestamp)
    assert features.order_count.sum() == (placed <= as_of).sum() > 0.99 * orders


def test_as_of_date_is_the_last_trading_day_however_many_typos_date_orders_in_the_future(
    tmp_path,
):
    # At a million customers, one order in a thousand with a mistyped year puts four or so
    # orders on most days of the next three years: more than as_of_min_daily_orders (3), a
    # sliver of a real day's. With the count alone as_of_date was three years late.
    trading = [
        (f"R{day:%m%d}-{n}", f"C{n}", f"{day:%Y-%m-%d} 12:00:00", 10.0, "completed")
        for day in pd.date_range("2025-01-01", "2025-03-31")
        for n in range(2000)
    ]
    typos = [
        (f"T{day:%Y%m%d}-{n}", f"C{n}", f"{day:%Y-%m-%d} 09:00:00", 10.0, "completed")
        for day in pd.date_range("2026-01-01", "2027-12-31")
        for n in range(4)
    ]
    orders = pd.DataFrame(
        trading + typos,
        columns=["order_id", "customer_ref", "ordered_at", "total_amount", "status"],
    )
    (tmp_path / "raw" / "orders").mkdir(parents=True)
    orders.to_parquet(tmp_path / "raw" / "orders" / "part-0.parquet", index=False)

    as_of = dbt_show_value(
        tmp_path / "raw", tmp_path / "warehouse.duckdb", "select {{ as_of_date() }} as as_of_date"
    )
    assert str(as_of)[:10] == "2025-03-31"


@pytest.mark.parametrize(
    ("as_of", "why"),
    [
        ("2024-12-31", "the first order is on 2025-01-01, so no customer had bought yet"),
        ("2026-04-01", "more than a year after the orders' last day"),
    ],
)
def test_an_as_of_date_outside_the_orders_stops_the_build_before_any_model(tmp_path, as_of, why):
    # Set to 2099 it once built every model, then failed in churn ("a single label value").
    orders = pd.DataFrame(
        [
            (f"R{day:%m%d}-{n}", f"C{n}", f"{day:%Y-%m-%d} 12:00:00", 10.0, "completed")
            for day in pd.date_range("2025-01-01", "2025-03-31")
            for n in range(5)
        ],
        columns=["order_id", "customer_ref", "ordered_at", "total_amount", "status"],
    )
    (tmp_path / "raw" / "orders").mkdir(parents=True)
    orders.to_parquet(tmp_path / "raw" / "orders" / "part-0.parquet", index=False)

    with pytest.raises(AssertionError, match=why) as failed:
        run_dbt(
            "seed", tmp_path / "raw", tmp_path / "warehouse.duckdb",
            "--select", "enum_mappings", "--vars", f"{{as_of_date: '{as_of}'}}",
        )  # fmt: skip
    assert "Set a date from 2025-01-01 to 2026-03-31" in str(failed.value)
    assert "START seed" not in str(failed.value)
    # A quiet year after the last order is still a valid as_of_date.
    run_dbt(
        "seed", tmp_path / "raw", tmp_path / "warehouse.duckdb",
        "--select", "enum_mappings", "--vars", "{as_of_date: '2026-03-31'}",
    )  # fmt: skip


def test_orders_exported_without_a_status_count_as_sales(tmp_path):
    # status is optional in the contract; without it every order once counted as cancelled,
    # and the run failed for "no customer has bought anything".
    orders = pd.DataFrame(
        {
            "order_id": ["O1", "O2", "O3"],
            "customer_ref": ["C1", "C1", "C2"],
            "ordered_at": ["2025-03-01 10:00:00", "2025-03-05 10:00:00", "2025-03-05 11:00:00"],
            "total_amount": [10.0, 20.0, 30.0],
        }
    )
    (tmp_path / "raw" / "orders").mkdir(parents=True)
    orders.to_csv(tmp_path / "raw" / "orders" / "orders.csv", index=False)
    warehouse = tmp_path / "warehouse.duckdb"
    dbt_build(
        tmp_path / "raw", warehouse, "--vars", "{as_of_date: '2025-03-05'}",
        "--select", "+int_orders_attributed", "--exclude", "resource_type:test",
    )  # fmt: skip
    con = duckdb.connect(str(warehouse), read_only=True)
    sold = con.execute(
        "select count(*), sum(total_amount) from intermediate.int_orders_attributed"
        " where not is_cancelled_or_refunded"
    ).fetchone()
    con.close()
    assert sold == (3, 60.0)


def test_a_small_shops_quiet_last_day_is_its_as_of_date_and_a_lone_typo_is_not(tmp_path):
    # Four orders a day, one on the last: the last day used to be cut off (fewer than three
    # orders) and its orders quarantined as future. A typo a year on stays out.
    rows = [
        (f"R{day:%m%d}-{n}", f"C{n}", f"{day:%Y-%m-%d} 12:00:00", 10.0)
        for day in pd.date_range("2025-01-01", "2025-03-30")
        for n in range(4)
    ]
    rows += [
        ("LAST", "C9", "2025-03-31 18:00:00", 10.0),
        ("TYPO", "C8", "2026-03-31 09:00:00", 10.0),
    ]
    orders = pd.DataFrame(rows, columns=["order_id", "customer_ref", "ordered_at", "total_amount"])
    (tmp_path / "raw" / "orders").mkdir(parents=True)
    orders.to_parquet(tmp_path / "raw" / "orders" / "part-0.parquet", index=False)
    as_of = dbt_show_value(
        tmp_path / "raw", tmp_path / "warehouse.duckdb", "select {{ as_of_date() }} as as_of_date"
    )
    assert str(as_of)[:10] == "2025-03-31"
