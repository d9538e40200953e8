"""How far can segments recover the planted personas from what customer_features shows? Not
collected by pytest.

    /work/main/.venv/bin/python bench/segments_ceiling.py --warehouse /tmp/wh.duckdb \
        --truth /work/main/data/truth [--out ceiling.json]

Over the customers evaluate scores (matched to one planted person, with an order), prints the
adjusted Rand index vs the persona of:

1. the stored segments and the eight RFM classes (evaluate's segment_ari and rfm_class_ari);
2. k-means as the segment model fits it (`fit_segments`, every customer of customer_features)
   for each k in 4..10 with the default features, and the k silhouette picks; the same for
   the previous default set (before the persona features), for comparison;
3. a supervised ceiling: a gradient-boosting classifier trained on the persona itself, 5-fold
   cross-validated predictions, on (a) the segment model's features, (b) every numeric column
   of customer_features. No unsupervised method on the same columns can be expected to beat
   (b): it sees the persona labels, which clustering never does.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import duckdb
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score, adjusted_rand_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestration.evaluate import _matched_persons  # noqa: E402
from orchestration.ml.segments import (  # noqa: E402
    DEFAULT_FEATURES,
    SegmentConfig,
    assign_frame,
    fit_segments,
)

SEED = 42
# The default set before the persona features (price level, age, sharing rate, yearly
# sessions) were added to customer_features.
PREVIOUS_FEATURES = (
    "recency_days", "tenure_days", "order_count_365d", "monetary_365d", "avg_order_value",
    "avg_item_price", "discount_share", "coupon_order_share", "online_order_share",
    "shares_90d", "comments_90d",
)  # fmt: skip


def load(warehouse: Path, truth: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All of customer_features (what the model fits on), and the evaluated customers."""
    con = duckdb.connect(str(warehouse), read_only=True)
    features = con.execute(
        "select * from marts.customer_features order by hash(customer_id), customer_id"
    ).df()
    evaluated = con.execute(
        f"""
        select persons.customer_id, persons.persona, segments.segment_id, profile.rfm_class
        from ({_matched_persons(truth)}) as persons
        inner join marts.customer_features as features using (customer_id)
        left join marts.customer_segments as segments using (customer_id)
        left join marts.customer_profile as profile using (customer_id)
        where features.order_count > 0
        order by customer_id
        """
    ).df()
    return features, evaluated


def kmeans_by_k(features: pd.DataFrame, evaluated: pd.DataFrame, columns) -> dict:
    """ARI at each k in the configured range, with the silhouette the model picks k by."""
    personas = evaluated[["customer_id", "persona"]]

    def ari(model) -> float:
        labels = assign_frame(model, features).merge(personas, on="customer_id")
        return round(adjusted_rand_score(labels.persona, labels.segment_id), 4)

    base = SegmentConfig(features=tuple(columns))
    chosen = fit_segments(features, base)
    out: dict = {"chosen_k": chosen.metrics["chosen_k"], "chosen_ari": ari(chosen)}
    for k in range(base.k_min, base.k_max + 1):
        out[f"k{k}"] = {
            "ari": ari(fit_segments(features, replace(base, k_min=k, k_max=k))),
            "silhouette": round(float(chosen.metrics[f"silhouette_k{k}"]), 4),
        }
    return out


def supervised(features: pd.DataFrame, evaluated: pd.DataFrame, columns) -> dict:
    rows = evaluated[["customer_id", "persona"]].merge(features, on="customer_id")
    cv = StratifiedKFold(5, shuffle=True, random_state=SEED)
    model = HistGradientBoostingClassifier(max_iter=100, random_state=SEED)
    predicted = cross_val_predict(model, rows[list(columns)].to_numpy(dtype=float),
                                  rows.persona.to_numpy(), cv=cv)  # fmt: skip
    return {
        "features": len(columns),
        "accuracy": round(accuracy_score(rows.persona, predicted), 4),
        "ari": round(adjusted_rand_score(rows.persona, predicted), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--truth", type=Path, required=True)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    features, evaluated = load(args.warehouse, args.truth)
    numeric = [
        c
        for c in features.columns
        if c not in ("customer_id", "as_of_date") and pd.api.types.is_numeric_dtype(features[c])
    ]
    stored = evaluated.dropna(subset=["segment_id"])
    result = {
        "customers_evaluated": len(evaluated),
        "stored_segment_ari": round(adjusted_rand_score(stored.persona, stored.segment_id), 4),
        "rfm_class_ari": round(
            adjusted_rand_score(evaluated.persona, evaluated.rfm_class.fillna("none")), 4
        ),
        "kmeans_default_features": kmeans_by_k(features, evaluated, DEFAULT_FEATURES),
        "kmeans_previous_features": kmeans_by_k(
            features, evaluated, [c for c in PREVIOUS_FEATURES if c in features.columns]
        ),
        "supervised_default_features": supervised(features, evaluated, DEFAULT_FEATURES),
        "supervised_all_features": supervised(features, evaluated, numeric),
    }
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
