"""Segments through the Dagster asset: a one-day refresh keeps segments, CDNOW gets personas."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest
from dbtrunner import dbt_build
from test_segments import FOUR_WIDE, make_customers, perturbed

from orchestration.assets.dbt import dbt_model_relation
from orchestration.assets.segments import customer_segments
from orchestration.resources import WarehouseResource
from orchestration.sampledata.cdnow import write_cdnow_orders

CDNOW = Path(__file__).parent / "data" / "cdnow" / "CDNOW_sample.txt"
CDNOW_END = "1998-06-30"  # the log's last day
FAST_RUN = {"k_min": 3, "k_max": 6}  # a handful of segments; the asset's other defaults


def materialize_segments(warehouse: Path, **config) -> None:
    """One run of the segments asset against `warehouse`, as the pipeline runs it."""
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [customer_segments],
            instance=instance,
            resources={"warehouse": WarehouseResource(warehouse_path=str(warehouse))},
            run_config={"ops": {"customer_segments": {"config": {**FAST_RUN, **config}}}},
        )
    assert result.success


def write_features(warehouse: Path, frame: pd.DataFrame, as_of_date: str) -> None:
    """Stand in for dbt's customer_features: the table the asset reads, as of one day."""
    schema, table = dbt_model_relation("customer_features").split(".")
    out = frame.drop(columns=["blob"]).assign(
        as_of_date=pd.Timestamp(as_of_date).date(),
        first_seen_date=pd.Timestamp("2024-01-01").date(),
    )
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(f"create schema if not exists {schema}")
        con.register("frame", out)
        con.execute(f"create or replace table {schema}.{table} as select * from frame")
    finally:
        con.close()


def read(warehouse: Path, sql: str) -> pd.DataFrame:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def test_a_refresh_with_one_more_day_keeps_customers_segments_and_names(tmp_path):
    """The asset's own path: the previous model comes back from model_runs as JSON."""
    warehouse = tmp_path / "w.duckdb"
    before = make_customers(FOUR_WIDE, noise=0.45)
    write_features(warehouse, before, "2025-12-30")
    materialize_segments(warehouse)
    first = read(warehouse, "select * from ml.customer_segments")

    # The next day: everyone one day older, a few values moved, 20 newcomers.
    after = pd.concat(
        [perturbed(before, seed=3), make_customers({"price": 20}, seed=9).assign(
            customer_id=lambda f: "new-" + f["customer_id"])],
        ignore_index=True,
    )  # fmt: skip
    write_features(warehouse, after, "2025-12-31")
    materialize_segments(warehouse)
    second = read(warehouse, "select * from ml.customer_segments")

    names = ["segment_id", "segment_name_zh", "segment_name_en"]
    assert set(map(tuple, second[names].drop_duplicates().to_numpy())) == set(
        map(tuple, first[names].drop_duplicates().to_numpy())
    )
    both = first.merge(second, on="customer_id", suffixes=("_d1", "_d"))
    kept = (both["segment_id_d1"] == both["segment_id_d"]).mean()
    assert len(both) == len(before) and kept >= 0.95
    runs = read(
        warehouse,
        "select metrics_json from ml.model_runs where model_name = 'segments' order by created_at",
    )
    metrics = [json.loads(m) for m in runs["metrics_json"]]
    assert len(metrics) == 2 and "kept_segment_share" not in metrics[0]
    assert metrics[1]["kept_segment_share"] == pytest.approx(kept, abs=1e-4)
    assert metrics[1]["segments_new"] == 0


@pytest.fixture(scope="module")
def cdnow_segments(tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """CDNOW's orders alone -> dbt customer_features -> the segments asset."""
    root = tmp_path_factory.mktemp("cdnow_segments")
    write_cdnow_orders(CDNOW, root / "raw")
    warehouse = root / "warehouse.duckdb"
    dbt_build(
        root / "raw",
        warehouse,
        "--vars",
        f"{{as_of_date: '{CDNOW_END}'}}",
        "--select",
        "+customer_features",
        "--exclude",
        "resource_type:test",  # the staging tests read the quarantine, not selected here
    )
    materialize_segments(warehouse)
    features = read(warehouse, f"select * from {dbt_model_relation('customer_features')}")
    cards = read(warehouse, "select * from ml.segment_profiles order by segment_id")
    segments = read(warehouse, "select * from ml.customer_segments")
    (run,) = read(warehouse, "select * from ml.model_runs").to_dict("records")
    joined = features.merge(segments, on="customer_id", validate="one_to_one")
    return joined, cards, run


def test_cdnow_orders_alone_give_every_customer_one_of_a_few_distinct_named_segments(
    cdnow_segments,
):
    joined, cards, run = cdnow_segments
    metrics = json.loads(run["metrics_json"])
    assert len(joined) == 2357 and joined["segment_id"].notna().all()
    assert 3 <= len(cards) <= 6
    assert cards["name_zh"].is_unique and cards["name_en"].is_unique
    assert cards["customers"].sum() == 2357 and (cards["share"] > 0.02).all()
    # An orders-only shop: the behaviour and price-level columns have nothing to say, and
    # a one-quarter cohort's tenure (480-545 days) must not split segments by sign-up week.
    used = metrics["features_used"].split(",")
    assert "shares_90d" not in used and "avg_item_price" not in used
    assert "tenure_days (log spread" in metrics["features_dropped"]
    assert {"recency_days", "order_count_365d", "monetary_365d"} <= set(used)


def test_the_segments_fit_records_the_data_window_it_saw(cdnow_segments):
    run = cdnow_segments[2]
    assert (str(run["data_window_start"])[:10], str(run["data_window_end"])[:10]) == (
        "1997-01-01",
        CDNOW_END,
    )


def test_cdnow_segments_named_dormant_and_high_value_are_what_they_say(cdnow_segments):
    """By the data, not the model: the names must match the customers' own figures."""
    joined, cards, _ = cdnow_segments
    by_name = joined.groupby("segment_name_en").agg(
        recency=("recency_days", "median"),
        orders=("order_count_365d", "mean"),
        spend=("monetary_365d", "mean"),
    )
    # Most of CDNOW's cohort bought once in early 1997 and never again (Fader et al. 2005).
    dormant = [n for n in by_name.index if n.startswith("Dormant")]
    assert dormant, f"no dormant segment among {list(by_name.index)}"
    others = by_name.drop(index=dormant)
    assert by_name.loc[dormant, "recency"].min() > others["recency"].max()
    assert by_name.loc["High-value loyal", "spend"] == by_name["spend"].max()
    assert by_name.loc["High-value loyal", "orders"] == by_name["orders"].max()
    assert np.isfinite(by_name.to_numpy()).all()
