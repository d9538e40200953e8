"""Fit + assign segments on a synthetic `customer_features` of N rows: time and peak memory.

    /work/main/.venv/bin/python bench/segments_scale.py [--rows 1000000] [--batch 100000]

The frame has every contract column (numeric ones from a seven-persona lognormal mixture,
10% of customers without behaviour data, string categoricals). It is written to Parquet and
dropped, then the asset's path is timed: read the id and model feature columns, fit, stream
assignments batch by batch from the Parquet file to a Parquet file. The persona cards
(`segment_profiles`), which need the whole frame, are timed last, on their own.
Target at 1M rows: fit + assign < 60 s and < 2 GB peak RSS.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestration.ml.segments import (  # noqa: E402
    ID_COLUMN,
    SegmentConfig,
    assign_segments,
    fit_segments,
    segment_profiles,
)

NUMERIC = (
    "recency_days", "tenure_days", "order_count", "order_count_30d", "order_count_90d",
    "order_count_prior_90d", "order_count_365d", "monetary_total", "monetary_30d",
    "monetary_90d", "monetary_prior_90d", "monetary_365d", "avg_order_value", "avg_item_price",
    "avg_days_between_orders", "order_trend_90d", "spend_trend_90d", "top_category_share",
    "category_count", "category_concentration", "top_brand_share", "brand_count",
    "brand_concentration", "discount_share", "coupon_order_share", "preferred_channel_share",
    "online_order_share", "weekend_activity_share", "sessions_90d", "events_90d", "browse_depth",
    "avg_dwell_seconds", "add_to_cart_rate", "favourite_rate", "shares_90d", "comments_90d",
    "days_since_last_event", "tickets_365d", "complaints_365d", "avg_satisfaction",
    "latest_nps_score", "campaign_touches_365d", "campaign_open_rate", "campaign_click_rate",
)  # fmt: skip
BEHAVIOUR = NUMERIC[NUMERIC.index("sessions_90d") : NUMERIC.index("days_since_last_event") + 1]
CATEGORICAL = {
    "top_category": (
        "面部护理",
        "彩妆",
        "身体护理",
        "香水",
        "个人洗护",
        "母婴",
        "保健食品",
        "家居",
    ),
    "top_brand": ("澜雅", "沐光", "初研", "素颜记", "花间集", "青禾", "悦木", "云裳"),
    "preferred_channel": ("offline_store", "online_store", "app", "mini_program"),
    "active_daypart": ("morning", "afternoon", "evening", "night"),
    "active_weekday": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"),
}
# Medians per persona for the features that tell them apart (others share one distribution):
# recency, tenure, orders/365d, spend/365d, item price, discount share, coupon share, shares.
PERSONAS = {
    "high_value_loyal": (30, 550, 12, 6000, 260, 0.04, 0.25, 1.0),
    "price_sensitive": (90, 500, 5, 1200, 120, 0.12, 0.60, 1.0),
    "quality_seeker": (80, 520, 4, 3500, 600, 0.01, 0.05, 0.5),
    "social_sharer": (60, 480, 5, 1800, 220, 0.05, 0.30, 6.0),
    "occasional": (250, 500, 1, 300, 200, 0.05, 0.30, 0.2),
    "new_customer": (20, 40, 2, 700, 220, 0.05, 0.30, 1.0),
    "dormant": (500, 600, 0.2, 60, 200, 0.05, 0.30, 0.1),
}
SHARE = np.array([0.10, 0.22, 0.12, 0.10, 0.26, 0.08, 0.12])


def synthetic_features(rows: int, seed: int = 0, first: int = 0) -> pd.DataFrame:
    """A contract-shaped feature table with seven overlapping personas."""
    rng = np.random.default_rng([seed, first])
    persona = rng.choice(len(PERSONAS), size=rows, p=SHARE)
    medians = np.array(list(PERSONAS.values()))[persona]
    data: dict[str, np.ndarray] = {
        name: rng.lognormal(0.0, 0.8, rows) for name in NUMERIC
    }  # fmt: skip
    for j, name in enumerate(("recency_days", "tenure_days", "order_count_365d", "monetary_365d",
                              "avg_item_price", "discount_share", "coupon_order_share",
                              "shares_90d")):  # fmt: skip
        data[name] = medians[:, j] * rng.lognormal(0.0, 0.5, rows)
    for name in ("discount_share", "coupon_order_share", "online_order_share"):
        data[name] = np.clip(data[name] / (2 if name == "online_order_share" else 1), 0, 1)
    data["order_count_365d"] = np.round(data["order_count_365d"])
    data["avg_order_value"] = data["avg_item_price"] * (1 + rng.poisson(0.6, rows))
    no_behaviour = rng.random(rows) < 0.10
    for name in BEHAVIOUR:
        data[name] = np.where(no_behaviour, np.nan, data[name])
    frame = pd.DataFrame(data)
    frame.insert(
        0, ID_COLUMN, pd.array([f"C{i:09d}" for i in range(first, first + rows)], dtype="string")
    )
    for name, values in CATEGORICAL.items():
        frame[name] = pd.Categorical.from_codes(rng.integers(0, len(values), rows), values)
    frame["persona"] = np.array(list(PERSONAS))[persona]
    return frame


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=SegmentConfig().assign_batch_size)
    args = parser.parse_args()
    config = SegmentConfig(assign_batch_size=args.batch)

    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "features.parquet", Path(tmp) / "segments.parquet"
        started = time.perf_counter()
        with pq.ParquetWriter(source, pa.Schema.from_pandas(synthetic_features(1), False)) as w:
            for first in range(0, args.rows, args.batch):
                chunk = synthetic_features(min(args.batch, args.rows - first), first=first)
                w.write_table(pa.Table.from_pandas(chunk, preserve_index=False))
        del chunk
        gc.collect()
        print(f"rows {args.rows:,}: built and wrote the frame in "
              f"{time.perf_counter() - started:.1f}s (peak RSS so far {peak_rss_mb():,.0f} MB)")  # fmt: skip

        wall, cpu = time.perf_counter(), time.process_time()
        columns = [ID_COLUMN, *config.features]
        model = fit_segments(pd.read_parquet(source, columns=columns), config)
        fit_wall, fit_cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"fit:    {fit_wall:5.1f}s wall, {fit_cpu:5.1f}s CPU; k={model.metrics['chosen_k']}, "
              f"silhouette {model.metrics['silhouette_sample']:.3f}, "
              f"peak RSS {peak_rss_mb():,.0f} MB")  # fmt: skip

        wall, cpu = time.perf_counter(), time.process_time()
        batches = (
            b.to_pandas() for b in pq.ParquetFile(source).iter_batches(args.batch, columns=columns)
        )
        writer, assigned = None, 0
        for out in assign_segments(model, batches):
            table = pa.Table.from_pandas(out, preserve_index=False)
            writer = writer or pq.ParquetWriter(target, table.schema)
            writer.write_table(table)
            assigned += len(out)
        if writer is not None:
            writer.close()
        assign_wall, assign_cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"assign: {assign_wall:5.1f}s wall, {assign_cpu:5.1f}s CPU; {assigned:,} rows in "
              f"batches of {args.batch:,}, peak RSS {peak_rss_mb():,.0f} MB")  # fmt: skip
        print(f"fit + assign: {fit_wall + assign_wall:.1f}s wall; peak RSS {peak_rss_mb():,.0f} MB")

        wall = time.perf_counter()
        features = pd.read_parquet(source)
        cards = segment_profiles(features, pd.read_parquet(target), model)
        print(f"profiles (whole frame in memory): {time.perf_counter() - wall:.1f}s, "
              f"peak RSS {peak_rss_mb():,.0f} MB")  # fmt: skip
        from sklearn.metrics import adjusted_rand_score

        truth = features.set_index(ID_COLUMN)["persona"]
        got = pd.read_parquet(target).set_index(ID_COLUMN)["segment_id"]
        print(
            f"ARI vs the synthetic personas: {adjusted_rand_score(truth.loc[got.index], got):.3f}"
        )
        print(cards[["segment_id", "name_en", "customers", "share", "top_features"]].to_string())


if __name__ == "__main__":
    main()
