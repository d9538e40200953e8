"""How well do the segments recover the planted personas, and how stable are they day to day?

    /work/main/.venv/bin/python bench/segments_quality.py [--root /tmp/seg] [--customers 20000]

Generates the sample under ROOT (raw/, truth/) unless it is there, approximates
`customer_features` from raw files (bench/segments_features.py), then prints:

1. per k: silhouette (sample), Calinski-Harabasz, k-means BIC and ARI vs the planted persona;
2. the default fit: chosen k, ARI, persona x segment table, persona cards;
3. feature-set and transform variants: ARI at the k each picks;
4. a supervised ceiling: ARI of a cross-validated gradient-boosting classifier on all features;
5. stability: fit as of day D-1, refit as of day D with the D-1 model as `previous` (warm and
   cold), share of customers keeping their segment and whether any name changed;
6. an orders-only shop (behaviour and service columns null).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score, calinski_harabasz_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from segments_features import build_features, load_personas  # noqa: E402

from orchestration.ml.segments import (  # noqa: E402
    ID_COLUMN,
    SegmentConfig,
    SegmentModel,
    _criterion,
    _hash_order,
    assign_frame,
    fit_segments,
    segment_profiles,
)

GENERATOR = "/work/main/.venv/bin/customer-profiles"
BEHAVIOUR = (
    "sessions_90d", "events_90d", "browse_depth", "avg_dwell_seconds", "add_to_cart_rate",
    "favourite_rate", "shares_90d", "comments_90d", "days_since_last_event", "tickets_365d",
    "complaints_365d", "avg_satisfaction", "latest_nps_score", "campaign_touches_365d",
    "campaign_open_rate", "campaign_click_rate",
)  # fmt: skip


PERSONA_RULE = {
    "high_value_loyal": "high_value_loyal", "price_sensitive": "price_sensitive",
    "quality_seeker": "quality_seeker", "social_sharer": "social", "occasional": "occasional",
    "new_customer": "new", "dormant": "dormant",
}  # fmt: skip


def ari(model: SegmentModel, features: pd.DataFrame, persona: pd.Series) -> float:
    a = assign_frame(model, features)
    return adjusted_rand_score(persona.loc[a[ID_COLUMN]].to_numpy(), a["segment_id"].to_numpy())


def sample_z(model: SegmentModel, features: pd.DataFrame) -> np.ndarray:
    order = _hash_order(features[ID_COLUMN], model.config.random_state)
    return model.transform(features.iloc[order[: model.config.fit_sample_size]])


def per_k(features: pd.DataFrame, persona: pd.Series, config: SegmentConfig) -> pd.DataFrame:
    rows = []
    for k in range(config.k_min, config.k_max + 1):
        model = fit_segments(features, replace(config, k_min=k, k_max=k))
        Z = sample_z(model, features)
        lab = ((Z[:, None, :] - model.centers[None]) ** 2).sum(axis=2).argmin(axis=1)
        inertia = float(model.metrics[f"inertia_k{k}"])
        rows.append({
            "k": k,
            "silhouette": model.metrics["silhouette_sample"],
            "calinski_harabasz": calinski_harabasz_score(Z, lab),
            "bic": _criterion("bic", Z, lab, inertia),
            "ari": ari(model, features, persona),
        })  # fmt: skip
    return pd.DataFrame(rows).set_index("k")


def keep_share(model_a, feats_a, model_b, feats_b) -> tuple[float, int]:
    a = assign_frame(model_a, feats_a).set_index(ID_COLUMN)["segment_id"]
    b = assign_frame(model_b, feats_b).set_index(ID_COLUMN)["segment_id"]
    common = a.index.intersection(b.index)
    return float((a.loc[common] == b.loc[common]).mean()), len(common)


def names_changed(old: SegmentModel, new: SegmentModel) -> list[str]:
    before = {s.segment_id: (s.name_zh, s.name_en) for s in old.segments}
    return [
        f"{s.segment_id}: {before[s.segment_id][1]} -> {s.name_en}"
        for s in new.segments
        if s.segment_id in before and before[s.segment_id] != (s.name_zh, s.name_en)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/seg"))
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--skip-ceiling", action="store_true")
    args = parser.parse_args()
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    pd.set_option("display.max_colwidth", 90)

    raw, truth = args.root / "raw", args.root / "truth"
    if not (raw / "orders").exists():
        subprocess.run(
            [GENERATOR, "generate", "--customers", str(args.customers), "--seed",
             str(args.seed), "--out", str(raw), "--quiet"],
            check=True,
        )  # fmt: skip
    manifest = pd.read_json(truth / "manifest.json", typ="series")
    day = date.fromisoformat(str(manifest["data_end"])[:10])
    started = time.perf_counter()
    features = build_features(raw, truth, day)
    features_before = build_features(raw, truth, day - timedelta(days=1))
    persona = load_personas(truth).set_index(ID_COLUMN)["persona"]
    print(f"features as of {day}: {len(features):,} customers with an order "
          f"({time.perf_counter() - started:.1f}s to build two days)")  # fmt: skip

    config = SegmentConfig()
    print("\n## 1. criteria and ARI per k (default features)")
    print(per_k(features, persona, config).round(3).to_string())

    print("\n## 2. default fit")
    started = time.perf_counter()
    model = fit_segments(features, config)
    print(f"fit {time.perf_counter() - started:.1f}s; chosen k {model.metrics['chosen_k']}, "
          f"silhouette {model.metrics['silhouette_sample']:.3f}, "
          f"ARI {ari(model, features, persona):.3f}")  # fmt: skip
    assigned = assign_frame(model, features)
    names = assigned.set_index(ID_COLUMN)["segment_name_en"]
    print(pd.crosstab(persona.loc[names.index].rename("persona"), names.rename("segment")))
    rule_of = {s.segment_id: s.rule for s in model.segments}
    named_for = assigned["segment_id"].map(rule_of).to_numpy()
    planted = persona.loc[assigned[ID_COLUMN]].map(PERSONA_RULE).to_numpy()
    recall = pd.Series(named_for == planted).groupby(planted).mean()
    print(
        f"customers in a segment named for their planted persona: {np.mean(named_for == planted):.1%}"
    )
    print("  by persona:", ", ".join(f"{p} {r:.0%}" for p, r in recall.items()))
    cards = segment_profiles(features, assigned, model)
    print(cards.drop(columns=["feature_z_json"]).to_string())
    centers = model.centers
    gaps = np.sqrt(((centers[:, None] - centers[None]) ** 2).mean(axis=2))
    print(f"smallest RMS distance between two centroids: {gaps[gaps > 0].min():.2f}")

    print("\n## 3. variants (ARI at the k each picks)")
    base = list(config.features)
    variants = {
        "default": config,
        "+ sessions, days_since_last_event": replace(
            config, features=(*base, "sessions_90d", "days_since_last_event")
        ),
        "lifetime counts instead of 365d": replace(
            config,
            features=tuple(
                {"order_count_365d": "order_count", "monetary_365d": "monetary_total"}.get(f, f)
                for f in base
            ),
        ),
        "minimal (6 features)": replace(
            config,
            features=(
                "tenure_days",
                "recency_days",
                "order_count",
                "avg_item_price",
                "coupon_order_share",
                "shares_90d",
            ),
        ),  # fmt: skip
        "no log1p": replace(config, log_features=()),
        "calinski_harabasz picks k": replace(config, criterion="calinski_harabasz"),
        "bic picks k": replace(config, criterion="bic"),
    }
    for name, cfg in variants.items():
        m = fit_segments(features, cfg)
        print(f"  {name:38s} k={m.metrics['chosen_k']:2d}  ARI {ari(m, features, persona):.3f}  "
              f"silhouette {m.metrics['silhouette_sample']:.3f}")  # fmt: skip

    if not args.skip_ceiling:
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.model_selection import cross_val_predict

        numeric = features.select_dtypes("number")
        y = persona.loc[features[ID_COLUMN]].to_numpy()
        predicted = cross_val_predict(
            HistGradientBoostingClassifier(random_state=0), numeric, y, cv=5
        )
        print("\n## 4. supervised ceiling (5-fold gradient boosting on every numeric feature)")
        print(
            f"  accuracy {np.mean(predicted == y):.3f}  ARI {adjusted_rand_score(y, predicted):.3f}"
        )

    print("\n## 5. stability: fit as of D - n days, then a refit as of D with it as `previous`")
    for days_before in (1, 7, 30):
        earlier = (
            features_before
            if days_before == 1
            else build_features(raw, truth, day - timedelta(days=days_before))
        )
        first = fit_segments(earlier, config)
        for label, cfg in (("warm", config), ("cold", replace(config, warm_start=False))):
            started = time.perf_counter()
            second = fit_segments(features, cfg, previous=first)
            took = time.perf_counter() - started
            share, n = keep_share(first, earlier, second, features)
            ids_before = {s.segment_id for s in first.segments}
            ids_after = {s.segment_id for s in second.segments}
            shifts = [v for k, v in second.metrics.items() if k.startswith("shift_")]
            print(f"  D-{days_before:<2d} {label}: {took:4.1f}s, k {len(first.segments)} -> "
                  f"{len(second.segments)} ({second.metrics['chosen_by']}), kept segment "
                  f"{share:.2%} of {n:,}, ids kept {len(ids_before & ids_after)}/"
                  f"{len(ids_before)}, max centroid shift {max(shifts, default=float('nan')):.3f}, "
                  f"renamed: {names_changed(first, second) or 'none'}")  # fmt: skip

    print("\n## 6. orders-only shop (behaviour and service columns null)")
    orders_only = features.assign(**{c: np.nan for c in BEHAVIOUR})
    m = fit_segments(orders_only, config)
    print(f"  k={m.metrics['chosen_k']} ARI {ari(m, orders_only, persona):.3f}; dropped: "
          f"{m.metrics['features_dropped']}")  # fmt: skip
    print("  names:", ", ".join(f"{s.segment_id} {s.name_en}" for s in m.segments))


if __name__ == "__main__":
    main()
