"""Per-customer lifetime value from the warehouse's purchase summary: the `customer_value` table.

The maths is in `clv`; this module maps the summary dbt computes
(`int_customer_purchase_summary`, in days) onto it and back. Time is measured in weeks, as
in the papers, so fitted parameters compare directly with published ones (CDNOW).
Customers whose repeat purchases were all free (zero spend) cannot inform the Gamma-Gamma
spend model, which models positive amounts: they are left out of its fit and are expected to
spend what the population does.
"""

from __future__ import annotations

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
    gamma_gamma: clv.GammaGammaFit

    def metrics(self) -> dict[str, float | int | bool]:
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
            "gamma_gamma_p": gg.params.p,
            "gamma_gamma_q": gg.params.q,
            "gamma_gamma_gamma": gg.params.gamma,
            "gamma_gamma_log_likelihood": gg.log_likelihood,
            "gamma_gamma_converged": gg.converged,
            "gamma_gamma_customers": gg.n_customers,
            "customers": bg.n_customers,
        }


def _weeks(days: pd.Series) -> np.ndarray:
    return days.to_numpy(dtype=np.float64) / DAYS_PER_WEEK


def fit_value_models(summary: pd.DataFrame, config: ValueConfig | None = None) -> ValueFit:
    """BG/NBD on every buyer, Gamma-Gamma on repeat buyers with positive repeat spend."""
    config = config or ValueConfig()
    missing = [c for c in (*SUMMARY_COLUMNS, "repeat_spend_per_day") if c not in summary]
    if missing:
        raise ValueError(f"purchase summary lacks columns {missing}")
    x = summary["repeat_purchase_days"].to_numpy(dtype=np.float64)
    bg = clv.fit_bg_nbd(x, _weeks(summary["recency_days"]), _weeks(summary["age_days"]), config.fit)
    spend = summary["repeat_spend_per_day"].to_numpy(dtype=np.float64)
    paying = (x > 0) & (spend > 0)
    gg = clv.fit_gamma_gamma(x[paying], spend[paying], config.fit)
    return ValueFit(bg, gg)


def score_value(
    summary: pd.DataFrame, fit: ValueFit, config: ValueConfig | None = None
) -> pd.DataFrame:
    """customer_id, p_alive, expected purchases, spend and revenue over the horizon, and CLV."""
    config = config or ValueConfig()
    x = summary["repeat_purchase_days"].to_numpy(dtype=np.float64)
    t_x, big_t = _weeks(summary["recency_days"]), _weeks(summary["age_days"])
    bg, gg = fit.bg_nbd.params, fit.gamma_gamma.params
    # Free repeat purchases say nothing about spend. Giving such a customer the population's
    # mean spend as their own makes the Gamma-Gamma estimate exactly that mean, whatever x.
    population_mean = gg.p * gg.gamma / (gg.q - 1)
    spend = summary["repeat_spend_per_day"].to_numpy(dtype=np.float64)
    spend = np.where((x > 0) & (np.nan_to_num(spend) > 0), spend, population_mean)
    horizon = config.horizon_days / DAYS_PER_WEEK
    step = config.step_days / DAYS_PER_WEEK
    purchases = clv.expected_purchases(bg, horizon, x, t_x, big_t)
    per_purchase = clv.expected_spend(gg, x, spend)
    lifetime = clv.customer_lifetime_value(
        bg, gg, x, t_x, big_t, spend, horizon, config.discount_rate_per_step, step
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
    last_order_date and cutoff_date; rows without a purchase get NaN."""
    config = config or ValueConfig()
    result = np.full(len(history), np.nan)
    bought = history["purchase_days"].fillna(0).to_numpy() > 0
    for _, rows in history[bought].groupby("cutoff_date"):
        first = pd.to_datetime(rows["first_order_date"])
        x = rows["purchase_days"].to_numpy(dtype=np.float64) - 1
        t_x = (pd.to_datetime(rows["last_order_date"]) - first).dt.days / DAYS_PER_WEEK
        big_t = (pd.to_datetime(rows["cutoff_date"]) - first).dt.days / DAYS_PER_WEEK
        params = clv.fit_bg_nbd(x, t_x, big_t, config.fit).params
        positions = history.index.get_indexer(rows.index)
        result[positions] = clv.p_alive(params, x, t_x.to_numpy(), big_t.to_numpy())
    return result
