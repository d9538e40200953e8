"""Where the gap between the churn model and the generator's oracle comes from. Not collected by
pytest.

    /work/main/.venv/bin/python bench/churn_oracle_gap.py --warehouse /tmp/wh.duckdb \
        --truth /work/main/data/truth [--out gap.json]

The generator's `p_no_purchase_next_90d` is 1 for a person who has lapsed for good
(`is_alive_at_end` false) and otherwise follows from their true purchase rate and lapse hazard.
Over the churn model's customers (matched to one person, as evaluate does), with the realised
outcome of the withheld 90 days, it prints ROC AUCs of:

1. the generator oracle, and the model's stored scores;
2. the latent alive state alone, and the true rates alone (the oracle's formula with every
   person treated as alive): which of the two parts carries the oracle's ranking;
3. a gradient-boosting classifier fitted to the realised outcome by 5-fold cross-validation
   (so it has no time drift and no calibration step) on (a) the churn model's features,
   (b) every numeric column of customer_features, (c) (b) plus the true purchase rate and
   lapse hazard, (d) (c) plus the alive state. (a) and (b) bound what the observable features
   carry; (c) - (b) is what knowing each person's rates would add; (d) - (c) is the part no
   history shows.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestration.evaluate import _matched_persons  # noqa: E402
from orchestration.ml.churn import NUMERIC_FEATURES  # noqa: E402
from orchestration.sampledata import world  # noqa: E402

SEED = 42


def load(warehouse: Path, truth: Path) -> pd.DataFrame:
    """Scored customers with their features, truth columns and realised outcome."""
    manifest = json.loads((truth / "manifest.json").read_text())
    con = duckdb.connect(str(warehouse), read_only=True)
    return con.execute(
        f"""
        select features.*, scores.churn_probability, persons.p_no_purchase_next_90d,
            persons.is_alive_at_end, persons.purchases_per_year,
            persons.daily_lapse_hazard_at_end, not persons.bought_next_90d as churned
        from marts.churn_scores as scores
        inner join marts.customer_features as features using (customer_id)
        inner join ({_matched_persons(truth)}) as persons using (customer_id)
        where scores.churn_probability is not null and scores.as_of_date = cast(? as date)
        order by customer_id
        """,
        [manifest["data_end"]],
    ).df()


def rates_only(frame: pd.DataFrame) -> np.ndarray:
    """P(no purchase in the horizon) from the true rates, as if everyone were still alive
    (the generator's formula without seasonality or campaign boosts)."""
    p = 1 - np.exp(-frame["purchases_per_year"].to_numpy(dtype=float) / 365.0)
    h = np.minimum(frame["daily_lapse_hazard_at_end"].to_numpy(dtype=float), 0.5)
    s = (1 - h) * (1 - p)
    n = world.FUTURE_DAYS
    return s**n + h * (1 - s**n) / np.maximum(1 - s, 1e-12)


def cross_validated_auc(X: pd.DataFrame, y: np.ndarray) -> float:
    model = HistGradientBoostingClassifier(
        max_iter=200, min_samples_leaf=100, l2_regularization=1.0, random_state=SEED
    )
    cv = StratifiedKFold(5, shuffle=True, random_state=SEED)
    p = cross_val_predict(model, X.to_numpy(dtype=float), y, cv=cv, method="predict_proba")
    return round(float(roc_auc_score(y, p[:, 1])), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--truth", type=Path, required=True)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    frame = load(args.warehouse, args.truth)
    y = frame["churned"].to_numpy(dtype=bool)
    alive = frame["is_alive_at_end"].to_numpy(dtype=bool)
    numeric = [
        c
        for c in frame.columns[: frame.columns.get_loc("churn_probability")]
        if c != "customer_id" and pd.api.types.is_numeric_dtype(frame[c])
    ]
    model_features = [c for c in NUMERIC_FEATURES if c in frame.columns]
    truth_rates = ["purchases_per_year", "daily_lapse_hazard_at_end"]
    frame["is_alive"] = alive.astype(float)
    result = {
        "customers": len(frame),
        "churn_rate": round(float(y.mean()), 4),
        "lapsed_share": round(float((~alive).mean()), 4),
        "churn_rate_of_the_alive": round(float(y[alive].mean()), 4),
        "generator_oracle_auc": round(float(roc_auc_score(y, frame.p_no_purchase_next_90d)), 4),
        "model_auc": round(float(roc_auc_score(y, frame.churn_probability)), 4),
        "recency_auc": round(float(roc_auc_score(y, frame.recency_days)), 4),
        "alive_state_alone_auc": round(float(roc_auc_score(y, ~alive)), 4),
        "true_rates_alone_auc": round(float(roc_auc_score(y, rates_only(frame))), 4),
        "oracle_auc_among_the_alive": round(
            float(roc_auc_score(y[alive], frame.p_no_purchase_next_90d[alive])), 4
        ),
        "model_auc_among_the_alive": round(
            float(roc_auc_score(y[alive], frame.churn_probability[alive])), 4
        ),
        "cv_auc_model_features": cross_validated_auc(frame[model_features], y),
        "cv_auc_all_features": cross_validated_auc(frame[numeric], y),
        "cv_auc_all_features_plus_true_rates": cross_validated_auc(frame[numeric + truth_rates], y),
        "cv_auc_plus_alive_state": cross_validated_auc(
            frame[numeric + truth_rates + ["is_alive"]], y
        ),
        "model_features": len(model_features),
        "all_features": len(numeric),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
