"""Per-customer lifetime value from the warehouse's purchase summary: the `customer_value` table.

The maths is in `clv`; this module maps the summary dbt computes
(`int_customer_purchase_summary`, in days) onto it and back. Time is measured in weeks, as
in the papers, so fitted parameters compare directly with published ones (CDNOW).
Customers whose repeat purchases were all free (zero spend) cannot inform the Gamma-Gamma
spend model, which models positive amounts: they are left out of its fit and are expected to
spend what the population does. That population mean is the model's, p gamma / (q - 1), when
q > 1; a fit with q <= 1 (spend so heavy-tailed the model has no mean) falls back to the
observed mean spend of the repeat buyers. A shop where fewer than two repeat buyers paid
anything (a log without amounts, written as 0) gets no spend model: P(alive) and expected
purchases, with spend, revenue and CLV left null.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from orchestration.ml import clv

SUMMARY_COLUMNS = ("customer_id", "repeat_purchase_days", "recency_days", "age_days")
DAYS_PER_WEEK = 7.0


@dataclass(frozen=True)
class ValueConfig:
    horizon_days: int = 365  # "lifetime" over the next year: the planning horizon of a CRM budget
    annual_discount_rate: float = 0.10  # a typical cost of capital for a retailer
    step_days: int = 30  # discount month by month
    fit: clv.FitConfig = field(default_factory=clv.FitConfig)

    def __post_init__(self) -> None:
        if self.horizon_days <= 0 or self.step_days <= 0:
            raise ValueError("horizon_days and step_days must be positive")
        if not -1 < self.annual_discount_rate < 10:
            raise ValueError(f"annual_discount_rate {self.annual_discount_rate} is implausible")

    @property
    def discount_rate_per_step(self) -> float:
        """The annual rate compounded down to one step of step_days."""
        return (1 + self.annual_discount_rate) ** (self.step_days / 365.0) - 1


@dataclass(frozen=True)
class ValueFit:
    bg_nbd: clv.BgNbdFit
    gamma_gamma: clv.GammaGammaFit | None  # None: fewer than two repeat buyers paid anything
    observed_mean_spend: float  # repeat buyers' mean spend per purchase day; NaN without any

    @property
    def population_mean_spend(self) -> float:
        """What a customer with no paid repeat purchase is expected to spend per purchase."""
        gg = self.gamma_gamma
        if gg is None:
            return math.nan
        if gg.params.q > 1:
            return gg.params.p * gg.params.gamma / (gg.params.q - 1)
        return self.observed_mean_spend

    def metrics(self) -> dict[str, float | int | bool | None]:
        """Flat numbers for model_runs: parameters (time in weeks), likelihoods, convergence."""
        bg, gg = self.bg_nbd, self.gamma_gamma
        return {
            "bg_nbd_r": bg.params.r,
            "bg_nbd_alpha_weeks": bg.params.alpha,
            "bg_nbd_a": bg.params.a,
            "bg_nbd_b": bg.params.b,
            "bg_nbd_log_likelihood": bg.log_likelihood,
            "bg_nbd_converged": bg.converged,
            "bg_nbd_seconds": bg.seconds,
            "gamma_gamma_p": gg and gg.params.p,
            "gamma_gamma_q": gg and gg.params.q,
            "gamma_gamma_gamma": gg and gg.params.gamma,
            "gamma_gamma_log_likelihood": gg and gg.log_likelihood,
            "gamma_gamma_converged": gg and gg.converged,
            "gamma_gamma_customers": gg.n_customers if gg else 0,
            "population_mean_spend": None if gg is None else self.population_mean_spend,
            "customers": bg.n_customers,
        }

    def warnings(self) -> list[str]:
        """What a reader of the scores should know about this fit."""
        bg, gg = self.bg_nbd, self.gamma_gamma
        found = []
        if not bg.converged:
            found.append(
                "BG/NBD did not converge: its P(alive) and expected purchases are rough"
                f" (r={bg.params.r:.4g}, a={bg.params.a:.4g}, b={bg.params.b:.4g})"
            )
        if gg is None:
            found.append(
                "fewer than two repeat buyers paid anything (amounts missing or 0): no spend"
                " model, so expected spend, revenue and CLV are null"
            )
        elif gg.params.q <= 1:
            found.append(
                f"Gamma-Gamma found spend too heavy-tailed to have a mean (q={gg.params.q:.4g});"
                " customers without a paid repeat purchase get the observed mean"
                f" {self.observed_mean_spend:.2f}"
            )
        return found


def _weeks(days: pd.Series) -> np.ndarray:
    return days.to_numpy(dtype=np.float64) / DAYS_PER_WEEK


def _paid_repeats(x: np.ndarray, spend: np.ndarray) -> np.ndarray:
    """Repeat buyers whose repeat purchases cost something: the rows spend is learnt from."""
    return (x > 0) & (np.nan_to_num(spend) > 0)


def fit_value_models(summary: pd.DataFrame, config: ValueConfig | None = None) -> ValueFit:
    """BG/NBD on every buyer, Gamma-Gamma on repeat buyers with positive repeat spend."""
    config = config or ValueConfig()
    missing = [c for c in (*SUMMARY_COLUMNS, "repeat_spend_per_day") if c not in summary]
    if missing:
        raise ValueError(f"purchase summary lacks columns {missing}")
    x = summary["repeat_purchase_days"].to_numpy(dtype=np.float64)
    bg = clv.fit_bg_nbd(x, _weeks(summary["recency_days"]), _weeks(summary["age_days"]), config.fit)
    spend = summary["repeat_spend_per_day"].to_numpy(dtype=np.float64)
    paying = _paid_repeats(x, spend)
    if paying.sum() < 2:
        return ValueFit(bg, None, math.nan)
    gg = clv.fit_gamma_gamma(x[paying], spend[paying], config.fit)
    return ValueFit(bg, gg, float(spend[paying].mean()))


def score_value(
    summary: pd.DataFrame, fit: ValueFit, config: ValueConfig | None = None
) -> pd.DataFrame:
    """customer_id, p_alive, expected purchases, spend and revenue over the horizon, and CLV."""
    config = config or ValueConfig()
    x = summary["repeat_purchase_days"].to_numpy(dtype=np.float64)
    t_x, big_t = _weeks(summary["recency_days"]), _weeks(summary["age_days"])
    bg = fit.bg_nbd.params
    horizon = config.horizon_days / DAYS_PER_WEEK
    step = config.step_days / DAYS_PER_WEEK
    purchases = clv.expected_purchases(bg, horizon, x, t_x, big_t)
    # Free repeat purchases say nothing about spend: such a customer, like a one-time buyer,
    # is expected to spend the population's mean. Paying repeat buyers get Gamma-Gamma's
    # blend of that mean and their own, where the fit gives one (p x + q > 1).
    per_purchase = np.full(len(x), fit.population_mean_spend)
    if fit.gamma_gamma is not None:
        gg = fit.gamma_gamma.params
        spend = summary["repeat_spend_per_day"].to_numpy(dtype=np.float64)
        blended = _paid_repeats(x, spend) & (gg.p * x + gg.q > 1)
        per_purchase[blended] = clv.expected_spend(gg, x[blended], spend[blended])
    lifetime = per_purchase * clv.discounted_purchases(
        bg, x, t_x, big_t, horizon, config.discount_rate_per_step, step
    )
    return pd.DataFrame(
        {
            "customer_id": summary["customer_id"].to_numpy(),
            "p_alive": clv.p_alive(bg, x, t_x, big_t),
            "expected_purchases": purchases,
            "expected_spend_per_purchase": per_purchase,
            "expected_revenue": purchases * per_purchase,
            "clv": lifetime,
        }
    )


def unscored_value(summary: pd.DataFrame) -> pd.DataFrame:
    """score_value's columns with no forecast for anyone: where nobody has bought twice yet,
    BG/NBD has nothing to fit (its likelihood is flat), and no number would be honest."""
    empty = np.full(len(summary), np.nan)
    forecasts = ("p_alive", "expected_purchases", "expected_spend_per_purchase")
    return pd.DataFrame(
        {
            "customer_id": summary["customer_id"].to_numpy(),
            **dict.fromkeys((*forecasts, "expected_revenue", "clv"), empty),
        }
    )


def parameters(config: ValueConfig) -> dict[str, object]:
    """The configuration as parameters for model_runs."""
    return {
        **asdict(config),
        "time_unit": "week",
        "discount_rate_per_step": config.discount_rate_per_step,
    }


def p_alive_by_cutoff(history: pd.DataFrame, config: ValueConfig | None = None) -> np.ndarray:
    """BG/NBD P(alive) of each (customer, cut-off) row of the feature history, fitted per
    cut-off on that cut-off's rows alone: the buy-till-you-die baseline for churn, as it could
    have been computed at each cut-off. Rows need purchase_days, first_order_date,
    last_order_date and cutoff_date; rows without a purchase get NaN, and so do the rows of a
    cut-off where nobody had bought twice yet (BG/NBD has nothing to fit there; a young
    shop's first cut-off), which leaves the baseline to the later cut-offs."""
    config = config or ValueConfig()
    result = np.full(len(history), np.nan)
    bought = history["purchase_days"].fillna(0).to_numpy() > 0
    for _, rows in history[bought].groupby("cutoff_date"):
        first = pd.to_datetime(rows["first_order_date"])
        x = rows["purchase_days"].to_numpy(dtype=np.float64) - 1
        if not (x > 0).any():
            continue
        t_x = (pd.to_datetime(rows["last_order_date"]) - first).dt.days / DAYS_PER_WEEK
        big_t = (pd.to_datetime(rows["cutoff_date"]) - first).dt.days / DAYS_PER_WEEK
        params = clv.fit_bg_nbd(x, t_x, big_t, config.fit).params
        positions = history.index.get_indexer(rows.index)
        result[positions] = clv.p_alive(params, x, t_x.to_numpy(), big_t.to_numpy())
    return result
