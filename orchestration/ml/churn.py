"""Churn risk: a calibrated probability that a customer buys nothing within the horizon, a risk
tier, and the features that push that risk up the most, in words an account manager reads.

Plain functions, no Dagster: the asset reads the point-in-time feature history (training) and
`customer_features` (scoring), calls `fit_churn` then `score_churn` batch by batch, writes
`churn_scores` and records `model.metrics` / `model.parameters` in `model_runs`. The fit is
deterministic (rows sorted, seeds fixed), and most nights it would see nearly the same labelled
rows (a cut-off is added or labelled once a month), so the asset keeps the last fit on disk
with a fingerprint of its configuration, code and cut-offs and a hash of each training row
(`orchestration/ml/fit_cache.py`), and reuses it while few of those rows changed:
`ChurnModel.without_training_rows()` is what is stored.

Decisions, and why
------------------
Split by time, with a gap. The latest labelled cut-off is held out for validation. Training
uses only the cut-offs whose horizon ends on or before it (`validation_gap_days`, the horizon by
default): standing at the validation cut-off, those are the only labels one could have known,
which is exactly the position of the model when it scores `as_of_date`. Without the gap, the
label of a cut-off one month earlier would describe purchases made after the validation cut-off
and the validation would flatter the model. Rows are never split at random across time.

Calibration on a later slice of time, never on the validation cut-off. Within the training
cut-offs the classifier is fit on all but the latest, and its probability is calibrated
(isotonic by default) on the latest, so the calibrator learns how the scores of a model fit on
the past translate into churn rates one step later, which is how it is used. With a single
training cut-off, a fixed share of its customers (by a hash of customer_id) is set aside for
calibration instead. Calibrating on the validation cut-off and then reporting its ECE would
measure the calibrator's fit to its own data, near zero by construction.

Refit for scoring (`refit_on_all_cutoffs`). After validation the same procedure runs again on
every labelled cut-off (fit on all but the latest, calibrate on the latest), so scores use the
most recent behaviour; the validation metrics describe that procedure one step back in time.

Season. The calibrator learns the churn rate of the calibration cut-off's quarter, but how
many customers buy within a quarter depends on which quarter: one with Double-11 pulls
purchases in, one with the Spring Festival pushes them out. So the scores carry the season of
the calibration cut-off into the scoring date (20k sample: calibrated at 2025-09-30, mean 0.646
against an observed 0.678 for the quarter after 2025-12-31). The correction: for every labelled
cut-off, the log-odds offset that makes the scoring model's mean probability equal its churn
rate (`calibration_by_cutoff` in the metrics, with the ECE per cut-off); scores as of a date
are shifted by the offset at the cut-off one year earlier (same season), minus the one at the
calibration cut-off. It uses only labels known at scoring time; it cannot be validated on the
held-out cut-off unless the history reaches a year before it (it does not with 12 months),
and the offsets are in-sample for the classifier, so they understate the seasonal swing.
Without a cut-off a year back the scores are left as calibrated.

Metrics. ROC AUC, PR AUC (average precision), Brier, ECE over 10 equal-frequency bins
(deciles of the prediction: churn probabilities bunch up, and equal-width bins would leave
some bins nearly empty and weigh their noise), lift in the top decile (churn rate among the
10% highest scores over the overall rate) and the calibration table. Baselines: recency alone
(score = recency_days) and BG/NBD (score = 1 - p_alive, when the training frame has a `p_alive`
column). Both are rankings, not probabilities of lapsing within the horizon, so their AUC, PR
AUC and lift use the raw score, and their Brier and ECE use an isotonic map fit on the
training rows (never on the validation rows). A logistic regression on the same features,
split and calibration is reported beside the gradient boosting (`compare_logistic`).

Tiers. Cut points on the calibrated probability (`tier_high`, `tier_medium`), so a tier means
the same odds in every refresh and every shop; a top-decile tier would call 10% of customers
"high risk" even in a shop where almost nobody leaves.

Reasons. A model-agnostic what-if: for each curated feature (`REASONS`), the customer's value
is replaced by the training median and the drop in the uncalibrated predicted probability is
the feature's contribution (uncalibrated because isotonic calibration is flat in places and
would hide differences; it is monotone, so the order is the same). A feature counts only when
the model demonstrably uses it out of sample (shuffling it on the calibration rows raises the
log loss by `reason_min_z` standard errors: a boosted model also fits noise, and what-if drops
on noise would be reasons made of noise), the customer's value lies on the side of the median
that the sentence describes (so "only 1 order" is never said of a customer with 20), the value
is present (a missing value is not a reason) and the drop is at least `reason_min_drop`. The
three largest drops are reason_1..3, each as a code plus zh / en text with the customer's own
number; flat columns rather than one list column, because BI tools filter on flat columns.
Cost: one prediction per kept feature for the rows on the risky side of its median.

Scope. Churn is defined for customers with at least one order (the training population), so
`score_churn` leaves the probability, tier and reasons null for rows whose
`eligibility_column` is missing or below 1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

CUSTOMER_ID = "customer_id"
CUTOFF_DATE = "cutoff_date"
LABEL = "is_churned"
AS_OF_DATE = "as_of_date"  # the scoring date of a customer_features row
P_ALIVE = "p_alive"

NUMERIC_FEATURES: tuple[str, ...] = (
    "recency_days",
    "tenure_days",
    "order_count",
    "order_count_30d",
    "order_count_90d",
    "order_count_prior_90d",
    "order_count_365d",
    "monetary_total",
    "monetary_30d",
    "monetary_90d",
    "monetary_prior_90d",
    "monetary_365d",
    "avg_order_value",
    "avg_item_price",
    "avg_days_between_orders",
    "order_trend_90d",
    "spend_trend_90d",
    "top_category_share",
    "category_count",
    "category_concentration",
    "top_brand_share",
    "brand_count",
    "brand_concentration",
    "discount_share",
    "coupon_order_share",
    "preferred_channel_share",
    "online_order_share",
    "weekend_activity_share",
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
    # added with customer_features: the unanswered-ticket and no-contact drivers of lapsing,
    # the gap before the last purchase, refunds and visit days
    "unresolved_tickets_365d",
    "days_since_last_campaign",
    "days_between_last_two_orders",
    "refund_share",
    "active_days_90d",
    "purchase_days",
)
CATEGORICAL_FEATURES: tuple[str, ...] = (
    "top_category",
    "top_brand",
    "preferred_channel",
    "active_daypart",
    "active_weekday",
)

RiskTier = Literal["high", "medium", "low"]
TIERS: tuple[str, ...] = ("high", "medium", "low")


def _fewer_than_prior(now: str, prior: str) -> Callable[[pd.DataFrame], np.ndarray]:
    """The trend sentences are only true when the recent window really is below the prior one;
    the trend column's own scale (difference or ratio) is the dbt model's business."""

    def holds(frame: pd.DataFrame) -> np.ndarray:
        if now not in frame or prior not in frame:
            return np.ones(len(frame), dtype=bool)
        return _numeric(frame[now], now) < _numeric(frame[prior], prior)

    return holds


@dataclass(frozen=True)
class Reason:
    """One sentence an account manager understands, tied to the feature that triggers it."""

    code: str
    feature: str
    risky_when: Literal["high", "low"]  # the side of the median the sentence describes
    value: Literal["int", "pct", "decimal", "none"]  # how {v} is written
    zh: str
    en: str
    zh_zero: str | None = None  # wording when the value is 0 ("no contact" reads better)
    en_zero: str | None = None
    holds: Callable[[pd.DataFrame], np.ndarray] | None = None  # extra truth condition


REASONS: tuple[Reason, ...] = (
    Reason("long_since_last_purchase", "recency_days", "high", "int",
           "距上次购买已 {v} 天", "{v} day{s} since last purchase"),
    Reason("few_orders_last_year", "order_count_365d", "low", "int",
           "近一年仅下单 {v} 次", "Only {v} order{s} in the last year",
           "近一年没有下单", "No orders in the last year"),
    Reason("buying_less_often", "order_trend_90d", "low", "none",
           "近 90 天购买次数比前 90 天减少", "Buying less often than the previous quarter",
           holds=_fewer_than_prior("order_count_90d", "order_count_prior_90d")),
    Reason("spending_less", "spend_trend_90d", "low", "none",
           "近 90 天消费金额比前 90 天下降", "Spending less than the previous quarter",
           holds=_fewer_than_prior("monetary_90d", "monetary_prior_90d")),
    Reason("long_gaps_between_orders", "avg_days_between_orders", "high", "int",
           "平均每 {v} 天才购买一次", "Buys only once every {v} day{s} on average"),
    Reason("new_customer", "tenure_days", "low", "int",
           "成为客户仅 {v} 天", "A customer for only {v} day{s}"),
    Reason("coupon_dependent", "coupon_order_share", "high", "pct",
           "{v} 的订单使用了优惠券", "{v} of orders used a coupon"),
    Reason("complaints", "complaints_365d", "high", "int",
           "近一年投诉 {v} 次", "{v} complaint{s} in the last year"),
    Reason("service_tickets", "tickets_365d", "high", "int",
           "近一年提交服务工单 {v} 个", "{v} service ticket{s} in the last year"),
    Reason("low_satisfaction", "avg_satisfaction", "low", "decimal",
           "服务满意度偏低（平均 {v} 分）", "Low service satisfaction (average {v})"),
    Reason("low_nps", "latest_nps_score", "low", "int",
           "最近一次 NPS 评分仅 {v} 分", "Latest NPS score only {v}"),
    Reason("no_recent_visit", "days_since_last_event", "high", "int",
           "已 {v} 天没有访问", "No visit in {v} day{s}"),
    Reason("few_visits", "sessions_90d", "low", "int",
           "近 90 天仅访问 {v} 次", "Only {v} visit{s} in the last 90 days",
           "近 90 天没有访问", "No visits in the last 90 days"),
    Reason("little_campaign_contact", "campaign_touches_365d", "low", "int",
           "近一年仅收到 {v} 次营销触达", "Only {v} campaign contact{s} in the last year",
           "近一年未收到任何营销触达", "No campaign contact in the last year"),
    Reason("ignores_campaigns", "campaign_open_rate", "low", "pct",
           "营销消息打开率仅 {v}", "Opens only {v} of campaign messages"),
)  # fmt: skip
REASONS_BY_CODE: Mapping[str, Reason] = {r.code: r for r in REASONS}
REASON_SLOTS = 3


@dataclass(frozen=True)
class ChurnConfig:
    """Every knob of the churn fit, recorded with each run in `model_runs`."""

    numeric_features: tuple[str, ...] = NUMERIC_FEATURES
    categorical_features: tuple[str, ...] = CATEGORICAL_FEATURES
    # The horizon of the dbt label (no purchase within N days after the cut-off); it must match
    # the var the label used. 90 days is the usual quarter-long window in retail churn work.
    horizon_days: int = 90
    # Days between the newest training cut-off and the validation cut-off. None = the horizon:
    # the training labels are then fully known at the validation cut-off, as in production.
    validation_gap_days: int | None = None
    classifier: Literal["hist_gradient_boosting", "logistic_regression"] = "hist_gradient_boosting"
    compare_logistic: bool = True  # also fit the other classifier and report its metrics
    # Gradient boosting. learning_rate, max_leaf_nodes: scikit-learn defaults. min_samples_leaf:
    # 5x the default 20, smoother probabilities on tables of tens of thousands of customers
    # (capped at a twentieth of the fit rows, so a small shop's model can split at all).
    # l2_regularization 1.0: mild, against leaves fit to a handful of big spenders.
    learning_rate: float = 0.1
    max_iter: int = 200  # an upper bound: early stopping usually ends sooner
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 100
    l2_regularization: float = 1.0
    # Early stopping on a random 10% of the fit rows (scikit-learn's defaults). It only picks
    # the number of trees; the validation that is reported is the held-out cut-off.
    early_stopping_rounds: int = 10
    # Logistic regression (comparison): scikit-learn's default C on standardised features.
    logistic_c: float = 1.0
    # Levels kept per categorical column (most frequent first); the rest share one "other"
    # code. 30 covers the categories/brands that matter; the model's limit is 254.
    max_categories: int = 30
    calibration: Literal["isotonic", "sigmoid", "none"] = "isotonic"
    calibration_fraction: float = 0.2  # share of customers set aside when one cut-off trains
    refit_on_all_cutoffs: bool = True
    # Seasonal drift correction (module notes, "Season"): shift the scores on the log-odds
    # scale by the offset the scoring model needs at the labelled cut-off one year before the
    # scoring date, when the history has one within `season_match_days` (half a month: the
    # history's cut-offs are month ends). 20k sample: scoring-date ECE 0.033 -> 0.021 (the
    # 2024-12-31 offset, +0.095); the calibration cut-off's quarter holds Double-11, the
    # scoring quarter the Spring Festival.
    seasonal_correction: bool = True
    season_match_days: int = 16
    # Tiers on the calibrated probability: high = at least 3 in 5 to lapse, medium = at least
    # 1 in 3 (roughly twice the 90-day lapse rate of an active customer base); below is low.
    tier_high: float = 0.6
    tier_medium: float = 0.3
    random_state: int = 42
    # Rows the classifier fits on, sampled uniformly from the fit cut-offs (the calibration
    # cut-off is capped the same way). 250k: on the bench, more rows moved AUC by < 0.002
    # while fit time grows linearly.
    max_training_rows: int = 250_000
    reason_codes: tuple[str, ...] = tuple(r.code for r in REASONS)
    # A reason must move the (uncalibrated) probability by at least 1 percentage point.
    reason_min_drop: float = 0.01
    # A curated feature may be a reason only if shuffling it on the calibration rows raises
    # the log loss by >= 3 paired standard errors (one-sided, ~0.1% chance for a pure-noise
    # feature), measured on at most `importance_rows` rows (50k: SE small, cost ~1 s/feature).
    reason_min_z: float = 3.0
    importance_rows: int = 50_000
    # Churn is defined for customers with an order: rows below 1 here are left unscored.
    eligibility_column: str | None = "order_count"
    # OpenMP threads for fitting; None = every core. On a quiet 2-core machine 2 threads fit
    # in 70-75% of the time of 1 (10k to 1M customers); on one shared with other jobs, 1 fit
    # 6x faster than 2 (spinning OpenMP barriers): give the threads the model really has.
    threads: int | None = None
    # OpenMP threads for scoring; None = every core. Prediction splits the rows, with no
    # barrier per tree node: 200k customers of the 1M benchmark scored (with reasons) in
    # 6.0-6.4 s on 2 threads, 9.5 s on 1 (quiet 2-core machine).
    score_threads: int | None = None

    def __post_init__(self) -> None:
        overlap = set(self.numeric_features) & set(self.categorical_features)
        if overlap:
            raise ValueError(f"columns listed as both numeric and categorical: {sorted(overlap)}")
        if not self.numeric_features and not self.categorical_features:
            raise ValueError("ChurnConfig needs at least one feature column")
        if self.horizon_days < 1:
            raise ValueError(f"horizon_days must be at least 1, got {self.horizon_days}")
        if self.validation_gap_days is not None and self.validation_gap_days < 0:
            raise ValueError(f"validation_gap_days must be >= 0, got {self.validation_gap_days}")
        if not 0.0 < self.tier_medium < self.tier_high < 1.0:
            raise ValueError(
                "tiers need 0 < tier_medium < tier_high < 1, got "
                f"tier_medium={self.tier_medium}, tier_high={self.tier_high}"
            )
        if self.calibration not in ("isotonic", "sigmoid", "none"):
            raise ValueError(f"calibration must be isotonic, sigmoid or none: {self.calibration}")
        if self.classifier not in ("hist_gradient_boosting", "logistic_regression"):
            raise ValueError(f"unknown classifier {self.classifier!r}")
        if not 0.0 < self.calibration_fraction < 1.0:
            raise ValueError(f"calibration_fraction must be in (0, 1): {self.calibration_fraction}")
        if self.season_match_days < 0:
            raise ValueError(f"season_match_days must be >= 0: {self.season_match_days}")
        if not 1 <= self.max_categories <= 254:
            raise ValueError(f"max_categories must be in [1, 254]: {self.max_categories}")
        if self.max_training_rows < 100:
            raise ValueError(f"max_training_rows is too small: {self.max_training_rows}")
        unknown = [c for c in self.reason_codes if c not in REASONS_BY_CODE]
        if unknown:
            raise ValueError(f"unknown reason codes {unknown}; known: {sorted(REASONS_BY_CODE)}")

    @property
    def features(self) -> tuple[str, ...]:
        return (*self.numeric_features, *self.categorical_features)

    @property
    def gap_days(self) -> int:
        return self.horizon_days if self.validation_gap_days is None else self.validation_gap_days

    def parameters(self) -> dict[str, Any]:
        """The config as JSON-able values for `model_runs.parameters`."""
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }


# --------------------------------------------------------------------------------------------
# Input checks and encoding


def _numeric(series: pd.Series, name: str) -> np.ndarray:
    """Nullable ints, decimals and floats all become float64 with NaN for null."""
    try:
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"feature column {name!r} must be numeric (got dtype {series.dtype}); "
            "list it in categorical_features if it holds labels"
        ) from error


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} is missing column(s) {missing}")


def _boolean_label(series: pd.Series) -> pd.Series:
    """`is_churned` as True / False / <NA>; 0/1 or 'yes'/'no' are refused, not guessed."""
    if pd.api.types.is_bool_dtype(series):
        return series.astype("boolean")
    if series.dtype == object:
        present = series.dropna()
        if present.map(lambda v: isinstance(v, bool | np.bool_)).all():
            return series.astype("boolean")
    if series.isna().all():
        return series.astype("boolean")
    sample = series.dropna().unique()[:5].tolist()
    raise ValueError(
        f"column {LABEL!r} must be boolean (True / False, null when unlabelled); got dtype "
        f"{series.dtype} with values like {sample}"
    )


@dataclass(frozen=True)
class _Encoding:
    """Which columns the model sees, and the category codes, fixed by the fit rows."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    vocabulary: Mapping[str, tuple[str, ...]]

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.numeric, *self.categorical)

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """Numerics as floats; categories as codes 0..k-1, k for any other level, NaN for null."""
        x = np.empty((len(frame), len(self.columns)), dtype=np.float64)
        for j, name in enumerate(self.numeric):
            x[:, j] = _numeric(frame[name], name)
        for j, name in enumerate(self.categorical, start=len(self.numeric)):
            values = frame[name]
            levels = self.vocabulary[name]
            codes = pd.Categorical(values.astype("string"), categories=list(levels)).codes
            column = np.where(codes < 0, float(len(levels)), codes.astype(np.float64))
            column[values.isna().to_numpy()] = np.nan
            x[:, j] = column
        return x


def _learn_encoding(rows: pd.DataFrame, config: ChurnConfig) -> _Encoding:
    """Columns with no value at all in the fit rows carry no information (an orders-only shop)
    and scikit-learn's binning cannot take an all-NaN numeric column, so they are left out."""
    numeric = tuple(c for c in config.numeric_features if rows[c].notna().any())
    vocabulary: dict[str, tuple[str, ...]] = {}
    for name in config.categorical_features:
        counts = rows[name].dropna().astype("string").value_counts()
        if counts.empty:
            continue
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        vocabulary[name] = tuple(str(level) for level, _ in ranked[: config.max_categories])
    return _Encoding(numeric, tuple(vocabulary), vocabulary)


def _prepare_training(training: pd.DataFrame, config: ChurnConfig) -> pd.DataFrame:
    """Checked, ordered labelled rows: same rows in any order give the same model."""
    if not isinstance(training, pd.DataFrame):
        raise TypeError(f"training must be a pandas DataFrame, got {type(training).__name__}")
    _require_columns(training, [CUSTOMER_ID, CUTOFF_DATE, LABEL], "training")
    _require_columns(training, config.features, "training")
    rows = training.copy(deep=False)
    try:
        rows[CUTOFF_DATE] = pd.to_datetime(rows[CUTOFF_DATE]).dt.normalize()
    except (TypeError, ValueError) as error:
        raise ValueError(f"column {CUTOFF_DATE!r} must hold dates: {error}") from error
    if rows[CUTOFF_DATE].isna().any():
        raise ValueError(f"column {CUTOFF_DATE!r} has {rows[CUTOFF_DATE].isna().sum()} nulls")
    rows[LABEL] = _boolean_label(rows[LABEL])
    if rows.duplicated([CUSTOMER_ID, CUTOFF_DATE]).any():
        raise ValueError(f"training has duplicate ({CUSTOMER_ID}, {CUTOFF_DATE}) rows")

    labelled = rows[LABEL].notna()
    mixed = labelled.groupby(rows[CUTOFF_DATE]).agg(["sum", "size"])
    mixed = mixed[(mixed["sum"] > 0) & (mixed["sum"] < mixed["size"])]
    if not mixed.empty:
        day = mixed.index[0]
        raise ValueError(
            f"cut-off {day.date()} has {int(mixed.loc[day, 'sum'])} labelled and "
            f"{int(mixed.loc[day, 'size'] - mixed.loc[day, 'sum'])} unlabelled rows; a cut-off "
            "is labelled whole (its horizon fully observed) or not at all"
        )
    rows = rows[labelled]
    if rows.empty:
        raise ChurnNotLearnable(
            f"no labelled cut-off: every {LABEL} is null (no cut-off has its "
            f"{config.horizon_days}-day horizon fully observed yet)"
        )
    rows = rows.sort_values([CUTOFF_DATE, CUSTOMER_ID], kind="stable", ignore_index=True)
    rows[LABEL] = rows[LABEL].astype(bool)
    return rows


# --------------------------------------------------------------------------------------------
# The split by time


@dataclass(frozen=True)
class TimeSplit:
    """Which cut-offs fit, calibrate and validate; frames hold the rows of each part."""

    fit: pd.DataFrame
    calibration: pd.DataFrame
    validation: pd.DataFrame
    fit_cutoffs: tuple[pd.Timestamp, ...]
    calibration_cutoff: pd.Timestamp  # the same as the last fit cut-off for a customer slice
    calibration_slice: str  # "cut-off" or "customers"
    validation_cutoff: pd.Timestamp | None


def _customer_slice(customer_ids: pd.Series, fraction: float) -> np.ndarray:
    """A fixed set of customers by hash, so it does not depend on row order or on the seed."""
    hashed = pd.util.hash_pandas_object(customer_ids.astype("string"), index=False).to_numpy()
    return (hashed % np.uint64(10_000)) < np.uint64(round(fraction * 10_000))


def _fit_and_calibration_rows(
    rows: pd.DataFrame, cutoffs: Sequence[pd.Timestamp], config: ChurnConfig
) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    if len(cutoffs) >= 2:
        fit = rows[rows[CUTOFF_DATE].isin(cutoffs[:-1])]
        calibration = rows[rows[CUTOFF_DATE] == cutoffs[-1]]
        return fit, calibration, "cut-off"
    only = rows[rows[CUTOFF_DATE] == cutoffs[0]]
    held = _customer_slice(only[CUSTOMER_ID], config.calibration_fraction)
    return only[~held], only[held], "customers"


def time_split(training: pd.DataFrame, config: ChurnConfig | None = None) -> TimeSplit:
    """The validation split `fit_churn` uses: latest labelled cut-off held out, training from
    cut-offs at least `gap_days` before it, calibration on the latest of those."""
    config = config or ChurnConfig()
    return _time_split(_prepare_training(training, config), config)


def _time_split(rows: pd.DataFrame, config: ChurnConfig) -> TimeSplit:
    cutoffs = sorted(rows[CUTOFF_DATE].unique())
    if len(cutoffs) < 2:
        raise ChurnNotLearnable(
            f"need at least two labelled cut-offs (one to train, the latest to validate); got "
            f"{[str(c.date()) for c in map(pd.Timestamp, cutoffs)]}"
        )
    validation_cutoff = pd.Timestamp(cutoffs[-1])
    limit = validation_cutoff - pd.Timedelta(days=config.gap_days)
    train_cutoffs = [pd.Timestamp(c) for c in cutoffs[:-1] if pd.Timestamp(c) <= limit]
    if not train_cutoffs:
        raise ChurnNotLearnable(
            f"no labelled cut-off is at least {config.gap_days} days before the validation "
            f"cut-off {validation_cutoff.date()} (labelled: "
            f"{[str(pd.Timestamp(c).date()) for c in cutoffs]}): the data is too short for a"
            " time-based validation; it needs older orders (calling fit_churn directly,"
            " ChurnConfig.validation_gap_days can shorten the gap)"
        )
    fit, calibration, how = _fit_and_calibration_rows(rows, train_cutoffs, config)
    return TimeSplit(
        fit=fit,
        calibration=calibration,
        validation=rows[rows[CUTOFF_DATE] == validation_cutoff],
        fit_cutoffs=tuple(train_cutoffs[:-1]) if how == "cut-off" else tuple(train_cutoffs),
        calibration_cutoff=train_cutoffs[-1],
        calibration_slice=how,
        validation_cutoff=validation_cutoff,
    )


def _refit_split(rows: pd.DataFrame, config: ChurnConfig) -> TimeSplit:
    cutoffs = [pd.Timestamp(c) for c in sorted(rows[CUTOFF_DATE].unique())]
    fit, calibration, how = _fit_and_calibration_rows(rows, cutoffs, config)
    return TimeSplit(
        fit=fit,
        calibration=calibration,
        validation=rows.iloc[0:0],
        fit_cutoffs=tuple(cutoffs[:-1]) if how == "cut-off" else tuple(cutoffs),
        calibration_cutoff=cutoffs[-1],
        calibration_slice=how,
        validation_cutoff=None,
    )


# --------------------------------------------------------------------------------------------
# Fitting


def _bounded(rows: pd.DataFrame, limit: int, seed: int) -> pd.DataFrame:
    """A uniform sample (in row order) when there are more rows than the fit can afford."""
    if len(rows) <= limit:
        return rows
    keep = np.random.default_rng(seed).choice(len(rows), size=limit, replace=False)
    return rows.iloc[np.sort(keep)]


def _logistic(encoding: _Encoding, config: ChurnConfig) -> Any:
    """Logistic regression on the same matrix: asinh tames the spend tails, missing values get
    an indicator, categories are one-hot."""
    n_num = len(encoding.numeric)
    numeric = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        FunctionTransformer(np.arcsinh),
        StandardScaler(),
    )
    categorical = make_pipeline(
        SimpleImputer(strategy="constant", fill_value=-1.0, keep_empty_features=True),
        OneHotEncoder(handle_unknown="ignore"),
    )
    parts = [("numeric", numeric, list(range(n_num)))]
    if encoding.categorical:
        parts.append(("categorical", categorical, list(range(n_num, len(encoding.columns)))))
    return make_pipeline(
        ColumnTransformer(parts),
        LogisticRegression(C=config.logistic_c, max_iter=2_000),
    )


def _estimator(kind: str, encoding: _Encoding, config: ChurnConfig, rows: int) -> Any:
    if kind == "logistic_regression":
        return _logistic(encoding, config)
    mask = [False] * len(encoding.numeric) + [True] * len(encoding.categorical)
    return HistGradientBoostingClassifier(
        learning_rate=config.learning_rate,
        max_iter=config.max_iter,
        max_leaf_nodes=config.max_leaf_nodes,
        # At most a twentieth of the rows: a small shop's 86 fit rows with leaves of 100 allow
        # no split, and every customer got the same probability.
        min_samples_leaf=min(config.min_samples_leaf, max(5, rows // 20)),
        l2_regularization=config.l2_regularization,
        categorical_features=mask if any(mask) else None,
        early_stopping=True,
        n_iter_no_change=config.early_stopping_rounds,
        random_state=config.random_state,
    )


# Isotonic calibration is a step function: every customer on one step gets the same
# probability, and the ranking inside a step is lost (on the grocery log, 34 distinct values
# for 1,525 customers cost 0.004 of held-out AUC). Mixing in this share of the raw score keeps
# the order of the raw score within a step and moves no probability by more than 1e-6, so
# calibration is unchanged; a convex mix of two values in [0, 1] stays in [0, 1].
ISOTONIC_TIE_BREAK = 1e-6


@dataclass(frozen=True)
class Calibrator:
    """Raw scores to observed rates: isotonic, Platt (sigmoid) or the identity ("none"). A
    class rather than a closure, so a fitted model can be stored (`fit_cache`)."""

    method: str
    fitted: Any = None  # IsotonicRegression, LogisticRegression on the log-odds, or None

    def __call__(self, p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=np.float64)
        if self.method == "isotonic":
            return (1.0 - ISOTONIC_TIE_BREAK) * self.fitted.predict(p) + ISOTONIC_TIE_BREAK * p
        if self.method == "sigmoid":
            return self.fitted.predict_proba(_logit(p))[:, 1]
        return p


def _fit_calibrator(method: str, raw: np.ndarray, y: np.ndarray) -> Calibrator:
    """Map raw scores to observed rates; the identity when calibration is off."""
    if method == "none":
        return Calibrator(method)
    if method == "isotonic":
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, y)
        return Calibrator(method, iso)
    platt = LogisticRegression(C=1e6, max_iter=1_000)  # Platt scaling, effectively unpenalised
    return Calibrator("sigmoid", platt.fit(_logit(raw), y))


def _logit(p: np.ndarray) -> np.ndarray:
    """Log-odds as one feature column, clipped so 0 and 1 stay finite."""
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(q / (1 - q)).reshape(-1, 1)


@dataclass(frozen=True)
class FittedScorer:
    """One fitted classifier with its encoding, calibrator and reason references."""

    kind: str
    encoding: _Encoding
    estimator: Any
    calibrator: Calibrator
    reference: Mapping[str, float]  # median of each numeric column over the fit rows
    split: TimeSplit
    fit_rows: int  # after sampling
    calibration_rows: int
    n_trees: int | None

    # Curated features the model demonstrably relies on out of sample: the only ones that may
    # be given as reasons (see `_held_out_importance`).
    reason_features: frozenset[str] = frozenset()
    importance: Mapping[str, Mapping[str, float | bool]] = dataclasses.field(default_factory=dict)

    def raw(self, x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return np.empty(0)
        return self.estimator.predict_proba(x)[:, 1]

    def probability(self, x: np.ndarray) -> np.ndarray:
        return self.calibrator(self.raw(x))


class ChurnNotLearnable(ValueError):
    """The data cannot train or validate a churn model yet (too short a history, one label):
    a fact about the data, not a fault, so the pipeline scores nobody and goes on."""


def _check_two_classes(y: np.ndarray, what: str) -> None:
    if y.size == 0:
        raise ValueError(f"{what} has no rows")
    if y.all() or not y.any():
        raise ChurnNotLearnable(
            f"{what} has a single label value ({LABEL}={bool(y[0])} for all {y.size} rows); "
            "churn cannot be learnt from it"
        )


def _log_loss_rows(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return -(y * np.log(q) + (~y) * np.log(1 - q))


def _held_out_importance(
    estimator: Any,
    encoding: _Encoding,
    x: np.ndarray,
    y: np.ndarray,
    features: Sequence[str],
    config: ChurnConfig,
) -> dict[str, dict[str, float | bool]]:
    """Permutation importance of each curated feature on the calibration rows (not fit on): a
    boosted model also fits noise, and what-if drops on a feature it only overfits would be
    reasons made of noise. A feature is kept when shuffling it raises the per-row log loss by
    at least `reason_min_z` paired standard errors."""
    rng = np.random.default_rng(config.random_state)
    if len(x) > config.importance_rows:
        keep = np.sort(rng.choice(len(x), size=config.importance_rows, replace=False))
        x, y = x[keep], y[keep]
    base = _log_loss_rows(y, estimator.predict_proba(x)[:, 1])
    index = {name: j for j, name in enumerate(encoding.columns)}
    result: dict[str, dict[str, float | bool]] = {}
    for name in features:
        j = index[name]
        shuffled = x.copy()
        shuffled[:, j] = rng.permutation(shuffled[:, j])
        diff = _log_loss_rows(y, estimator.predict_proba(shuffled)[:, 1]) - base
        spread = diff.std(ddof=1) / np.sqrt(diff.size) if diff.size > 1 else 0.0
        z = float(diff.mean() / spread) if spread > 0 else 0.0
        result[name] = {
            "log_loss_increase": float(diff.mean()),
            "z": z,
            "kept": z >= config.reason_min_z,
        }
    return result


def _fit_scorer(
    split: TimeSplit, kind: str, config: ChurnConfig, for_reasons: bool = False
) -> FittedScorer:
    fit = _bounded(split.fit, config.max_training_rows, config.random_state)
    calibration = _bounded(split.calibration, config.max_training_rows, config.random_state + 1)
    encoding = _learn_encoding(fit, config)
    x_fit = encoding.matrix(fit)
    y_fit = fit[LABEL].to_numpy(dtype=bool)
    _check_two_classes(y_fit, "the fit rows")
    estimator = _estimator(kind, encoding, config, len(y_fit)).fit(x_fit, y_fit)
    n_num = len(encoding.numeric)
    with np.errstate(all="ignore"):
        medians = np.nanmedian(x_fit[:, :n_num], axis=0) if n_num else np.empty(0)
    reference = {name: float(m) for name, m in zip(encoding.numeric, medians, strict=True)}
    del x_fit
    x_cal = encoding.matrix(calibration)
    y_cal = calibration[LABEL].to_numpy(dtype=bool)
    if y_cal.size == 0:
        raise ValueError("the calibration rows are empty")
    calibrator = _fit_calibrator(config.calibration, estimator.predict_proba(x_cal)[:, 1], y_cal)
    importance = {}
    if for_reasons:
        curated = {REASONS_BY_CODE[c].feature for c in config.reason_codes}
        candidates = [c for c in encoding.numeric if c in curated and not np.isnan(reference[c])]
        importance = _held_out_importance(estimator, encoding, x_cal, y_cal, candidates, config)
    return FittedScorer(
        kind=kind,
        encoding=encoding,
        estimator=estimator,
        calibrator=calibrator,
        reference=reference,
        split=split,
        fit_rows=len(fit),
        calibration_rows=len(calibration),
        n_trees=getattr(estimator, "n_iter_", None),
        reason_features=frozenset(name for name, v in importance.items() if v["kept"]),
        importance=importance,
    )


# --------------------------------------------------------------------------------------------
# Metrics


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """Equal-frequency bins of the prediction: bin, mean predicted, observed rate, count."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    table = []
    for b, idx in enumerate(np.array_split(order, min(bins, len(order)))):
        if idx.size:
            table.append(
                {
                    "bin": b + 1,
                    "mean_predicted": float(p[idx].mean()),
                    "observed_rate": float(y[idx].mean()),
                    "count": int(idx.size),
                }
            )
    return table


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Count-weighted mean |mean predicted - observed rate| over equal-frequency bins."""
    table = calibration_table(y, p, bins)
    total = sum(row["count"] for row in table)
    return float(
        sum(row["count"] * abs(row["mean_predicted"] - row["observed_rate"]) for row in table)
        / total
    )


def lift_top_decile(y: np.ndarray, score: np.ndarray) -> float | None:
    """Churn rate among the 10% highest scores over the overall churn rate."""
    y = np.asarray(y, dtype=np.float64)
    if y.size == 0 or y.mean() == 0:
        return None
    top = np.argsort(-np.asarray(score, dtype=np.float64), kind="stable")[
        : max(1, int(np.ceil(0.1 * y.size)))
    ]
    return float(y[top].mean() / y.mean())


def _ranking_metrics(y: np.ndarray, score: np.ndarray) -> dict[str, Any]:
    both = 0 < y.sum() < y.size
    return {
        "roc_auc": float(roc_auc_score(y, score)) if both else None,
        "pr_auc": float(average_precision_score(y, score)) if both else None,
        "lift_top_decile": lift_top_decile(y, score),
    }


def _probability_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    return {
        **_ranking_metrics(y, p),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
        "mean_predicted": float(p.mean()),
        "positive_rate": float(y.mean()),
        "rows": int(y.size),
        "calibration_table": calibration_table(y, p),
    }


def _baseline(
    name: str,
    train: pd.DataFrame,
    validation: pd.DataFrame,
    score: Callable[[pd.DataFrame], np.ndarray],
) -> dict[str, Any]:
    """A ranking baseline: AUC, PR AUC and lift on the raw score; Brier and ECE after an
    isotonic map to probability fit on the training rows."""
    s_train, s_val = score(train), score(validation)
    keep_train, keep_val = ~np.isnan(s_train), ~np.isnan(s_val)
    if not keep_val.any() or not keep_train.any():
        return {"skipped": f"{name}: no values in the training or validation rows"}
    y_train = train[LABEL].to_numpy(dtype=bool)[keep_train]
    y_val = validation[LABEL].to_numpy(dtype=bool)[keep_val]
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    mapped = iso.fit(s_train[keep_train], y_train).predict(s_val[keep_val])
    result = _probability_metrics(y_val, mapped)
    result.update(_ranking_metrics(y_val, s_val[keep_val]))
    result["rows_without_score"] = int((~keep_val).sum())
    return result


def _rows_per_cutoff(rows: pd.DataFrame) -> dict[str, int]:
    counts = rows.groupby(CUTOFF_DATE).size()
    return {str(pd.Timestamp(day).date()): int(n) for day, n in counts.items()}


def _split_summary(scorer: FittedScorer) -> dict[str, Any]:
    split = scorer.split
    return {
        "fit_cutoffs": [str(c.date()) for c in split.fit_cutoffs],
        "calibration_cutoff": str(split.calibration_cutoff.date()),
        "calibration_slice": split.calibration_slice,
        "rows_fit": _rows_per_cutoff(split.fit),
        "rows_calibration": _rows_per_cutoff(split.calibration),
        "rows_fit_sampled": scorer.fit_rows,
        "rows_calibration_sampled": scorer.calibration_rows,
        "n_trees": scorer.n_trees,
    }


# --------------------------------------------------------------------------------------------
# The public fit


@dataclass(frozen=True)
class ChurnModel:
    """The scoring model in memory plus what `model_runs` records about the fit."""

    config: ChurnConfig
    scorer: FittedScorer  # refit on every labelled cut-off, unless refit_on_all_cutoffs=False
    metrics: Mapping[str, Any]  # JSON-able; see `headline_metrics` for the flat summary
    parameters: Mapping[str, Any]
    trained_through: pd.Timestamp  # the latest labelled cut-off the scoring model used
    # Per labelled cut-off: the log-odds shift that makes the scoring model's mean probability
    # equal that cut-off's churn rate (see `seasonal_shift`).
    cutoff_offsets: Mapping[pd.Timestamp, float] = dataclasses.field(default_factory=dict)

    def without_training_rows(self) -> ChurnModel:
        """The model as stored for reuse: everything scoring and metrics need, without the
        training frames its split keeps (tens of megabytes at a million customers)."""
        split = self.scorer.split
        empty = split.fit.iloc[0:0]
        kept = dataclasses.replace(split, fit=empty, calibration=empty, validation=empty)
        return dataclasses.replace(self, scorer=dataclasses.replace(self.scorer, split=kept))

    def seasonal_shift(self, scoring_date: Any) -> tuple[float, pd.Timestamp | None]:
        """Log-odds shift for scores as of `scoring_date`, and the cut-off it comes from: the
        offset at the labelled cut-off nearest one year earlier (same season) minus the offset
        at the calibration cut-off; (0, None) when the history has no such cut-off."""
        if not self.config.seasonal_correction or not self.cutoff_offsets:
            return 0.0, None
        target = pd.Timestamp(scoring_date) - pd.DateOffset(years=1)
        gap, nearest = min((abs((c - target).days), c) for c in self.cutoff_offsets)
        if gap > self.config.season_match_days:
            return 0.0, None
        reference = self.cutoff_offsets.get(self.trained_through, 0.0)
        return float(self.cutoff_offsets[nearest] - reference), nearest


def fit_churn(training: pd.DataFrame, config: ChurnConfig | None = None) -> ChurnModel:
    """Validate on the latest labelled cut-off, then refit for scoring; see the module notes."""
    config = config or ChurnConfig()
    with threadpool_limits(config.threads):
        return _fit_churn(training, config)


def _fit_churn(training: pd.DataFrame, config: ChurnConfig) -> ChurnModel:
    rows = _prepare_training(training, config)
    split = _time_split(rows, config)
    refit = config.refit_on_all_cutoffs
    validated = _fit_scorer(split, config.classifier, config, for_reasons=not refit)
    y_val = split.validation[LABEL].to_numpy(dtype=bool)
    x_val = validated.encoding.matrix(split.validation)
    p_val = validated.probability(x_val)
    del x_val

    train_rows = pd.concat([split.fit, split.calibration])
    baselines: dict[str, Any] = {
        "recency": _baseline(
            "recency_days",
            train_rows,
            split.validation,
            lambda f: _numeric(f["recency_days"], "recency_days"),
        )
        if "recency_days" in training.columns
        else {"skipped": "no recency_days column"},
        "bgnbd_p_alive": _baseline(
            P_ALIVE, train_rows, split.validation, lambda f: 1.0 - _numeric(f[P_ALIVE], P_ALIVE)
        )
        if P_ALIVE in training.columns
        else {"skipped": f"no {P_ALIVE} column in the training rows"},
    }
    comparison: dict[str, Any] = {}
    if config.compare_logistic:
        other = (
            "logistic_regression"
            if config.classifier == "hist_gradient_boosting"
            else "hist_gradient_boosting"
        )
        rival = _fit_scorer(split, other, config)
        p_rival = rival.probability(rival.encoding.matrix(split.validation))
        comparison[other] = _probability_metrics(y_val, p_rival)

    scorer = (
        _fit_scorer(_refit_split(rows, config), config.classifier, config, for_reasons=True)
        if refit
        else validated
    )
    used = set(scorer.encoding.columns)
    by_cutoff, offsets = _calibration_by_cutoff(scorer, rows, config)
    metrics = {
        "horizon_days": config.horizon_days,
        "classifier": config.classifier,
        "calibration": config.calibration,
        "validation_cutoff": str(split.validation_cutoff.date()),
        "validation": {
            **_probability_metrics(y_val, p_val),
            "rows_per_cutoff": _rows_per_cutoff(split.validation),
        },
        "validation_split": _split_summary(validated),
        "baselines": baselines,
        "comparison": comparison,
        "scoring_split": _split_summary(scorer),
        "refit_on_all_cutoffs": config.refit_on_all_cutoffs,
        "unused_features": [c for c in config.features if c not in used],
        "reason_feature_importance": scorer.importance,
        "calibration_by_cutoff": by_cutoff,
    }
    return ChurnModel(
        config=config,
        scorer=scorer,
        metrics=metrics,
        parameters=config.parameters(),
        trained_through=scorer.split.calibration_cutoff,
        cutoff_offsets=offsets,
    )


def _mean_matching_offset(p: np.ndarray, rate: float) -> float | None:
    """The log-odds shift d with mean(sigmoid(logit(p) + d)) = rate (monotone in d)."""
    if not 0.0 < rate < 1.0 or p.size == 0:
        return None
    z = _logit(p).ravel()
    lo, hi = -10.0, 10.0
    for _ in range(60):  # bisection to ~1e-17: no tolerance to tune
        mid = (lo + hi) / 2
        if np.mean(1.0 / (1.0 + np.exp(-(z + mid)))) < rate:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _calibration_by_cutoff(
    scorer: FittedScorer, rows: pd.DataFrame, config: ChurnConfig
) -> tuple[list[dict[str, Any]], dict[pd.Timestamp, float]]:
    """How the scoring model's probabilities compare with each labelled cut-off's outcomes
    (rate, mean, ECE, log-odds offset), on at most `importance_rows` rows per cut-off. Every
    cut-off but the calibration one was also fit on, so these are in-sample figures: the
    drift they show is a lower bound."""
    table, offsets = [], {}
    for cutoff, part in rows.groupby(CUTOFF_DATE, sort=True):
        part = _bounded(part, config.importance_rows, config.random_state)
        y = part[LABEL].to_numpy(dtype=bool)
        p = scorer.probability(scorer.encoding.matrix(part))
        offset = _mean_matching_offset(p, float(y.mean()))
        if offset is not None:
            offsets[pd.Timestamp(cutoff)] = offset
        table.append({
            "cutoff": str(pd.Timestamp(cutoff).date()),
            "rows": int(len(part)),
            "churn_rate": round(float(y.mean()), 4),
            "mean_probability": round(float(p.mean()), 4),
            "ece": round(expected_calibration_error(y, p), 4),
            "logit_offset": None if offset is None else round(offset, 4),
        })  # fmt: skip
    return table, offsets


def headline_metrics(model: ChurnModel) -> dict[str, float | int | str | None]:
    """The flat numbers an asset shows as metadata and `model_runs` plots across runs."""
    m = model.metrics
    v = m["validation"]
    flat: dict[str, float | int | str | None] = {
        "validation_cutoff": m["validation_cutoff"],
        "roc_auc": v["roc_auc"],
        "pr_auc": v["pr_auc"],
        "brier": v["brier"],
        "ece": v["ece"],
        "lift_top_decile": v["lift_top_decile"],
        "positive_rate": v["positive_rate"],
        "validation_rows": v["rows"],
        "fit_rows": m["scoring_split"]["rows_fit_sampled"],
    }
    for name, result in (*m["baselines"].items(), *m["comparison"].items()):
        flat[f"{name}_roc_auc"] = result.get("roc_auc")
        flat[f"{name}_brier"] = result.get("brier")
    # The scoring model against each labelled cut-off (in-sample but for the latest): the
    # drift the seasonal correction reads, visible run by run.
    for row in m.get("calibration_by_cutoff", []):
        flat[f"ece_{row['cutoff']}"] = row["ece"]
        flat[f"logit_offset_{row['cutoff']}"] = row["logit_offset"]
    return flat


# --------------------------------------------------------------------------------------------
# Scoring


def risk_tier(probability: np.ndarray, config: ChurnConfig) -> np.ndarray:
    """high / medium / low by the calibrated cut points; None where there is no probability."""
    p = np.asarray(probability, dtype=np.float64)
    tiers = np.select(
        [p >= config.tier_high, p >= config.tier_medium], ["high", "medium"], "low"
    ).astype(object)
    tiers[np.isnan(p)] = None
    return tiers


def _eligible(features: pd.DataFrame, config: ChurnConfig) -> np.ndarray:
    if config.eligibility_column is None:
        return np.ones(len(features), dtype=bool)
    counts = _numeric(features[config.eligibility_column], config.eligibility_column)
    return counts >= 1  # NaN compares False


def _what_if_drops(
    scorer: FittedScorer,
    reasons: Sequence[Reason],
    features: pd.DataFrame,
    x: np.ndarray,
    raw: np.ndarray,
) -> np.ndarray:
    """Drop in raw probability when one feature is set to its training median, per row."""
    drops = np.zeros((len(x), len(reasons)), dtype=np.float64)
    index = {name: j for j, name in enumerate(scorer.encoding.columns)}
    for k, reason in enumerate(reasons):
        j, ref = index[reason.feature], scorer.reference[reason.feature]
        value = x[:, j]
        risky = value > ref if reason.risky_when == "high" else value < ref
        candidate = risky & ~np.isnan(raw)
        if reason.holds is not None:
            candidate &= reason.holds(features)
        rows = np.flatnonzero(candidate)
        if rows.size == 0:
            continue
        what_if = x[rows]
        what_if[:, j] = ref
        drops[rows, k] = raw[rows] - scorer.raw(what_if)
    return drops


def _write_value(values: np.ndarray, kind: str) -> pd.Series:
    if kind == "int":
        return pd.Series(np.rint(values).astype(np.int64)).astype(str)
    if kind == "pct":
        return pd.Series(np.rint(values * 100).astype(np.int64)).astype(str) + "%"
    if kind == "decimal":
        return pd.Series(np.round(values, 1)).map("{:.1f}".format)
    return pd.Series([""] * len(values), dtype=object)


def _sentences(reason: Reason, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    written = _write_value(values, reason.value)
    out = []
    for template, zero in ((reason.zh, reason.zh_zero), (reason.en, reason.en_zero)):
        head, _, tail = template.partition("{v}")
        # "{s}" makes an English noun plural, except after a written 1 ("1 visit").
        # np.where gives a fresh, writable array; pandas' to_numpy may be a read-only view.
        text = np.where(
            (written == "1").to_numpy(),
            (head + written + tail.replace("{s}", "")).to_numpy(dtype=object),
            (head + written + tail.replace("{s}", "s")).to_numpy(dtype=object),
        )
        if zero is not None:
            text[values == 0] = zero
        out.append(text)
    return out[0], out[1]


def score_churn(model: ChurnModel, features: pd.DataFrame) -> pd.DataFrame:
    """One row per input row: customer_id, churn_probability, risk_tier and reason_k,
    reason_k_zh, reason_k_en for k = 1..3 (null where fewer reasons hold). Pure per row, so
    the caller may pass any batching of the feature table."""
    with threadpool_limits(model.config.score_threads):
        return _score_churn(model, features)


def unscored_churn(features: pd.DataFrame) -> pd.DataFrame:
    """score_churn's columns with no score for anyone: what a shop whose data cannot train a
    model yet (ChurnNotLearnable) gets, so that every other table is still built."""
    n = len(features)
    # Typed text, not objects: a column of nothing but None has no type to write.
    out = pd.DataFrame(
        {
            CUSTOMER_ID: features[CUSTOMER_ID].to_numpy(),
            "churn_probability": np.full(n, np.nan),
            "risk_tier": pd.array([None] * n, dtype="string"),
        }
    )
    for slot in range(1, REASON_SLOTS + 1):
        for column in (f"reason_{slot}", f"reason_{slot}_zh", f"reason_{slot}_en"):
            out[column] = pd.array([None] * n, dtype="string")
    return out


def _score_churn(model: ChurnModel, features: pd.DataFrame) -> pd.DataFrame:
    config, scorer = model.config, model.scorer
    needed = [CUSTOMER_ID, *scorer.encoding.columns]
    if config.eligibility_column is not None:
        needed.append(config.eligibility_column)
    _require_columns(features, list(dict.fromkeys(needed)), "features")
    features = features.reset_index(drop=True)
    n = len(features)
    x = scorer.encoding.matrix(features)
    eligible = _eligible(features, config)
    raw = np.full(n, np.nan)
    probability = np.full(n, np.nan)
    if eligible.any():
        raw[eligible] = scorer.raw(x[eligible])
        probability[eligible] = scorer.calibrator(raw[eligible])
    if AS_OF_DATE in features.columns and eligible.any():
        dates = pd.to_datetime(features[AS_OF_DATE]).to_numpy()
        for day in pd.unique(dates[eligible]):
            if pd.isna(day):
                continue
            shift, _ = model.seasonal_shift(day)
            if shift:
                rows = eligible & (dates == day)
                z = _logit(probability[rows]).ravel() + shift
                probability[rows] = 1.0 / (1.0 + np.exp(-z))

    out = pd.DataFrame(
        {
            CUSTOMER_ID: features[CUSTOMER_ID].to_numpy(),
            "churn_probability": probability,
            "risk_tier": risk_tier(probability, config),
        }
    )
    reasons = [
        REASONS_BY_CODE[code]
        for code in config.reason_codes
        if REASONS_BY_CODE[code].feature in scorer.reason_features
    ]
    drops = _what_if_drops(scorer, reasons, features, x, raw)
    drops[drops < config.reason_min_drop] = 0.0
    order = np.argsort(-drops, axis=1, kind="stable")[:, :REASON_SLOTS]
    index = {name: j for j, name in enumerate(scorer.encoding.columns)}
    for slot in range(REASON_SLOTS):
        code = np.full(n, None, dtype=object)
        zh = np.full(n, None, dtype=object)
        en = np.full(n, None, dtype=object)
        if slot < len(reasons):
            chosen = order[:, slot]
            holds = drops[np.arange(n), chosen] > 0
            for k, reason in enumerate(reasons):
                rows = np.flatnonzero(holds & (chosen == k))
                if rows.size == 0:
                    continue
                code[rows] = reason.code
                zh[rows], en[rows] = _sentences(reason, x[rows, index[reason.feature]])
        out[f"reason_{slot + 1}"] = code
        out[f"reason_{slot + 1}_zh"] = zh
        out[f"reason_{slot + 1}_en"] = en
    return out
