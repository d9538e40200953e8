"""Churn at scale: fit on a synthetic point-in-time history, score a large customer table with
reasons, and print time and peak memory. Not collected by pytest.

    /work/main/.venv/bin/python bench/churn_scale.py                        # 6 x 200k, score 1M
    /work/main/.venv/bin/python bench/churn_scale.py --customers 20000 --score 100000 --threads 1

The synthetic customers have a persistent engagement level; churn depends on recency, the
90-day trend, complaints, visits and a coupon-hunter interaction, with a slow drift of the
base rate across cut-offs, so the split by time and the calibration have something to do.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestration.ml.churn import (  # noqa: E402
    NUMERIC_FEATURES,
    ChurnConfig,
    fit_churn,
    headline_metrics,
    score_churn,
)

CATEGORY_LEVELS = {
    "top_category": [f"category_{i:02d}" for i in range(12)],
    "top_brand": [f"brand_{i:03d}" for i in range(80)],
    "preferred_channel": ["app", "web", "mini_program", "store"],
    "active_daypart": ["morning", "afternoon", "evening", "night"],
    "active_weekday": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_features(
    engagement: np.ndarray, rng: np.random.Generator, drift: float = 0.0
) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per customer as of one date, and the planted churn probability."""
    n = engagement.size
    u = engagement + rng.normal(0, 0.5, n)
    recency = np.clip(rng.gamma(1.5, np.exp(3.6 - 0.6 * u)), 0, 720).round()
    tenure = recency + rng.gamma(2.0, 200.0, n).round()
    orders_365 = rng.poisson(np.exp(0.6 + 0.5 * u)) * (recency < 365)
    orders_90 = rng.binomial(orders_365, 0.3) * (recency < 90)
    orders_prior_90 = rng.binomial(orders_365 - orders_90, 0.35)
    orders_30 = rng.binomial(orders_90, 0.4)
    order_count = np.maximum(1, orders_365 + rng.poisson(np.exp(1.0 + 0.4 * u)))
    aov = rng.lognormal(4.3, 0.6, n)
    coupon_share = rng.beta(1.2, 3.0, n)
    has_events = rng.random(n) < 0.7
    sessions = np.where(has_events, rng.poisson(np.exp(1.2 + 0.7 * u)), np.nan)
    tickets = rng.poisson(0.25, n)
    complaints = rng.binomial(tickets, 0.4)
    touches = rng.poisson(6.0, n)

    cols: dict[str, np.ndarray] = {
        "recency_days": recency,
        "tenure_days": tenure,
        "order_count": order_count,
        "order_count_30d": orders_30,
        "order_count_90d": orders_90,
        "order_count_prior_90d": orders_prior_90,
        "order_count_365d": orders_365,
        "monetary_total": order_count * aov,
        "monetary_30d": orders_30 * aov,
        "monetary_90d": orders_90 * aov,
        "monetary_prior_90d": orders_prior_90 * aov,
        "monetary_365d": orders_365 * aov,
        "avg_order_value": aov,
        "avg_item_price": aov / rng.uniform(1, 3, n),
        "avg_days_between_orders": np.where(order_count > 1, tenure / order_count, np.nan),
        "order_trend_90d": orders_90 - orders_prior_90,
        "spend_trend_90d": (orders_90 - orders_prior_90) * aov,
        "coupon_order_share": coupon_share,
        "discount_share": coupon_share * rng.uniform(0.5, 1.0, n),
        "sessions_90d": sessions,
        "events_90d": sessions * rng.uniform(3, 12, n),
        "days_since_last_event": np.where(has_events, np.maximum(0, recency - rng.gamma(2, 10, n)), np.nan),
        "tickets_365d": tickets,
        "complaints_365d": complaints,
        "avg_satisfaction": np.where(tickets > 0, np.clip(4.2 - complaints + rng.normal(0, 0.5, n), 1, 5), np.nan),
        "latest_nps_score": np.where(rng.random(n) < 0.2, rng.integers(0, 11, n), np.nan),
        "campaign_touches_365d": touches,
        "campaign_open_rate": np.where(touches > 0, rng.beta(2, 5, n), np.nan),
    }  # fmt: skip
    frame = pd.DataFrame(
        {
            name: cols[name] if name in cols else rng.normal(size=n).astype(np.float64)
            for name in NUMERIC_FEATURES
        }
    )
    for name, levels in CATEGORY_LEVELS.items():
        frame[name] = np.asarray(levels, dtype=object)[rng.integers(0, len(levels), n)]
    logit = (
        -1.4
        + drift
        + 0.012 * (np.minimum(recency, 365) - 60)
        - 0.3 * np.clip(orders_90 - orders_prior_90, -3, 3)
        + 0.7 * complaints
        - 0.35 * np.log1p(np.nan_to_num(sessions, nan=1.0))
        + 0.8 * ((coupon_share > 0.5) & (aov < 60))
    )
    return frame, 1 / (1 + np.exp(-logit))


def synthetic_history(customers: int, cutoffs: list[pd.Timestamp], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    engagement = rng.normal(size=customers)
    ids = np.array([f"c{i:07d}" for i in range(customers)], dtype=object)
    frames = []
    for i, day in enumerate(cutoffs):
        frame, p = synthetic_features(engagement, rng, drift=0.05 * i)
        frame.insert(0, "customer_id", ids)
        frame.insert(1, "cutoff_date", day)
        frame["is_churned"] = rng.random(customers) < p
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000, help="rows per cut-off")
    parser.add_argument("--cutoffs", type=int, default=6)
    parser.add_argument("--spacing-days", type=int, default=30, help="days between cut-offs")
    parser.add_argument("--score", type=int, default=1_000_000, help="customers to score")
    parser.add_argument("--batch", type=int, default=250_000, help="scoring batch size")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--max-training-rows", type=int, default=None)
    parser.add_argument("--no-compare", action="store_true", help="skip the logistic rival")
    args = parser.parse_args()

    config = ChurnConfig(threads=args.threads, compare_logistic=not args.no_compare)
    if args.max_training_rows:
        config = dataclasses.replace(config, max_training_rows=args.max_training_rows)
    first = pd.Timestamp("2024-01-31")
    cutoffs = [first + pd.Timedelta(days=args.spacing_days * i) for i in range(args.cutoffs)]

    t = time.perf_counter()
    history = synthetic_history(args.customers, cutoffs, seed=1)
    rng = np.random.default_rng(2)
    to_score, _ = synthetic_features(rng.normal(size=args.score), rng, drift=0.3)
    to_score.insert(0, "customer_id", [f"s{i:07d}" for i in range(args.score)])
    generate_s, rss_data = time.perf_counter() - t, peak_rss_mib()

    t = time.perf_counter()
    model = fit_churn(history, config)
    fit_s, rss_fit = time.perf_counter() - t, peak_rss_mib()
    del history

    t = time.perf_counter()
    parts = [
        score_churn(model, to_score.iloc[start : start + args.batch])
        for start in range(0, len(to_score), args.batch)
    ]
    scores = pd.concat(parts, ignore_index=True)
    score_s, rss_score = time.perf_counter() - t, peak_rss_mib()

    kept = sorted(k for k, v in model.metrics["reason_feature_importance"].items() if v["kept"])
    report = {
        "rows_training": args.customers * args.cutoffs,
        "rows_scored": len(scores),
        "threads": args.threads,
        "seconds_generate": round(generate_s, 1),
        "seconds_fit": round(fit_s, 1),
        "seconds_score_with_reasons": round(score_s, 1),
        "seconds_fit_plus_score": round(fit_s + score_s, 1),
        "peak_rss_mib_after_data": round(rss_data),
        "peak_rss_mib_after_fit": round(rss_fit),
        "peak_rss_mib_after_score": round(rss_score),
        "metrics": headline_metrics(model),
        "validation_ece_logistic": model.metrics["comparison"]
        .get("logistic_regression", {})
        .get("ece"),
        "n_trees": [model.metrics["validation_split"]["n_trees"], model.scorer.n_trees],
        "reason_features_kept": kept,
        "tiers": scores["risk_tier"].value_counts().to_dict(),
        "share_with_a_reason": round(float(scores["reason_1"].notna().mean()), 3),
        "reason_1": scores["reason_1"].value_counts().head(6).to_dict(),
    }
    print(json.dumps(report, indent=2, ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
