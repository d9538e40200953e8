"""Churn risk on synthetic feature histories whose churn probability is planted and known."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from orchestration.ml import churn as churn_module
from orchestration.ml.churn import (
    CATEGORICAL_FEATURES,
    NUMERIC_FEATURES,
    REASONS,
    REASONS_BY_CODE,
    ChurnConfig,
    ChurnNotLearnable,
    _fit_calibrator,  # the calibrator alone, on four rows
    _sentences,  # the wording alone
    expected_calibration_error,
    fit_churn,
    headline_metrics,
    risk_tier,
    score_churn,
    time_split,
    unscored_churn,
)
from orchestration.ml.fit_cache import (
    changed_share,
    column_types,
    fingerprint,
    load_fit,
    row_hashes,
    store_fit,
)

# One thread: small fits gain nothing from two, and lose a lot when the cores are shared.
FAST = ChurnConfig(threads=1)
NO_RIVAL = ChurnConfig(threads=1, compare_logistic=False)
# Quarterly cut-offs: each horizon (90 days) ends by the next cut-off, so all train.
QUARTERS = ("2023-01-01", "2023-04-01", "2023-07-01", "2023-10-01", "2024-01-01")
# Columns an orders-only shop cannot fill.
NON_ORDER_COLUMNS = (
    "sessions_90d",
    "events_90d",
    "browse_depth",
    "avg_dwell_seconds",
    "add_to_cart_rate",
    "favourite_rate",
    "shares_90d",
    "comments_90d",
    "days_since_last_event",
    "tickets_365d",
    "complaints_365d",
    "avg_satisfaction",
    "latest_nps_score",
    "campaign_touches_365d",
    "campaign_open_rate",
    "campaign_click_rate",
)


def planted_history(
    customers: int,
    cutoffs: tuple[str, ...] = QUARTERS,
    complaint_weight: float = 0.8,
    late_shift: float = 0.0,
    seed: int = 0,
    january_shift: float = 0.0,
) -> pd.DataFrame:
    """Churn driven by recency and complaints only; every other feature is noise. The true
    probability is kept in `true_p` so tests can compare with it. `late_shift` adds to the
    log-odds of the last two cut-offs: the market got worse after the early ones.
    `january_shift` adds to the log-odds of January cut-offs: a season when few buy."""
    rng = np.random.default_rng(seed)
    frames = []
    for position, day in enumerate(cutoffs):
        shift = late_shift if position >= len(cutoffs) - 2 else 0.0
        shift += january_shift if pd.Timestamp(day).month == 1 else 0.0
        n = customers
        recency = np.clip(rng.gamma(2.0, 40.0, n), 0, 720).round()
        complaints = rng.poisson(0.3, n) + np.where(rng.random(n) < 0.05, rng.integers(3, 8, n), 0)
        logit = -2.0 + shift + 0.025 * recency + complaint_weight * complaints
        true_p = 1 / (1 + np.exp(-logit))
        frame = pd.DataFrame(
            {name: rng.normal(size=n).round(3) for name in NUMERIC_FEATURES}
            | {
                name: rng.choice(["a", "b", "c", None], n).astype(object)
                for name in CATEGORICAL_FEATURES
            }
        )
        frame["recency_days"] = recency
        frame["complaints_365d"] = complaints.astype(float)
        frame["order_count"] = rng.integers(1, 20, n).astype(float)
        frame.insert(0, "customer_id", [f"c{i:05d}" for i in range(n)])
        frame.insert(1, "cutoff_date", pd.Timestamp(day).date())
        frame["is_churned"] = rng.random(n) < true_p
        frame["true_p"] = true_p
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def typical_customer(history: pd.DataFrame, **changes: float) -> pd.DataFrame:
    """A customer at the median of every numeric feature, changed where told."""
    row = {name: float(history[name].median()) for name in NUMERIC_FEATURES}
    row |= {name: "a" for name in CATEGORICAL_FEATURES}
    row |= changes
    return pd.DataFrame([{"customer_id": "x", **row}])


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return planted_history(customers=8_000)


@pytest.fixture(scope="module")
def model(history):
    return fit_churn(history.drop(columns="true_p").assign(p_alive=1 - history["true_p"]), FAST)


@pytest.fixture(scope="module")
def validation(history) -> pd.DataFrame:
    return history[history["cutoff_date"] == pd.Timestamp(QUARTERS[-1]).date()]


def test_a_planted_recency_and_complaints_signal_is_learnt_and_beats_recency_alone(
    model, validation
):
    best_possible = roc_auc_score(validation["is_churned"], validation["true_p"])
    auc = model.metrics["validation"]["roc_auc"]
    assert auc > best_possible - 0.02
    assert auc > model.metrics["baselines"]["recency"]["roc_auc"] + 0.03
    assert model.metrics["validation"]["lift_top_decile"] > 1.5


def test_the_recency_baseline_ranks_long_absence_as_risk(model, validation):
    # Oriented the right way: not 1 - AUC.
    expected = roc_auc_score(validation["is_churned"], validation["recency_days"])
    assert model.metrics["baselines"]["recency"]["roc_auc"] == pytest.approx(expected)
    assert expected > 0.6


def test_the_bgnbd_baseline_scores_one_minus_p_alive(model, validation):
    # p_alive was planted as 1 - the true churn probability: the baseline ranks like the truth.
    best_possible = roc_auc_score(validation["is_churned"], validation["true_p"])
    # 1 - (1 - p) is p up to rounding, which can split a few ties.
    baseline = model.metrics["baselines"]["bgnbd_p_alive"]["roc_auc"]
    assert baseline == pytest.approx(best_possible, abs=1e-4)


def test_without_p_alive_the_bgnbd_baseline_is_skipped_with_a_note(history):
    small = planted_history(customers=1_000, cutoffs=QUARTERS[-3:])
    fitted = fit_churn(small.drop(columns="true_p"), NO_RIVAL)
    assert "p_alive" in fitted.metrics["baselines"]["bgnbd_p_alive"]["skipped"]


def test_the_logistic_regression_comparison_is_reported(model):
    rival = model.metrics["comparison"]["logistic_regression"]
    assert 0.5 < rival["roc_auc"] < 1.0
    assert "logistic_regression_roc_auc" in headline_metrics(model)


def test_the_latest_labelled_cutoff_is_held_out_and_never_trained_on(history):
    split = time_split(history.drop(columns="true_p"))
    latest = pd.Timestamp(QUARTERS[-1])
    assert split.validation_cutoff == latest
    assert set(split.validation["cutoff_date"]) == {latest}
    assert (split.fit["cutoff_date"] < latest).all()
    assert (split.calibration["cutoff_date"] < latest).all()
    # Calibration is a later slice of time than the fit, not a random slice of rows.
    assert split.calibration_cutoff == pd.Timestamp(QUARTERS[-2])
    assert split.fit["cutoff_date"].max() < split.calibration_cutoff


def test_cutoffs_whose_horizon_overlaps_the_validation_cutoff_do_not_train():
    months = ("2023-01-01", "2023-02-01", "2023-03-01", "2023-04-01", "2023-05-01", "2023-06-01")
    history = planted_history(customers=200, cutoffs=(*months, "2023-09-01"))
    september = history["cutoff_date"] == pd.Timestamp("2023-09-01").date()
    history["is_churned"] = history["is_churned"].astype(object).where(~september, None)

    split = time_split(history, ChurnConfig(horizon_days=90, threads=1))

    assert split.validation_cutoff == pd.Timestamp("2023-06-01")  # September is unlabelled
    trained = set(split.fit["cutoff_date"]) | set(split.calibration["cutoff_date"])
    assert trained == {pd.Timestamp(d) for d in months[:3]}  # April and May end after June 1


def test_the_scoring_model_is_refit_on_every_labelled_cutoff_including_the_gap():
    months = ("2023-01-01", "2023-02-01", "2023-03-01", "2023-04-01", "2023-05-01", "2023-06-01")
    history = planted_history(customers=300, cutoffs=months).drop(columns="true_p")

    fitted = fit_churn(history, NO_RIVAL)

    assert fitted.metrics["validation_split"]["fit_cutoffs"] == list(months[:2])
    assert fitted.metrics["scoring_split"]["fit_cutoffs"] == list(months[:-1])
    assert fitted.metrics["scoring_split"]["calibration_cutoff"] == months[-1]
    assert fitted.trained_through == pd.Timestamp(months[-1])


def test_validation_metrics_are_json_and_count_rows_per_cutoff(model):
    text = json.dumps(model.metrics, allow_nan=False)
    assert "calibration_table" in text
    assert model.metrics["validation"]["rows_per_cutoff"] == {QUARTERS[-1]: 8_000}
    assert model.metrics["scoring_split"]["calibration_cutoff"] == QUARTERS[-1]
    assert sum(row["count"] for row in model.metrics["validation"]["calibration_table"]) == 8_000


def test_calibrated_probabilities_match_the_planted_ones(model, validation):
    scores = score_churn(model, validation)
    assert model.metrics["validation"]["ece"] < 0.03
    assert np.abs(scores["churn_probability"] - validation["true_p"].to_numpy()).mean() < 0.05


def test_calibrating_on_a_later_cutoff_corrects_a_shift_the_fit_cutoffs_never_saw():
    history = planted_history(customers=6_000, late_shift=0.8).drop(columns="true_p")
    calibrated = fit_churn(history, NO_RIVAL)
    uncalibrated = fit_churn(history, dataclasses.replace(NO_RIVAL, calibration="none"))
    assert calibrated.metrics["validation"]["ece"] < 0.03
    assert uncalibrated.metrics["validation"]["ece"] > 0.08


def test_scores_a_year_after_a_calm_season_are_shifted_to_that_season():
    """Calibrated on a January cut-off (a bad season), the model over-predicts in October; the
    labelled October a year earlier tells by how much, and the correction takes it off."""
    history = planted_history(customers=6_000, january_shift=1.0).drop(columns="true_p")
    model = fit_churn(history, NO_RIVAL)
    october = planted_history(customers=6_000, cutoffs=("2024-10-01",), seed=7)
    y = october["is_churned"].to_numpy()
    plain = score_churn(model, october)["churn_probability"].to_numpy()  # no as_of_date
    dated = october.assign(as_of_date=pd.Timestamp("2024-10-01"))
    shifted = score_churn(model, dated)["churn_probability"].to_numpy()

    shift, source = model.seasonal_shift(pd.Timestamp("2024-10-01"))
    assert source == pd.Timestamp("2023-10-01") and shift < -0.3
    assert expected_calibration_error(y, plain) > 0.05
    assert expected_calibration_error(y, shifted) < 0.03
    by_cutoff = {row["cutoff"]: row for row in model.metrics["calibration_by_cutoff"]}
    assert by_cutoff["2023-10-01"]["logit_offset"] < by_cutoff["2024-01-01"]["logit_offset"]
    headline = headline_metrics(model)
    assert headline["logit_offset_2023-10-01"] == by_cutoff["2023-10-01"]["logit_offset"]
    assert headline["ece_2023-10-01"] == by_cutoff["2023-10-01"]["ece"]


def test_without_a_cutoff_a_year_before_the_scoring_date_scores_are_left_as_calibrated(
    model, validation
):
    assert model.seasonal_shift(pd.Timestamp("2026-06-30")) == (0.0, None)
    late = validation.assign(as_of_date=pd.Timestamp("2026-06-30"))
    pd.testing.assert_frame_equal(score_churn(model, late), score_churn(model, validation))


def test_isotonic_calibration_keeps_the_raw_order_inside_a_flat_step():
    # Raw scores 0.1..0.4 with labels 1, 0, 1, 0: isotonic pools all four at 0.5.
    raw = np.array([0.1, 0.2, 0.3, 0.4])
    calibrate = _fit_calibrator("isotonic", raw, np.array([True, False, True, False]))
    p = calibrate(raw)
    assert np.all(np.diff(p) > 0)  # the order of the raw score survives the flat step
    assert p == pytest.approx([0.5] * 4, abs=1e-6)  # and the probabilities are the step's
    assert calibrate(np.array([0.0, 1.0])) == pytest.approx([0.5, 0.5], abs=1e-6)


def test_expected_calibration_error_of_hand_made_bins():
    # Two equal-frequency bins: predicted 0.2 observed 0.2, predicted 0.6 observed 1.0.
    y = np.array([1, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    p = np.array([0.2] * 5 + [0.6] * 5)
    assert expected_calibration_error(y, p, bins=2) == pytest.approx(0.2)
    assert expected_calibration_error(y[:5], p[:5], bins=1) == pytest.approx(0.0)


def test_reasons_name_the_planted_driver_where_it_is_extreme(model, history):
    complainer = typical_customer(history, complaints_365d=6.0)
    lapsed = typical_customer(history, recency_days=400.0)
    typical = typical_customer(history)

    scores = score_churn(model, pd.concat([complainer, lapsed, typical], ignore_index=True))

    assert scores.loc[0, "reason_1"] == "complaints"
    assert scores.loc[0, "reason_1_zh"] == "近一年投诉 6 次"
    assert scores.loc[0, "reason_1_en"] == "6 complaints in the last year"
    assert scores.loc[1, "reason_1"] == "long_since_last_purchase"
    assert scores.loc[1, "reason_1_en"] == "400 days since last purchase"
    assert scores.loc[2, ["reason_1", "reason_2", "reason_3"]].isna().all()


def test_a_reason_about_one_thing_reads_in_the_singular():
    few_visits, no_visit = REASONS_BY_CODE["few_visits"], REASONS_BY_CODE["no_recent_visit"]
    zh, en = _sentences(few_visits, np.array([1.0, 2.0, 0.0]))
    assert list(en) == [
        "Only 1 visit in the last 90 days",
        "Only 2 visits in the last 90 days",
        "No visits in the last 90 days",
    ]
    assert list(zh) == ["近 90 天仅访问 1 次", "近 90 天仅访问 2 次", "近 90 天没有访问"]
    assert list(_sentences(no_visit, np.array([1.0, 30.0]))[1]) == [
        "No visit in 1 day",
        "No visit in 30 days",
    ]


def test_reasons_across_a_population_follow_each_customers_extreme_feature(model, validation):
    scores = score_churn(model, validation).set_index(validation.index)
    complainers = validation["complaints_365d"] >= 4
    lapsed = (validation["recency_days"] >= 250) & (validation["complaints_365d"] == 0)
    assert (scores.loc[complainers, "reason_1"] == "complaints").mean() > 0.9
    assert (scores.loc[lapsed, "reason_1"] == "long_since_last_purchase").mean() > 0.9
    # Noise features are not reasons, although the boosted model fits some of their noise.
    named = set(scores[["reason_1", "reason_2", "reason_3"]].stack().dropna())
    assert named == {"complaints", "long_since_last_purchase"}


def test_risk_tiers_follow_the_probability_cut_points():
    config = ChurnConfig(tier_high=0.6, tier_medium=0.3)
    p = np.array([0.05, 0.3, 0.59, 0.6, 0.99, np.nan])
    assert risk_tier(p, config).tolist() == ["low", "medium", "medium", "high", "high", None]


def test_scored_tiers_follow_the_configured_thresholds(model, validation):
    strict = dataclasses.replace(model, config=dataclasses.replace(model.config, tier_high=0.9))
    for fitted in (model, strict):
        scores = score_churn(fitted, validation)
        p = scores["churn_probability"]
        high, medium = fitted.config.tier_high, fitted.config.tier_medium
        assert (scores["risk_tier"] == "high").eq(p >= high).all()
        assert (scores["risk_tier"] == "medium").eq((p >= medium) & (p < high)).all()
        assert (scores["risk_tier"] == "low").eq(p < medium).all()
    assert (score_churn(strict, validation)["risk_tier"] == "high").sum() < (
        score_churn(model, validation)["risk_tier"] == "high"
    ).sum()


def test_an_orders_only_shop_with_every_behaviour_column_null_fits_and_scores():
    history = planted_history(customers=2_000, complaint_weight=0.0)
    for name in NON_ORDER_COLUMNS:
        history[name] = None  # object column of nulls, as an all-null DuckDB column may arrive
    history["top_brand"] = None

    fitted = fit_churn(history.drop(columns="true_p"), NO_RIVAL)
    scores = score_churn(fitted, history[history["cutoff_date"] == history["cutoff_date"].max()])

    assert fitted.metrics["validation"]["roc_auc"] > 0.7
    assert {"complaints_365d", "sessions_90d", "top_brand"} <= set(
        fitted.metrics["unused_features"]
    )
    assert scores["churn_probability"].between(0, 1).all()
    named = set(scores[["reason_1", "reason_2", "reason_3"]].stack().dropna())
    assert "long_since_last_purchase" in named
    assert not named & {"complaints", "few_visits", "little_campaign_contact", "low_nps"}


def test_a_customer_who_never_ordered_is_left_unscored(model, history):
    scores = score_churn(model, typical_customer(history, order_count=0.0))
    assert np.isnan(scores.loc[0, "churn_probability"])
    assert scores.loc[0, "risk_tier"] is None
    assert scores.loc[0, "reason_1"] is None


def test_scoring_in_batches_equals_scoring_at_once(model, validation):
    whole = score_churn(model, validation)
    parts = [validation.iloc[:100], validation.iloc[100:4_000], validation.iloc[4_000:]]
    batches = pd.concat([score_churn(model, part) for part in parts], ignore_index=True)
    pd.testing.assert_frame_equal(whole, batches)


def test_the_same_rows_in_another_order_give_the_same_scores():
    history = planted_history(customers=1_500, cutoffs=QUARTERS[-3:]).drop(columns="true_p")
    config = NO_RIVAL
    shuffled = history.sample(frac=1.0, random_state=3)
    latest = history[history["cutoff_date"] == history["cutoff_date"].max()]
    first = score_churn(fit_churn(history, config), latest)
    second = score_churn(fit_churn(shuffled, config), latest)
    pd.testing.assert_frame_equal(first, second)


def test_a_stored_fit_scores_exactly_like_the_fit_it_was_stored_from(
    model, validation, history, tmp_path
):
    path = tmp_path / "model_fits" / "churn.pkl"
    rows = row_hashes(history)
    store_fit(path, "key", rows, model.without_training_rows())
    stored = load_fit(path, "key", rows, max_changed_share=0.0)
    assert stored.changed_share == 0.0
    assert stored.fitted.scorer.split.fit.empty  # the training rows are not kept
    pd.testing.assert_frame_equal(
        score_churn(stored.fitted, validation), score_churn(model, validation)
    )
    assert stored.fitted.metrics == model.metrics
    assert stored.fitted.trained_through == model.trained_through


def test_a_stored_fit_is_not_reused_under_another_key_or_from_an_unreadable_file(
    model, history, tmp_path
):
    path = tmp_path / "churn.pkl"
    rows = row_hashes(history)
    assert load_fit(path, "key", rows, 1.0) is None  # nothing stored yet
    store_fit(path, "key", rows, model.without_training_rows())
    assert load_fit(path, "other key", rows, 1.0) is None
    path.write_bytes(b"not a pickle")
    assert load_fit(path, "key", rows, 1.0) is None


def test_a_stored_fit_is_reused_while_few_of_its_rows_changed(model, history, tmp_path):
    path = tmp_path / "churn.pkl"
    store_fit(path, "key", row_hashes(history), model.without_training_rows())
    changed = history.copy()
    changed.loc[changed.index[:3], "recency_days"] += 1  # 3 rows out, 3 in
    share = 6 / len(history)
    stored = load_fit(path, "key", row_hashes(changed), max_changed_share=share)
    assert stored is not None and stored.changed_share == pytest.approx(share)
    assert load_fit(path, "key", row_hashes(changed), max_changed_share=share * 0.99) is None
    assert load_fit(path, "key", row_hashes(changed), max_changed_share=0.0) is None
    # measured against the stored fit's rows: a second night's change adds to the first
    later = changed.copy()
    later.loc[later.index[3:5], "recency_days"] += 1
    assert load_fit(path, "key", row_hashes(later), 1.0).changed_share == pytest.approx(
        10 / len(history)
    )


def test_row_hashes_ignore_row_order_and_see_any_changed_value(history):
    same = row_hashes(history)
    assert (row_hashes(history.sample(frac=1.0, random_state=5)) == same).all()
    changed = history.copy()
    changed.loc[changed.index[7], "recency_days"] += 1
    assert changed_share(row_hashes(changed), same) == pytest.approx(2 / len(history))
    assert changed_share(row_hashes(history.iloc[1:]), same) == pytest.approx(1 / len(history))
    twice = pd.concat([history, history.iloc[:1]])  # a repeated row counts as often as it occurs
    assert changed_share(row_hashes(twice), same) == pytest.approx(1 / len(history))


def test_the_fit_key_sees_settings_code_columns_and_cutoffs(history):
    source = Path(churn_module.__file__)

    def key(rows, config=FAST):
        cutoffs = sorted(rows["cutoff_date"].astype(str).unique())
        return fingerprint(config.parameters(), source, column_types(rows), cutoffs)

    same = key(history)
    assert key(history.sample(frac=1.0, random_state=5)) == same
    assert key(history, NO_RIVAL) != same
    assert key(history.astype({"recency_days": "float32"})) != same
    latest = history["cutoff_date"].max()
    assert key(history[history["cutoff_date"] != latest]) != same


def test_a_single_training_cutoff_calibrates_on_a_fixed_slice_of_customers():
    history = planted_history(customers=1_500, cutoffs=QUARTERS[-2:]).drop(columns="true_p")
    split = time_split(history)
    assert split.calibration_slice == "customers"
    assert set(split.fit["customer_id"]).isdisjoint(split.calibration["customer_id"])
    assert 0.15 < len(split.calibration) / 1_500 < 0.25


@pytest.fixture(scope="module")
def tiny() -> pd.DataFrame:
    return planted_history(customers=50, cutoffs=QUARTERS[-3:]).drop(columns="true_p")


def test_no_labelled_cutoff_is_a_clear_error(tiny):
    # ChurnNotLearnable: the pipeline then scores nobody and builds everything else
    with pytest.raises(ChurnNotLearnable, match="no labelled cut-off"):
        fit_churn(tiny.assign(is_churned=None))


def test_a_single_labelled_cutoff_is_a_clear_error(tiny):
    one = tiny[tiny["cutoff_date"] == tiny["cutoff_date"].max()]
    with pytest.raises(ChurnNotLearnable, match="at least two labelled cut-offs"):
        fit_churn(one)


def test_customers_of_a_shop_too_young_for_churn_get_the_same_columns_without_scores(tiny):
    model = fit_churn(tiny, ChurnConfig(threads=1, compare_logistic=False))
    scored = score_churn(model, tiny.head(20))
    unscored = unscored_churn(tiny.head(20))
    assert list(unscored.columns) == list(scored.columns)
    assert unscored["customer_id"].tolist() == scored["customer_id"].tolist()
    assert unscored.drop(columns="customer_id").isna().all().all()
    assert unscored["risk_tier"].dtype == "string"  # typed, so the table has a text column


def test_cutoffs_closer_than_the_gap_are_a_clear_error(tiny):
    monthly = {
        pd.Timestamp(QUARTERS[-3]).date(): "2024-01-01",
        pd.Timestamp(QUARTERS[-2]).date(): "2024-02-01",
        pd.Timestamp(QUARTERS[-1]).date(): "2024-03-01",
    }
    close = tiny.assign(cutoff_date=tiny["cutoff_date"].map(monthly))
    with pytest.raises(ValueError, match="at least 90 days before the validation cut-off"):
        fit_churn(close)


def test_a_missing_label_column_is_a_clear_error(tiny):
    with pytest.raises(ValueError, match="is_churned"):
        fit_churn(tiny.drop(columns="is_churned"))


@pytest.mark.parametrize(
    "label", [lambda s: s.astype(int), lambda s: s.map({True: "yes", False: "no"})]
)
def test_a_non_boolean_label_is_a_clear_error(tiny, label):
    with pytest.raises(ValueError, match="'is_churned' must be boolean"):
        fit_churn(tiny.assign(is_churned=label(tiny["is_churned"])))


def test_a_partly_labelled_cutoff_is_a_clear_error(tiny):
    broken = tiny.copy()
    broken["is_churned"] = broken["is_churned"].astype(object)
    broken.loc[broken.index[-1], "is_churned"] = None
    with pytest.raises(ValueError, match="labelled whole"):
        fit_churn(broken)


def test_a_missing_feature_column_names_it(tiny, model):
    with pytest.raises(ValueError, match="avg_order_value"):
        fit_churn(tiny.drop(columns="avg_order_value"))
    with pytest.raises(ValueError, match="recency_days"):
        score_churn(model, tiny.drop(columns="recency_days"))


def test_a_text_column_listed_as_numeric_names_it(tiny):
    with pytest.raises(ValueError, match="'tenure_days' must be numeric"):
        fit_churn(tiny.assign(tenure_days="long"))


@pytest.mark.parametrize("reason", REASONS, ids=lambda reason: reason.code)
def test_every_reason_writes_a_sentence_in_both_languages(reason):
    # A reason without a number ("Buying less often ...") once crashed the whole scoring step.
    zh, en = _sentences(reason, np.array([0.0, 1.0, 2.5]))
    for text in (*zh, *en):
        assert text and "{" not in text


def test_a_small_shops_model_still_tells_customers_apart():
    # 60 customers at three cut-offs leave under 100 fit rows: with leaves of at least 100
    # rows the booster could not split, and everyone got one probability (tier high).
    history = planted_history(customers=60, cutoffs=QUARTERS[-3:]).drop(columns="true_p")
    model = fit_churn(history, ChurnConfig(threads=1, compare_logistic=False))
    latest = history[history["cutoff_date"] == history["cutoff_date"].max()]
    scores = score_churn(model, latest)
    assert scores["churn_probability"].nunique() > 5


def test_a_shop_too_young_for_churn_gets_everyone_unscored_and_the_run_goes_on(tmp_path):
    # Five weeks of orders: no cut-off has a finished horizon. The step used to fail, and with
    # it the tags, the profile and the publish of everything else.
    import dagster as dg
    import duckdb

    from orchestration.assets.churn import churn_scores
    from orchestration.assets.dbt import dbt_model_relation
    from orchestration.resources import WarehouseResource

    warehouse = tmp_path / "w.duckdb"
    con = duckdb.connect(str(warehouse))
    for relation, columns in (
        ("int_churn_labels", "customer_id varchar, cutoff_date date, is_churned boolean"),
        ("customer_features", "customer_id varchar, as_of_date date, first_seen_date date"),
    ):
        con.execute(f"create schema if not exists {dbt_model_relation(relation).split('.')[0]}")
        con.execute(f"create table {dbt_model_relation(relation)} ({columns})")
    con.execute(
        f"insert into {dbt_model_relation('customer_features')} values"
        " ('c1', '2025-12-05', '2025-11-01'), ('c2', '2025-12-05', '2025-11-20')"
    )
    con.close()
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [churn_scores],
            instance=instance,
            resources={"warehouse": WarehouseResource(warehouse_path=str(warehouse))},
        )
    assert result.success
    con = duckdb.connect(str(warehouse), read_only=True)
    scores = con.execute("select * from ml.churn_scores order by customer_id").df()
    (metrics,) = con.execute("select metrics_json from ml.model_runs").fetchone()
    assert scores["customer_id"].tolist() == ["c1", "c2"]
    assert scores[["churn_probability", "risk_tier", "reason_1_en"]].isna().all().all()
    assert json.loads(metrics)["scored"] is False
    assert "too short a period" in json.loads(metrics)["not_learnable"]
