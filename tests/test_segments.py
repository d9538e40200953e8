"""Segments: k chosen right on obvious blobs, names by trait, ids stable across refreshes."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from orchestration.ml.segments import (
    DEFAULT_FEATURES,
    SegmentConfig,
    _silhouettes,
    assign_frame,
    assign_segments,
    fit_segments,
    iter_batches,
    name_segments,
    segment_profiles,
)

# An ordinary active customer; each blob overrides the features of its trait.
BASE = {
    "recency_days": 20.0,
    "tenure_days": 500.0,
    "order_count_365d": 6.0,
    "monetary_365d": 2000.0,
    "sessions_365d": 20.0,
    "price_level_index": 0.9,
    "coupon_order_share": 0.2,
    "social_action_rate": 0.03,
    "age_years": 35.0,
}
TRAITS = {
    "dormant": {"recency_days": 600.0, "order_count_365d": 0.3, "monetary_365d": 80.0,
                "sessions_365d": 1.0},
    "price": {"coupon_order_share": 0.90},
    "social": {"social_action_rate": 0.30, "age_years": 25.0},
    "quality": {"price_level_index": 2.0, "coupon_order_share": 0.02, "age_years": 42.0},
}  # fmt: skip
CATEGORY = {"dormant": "香水", "price": "个人洗护", "social": "彩妆", "quality": "面部护理"}
SHARES = {"coupon_order_share", "social_action_rate"}

# Small and quick: the blobs are obvious, so two restarts are plenty.
FAST = SegmentConfig(k_min=2, k_max=5, n_init=2, criterion_sample_size=2_000)


def make_customers(sizes: dict[str, int], seed: int = 0, noise: float = 0.15) -> pd.DataFrame:
    """Blobs of customers around BASE + TRAITS[blob], with multiplicative noise."""
    rng = np.random.default_rng(seed)
    parts = []
    for blob, n in sizes.items():
        centre = BASE | TRAITS[blob]
        part = pd.DataFrame({
            f: centre[f] * rng.lognormal(0.0, noise, n) for f in DEFAULT_FEATURES
        })  # fmt: skip
        for f in SHARES:
            part[f] = part[f].clip(0, 1)
        part.insert(0, "customer_id", [f"{blob}-{i:04d}" for i in range(n)])
        part["blob"] = blob
        own = rng.random(n) < 0.8
        part["top_category"] = np.where(own, CATEGORY[blob], "家居")
        part["preferred_channel"] = "app"
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def blob_of_segment(features: pd.DataFrame, assigned: pd.DataFrame) -> dict[str, str]:
    """The blob most of each segment's customers come from."""
    joined = assigned.merge(features[["customer_id", "blob"]], on="customer_id")
    return joined.groupby("segment_id")["blob"].agg(lambda s: s.mode()[0]).to_dict()


THREE = {"dormant": 150, "price": 170, "social": 190}
FOUR_WIDE = {"dormant": 220, "price": 260, "social": 180, "quality": 200}


@pytest.fixture(scope="module")
def three_blobs() -> pd.DataFrame:
    return make_customers(THREE)


@pytest.fixture(scope="module")
def three_blob_model(three_blobs):
    return fit_segments(three_blobs, FAST)


def test_three_obvious_blobs_give_three_segments_named_by_their_trait(
    three_blobs, three_blob_model
):
    assert three_blob_model.metrics["chosen_k"] == 3
    assigned = assign_frame(three_blob_model, three_blobs)
    blob = blob_of_segment(three_blobs, assigned)
    name = {s.segment_id: (s.name_zh, s.name_en) for s in three_blob_model.segments}
    by_blob = {blob[seg]: name[seg] for seg in name}
    assert by_blob == {
        "dormant": ("沉睡型", "Dormant"),
        "price": ("价格敏感型", "Price-sensitive"),
        "social": ("社交驱动型", "Social-driven"),
    }
    purity = (assigned["segment_id"].map(blob) == three_blobs["blob"]).mean()
    assert purity == 1.0


def test_a_fresh_fit_numbers_segments_by_size_largest_first(three_blob_model):
    shares = [s.share_in_sample for s in three_blob_model.segments]
    assert [s.segment_id for s in three_blob_model.segments] == ["seg_01", "seg_02", "seg_03"]
    assert shares == sorted(shares, reverse=True)


def test_each_centroid_is_the_mean_of_the_customers_assigned_to_it(three_blobs, three_blob_model):
    """The stored numbers re-create the pipeline's space: k-means' fixed point holds in it."""
    Z = three_blob_model.transform(three_blobs)
    seg = assign_frame(three_blob_model, three_blobs)["segment_id"].to_numpy()
    for s in three_blob_model.segments:
        centre = np.array([s.centroid_z[f] for f in three_blob_model.features])
        np.testing.assert_allclose(Z[seg == s.segment_id].mean(axis=0), centre, atol=1e-6)


def test_two_segments_with_the_same_first_rule_get_distinct_names():
    very_lapsed = {"recency_days": 1.6, "discount_share": -0.2}
    lapsed_bargain_hunter = {"recency_days": 1.0, "discount_share": 1.2}
    lapsed_plain = {"recency_days": 0.9, "discount_share": 0.0}
    names = name_segments([lapsed_bargain_hunter, very_lapsed, lapsed_plain])
    assert names == [
        ("沉睡型·价格敏感", "Dormant (price-sensitive)", "dormant"),
        ("沉睡型", "Dormant", "dormant"),
        ("沉睡型 II", "Dormant II", "dormant"),
    ]


def test_a_name_already_taken_by_an_inherited_segment_is_not_given_again():
    names = name_segments([{"shares_90d": 2.0}], taken=[("社交驱动型", "Social-driven")])
    assert names == [("社交驱动型 II", "Social-driven II", "social")]


def test_names_are_unique_when_blobs_share_a_trait():
    frame = make_customers({"dormant": 150, "price": 150, "social": 150})
    twin = make_customers({"dormant": 150}, seed=1)
    twin["customer_id"] = "twin-" + twin["customer_id"]
    twin["coupon_order_share"] = 0.95
    twin["recency_days"] = 450.0 * np.exp(np.random.default_rng(2).normal(0, 0.15, len(twin)))
    # k fixed at 4: with one price feature (coupon use) the twin differs from the dormant blob
    # in a single dimension, and this test is about the names, not the choice of k.
    model = fit_segments(
        pd.concat([frame, twin], ignore_index=True), replace(FAST, k_min=4, k_max=4)
    )
    names = [s.name_zh for s in model.segments]
    assert len(set(names)) == len(names)
    assert sorted(names) == sorted(["沉睡型", "沉睡型·价格敏感", "价格敏感型", "社交驱动型"])


def perturbed(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The same customers one day later: every value jiggled by 2%, one more day of recency."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    for f in DEFAULT_FEATURES:
        out[f] = out[f] * rng.lognormal(0.0, 0.02, len(out))
    out["recency_days"] += 1
    out["tenure_days"] += 1
    return out.sample(frac=1.0, random_state=seed).reset_index(drop=True)


@pytest.mark.parametrize("warm_start", [True, False], ids=["warm", "cold"])
def test_a_refit_on_slightly_changed_data_keeps_ids_names_and_assignments(warm_start):
    before = make_customers(FOUR_WIDE, noise=0.45)
    config = replace(FAST, k_min=3, k_max=6, warm_start=warm_start)
    first = fit_segments(before, config)
    after = perturbed(before, seed=3)
    second = fit_segments(after, config, previous=first)

    assert second.metrics["chosen_by"] == ("warm_start" if warm_start else "best_criterion")
    assert {(s.segment_id, s.name_zh, s.name_en) for s in second.segments} == {
        (s.segment_id, s.name_zh, s.name_en) for s in first.segments
    }
    a = assign_frame(first, before).set_index("customer_id")["segment_id"]
    b = assign_frame(second, after).set_index("customer_id")["segment_id"]
    assert (a == b.loc[a.index]).mean() >= 0.95


def test_permuting_rows_changes_nothing(three_blobs, three_blob_model):
    shuffled = three_blobs.sample(frac=1.0, random_state=11).reset_index(drop=True)
    model = fit_segments(shuffled, FAST)
    assert model.to_dict() == three_blob_model.to_dict()
    a = assign_frame(three_blob_model, three_blobs).set_index("customer_id")["segment_id"]
    b = assign_frame(model, shuffled).set_index("customer_id")["segment_id"]
    pd.testing.assert_series_equal(a.sort_index(), b.sort_index())


def test_a_new_kind_of_customer_gets_a_fresh_id_and_the_others_keep_theirs(
    three_blobs, three_blob_model
):
    quality = make_customers({"quality": 200}, seed=5)
    grown = pd.concat([three_blobs, quality], ignore_index=True)
    model = fit_segments(grown, FAST, previous=three_blob_model)

    assert model.metrics["chosen_by"] == "best_criterion"  # k=4 is clearly better than 3
    old_blobs = blob_of_segment(three_blobs, assign_frame(three_blob_model, three_blobs))
    new_blobs = blob_of_segment(grown, assign_frame(model, grown))
    assert {seg: new_blobs[seg] for seg in old_blobs} == old_blobs
    fresh = [s for s in model.segments if s.segment_id not in old_blobs]
    assert [(s.segment_id, s.name_en) for s in fresh] == [("seg_04", "Quality seeker")]
    assert new_blobs["seg_04"] == "quality"
    assert model.next_segment_number == 5


def test_a_segment_that_moved_too_far_gets_a_fresh_id_and_its_old_id_is_retired(
    three_blobs, three_blob_model
):
    old = blob_of_segment(three_blobs, assign_frame(three_blob_model, three_blobs))
    swapped = pd.concat(
        [three_blobs[three_blobs["blob"] != "price"], make_customers({"quality": 170}, seed=6)],
        ignore_index=True,
    )
    model = fit_segments(swapped, FAST, previous=three_blob_model)

    new = blob_of_segment(swapped, assign_frame(model, swapped))
    assert {b: s for s, b in new.items() if b != "quality"} == {
        b: s for s, b in old.items() if b != "price"
    }
    assert {s: b for s, b in new.items() if s not in old} == {"seg_04": "quality"}
    price_id = next(s for s, b in old.items() if b == "price")
    assert price_id not in new


def test_an_orders_only_shop_is_segmented_without_behaviour_columns():
    frame = make_customers({"dormant": 150, "price": 150, "quality": 150})
    frame["sessions_365d"] = np.nan
    frame["social_action_rate"] = np.nan
    model = fit_segments(frame, FAST)

    assert "sessions_365d" not in model.features and "social_action_rate" not in model.features
    assert "social_action_rate (coverage 0.0%)" in model.metrics["features_dropped"]
    assert sorted(s.name_en for s in model.segments) == [
        "Dormant",
        "Price-sensitive",
        "Quality seeker",
    ]
    assigned = assign_frame(model, frame)
    assert assigned["segment_id"].notna().all() and len(assigned) == len(frame)


def test_a_model_read_back_from_json_assigns_exactly_like_the_original(
    three_blobs, three_blob_model
):
    restored = type(three_blob_model).from_dict(json.loads(json.dumps(three_blob_model.to_dict())))
    pd.testing.assert_frame_equal(
        assign_frame(restored, three_blobs), assign_frame(three_blob_model, three_blobs)
    )


def test_assigning_in_batches_gives_the_same_answer_as_one_frame(three_blobs, three_blob_model):
    whole = assign_frame(three_blob_model, three_blobs)
    batches = list(assign_segments(three_blob_model, iter_batches(three_blobs, 37)))
    assert len(batches) == -(-len(three_blobs) // 37)
    pd.testing.assert_frame_equal(pd.concat(batches, ignore_index=True), whole)


def test_customers_with_null_features_are_still_assigned(three_blobs, three_blob_model):
    holes = three_blobs.head(5).copy()
    holes[list(DEFAULT_FEATURES)] = np.nan
    assigned = assign_frame(three_blob_model, holes)
    assert assigned["segment_id"].notna().all()


def test_persona_cards_show_size_top_category_and_distinguishing_traits(
    three_blobs, three_blob_model
):
    assigned = assign_frame(three_blob_model, three_blobs)
    cards = segment_profiles(three_blobs, assigned, three_blob_model).set_index("name_en")

    assert cards["customers"].sum() == len(three_blobs)
    assert cards.loc["Price-sensitive", "customers"] == THREE["price"]
    assert cards["share"].sum() == pytest.approx(1.0)
    assert cards.loc["Price-sensitive", "top_categories"].startswith("个人洗护 ")
    assert (
        cards.loc["Dormant", "avg_recency_days"]
        > 10 * cards.loc["Social-driven", "avg_recency_days"]
    )
    leading = cards.loc["Social-driven", "top_features"].split(", ")[0]
    assert leading.split(" ")[0] == "social_action_rate"
    assert cards.loc["Social-driven", "top_brands"] is None  # no top_brand column given


def test_a_missing_feature_column_is_named_in_the_error(three_blobs):
    with pytest.raises(ValueError, match="price_level_index"):
        fit_segments(three_blobs.drop(columns=["price_level_index"]), FAST)


def test_a_text_feature_column_is_named_in_the_error(three_blobs):
    broken = three_blobs.assign(coupon_order_share=three_blobs["coupon_order_share"].astype(str))
    with pytest.raises(ValueError, match="coupon_order_share"):
        fit_segments(broken, FAST)


def test_duplicate_customers_are_refused(three_blobs):
    with pytest.raises(ValueError, match="duplicate customer_id"):
        fit_segments(pd.concat([three_blobs, three_blobs.head(2)]), FAST)


def test_a_segment_whose_typical_customer_lapsed_half_a_year_ago_is_dormant_even_when_most_are():
    """In a shop where most customers lapsed, lapsed sits near z 0: the absolute rule names it."""
    most_lapsed = {"recency_days": 0.5, "order_count_365d": -0.6, "monetary_365d": -0.7}
    assert name_segments([most_lapsed])[0][2] == "occasional"
    assert name_segments([most_lapsed], lapsed=[True]) == [("沉睡型", "Dormant", "dormant")]


def test_a_cohort_feature_that_barely_varies_is_dropped_not_standardised_into_a_split():
    frame = make_customers(FOUR_WIDE)
    frame["tenure_days"] = 500.0 + np.random.default_rng(4).uniform(0, 40, len(frame))
    model = fit_segments(frame, FAST)
    assert "tenure_days" not in model.features
    assert "tenure_days (log spread 0.02" in model.metrics["features_dropped"]


def test_silhouettes_of_many_labellings_equal_scikit_learns_one_by_one():
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(3)
    Z = np.vstack([rng.normal(c, 1.0, size=(700, 5)) for c in (0.0, 3.0, 6.0)])
    labelings = [KMeans(k, n_init=1, random_state=0).fit(Z).labels_ for k in (2, 3, 7)]
    singleton = labelings[1].copy()
    singleton[0] = 9  # a cluster of one row, and labels 3-8 unused
    labelings.append(singleton)
    scores = _silhouettes(Z, [*labelings, np.zeros(len(Z), dtype=int)], chunk_rows=333)
    expected = [silhouette_score(Z, labels) for labels in labelings]
    np.testing.assert_allclose(scores[:-1], expected, rtol=1e-9)
    assert scores[-1] == -1.0  # one cluster: no silhouette
