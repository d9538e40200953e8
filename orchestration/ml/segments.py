"""Customer segments: k-means on per-customer features, with stable ids and bilingual names.

Input is `customer_features` (one row per customer, any feature may be null). The fit:

1. **Sample.** At most `fit_sample_size` customers, chosen by a seeded hash of `customer_id`
   and sorted by that hash, so the fit does not depend on row order and a refresh with a few
   more customers sees almost the same sample.
2. **Preprocess** (a scikit-learn `Pipeline`: `_Prepare` then `StandardScaler`). Features with
   too few non-null values (e.g. every behaviour column of an orders-only shop) or no variance
   are dropped and listed in the metrics. Nulls are filled: counts where null means "none"
   (`zero_fill_features`) with 0, everything else with the sample median. Values are clipped
   to the sample's [0.1%, 99.9%] quantiles (bad rows must not stretch the scale), heavy-tailed
   money / count / day columns (`log_features`) go through log1p, then everything is
   standardised. The scaled space is therefore "z-scores vs the population after log1p".
3. **Cluster.** `KMeans(n_init, random_state)` for every k in [k_min, k_max]; k is the best by
   `criterion` (see `SegmentConfig.criterion` for why silhouette). With a `previous` model,
   k-means is also warm-started from the previous centroids (same k); that fit is kept unless
   the best fresh k beats it by more than `k_switch_margin`, so a small refresh moves
   centroids a little instead of re-drawing them.
4. **Identity.** Previous centroids are mapped into the new scaled space and matched to the new
   ones by `linear_sum_assignment` on RMS distance; matches within `match_tolerance` inherit
   the previous `segment_id` and names. Other clusters get fresh ids (`seg_NN`, numbers never
   reused) and rule names. A fresh fit numbers segments by size, largest first.

The fitted model is plain numbers (fill values, clip bounds, means, scales, centroids in the
scaled space and in original units), so `SegmentModel.to_dict()` is JSON and assignment is a
nearest-centroid lookup in numpy, batch by batch, with no pickle and no scikit-learn version
coupling.

**Names** come from a segment's centroid z-scores. A *signal* is the mean z of the features
of its group that the model uses (a signal with no feature is unknown, and rules on it never
fire). Rules are tried in this order; a segment's name is the first rule whose every
condition holds:

| code             | name_zh      | name_en          | conditions (centroid z)                   |
|------------------|--------------|------------------|-------------------------------------------|
| dormant          | 沉睡型       | Dormant          | recency >= +0.8                           |
| new              | 新客型       | New              | tenure <= -1.0                            |
| social           | 社交驱动型   | Social-driven    | social >= +0.8                            |
| quality_seeker   | 品质追求型   | Quality seeker   | item_price >= +0.8 and discount <= 0      |
| price_sensitive  | 价格敏感型   | Price-sensitive  | discount >= +0.8                          |
| high_value_loyal | 高价值忠诚型 | High-value loyal | frequency >= +0.6 and monetary >= +0.6    |
| occasional       | 偶购型       | Occasional       | frequency <= -0.5                         |
| mainstream       | 大众型       | Mainstream       | (always: the fallback)                    |

The order is the decision: a lapsed customer is dormant whatever they once were; a recent
one is new before anything else; the specific, actionable traits (sharing, price level,
discount use) come before the generic value level, which sharers and quality seekers also
reach; "occasional" is what is left of low frequency.

Signals: recency = recency_days; tenure = tenure_days; frequency = order_count_365d,
order_count; monetary = monetary_365d, monetary_total; social = shares_90d, comments_90d,
social_action_rate; discount = discount_share, coupon_order_share; item_price =
avg_item_price, price_level_index. Thresholds were
read off the centroids of the generated sample (bench/segments_quality.py): a planted trait
shows as |z| of roughly 0.6-2.5 in its cluster.

Names are unique. Segments sharing a first rule are ranked by how far they clear it (the
smallest margin over its conditions); the strongest keeps the plain name, the others get their
next firing rule as a qualifier ("沉睡型·价格敏感" / "Dormant (price-sensitive)") and, failing
that, a numeral ("沉睡型 II" / "Dormant II"). Inherited names are never recomputed, so a
refresh cannot rename a segment; `name_drift_<id>` in the metrics flags a segment whose rules
now give another name.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.metrics import calinski_harabasz_score, pairwise_distances
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

ID_COLUMN = "customer_id"
MODEL_FORMAT = 1

# One feature per trait the names speak of, each the least noisy observable form of a trait the
# generator plants (orchestration/sampledata/world.py): recency and tenure (lapsed, new),
# purchase frequency and value, browsing intensity, where in each category's price range they
# buy (quality; not avg_item_price, which mixes in the category mix), coupon use (price
# sensitivity), shares and comments per event (social; a rate, not a count that grows with
# browsing), and age (each persona has its own birth-year band). bench/segments_ceiling.py on
# the 20k sample: ARI vs personas 0.148 at the k silhouette picks (4; 0.135-0.205 over k = 4..10),
# against 0.090 for the previous 11 features and 0.104 for the RFM classes. Adding the channel
# shares, units per order and the other candidates lowered it (more noise dimensions for a
# spherical k-means), though a supervised classifier gains from them: trained on the personas
# themselves it reaches ARI 0.46 on these nine columns and 0.55 on all 62 numeric ones.
DEFAULT_FEATURES: tuple[str, ...] = (
    "recency_days",
    "tenure_days",
    "order_count_365d",
    "monetary_365d",
    "sessions_365d",
    "price_level_index",
    "coupon_order_share",
    "social_action_rate",
    "age_years",
)
# Non-negative and right-skewed (money, counts, days): log1p before scaling, or the top
# percent of spenders own clusters (without it ARI vs the planted personas fell 0.17 -> 0.09).
LOG_FEATURES: tuple[str, ...] = (
    "recency_days", "tenure_days", "order_count", "order_count_30d", "order_count_90d",
    "order_count_prior_90d", "order_count_365d", "monetary_total", "monetary_30d",
    "monetary_90d", "monetary_prior_90d", "monetary_365d", "avg_order_value", "avg_item_price",
    "avg_days_between_orders", "category_count", "brand_count", "sessions_90d", "events_90d",
    "browse_depth", "avg_dwell_seconds", "shares_90d", "comments_90d", "days_since_last_event",
    "tickets_365d", "complaints_365d", "campaign_touches_365d", "sessions_365d",
)  # fmt: skip
# Counts where null means "nothing happened" (no event, no ticket), not "unknown".
ZERO_FILL_FEATURES: tuple[str, ...] = (
    "order_count_30d", "order_count_90d", "order_count_prior_90d", "order_count_365d",
    "monetary_30d", "monetary_90d", "monetary_prior_90d", "monetary_365d", "sessions_90d",
    "events_90d", "shares_90d", "comments_90d", "tickets_365d", "complaints_365d",
    "campaign_touches_365d", "sessions_365d",
)  # fmt: skip

Criterion = Literal["silhouette", "calinski_harabasz", "bic"]


@dataclass(frozen=True)
class SegmentConfig:
    """Hyper-parameters of a segment fit; every default says where it comes from."""

    features: tuple[str, ...] = DEFAULT_FEATURES
    log_features: tuple[str, ...] = LOG_FEATURES
    zero_fill_features: tuple[str, ...] = ZERO_FILL_FEATURES
    # Marketing can act on 4-10 personas; fewer hides the planted ones, more is unreadable.
    k_min: int = 4
    k_max: int = 10
    # Silhouette on a bounded sample. On the generated sample (bench/segments_quality.py)
    # Calinski-Harabasz fell monotonically with k (picks k_min: ARI 0.09), the k-means BIC
    # rose monotonically (picks k_max: ARI 0.17), silhouette peaked inside the range at the k
    # with the best ARI (k=6: ARI 0.17).
    criterion: Criterion = "silhouette"
    criterion_sample_size: int = 10_000  # silhouette is O(n^2): 10k takes about a second
    # 50k rows put the centroids within ~0.02 RMS z of a fit on all 400k synthetic rows
    # (bench, same optimum); which of several near-equal optima k-means lands in matters more.
    fit_sample_size: int = 50_000
    assign_batch_size: int = 100_000  # about 10 MB of features per batch
    n_init: int = 4  # k-means restarts; 4 and 10 agree at ARI 0.99 on the generated sample
    max_iter: int = 300  # scikit-learn's default; bench fits converged in < 100 iterations
    clip_quantile: float = 0.001  # clip each feature to its [0.1%, 99.9%] sample quantiles
    # Below 5% non-null a median-filled feature is a near-constant that only adds noise.
    min_feature_coverage: float = 0.05
    # A heavy-tailed feature whose log1p varies by under ~10% across customers says nothing
    # (CDNOW's one-quarter cohort: tenure 480-545 days); standardised, its noise would weigh
    # as much as a real trait and split segments by a few weeks of sign-up date.
    min_log_spread: float = 0.1
    # A segment whose typical customer (centroid recency, original units) last bought this
    # long ago is dormant whatever the population looks like: the lifecycle tag calls it
    # 沉睡/流失 past dbt var lifecycle_silent_days (180). The z rule alone misses it in a shop
    # where most customers have lapsed (CDNOW: lapsed customers sit at only +0.6 z).
    dormant_recency_days: float = 180.0
    # A warm-started refit keeps the previous k unless the best fresh k beats it by more than
    # this share of the criterion. One more day of data moved silhouette per k by < 0.5%
    # (once 4.6%); the best and second-best k were 2.7% apart.
    k_switch_margin: float = 0.05
    # Warm-start k-means from the previous centroids. Its optima are not unique: two seeds on
    # the same 400k synthetic rows put one centroid 1.3 RMS z apart, so a cold refit is one
    # unlucky init away from reshuffling segments. Off only to measure that.
    warm_start: bool = True
    # A new centroid inherits a previous id when within this RMS distance (z per feature).
    # Bench: one day moved centroids <= 0.011, a week <= 0.034; the two closest distinct
    # segments were 0.80 apart.
    match_tolerance: float = 0.35
    random_state: int = 42

    def __post_init__(self) -> None:
        if not self.features:
            raise ValueError("SegmentConfig.features is empty")
        if len(set(self.features)) != len(self.features):
            raise ValueError(f"SegmentConfig.features has duplicates: {self.features}")
        if not 2 <= self.k_min <= self.k_max:
            raise ValueError(f"need 2 <= k_min <= k_max, got {self.k_min}..{self.k_max}")
        if self.criterion not in ("silhouette", "calinski_harabasz", "bic"):
            raise ValueError(f"unknown criterion {self.criterion!r}")
        if self.fit_sample_size < self.k_max or self.assign_batch_size < 1:
            raise ValueError("fit_sample_size must be >= k_max and assign_batch_size >= 1")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SegmentConfig:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


# ---- naming rules ---------------------------------------------------------------------------

SIGNALS: dict[str, tuple[str, ...]] = {
    "recency": ("recency_days",),
    "tenure": ("tenure_days",),
    "frequency": ("order_count_365d", "order_count"),
    "monetary": ("monetary_365d", "monetary_total"),
    "social": ("shares_90d", "comments_90d", "social_action_rate"),
    "discount": ("discount_share", "coupon_order_share"),
    "item_price": ("avg_item_price", "price_level_index"),
}


@dataclass(frozen=True)
class NameRule:
    code: str
    name_zh: str
    name_en: str
    qualifier_zh: str  # how the trait reads as a qualifier of another name
    qualifier_en: str
    conditions: tuple[tuple[str, str, float], ...]  # (signal, ">=" or "<=", z threshold)


NAME_RULES: tuple[NameRule, ...] = (
    NameRule("dormant", "沉睡型", "Dormant", "沉睡", "dormant", (("recency", ">=", 0.8),)),
    NameRule("new", "新客型", "New", "新客", "new", (("tenure", "<=", -1.0),)),
    NameRule("social", "社交驱动型", "Social-driven", "社交", "social", (("social", ">=", 0.8),)),
    NameRule("quality_seeker", "品质追求型", "Quality seeker", "品质", "quality",
             (("item_price", ">=", 0.8), ("discount", "<=", 0.0))),
    NameRule("price_sensitive", "价格敏感型", "Price-sensitive", "价格敏感", "price-sensitive",
             (("discount", ">=", 0.8),)),
    NameRule("high_value_loyal", "高价值忠诚型", "High-value loyal", "高价值", "high-value",
             (("frequency", ">=", 0.6), ("monetary", ">=", 0.6))),
    NameRule("occasional", "偶购型", "Occasional", "偶购", "occasional",
             (("frequency", "<=", -0.5),)),
    NameRule("mainstream", "大众型", "Mainstream", "大众", "mainstream", ()),
)  # fmt: skip
NUMERALS = ("II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")


def _signals(centroid_z: Mapping[str, float]) -> dict[str, float]:
    """Mean z of each signal's features that the model has; a signal with none is absent."""
    out = {}
    for signal, features in SIGNALS.items():
        values = [centroid_z[f] for f in features if f in centroid_z]
        if values:
            out[signal] = float(np.mean(values))
    return out


def _rule_margin(rule: NameRule, signals: Mapping[str, float]) -> float | None:
    """How far the centroid clears the rule's weakest condition; None when a condition fails."""
    margins = []
    for signal, op, threshold in rule.conditions:
        if signal not in signals:
            return None
        margin = signals[signal] - threshold if op == ">=" else threshold - signals[signal]
        if margin < 0:
            return None
        margins.append(margin)
    return min(margins) if margins else 0.0


def firing_rules(
    centroid_z: Mapping[str, float], lapsed: bool = False
) -> list[tuple[NameRule, float]]:
    """Every rule that holds for a centroid, in table order, with its margin.

    `lapsed` (the typical customer has not bought for `dormant_recency_days`) makes the
    dormant rule hold in absolute terms even when the population z does not reach it.
    """
    signals = _signals(centroid_z)
    fired = [(rule, _rule_margin(rule, signals)) for rule in NAME_RULES]
    if lapsed:
        fired = [(r, 0.0 if r.code == "dormant" and m is None else m) for r, m in fired]
    return [(rule, margin) for rule, margin in fired if margin is not None]


def name_segments(
    centroids_z: list[Mapping[str, float]],
    taken: Iterable[tuple[str, str]] = (),
    lapsed: Iterable[bool] | None = None,
) -> list[tuple[str, str, str]]:
    """(name_zh, name_en, rule code) per centroid, unique across them and `taken` names."""
    used_zh = {zh for zh, _ in taken}
    used_en = {en for _, en in taken}
    flags = list(lapsed) if lapsed is not None else [False] * len(centroids_z)
    fired = [firing_rules(c, f) for c, f in zip(centroids_z, flags, strict=True)]
    priority = {rule.code: i for i, rule in enumerate(NAME_RULES)}
    # The segment that clears its first rule by most gets the plain name.
    order = sorted(
        range(len(centroids_z)),
        key=lambda i: (priority[fired[i][0][0].code], -fired[i][0][1], i),
    )
    names: list[tuple[str, str, str]] = [("", "", "")] * len(centroids_z)
    for i in order:
        first = fired[i][0][0]
        candidates = [(first.name_zh, first.name_en)]
        candidates += [
            (f"{first.name_zh}·{r.qualifier_zh}", f"{first.name_en} ({r.qualifier_en})")
            for r, _ in fired[i][1:]
            if r.code != "mainstream"
        ]
        candidates += [(f"{first.name_zh} {n}", f"{first.name_en} {n}") for n in NUMERALS]
        zh, en = next((zh, en) for zh, en in candidates if zh not in used_zh and en not in used_en)
        used_zh.add(zh)
        used_en.add(en)
        names[i] = (zh, en, first.code)
    return names


# ---- preprocessing --------------------------------------------------------------------------


class _Prepare(TransformerMixin, BaseEstimator):
    """Fill nulls, clip to sample quantiles, log1p the skewed columns: learned on the sample."""

    def __init__(self, zero_fill: tuple[bool, ...], log: tuple[bool, ...], clip_quantile: float):
        self.zero_fill = zero_fill
        self.log = log
        self.clip_quantile = clip_quantile

    def fit(self, X: np.ndarray, y: Any = None) -> _Prepare:
        X = np.where(np.isfinite(X), X, np.nan)
        with np.errstate(all="ignore"):
            medians = np.nanmedian(X, axis=0) if len(X) else np.zeros(X.shape[1])
        medians = np.where(np.isnan(medians), 0.0, medians)
        self.fill_ = np.where(np.asarray(self.zero_fill), 0.0, medians)
        filled = np.where(np.isnan(X), self.fill_, X)
        q = self.clip_quantile
        self.lower_, self.upper_ = np.quantile(filled, [q, 1 - q], axis=0)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return _prepare(X, self.fill_, self.lower_, self.upper_, np.asarray(self.log))


def _prepare(
    X: np.ndarray, fill: np.ndarray, lower: np.ndarray, upper: np.ndarray, log: np.ndarray
) -> np.ndarray:
    X = np.where(np.isfinite(X), X, fill)
    X = np.clip(X, lower, upper)
    return np.where(log, np.log1p(np.maximum(X, 0.0)), X)


# ---- the model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    segment_id: str
    name_zh: str
    name_en: str
    rule: str  # the naming rule that gave the name when it was first given
    centroid_z: dict[str, float]  # scaled space: z vs the population, after log1p
    centroid: dict[str, float]  # the same point in original units (log1p undone)
    share_in_sample: float


@dataclass(frozen=True)
class SegmentModel:
    """A fitted segmentation: plain numbers only, so it round-trips through JSON."""

    features: tuple[str, ...]
    fill: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    log: tuple[bool, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    segments: tuple[Segment, ...]
    next_segment_number: int  # ids are never reused, even after a segment disappears
    config: SegmentConfig
    metrics: dict[str, float | int | str | bool | None] = field(default_factory=dict)

    @property
    def centers(self) -> np.ndarray:
        return np.array([[s.centroid_z[f] for f in self.features] for s in self.segments])

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The scaled feature matrix the centroids live in."""
        X = _feature_matrix(frame, self.features)
        X = _prepare(X, np.array(self.fill), np.array(self.lower), np.array(self.upper),
                     np.array(self.log))  # fmt: skip
        return (X - np.array(self.mean)) / np.array(self.scale)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "features": list(self.features),
            "fill": list(self.fill),
            "lower": list(self.lower),
            "upper": list(self.upper),
            "log": list(self.log),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "segments": [asdict(s) for s in self.segments],
            "next_segment_number": self.next_segment_number,
            "config": self.config.to_dict(),
            "metrics": dict(self.metrics),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SegmentModel:
        if data.get("format") != MODEL_FORMAT:
            raise ValueError(f"segment model format {data.get('format')!r}, want {MODEL_FORMAT}")
        return cls(
            features=tuple(data["features"]),
            fill=tuple(float(x) for x in data["fill"]),
            lower=tuple(float(x) for x in data["lower"]),
            upper=tuple(float(x) for x in data["upper"]),
            log=tuple(bool(x) for x in data["log"]),
            mean=tuple(float(x) for x in data["mean"]),
            scale=tuple(float(x) for x in data["scale"]),
            segments=tuple(Segment(**s) for s in data["segments"]),
            next_segment_number=int(data["next_segment_number"]),
            config=SegmentConfig.from_dict(data["config"]),
            metrics=dict(data.get("metrics", {})),
        )


def _feature_matrix(frame: pd.DataFrame, features: Iterable[str]) -> np.ndarray:
    """Features as a float matrix; a missing or non-numeric column is an error naming it."""
    features = list(features)
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise ValueError(f"customer_features lacks column(s) {missing} that the segments need")
    wrong = [
        f
        for f in features
        if not (pd.api.types.is_numeric_dtype(frame[f]) or frame[f].isna().all())
    ]
    if wrong:
        kinds = {f: str(frame[f].dtype) for f in wrong}
        raise ValueError(f"segment feature column(s) are not numeric: {kinds}")
    return np.column_stack(
        [frame[f].to_numpy(dtype=float, na_value=np.nan) for f in features]
    ).reshape(len(frame), len(features))


def _check_ids(frame: pd.DataFrame) -> None:
    if ID_COLUMN not in frame.columns:
        raise ValueError(f"customer_features lacks the key column {ID_COLUMN!r}")
    if frame[ID_COLUMN].isna().any():
        raise ValueError(f"{ID_COLUMN} has {int(frame[ID_COLUMN].isna().sum())} null value(s)")


def _hash_order(ids: pd.Series, random_state: int) -> np.ndarray:
    """Row positions sorted by a seeded hash of the id: a sample that ignores row order."""
    key = f"{random_state % 10**16:016d}"
    h = pd.util.hash_pandas_object(ids.astype(str), index=False, hash_key=key).to_numpy()
    return np.lexsort((ids.astype(str).to_numpy(), h))


# ---- fitting --------------------------------------------------------------------------------


def _criteria(name: str, Z: np.ndarray, fits: Sequence[KMeans], m: int) -> list[float]:
    """Each fit's criterion, higher is better for every one; `m` rows of Z (the head) feed
    silhouette, computed for all fits in one pass over their distances."""
    if name == "silhouette":
        return _silhouettes(Z[:m], [fit.labels_[:m] for fit in fits])
    return [_criterion(name, Z, fit.labels_, fit.inertia_) for fit in fits]


def _silhouettes(
    Z: np.ndarray, labelings: Sequence[np.ndarray], chunk_rows: int = 1000
) -> list[float]:
    """scikit-learn's silhouette_score of each labelling of the rows of Z (-1 for fewer than
    two clusters), with the pairwise distances computed once for all of them: silhouette_score
    computes them again per call, which made seven candidate k 4.4 of a 5 s fit on 10k rows.
    Distances are made `chunk_rows` rows at a time (80 MB at 10k rows) and summed per cluster
    by one matrix product per labelling."""
    n = len(Z)
    members = [np.eye(int(labels.max()) + 1)[labels] for labels in labelings]  # n x k one-hot
    sums = [np.empty(m.shape) for m in members]  # distance from each row to each cluster
    for start in range(0, n, chunk_rows):
        distances = pairwise_distances(Z[start : start + chunk_rows], Z)
        for one_hot, summed in zip(members, sums, strict=True):
            summed[start : start + chunk_rows] = distances @ one_hot
    scores = []
    rows = np.arange(n)
    for labels, one_hot, summed in zip(labelings, members, sums, strict=True):
        sizes = one_hot.sum(axis=0)
        if np.count_nonzero(sizes) < 2:
            scores.append(-1.0)
            continue
        own = sizes[labels]
        inner = summed[rows, labels] / np.maximum(own - 1, 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            other = summed / sizes
        other[:, sizes == 0] = np.inf
        other[rows, labels] = np.inf
        nearest = other.min(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            coefficient = (nearest - inner) / np.maximum(inner, nearest)
        coefficient[own == 1] = 0.0  # a cluster of one scores 0, as in scikit-learn
        scores.append(float(np.nan_to_num(coefficient).mean()))
    return scores


def _criterion(name: str, Z: np.ndarray, labels: np.ndarray, inertia: float) -> float:
    """Calinski-Harabasz or the k-means BIC of one fit; higher is better."""
    k = int(labels.max()) + 1
    if name == "calinski_harabasz":
        return float(calinski_harabasz_score(Z, labels))
    # X-means BIC (Pelleg & Moore 2000) for spherical clusters of shared variance.
    n, d = Z.shape
    variance = max(inertia / (d * max(n - k, 1)), 1e-12)
    sizes = np.bincount(labels, minlength=k).astype(float)
    sizes = sizes[sizes > 0]
    loglik = np.sum(
        sizes * np.log(sizes)
        - sizes * math.log(n)
        - sizes * d / 2 * math.log(2 * math.pi * variance)
        - d * (sizes - 1) / 2
    )
    params = (k - 1) + k * d + 1
    return float(loglik - params / 2 * math.log(n))


def _kmeans(config: SegmentConfig, k: int, init: np.ndarray | None = None) -> KMeans:
    if init is None:
        return KMeans(k, n_init=config.n_init, max_iter=config.max_iter,
                      random_state=config.random_state)  # fmt: skip
    return KMeans(k, init=init, n_init=1, max_iter=config.max_iter,
                  random_state=config.random_state)  # fmt: skip


def _usable_features(X: np.ndarray, config: SegmentConfig) -> tuple[tuple[str, ...], dict]:
    """Features with enough data and some spread; the rest (with the reason) are dropped."""
    coverage = np.isfinite(X).mean(axis=0)
    dropped = {f: f"coverage {c:.1%}" for f, c in zip(config.features, coverage, strict=True)
               if c < config.min_feature_coverage}  # fmt: skip
    kept = [i for i, f in enumerate(config.features) if f not in dropped]
    if kept:
        probe = _preprocessor([config.features[i] for i in kept], config)
        spread = probe.named_steps["prepare"].fit_transform(X[:, kept]).std(axis=0)
        for i, sd in zip(kept, spread, strict=True):
            feature = config.features[i]
            if sd <= 1e-12:
                dropped[feature] = "constant"
            elif feature in config.log_features and sd < config.min_log_spread:
                dropped[feature] = f"log spread {sd:.3f}"
    used = tuple(f for f in config.features if f not in dropped)
    if len(used) < 2:
        raise ValueError(
            f"only {list(used)} of the segment features have data (dropped: {dropped}); "
            "need at least two"
        )
    return used, dropped


def _preprocessor(features: list[str] | tuple[str, ...], config: SegmentConfig) -> Pipeline:
    return Pipeline([
        ("prepare", _Prepare(tuple(f in config.zero_fill_features for f in features),
                             tuple(f in config.log_features for f in features),
                             config.clip_quantile)),
        ("scale", StandardScaler()),
    ])  # fmt: skip


def _previous_centers(
    previous: SegmentModel, features: tuple[str, ...], scaler: StandardScaler
) -> tuple[np.ndarray, np.ndarray]:
    """Previous centroids in the new scaled space, and the positions of the shared features."""
    shared = [f for f in features if f in previous.features]
    new = [features.index(f) for f in shared]
    old = [previous.features.index(f) for f in shared]
    unscaled = (
        previous.centers[:, old] * np.array(previous.scale)[old] + np.array(previous.mean)[old]
    )
    mapped = np.zeros((len(previous.segments), len(features)))
    mapped[:, new] = (unscaled - scaler.mean_[new]) / scaler.scale_[new]
    return mapped, np.array(new, dtype=int)


def _match_previous(
    centers: np.ndarray, mapped: np.ndarray, shared: np.ndarray
) -> dict[int, tuple[int, float]]:
    """New cluster -> (previous segment, RMS distance) by optimal one-to-one matching."""
    diff = centers[:, None, shared] - mapped[None, :, shared]
    rms = np.sqrt((diff**2).mean(axis=2))
    rows, cols = linear_sum_assignment(rms)
    return {int(r): (int(c), float(rms[r, c])) for r, c in zip(rows, cols, strict=True)}


def _lapsed(centroid: Mapping[str, float], config: SegmentConfig) -> bool:
    """The segment's typical customer has not bought for the lifecycle's dormant span."""
    return centroid.get("recency_days", -math.inf) >= config.dormant_recency_days


def _id_number(segment_id: str) -> int:
    return int(segment_id.rsplit("_", 1)[1])


def fit_segments(
    features: pd.DataFrame, config: SegmentConfig | None = None,
    previous: SegmentModel | None = None,
) -> SegmentModel:  # fmt: skip
    """Fit k-means segments on a bounded sample; with `previous`, keep ids and names stable."""
    config = config or SegmentConfig()
    _check_ids(features)
    if features[ID_COLUMN].duplicated().any():
        dupes = features.loc[features[ID_COLUMN].duplicated(), ID_COLUMN].head(3).tolist()
        raise ValueError(f"customer_features has duplicate {ID_COLUMN} values, e.g. {dupes}")
    if len(features) < config.k_max * 2:
        raise ValueError(f"{len(features)} customers are too few for k up to {config.k_max}")
    _feature_matrix(features.head(0), config.features)  # names a missing column early

    order = _hash_order(features[ID_COLUMN], config.random_state)[: config.fit_sample_size]
    X_all = _feature_matrix(features.iloc[order], config.features)
    used, dropped = _usable_features(X_all, config)
    pre = _preprocessor(used, config)
    Z = pre.fit_transform(X_all[:, [config.features.index(f) for f in used]])
    scaler: StandardScaler = pre.named_steps["scale"]
    m = min(config.criterion_sample_size, len(Z))

    # ---- k: the best fresh fit, unless a warm start from the previous model is about as good
    fits: dict[int, KMeans] = {}
    for k in range(config.k_min, config.k_max + 1):
        fits[k] = _kmeans(config, k).fit(Z)
    values = dict(zip(fits, _criteria(config.criterion, Z, list(fits.values()), m), strict=True))
    best_k = max(values, key=lambda k: (values[k], -k))
    chosen, chosen_by, chosen_value = fits[best_k], "best_criterion", values[best_k]
    metrics: dict[str, float | int | str | bool | None] = {}
    mapped = shared = None
    if previous is not None:
        mapped, shared = _previous_centers(previous, used, scaler)
        prev_k = len(previous.segments)
        if len(shared) * 2 < len(used):
            mapped = None  # too little in common to call any segment the same
        elif config.warm_start and config.k_min <= prev_k <= config.k_max:
            warm = _kmeans(config, prev_k, init=mapped).fit(Z)
            (warm_value,) = _criteria(config.criterion, Z, [warm], m)
            metrics["warm_start_criterion"] = warm_value
            if values[best_k] - warm_value <= config.k_switch_margin * abs(warm_value):
                chosen, chosen_by, chosen_value = warm, "warm_start", warm_value
    centers, labels = chosen.cluster_centers_, chosen.labels_
    k = len(centers)
    shares = np.bincount(labels, minlength=k) / len(labels)

    # ---- identity: inherit ids and names where a centroid stayed put; number the rest ----
    matches = {}
    if previous is not None and mapped is not None:
        matches = _match_previous(centers, mapped, shared)
    inherited = {i: previous.segments[c] for i, (c, d) in matches.items()
                 if d <= config.match_tolerance}  # fmt: skip
    centroid_z = [dict(zip(used, map(float, c), strict=True)) for c in centers]
    log = np.array([f in config.log_features for f in used])
    original = centers * scaler.scale_ + scaler.mean_
    original[:, log] = np.expm1(original[:, log])
    lapsed = [_lapsed(dict(zip(used, row, strict=True)), config) for row in original]
    fresh = sorted((i for i in range(k) if i not in inherited), key=lambda i: (-shares[i], i))
    taken = [(s.name_zh, s.name_en) for s in inherited.values()]
    given = name_segments([centroid_z[i] for i in fresh], taken, [lapsed[i] for i in fresh])
    next_number = previous.next_segment_number if previous is not None else 1
    identity: dict[int, tuple[str, str, str, str]] = {}  # id, name_zh, name_en, rule
    for i, (zh, en, rule) in zip(fresh, given, strict=True):  # largest first
        identity[i] = (f"seg_{next_number:02d}", zh, en, rule)
        next_number += 1
    for i, seg in inherited.items():
        identity[i] = (seg.segment_id, seg.name_zh, seg.name_en, seg.rule)

    segments = sorted(
        (
            Segment(
                segment_id=identity[i][0], name_zh=identity[i][1], name_en=identity[i][2],
                rule=identity[i][3], centroid_z=centroid_z[i],
                centroid=dict(zip(used, map(float, original[i]), strict=True)),
                share_in_sample=float(shares[i]),
            )
            for i in range(k)
        ),
        key=lambda s: _id_number(s.segment_id),
    )  # fmt: skip

    # ---- metrics for model_runs: flat numbers and short strings --------------------------
    silhouette = (
        chosen_value
        if config.criterion == "silhouette"
        else _criteria("silhouette", Z, [chosen], m)[0]
    )
    metrics |= {f"{config.criterion}_k{kk}": v for kk, v in values.items()}
    metrics |= {f"inertia_k{kk}": float(f.inertia_) for kk, f in fits.items()}
    metrics |= {
        "criterion": config.criterion,
        "best_k": best_k,
        "chosen_k": k,
        "chosen_by": chosen_by,
        "silhouette_sample": silhouette,
        "silhouette_sample_size": m,
        "fit_sample_size": len(Z),
        "customers_seen": len(features),
        "features_used": ",".join(used),
        "features_dropped": ",".join(f"{f} ({why})" for f, why in dropped.items()),
        "segments_inherited": len(inherited),
        "segments_new": k - len(inherited),
    }
    metrics |= {f"share_{s.segment_id}": s.share_in_sample for s in segments}
    metrics |= {f"shift_{identity[i][0]}": d for i, (_, d) in matches.items()}
    kept_ids = {seg.segment_id for seg in inherited.values()}
    for s in segments:
        if s.segment_id in kept_ids:
            zh, en, rule = name_segments([s.centroid_z], lapsed=[_lapsed(s.centroid, config)])[0]
            if rule != s.rule:
                metrics[f"name_drift_{s.segment_id}"] = f"{en} ({zh})"

    prepare: _Prepare = pre.named_steps["prepare"]
    return SegmentModel(
        features=used,
        fill=tuple(map(float, prepare.fill_)),
        lower=tuple(map(float, prepare.lower_)),
        upper=tuple(map(float, prepare.upper_)),
        log=tuple(bool(x) for x in log),
        mean=tuple(map(float, scaler.mean_)),
        scale=tuple(map(float, scaler.scale_)),
        segments=tuple(segments),
        next_segment_number=next_number,
        config=config,
        metrics=metrics,
    )


# ---- assignment -----------------------------------------------------------------------------


def assign_frame(model: SegmentModel, frame: pd.DataFrame) -> pd.DataFrame:
    """Nearest segment per customer, with the distance (RMS z) to its centroid."""
    _check_ids(frame)
    Z = model.transform(frame)
    centers = model.centers
    d2 = (Z**2).sum(axis=1)[:, None] - 2 * Z @ centers.T + (centers**2).sum(axis=1)[None, :]
    nearest = d2.argmin(axis=1)
    distance = np.sqrt(np.maximum(d2[np.arange(len(Z)), nearest], 0.0) / Z.shape[1])
    ids = np.array([s.segment_id for s in model.segments], dtype=object)
    zh = np.array([s.name_zh for s in model.segments], dtype=object)
    en = np.array([s.name_en for s in model.segments], dtype=object)
    return pd.DataFrame({
        ID_COLUMN: frame[ID_COLUMN].to_numpy(),
        "segment_id": ids[nearest],
        "segment_name_zh": zh[nearest],
        "segment_name_en": en[nearest],
        "distance_to_centroid": distance,
    })  # fmt: skip


def iter_batches(frame: pd.DataFrame, batch_size: int) -> Iterator[pd.DataFrame]:
    """Slices of an in-memory frame, for callers that have one frame and want bounded work."""
    for start in range(0, len(frame), batch_size):
        yield frame.iloc[start : start + batch_size]


def assign_segments(
    model: SegmentModel, features_batches: Iterable[pd.DataFrame]
) -> Iterator[pd.DataFrame]:
    """One assignment frame per input batch, so memory stays flat in the customer count."""
    for batch in features_batches:
        yield assign_frame(model, batch)


# ---- persona cards --------------------------------------------------------------------------

PROFILE_NUMERICS = {
    "monetary_365d": "avg_monetary_365d",
    "avg_order_value": "avg_order_value",
    "order_count_365d": "avg_order_count_365d",
    "recency_days": "avg_recency_days",
}
PROFILE_CATEGORICALS = {
    "top_category": "top_categories",
    "top_brand": "top_brands",
    "preferred_channel": "top_channels",
    "active_daypart": "top_dayparts",
}


def _top_values(values: pd.Series, groups: pd.Series, n: int) -> pd.Series:
    """'面部护理 42%, 香水 21%' per group: most common values with their share of the group."""
    counts = (
        pd.DataFrame({"g": groups.to_numpy(), "v": values.to_numpy()})
        .dropna()
        .value_counts()
        .rename("n")
        .reset_index()
    )
    if counts.empty:  # the shop sends no such column (an orders-only shop has no categories)
        return pd.Series(dtype=object)
    sizes = groups.value_counts()
    counts["share"] = counts["n"] / counts["g"].map(sizes).astype("int64")
    counts = counts.sort_values(["g", "n", "v"], ascending=[True, False, True])
    return counts.groupby("g").apply(
        lambda t: ", ".join(f"{v} {s:.0%}" for v, s in zip(t["v"].head(n), t["share"].head(n),
                                                            strict=True)),
        include_groups=False,
    )  # fmt: skip


def segment_profiles(
    features: pd.DataFrame, assignments: pd.DataFrame, model: SegmentModel, top_n: int = 3
) -> pd.DataFrame:
    """A persona card per segment: size, value, frequency, top values, distinguishing traits."""
    _check_ids(assignments)
    wanted = {ID_COLUMN, *model.features, *PROFILE_NUMERICS, *PROFILE_CATEGORICALS}
    joined = features[[c for c in features.columns if c in wanted]].merge(
        assignments[[ID_COLUMN, "segment_id"]], on=ID_COLUMN, how="inner", validate="one_to_one"
    )
    seg = joined["segment_id"]
    Z = pd.DataFrame(model.transform(joined), columns=list(model.features), index=joined.index)
    z_by_segment = Z.groupby(seg).mean()  # population mean is 0 in the scaled space

    cards = pd.DataFrame({"segment_id": [s.segment_id for s in model.segments]})
    cards["name_zh"] = [s.name_zh for s in model.segments]
    cards["name_en"] = [s.name_en for s in model.segments]
    sizes = seg.value_counts()
    cards["customers"] = cards["segment_id"].map(sizes).fillna(0).astype("int64")
    cards["share"] = cards["customers"] / max(len(joined), 1)
    for column, out in PROFILE_NUMERICS.items():
        if column in joined.columns:
            means = pd.to_numeric(joined[column], errors="coerce").groupby(seg).mean()
            cards[out] = cards["segment_id"].map(means)
        else:
            cards[out] = np.nan
    for column, out in PROFILE_CATEGORICALS.items():
        if column in joined.columns:
            cards[out] = cards["segment_id"].map(_top_values(joined[column], seg, top_n))
        else:
            cards[out] = None

    def top_features(segment_id: str) -> str:
        if segment_id not in z_by_segment.index:
            return ""
        z = z_by_segment.loc[segment_id]
        top = z.reindex(z.abs().sort_values(ascending=False).index).head(5)
        return ", ".join(f"{f} {v:+.1f}" for f, v in top.items())

    cards["top_features"] = cards["segment_id"].map(top_features)
    cards["feature_z_json"] = cards["segment_id"].map(
        lambda s: (
            z_by_segment.loc[s].round(3).to_json(force_ascii=False)
            if s in z_by_segment.index
            else "{}"
        )
    )
    return cards
