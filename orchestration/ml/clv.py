"""Customer lifetime value: BG/NBD for how often a customer comes back, Gamma-Gamma for how
much they spend, both fitted by maximum likelihood on per-customer RFM summaries.

The maths, written from the papers rather than taken from a library:

- BG/NBD: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to
  the Pareto/NBD Model", Marketing Science 24(2), and its technical note "Implementing the
  BG/NBD Model for Customer Base Analysis in Excel". While active, a customer buys at Poisson
  rate lambda ~ Gamma(r, alpha); after every repeat purchase they leave for good with
  probability p ~ Beta(a, b). Per customer, with x repeat purchases, the last at t_x, observed
  for T time units since the first purchase:

      L = B(a, b+x)/B(a, b) * Gamma(r+x) alpha^r / (Gamma(r) (alpha+T)^(r+x))
          + [x > 0] B(a+1, b+x-1)/B(a, b) * Gamma(r+x) alpha^r / (Gamma(r) (alpha+t_x)^(r+x))

  Because B(a+1, b+x-1) = B(a, b+x) a / (b+x-1), ln L is the first term's log plus
  log(1 + exp(D)) with D = ln a - ln(b+x-1) + (r+x) ln((alpha+T)/(alpha+t_x)), and
  P(alive) = 1 / (1 + [x > 0] exp(D)) (equation 11 of the paper).

- Gamma-Gamma: Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer
  Base Analysis", JMR 42(4), and Fader & Hardie's note "The Gamma-Gamma Model of Monetary
  Value" (2013). Each spend is Gamma(p, nu), nu ~ Gamma(q, gamma) across customers; the mean
  zbar of x repeat spends is Gamma(p x, x nu), which gives the likelihood and the conditional
  mean E[M | x, zbar] = p (gamma + x zbar) / (p x + q - 1).

Time is in whatever unit the summary uses (weeks in the papers); alpha is in that unit and
scales with it, r, a and b do not. Money is in the unit of monetary_value; gamma scales with it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

ArrayLike = np.ndarray | pd.Series | list[float] | float
# BG/NBD forecasts switch from the 2F1 series to its fixed-dropout limit when a + b is at
# least this: the fit then found one dropout probability for everyone (_purchases_if_alive).
DROPOUT_FIXED_ABOVE = 1000.0


# --------------------------------------------------------------------------------------------
# Configuration and results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FitConfig:
    """How the likelihood is maximised; the defaults are what bench/clv_scale.py measured
    fastest at the same optimum on CDNOW and on 1M simulated customers."""

    # Measured on 1M simulated customers (bench/clv_scale.py --compare-optimisers), the
    # BG/NBD fit took 5 s with L-BFGS-B and the analytic gradient, 9 s with finite
    # differences and 96 s with Nelder-Mead, all at the same optimum. (On CDNOW's 2,357
    # customers all three take well under a second.)
    method: Literal["L-BFGS-B", "Nelder-Mead"] = "L-BFGS-B"
    analytic_gradient: bool = True
    # An upper bound only: L-BFGS-B needed 15-20 iterations on CDNOW and on 1M customers.
    max_iterations: int = 1000
    # The objective is the mean log-likelihood per customer (about -4 on CDNOW); 1e-12
    # relative change puts the parameters well inside the 1% the published values are given to.
    ftol: float = 1e-12
    gtol: float = 1e-8
    # Parameters are searched as logs in [-bound, bound] after rescaling time and money to a
    # mean of one: exp(+-18) ~ [1.5e-8, 6.6e7] covers every published fit by orders of
    # magnitude, and stops a degenerate sample (say, no repeat buyers) from running to inf.
    log_bound: float = 18.0


@dataclass(frozen=True)
class BgNbdParams:
    """BG/NBD parameters: purchase rate ~ Gamma(shape r, rate alpha), dropout ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float

    def __post_init__(self) -> None:
        _check_positive_params(self)


@dataclass(frozen=True)
class GammaGammaParams:
    """Gamma-Gamma parameters: spend ~ Gamma(shape p, rate nu), nu ~ Gamma(shape q, rate gamma)."""

    p: float
    q: float
    gamma: float

    def __post_init__(self) -> None:
        _check_positive_params(self)


@dataclass(frozen=True)
class BgNbdFit:
    """A BG/NBD fit and what it cost, for the model_runs log."""

    params: BgNbdParams
    log_likelihood: float
    converged: bool
    iterations: int
    seconds: float
    n_customers: int


@dataclass(frozen=True)
class GammaGammaFit:
    """A Gamma-Gamma fit on the repeat buyers and what it cost, for the model_runs log."""

    params: GammaGammaParams
    log_likelihood: float
    converged: bool
    iterations: int
    seconds: float
    n_customers: int


def _check_positive_params(params: BgNbdParams | GammaGammaParams) -> None:
    """A zero, negative or infinite parameter makes every formula below silently wrong."""
    for name, value in vars(params).items():
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{type(params).__name__}.{name} must be finite and > 0, got {value}")


# --------------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------------


def _as_float_array(name: str, values: ArrayLike) -> np.ndarray:
    """One float array per argument, with NaNs reported by name and count, not propagated."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim > 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {array.shape}")
    array = np.atleast_1d(array)
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
        raise ValueError(f"{name}: {bad} rows are NaN or infinite")
    return array


def _check_counts(frequency: np.ndarray) -> None:
    """Frequency is a count of repeat purchase days: a whole number, never negative."""
    negative = int(np.count_nonzero(frequency < 0))
    if negative:
        raise ValueError(f"frequency: {negative} rows are negative")
    fractional = int(np.count_nonzero(frequency != np.round(frequency)))
    if fractional:
        raise ValueError(f"frequency: {fractional} rows are not whole numbers of repeat purchases")


def _summary_arrays(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated (x, t_x, T): each rule names the argument and how many rows break it."""
    x = _as_float_array("frequency", frequency)
    t_x = _as_float_array("recency", recency)
    big_t = _as_float_array("T", T)
    if not (len(x) == len(t_x) == len(big_t)):
        raise ValueError(
            f"frequency, recency and T must have the same length, got {len(x)}, {len(t_x)}, "
            f"{len(big_t)}"
        )
    _check_counts(x)
    for name, array in (("recency", t_x), ("T", big_t)):
        negative = int(np.count_nonzero(array < 0))
        if negative:
            raise ValueError(f"{name}: {negative} rows are negative")
    # A tolerance for recency and T computed in floating point from the same dates.
    late = int(np.count_nonzero(t_x - big_t > 1e-9 * np.maximum(1.0, big_t)))
    if late:
        raise ValueError(
            f"recency: {late} rows are greater than T (a last purchase after the end of the "
            "calibration period)"
        )
    repeat_at_zero = int(np.count_nonzero((x > 0) & (t_x == 0)))
    if repeat_at_zero:
        raise ValueError(
            f"recency: {repeat_at_zero} rows have frequency > 0 but recency 0 (a repeat "
            "purchase day must come after the first purchase day)"
        )
    recency_without_repeat = int(np.count_nonzero((x == 0) & (t_x > 0)))
    if recency_without_repeat:
        raise ValueError(
            f"recency: {recency_without_repeat} rows have frequency 0 but recency > 0 "
            "(recency is the time from the first to the last purchase)"
        )
    return x, t_x, big_t


def _spend_arrays(frequency: ArrayLike, monetary_value: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validated (x, zbar); zbar is ignored (may be NaN or 0) where x is 0."""
    x = _as_float_array("frequency", frequency)
    zbar = np.atleast_1d(np.asarray(monetary_value, dtype=np.float64))
    if zbar.ndim > 1 or len(zbar) != len(x):
        raise ValueError(
            f"frequency and monetary_value must be 1-D of the same length, got {len(x)} and "
            f"{len(zbar)}"
        )
    _check_counts(x)
    repeat = x > 0
    missing = int(np.count_nonzero(repeat & ~np.isfinite(zbar)))
    if missing:
        raise ValueError(f"monetary_value: {missing} rows with frequency > 0 are NaN or infinite")
    not_positive = int(np.count_nonzero(repeat & (zbar <= 0)))
    if not_positive:
        raise ValueError(
            f"monetary_value: {not_positive} rows with frequency > 0 are zero or negative "
            "(Gamma-Gamma models positive spend; drop or net out refunds first)"
        )
    return x, np.where(repeat, zbar, 0.0)


# --------------------------------------------------------------------------------------------
# RFM summary from a transaction log
# --------------------------------------------------------------------------------------------


def rfm_summary(
    transactions: pd.DataFrame,
    customer_col: str,
    date_col: str,
    amount_col: str | None,
    calibration_end: str | pd.Timestamp,
    time_unit_days: float = 7.0,
    observation_start: str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Per-customer frequency, recency, T (and monetary_value) as the BG/NBD paper defines
    them: purchases are counted by day, so a basket split over several orders is one purchase.

    Only transactions on days in [observation_start, calibration_end] (both inclusive) count;
    a customer whose real first purchase came before observation_start is treated as new at
    their first purchase in the window. Returns one row per customer with at least one
    purchase in the window, indexed by `customer_col`, sorted by it: `frequency` (repeat
    purchase days), `recency` (last minus first purchase day), `T` (calibration_end minus first
    purchase day), both in units of `time_unit_days`, and with `amount_col` the
    `monetary_value`: mean spend per repeat purchase day, excluding the first day (NaN when
    frequency is 0).
    """
    columns = [customer_col, date_col] + ([amount_col] if amount_col is not None else [])
    missing_cols = [c for c in columns if c not in transactions.columns]
    if missing_cols:
        raise ValueError(f"transactions: missing column(s) {missing_cols}")
    if not time_unit_days > 0:
        raise ValueError(f"time_unit_days must be > 0, got {time_unit_days}")
    for col in columns:
        nulls = int(transactions[col].isna().sum())
        if nulls:
            raise ValueError(f"{col}: {nulls} rows are null")

    end = pd.Timestamp(calibration_end).normalize()
    days = pd.to_datetime(transactions[date_col]).dt.normalize()
    if days.dt.tz is not None and end.tz is None:
        end = end.tz_localize(days.dt.tz)
    in_window = days <= end
    if observation_start is not None:
        start = pd.Timestamp(observation_start).normalize()
        if days.dt.tz is not None and start.tz is None:
            start = start.tz_localize(days.dt.tz)
        in_window &= days >= start

    frame = pd.DataFrame({"customer": transactions[customer_col].to_numpy(), "day": days})
    if amount_col is not None:
        amount = pd.to_numeric(transactions[amount_col], errors="coerce")
        bad = int(amount.isna().sum())
        if bad:
            raise ValueError(f"{amount_col}: {bad} rows are not numbers")
        frame["amount"] = amount.to_numpy(dtype=np.float64)
    else:
        frame["amount"] = 0.0
    frame = frame.loc[in_window.to_numpy()]

    # One row per customer and purchase day, in day order within each customer.
    daily = frame.groupby(["customer", "day"], sort=True)["amount"].sum().reset_index()
    by_customer = daily.groupby("customer", sort=True)
    first = by_customer["day"].min()
    last = by_customer["day"].max()
    purchase_days = by_customer.size()
    frequency = (purchase_days - 1).astype(np.int64)

    summary = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": (last - first).dt.days / time_unit_days,
            "T": (end - first).dt.days / time_unit_days,
        }
    )
    if amount_col is not None:
        first_day_spend = by_customer["amount"].first()
        repeat_spend = by_customer["amount"].sum() - first_day_spend
        summary["monetary_value"] = (repeat_spend / frequency).where(frequency > 0)
    summary.index.name = customer_col
    return summary


def purchase_days_between(
    transactions: pd.DataFrame,
    customer_col: str,
    date_col: str,
    after: str | pd.Timestamp,
    until: str | pd.Timestamp,
) -> pd.Series:
    """Purchase days per customer in (after, until], counted like `rfm_summary` counts them,
    so a holdout period can be compared with `expected_purchases` on the same footing.

    Customers without a purchase in the window are absent: reindex on the summary's index
    with fill_value=0.
    """
    for col in (customer_col, date_col):
        if col not in transactions.columns:
            raise ValueError(f"transactions: missing column {col!r}")
    days = pd.to_datetime(transactions[date_col]).dt.normalize()
    lo, hi = pd.Timestamp(after).normalize(), pd.Timestamp(until).normalize()
    window = ((days > lo) & (days <= hi)).to_numpy()
    frame = pd.DataFrame(
        {"customer": transactions[customer_col].to_numpy()[window], "day": days.to_numpy()[window]}
    )
    counts = frame.drop_duplicates().groupby("customer", sort=True).size()
    counts.index.name = customer_col
    return counts.rename("purchase_days")


# --------------------------------------------------------------------------------------------
# BG/NBD
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _BgNbdData:
    """The summary split the way the likelihood uses it: the special functions depend on x
    alone, so they are evaluated once per distinct x and weighted by its count."""

    n: int
    unique_x: np.ndarray
    count_x: np.ndarray
    T: np.ndarray  # every customer
    x_T: np.ndarray  # x, aligned with T
    x_rep: np.ndarray  # repeat buyers only
    t_x_rep: np.ndarray
    T_rep: np.ndarray


def _bg_nbd_data(x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray) -> _BgNbdData:
    unique_x, count_x = np.unique(x, return_counts=True)
    repeat = x > 0
    return _BgNbdData(
        n=len(x),
        unique_x=unique_x,
        count_x=count_x.astype(np.float64),
        T=big_t,
        x_T=x,
        x_rep=x[repeat],
        t_x_rep=t_x[repeat],
        T_rep=big_t[repeat],
    )


def _bg_nbd_loglik(
    params: np.ndarray, data: _BgNbdData, with_gradient: bool
) -> tuple[float, np.ndarray | None]:
    """Summed log-likelihood and, optionally, its gradient in (r, alpha, a, b)."""
    r, alpha, a, b = params
    ux, cx, n = data.unique_x, data.count_x, data.n
    log_alpha_T = np.log(alpha + data.T)
    log_alpha_T_rep = np.log(alpha + data.T_rep)
    log_alpha_tx_rep = np.log(alpha + data.t_x_rep)
    log_b_x1 = np.log(b + data.x_rep - 1.0)
    r_x_rep = r + data.x_rep
    d = math.log(a) - log_b_x1 + r_x_rep * (log_alpha_T_rep - log_alpha_tx_rep)

    loglik = (
        cx @ (gammaln(r + ux) + betaln(a, b + ux))
        - n * (gammaln(r) + betaln(a, b))
        + n * r * math.log(alpha)
        - (r + data.x_T) @ log_alpha_T
        + np.logaddexp(0.0, d).sum()
    )
    if not with_gradient:
        return float(loglik), None

    s = expit(d)  # = 1 - P(alive) for each repeat buyer
    psi_ab_x = digamma(a + b + ux)
    grad_r = (
        cx @ digamma(r + ux)
        - n * digamma(r)
        + n * math.log(alpha)
        - log_alpha_T.sum()
        + s @ (log_alpha_T_rep - log_alpha_tx_rep)
    )
    grad_alpha = (
        n * r / alpha
        - (r + data.x_T) @ (1.0 / (alpha + data.T))
        + (s * r_x_rep) @ (1.0 / (alpha + data.T_rep) - 1.0 / (alpha + data.t_x_rep))
    )
    grad_a = cx @ (digamma(a + b) - psi_ab_x) + s.sum() / a
    grad_b = (
        cx @ (digamma(b + ux) - psi_ab_x)
        - n * (digamma(b) - digamma(a + b))
        - s @ np.exp(-log_b_x1)
    )
    return float(loglik), np.array([grad_r, grad_alpha, grad_a, grad_b])


def _maximise(
    loglik,
    n: int,
    start: np.ndarray,
    config: FitConfig,
) -> tuple[np.ndarray, bool, int]:
    """Maximise the mean log-likelihood over log-parameters; returns (params, converged, its)."""
    use_gradient = config.method == "L-BFGS-B" and config.analytic_gradient

    def objective(log_params: np.ndarray):
        params = np.exp(log_params)
        value, grad = loglik(params, use_gradient)
        if not np.isfinite(value):
            # Outside the region the formulas can represent: steer the search back.
            return (np.inf, np.zeros_like(log_params)) if use_gradient else np.inf
        if use_gradient:
            return -value / n, -(grad * params) / n
        return -value / n

    bounds = [(-config.log_bound, config.log_bound)] * len(start)
    if config.method == "L-BFGS-B":
        result = minimize(
            objective,
            np.log(start),
            jac=use_gradient,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": config.max_iterations, "ftol": config.ftol, "gtol": config.gtol},
        )
    elif config.method == "Nelder-Mead":
        result = minimize(
            objective,
            np.log(start),
            method="Nelder-Mead",
            bounds=bounds,
            options={
                "maxiter": config.max_iterations,
                "maxfev": 20 * config.max_iterations,
                "xatol": 1e-8,
                "fatol": config.ftol,
                "adaptive": True,
            },
        )
    else:
        raise ValueError(
            f"FitConfig.method must be 'L-BFGS-B' or 'Nelder-Mead', got {config.method!r}"
        )
    at_bound = bool(np.any(np.abs(result.x) >= config.log_bound - 1e-6))
    return np.exp(result.x), bool(result.success) and not at_bound, int(result.nit)


def bg_nbd_log_likelihood(
    params: BgNbdParams, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> float:
    """Summed log-likelihood, to compare fits and parameter sets on the same data."""
    x, t_x, big_t = _summary_arrays(frequency, recency, T)
    value, _ = _bg_nbd_loglik(
        np.array([params.r, params.alpha, params.a, params.b]), _bg_nbd_data(x, t_x, big_t), False
    )
    return value


def fit_bg_nbd(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, config: FitConfig | None = None
) -> BgNbdFit:
    """Maximum-likelihood BG/NBD on per-customer (x, t_x, T) summaries.

    Time is rescaled to a mean T of one while searching, so the starting point (all ones) and
    the bounds mean the same whether the unit is days or weeks; alpha is scaled back after.
    """
    config = config or FitConfig()
    started = time.perf_counter()
    x, t_x, big_t = _summary_arrays(frequency, recency, T)
    if not np.any(x > 0):
        # Without a repeat purchase the likelihood is flat in a and b and maximal at r -> 0.
        raise ValueError(f"frequency: none of the {len(x)} customers has a repeat purchase")
    scale = float(big_t.mean()) or 1.0
    scaled = _bg_nbd_data(x, t_x / scale, big_t / scale)
    found, converged, iterations = _maximise(
        lambda p, g: _bg_nbd_loglik(p, scaled, g), len(x), np.ones(4), config
    )
    r, alpha, a, b = found
    params = BgNbdParams(r=float(r), alpha=float(alpha * scale), a=float(a), b=float(b))
    loglik, _ = _bg_nbd_loglik(
        np.array([params.r, params.alpha, params.a, params.b]), _bg_nbd_data(x, t_x, big_t), False
    )
    return BgNbdFit(
        params=params,
        log_likelihood=loglik,
        converged=converged,
        iterations=iterations,
        seconds=time.perf_counter() - started,
        n_customers=len(x),
    )


def _log_p_dead_odds(params: BgNbdParams, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray):
    """D = log(P(dead) / P(alive)); -inf for customers without a repeat purchase."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    repeat = x > 0
    d = np.full(x.shape, -np.inf)
    xr = x[repeat]
    d[repeat] = (
        math.log(a)
        - np.log(b + xr - 1.0)
        + (r + xr) * (np.log(alpha + big_t[repeat]) - np.log(alpha + t_x[repeat]))
    )
    return d


def p_alive(
    params: BgNbdParams, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """Probability that each customer is still active at T (equation 11 of the paper); 1 for
    customers who never came back, since BG/NBD lets customers leave only after a purchase."""
    x, t_x, big_t = _summary_arrays(frequency, recency, T)
    return expit(-_log_p_dead_odds(params, x, t_x, big_t))


def _purchases_if_alive(params: BgNbdParams, t: np.ndarray, x: np.ndarray, big_t: np.ndarray):
    """E[purchases in (T, T+t] | alive at T, x], the factor of equation 10 before P(alive).

    Equation 10 has (alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z); Euler's
    transformation 2F1(A,B;C;z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z) turns that into
    (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z), whose parameters do not grow with x, so heavy
    buyers and long horizons neither overflow the series nor lose it to cancellation.
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    if a + b >= DROPOUT_FIXED_ABOVE:
        # A fit whose Beta(a, b) is this narrow says every customer drops out with almost the
        # same probability, and 2F1's terms then overflow (NaN from a + b = 1e4 on). The
        # limit: with dropout p fixed (a/(a+b), updated for the x purchases survived),
        # purchases until dropout from a Poisson(lambda t) number are (1 - e^(-p lambda t)) / p,
        # and lambda's Gamma(r + x, alpha + T) posterior averages that in closed form.
        # Within 0.1% of the series at a + b = 1000.
        p = (a - 1.0) / (a + b + x - 1.0)
        return -np.expm1((r + x) * np.log1p(-p * t / (alpha + big_t + p * t))) / p
    z = t / (alpha + big_t + t)
    c = a + b + x - 1.0
    hyper = np.exp((a - 1.0) * np.log1p(-z)) * hyp2f1(a + b - 1.0 - r, a - 1.0, c, z)
    return c / (a - 1.0) * (1.0 - hyper)


def expected_purchases(
    params: BgNbdParams,
    t: ArrayLike,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
) -> np.ndarray:
    """Expected repeat purchase days in the next t time units for each customer (equation 10
    of the paper): the forecast that the holdout correlation and CLV are built on."""
    x, t_x, big_t = _summary_arrays(frequency, recency, T)
    horizon = np.asarray(t, dtype=np.float64)
    if np.any(~np.isfinite(horizon)) or np.any(horizon < 0):
        raise ValueError("t: the forecast horizon must be finite and >= 0")
    alive = expit(-_log_p_dead_odds(params, x, t_x, big_t))
    return _purchases_if_alive(params, horizon, x, big_t) * alive


def expected_purchases_new(params: BgNbdParams, t: ArrayLike) -> np.ndarray:
    """E[X(t)], repeat purchases in the first t time units of a new customer (equation 9):
    the conditional forecast of someone just acquired (x = t_x = T = 0)."""
    horizon = np.atleast_1d(np.asarray(t, dtype=np.float64))
    zeros = np.zeros(horizon.shape)
    return expected_purchases(params, horizon, zeros, zeros, zeros)


# --------------------------------------------------------------------------------------------
# Gamma-Gamma
# --------------------------------------------------------------------------------------------


def _gamma_gamma_loglik(
    params: np.ndarray,
    x: np.ndarray,
    zbar: np.ndarray,
    unique_x: np.ndarray,
    count_x: np.ndarray,
    with_gradient: bool,
) -> tuple[float, np.ndarray | None]:
    """Summed log density of each repeat buyer's mean spend zbar (x > 0 only)."""
    p, q, gamma = params
    n = len(x)
    log_gamma_xz = np.log(gamma + x * zbar)
    log_x, log_z = np.log(x), np.log(zbar)
    px = p * unique_x
    loglik = (
        count_x @ (gammaln(px + q) - gammaln(px))
        - n * gammaln(q)
        + n * q * math.log(gamma)
        + (p * x - 1.0) @ log_z
        + p * (x @ log_x)
        - (p * x + q) @ log_gamma_xz
    )
    if not with_gradient:
        return float(loglik), None
    psi_pxq = digamma(px + q)
    grad_p = (count_x * unique_x) @ (psi_pxq - digamma(px)) + x @ (log_z + log_x - log_gamma_xz)
    grad_q = count_x @ psi_pxq - n * digamma(q) + n * math.log(gamma) - log_gamma_xz.sum()
    grad_gamma = n * q / gamma - (p * x + q) @ np.exp(-log_gamma_xz)
    return float(loglik), np.array([grad_p, grad_q, grad_gamma])


def gamma_gamma_log_likelihood(
    params: GammaGammaParams, frequency: ArrayLike, monetary_value: ArrayLike
) -> float:
    """Summed log-likelihood over repeat buyers (frequency > 0), the published one."""
    x, zbar = _spend_arrays(frequency, monetary_value)
    repeat = x > 0
    x, zbar = x[repeat], zbar[repeat]
    unique_x, count_x = np.unique(x, return_counts=True)
    value, _ = _gamma_gamma_loglik(
        np.array([params.p, params.q, params.gamma]), x, zbar, unique_x, count_x, False
    )
    return value


def fit_gamma_gamma(
    frequency: ArrayLike, monetary_value: ArrayLike, config: FitConfig | None = None
) -> GammaGammaFit:
    """Maximum-likelihood Gamma-Gamma on the repeat buyers (frequency > 0); other rows are
    ignored because their repeat spend is unobserved.

    Money is rescaled to a mean spend of one while searching, like time in fit_bg_nbd. The
    model assumes spend is independent of frequency: check their correlation on your data.
    """
    config = config or FitConfig()
    started = time.perf_counter()
    x, zbar = _spend_arrays(frequency, monetary_value)
    repeat = x > 0
    x, zbar = x[repeat], zbar[repeat]
    if len(x) < 2:
        raise ValueError(f"frequency: Gamma-Gamma needs repeat buyers, got {len(x)}")
    unique_x, count_x = np.unique(x, return_counts=True)
    count_x = count_x.astype(np.float64)
    scale = float(zbar.mean())
    scaled = zbar / scale
    found, converged, iterations = _maximise(
        lambda prm, g: _gamma_gamma_loglik(prm, x, scaled, unique_x, count_x, g),
        len(x),
        np.ones(3),
        config,
    )
    p, q, gamma = found
    params = GammaGammaParams(p=float(p), q=float(q), gamma=float(gamma * scale))
    loglik, _ = _gamma_gamma_loglik(
        np.array([params.p, params.q, params.gamma]), x, zbar, unique_x, count_x, False
    )
    return GammaGammaFit(
        params=params,
        log_likelihood=loglik,
        converged=converged,
        iterations=iterations,
        seconds=time.perf_counter() - started,
        n_customers=len(x),
    )


def expected_spend(
    params: GammaGammaParams, frequency: ArrayLike, monetary_value: ArrayLike
) -> np.ndarray:
    """E[mean spend per purchase | x, zbar] = p (gamma + x zbar) / (p x + q - 1): a weighted
    average of the population mean p gamma / (q - 1) and the customer's own zbar, which is
    the population mean for customers with no repeat purchase (their monetary_value is
    ignored and may be NaN)."""
    x, zbar = _spend_arrays(frequency, monetary_value)
    p, q, gamma = params.p, params.q, params.gamma
    denominator = p * x + q - 1.0
    infinite = int(np.count_nonzero(denominator <= 0))
    if infinite:
        raise ValueError(
            f"GammaGammaParams: q = {q:.4g} <= 1 - p x for {infinite} rows, so their "
            "expected spend is infinite (the fit found a spend distribution with no mean)"
        )
    return p * (gamma + x * zbar) / denominator


# --------------------------------------------------------------------------------------------
# Lifetime value
# --------------------------------------------------------------------------------------------


def customer_lifetime_value(
    bg: BgNbdParams,
    gg: GammaGammaParams,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary_value: ArrayLike,
    horizon: float,
    discount_rate_per_period: float,
    step: float = 1.0,
) -> np.ndarray:
    """Discounted expected spend over the next `horizon` time units, per customer:

        CLV = E[M] * sum_{k=1..K} (E[Y(t_k)] - E[Y(t_{k-1})]) / (1 + d)^k,
        t_k = min(k * step, horizon), t_0 = 0, K = ceil(horizon / step),

    with E[Y(t)] from expected_purchases, E[M] from expected_spend and d the discount rate
    per period of `step` time units (in weeks, step=4.345 and a monthly d; step=1 and a
    weekly d). Purchases within a step are discounted as if they happened at its end.
    """
    purchases = discounted_purchases(
        bg, frequency, recency, T, horizon, discount_rate_per_period, step
    )
    return expected_spend(gg, frequency, monetary_value) * purchases


def discounted_purchases(
    bg: BgNbdParams,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    horizon: float,
    discount_rate_per_period: float,
    step: float = 1.0,
) -> np.ndarray:
    """The sum in customer_lifetime_value: expected purchases over the horizon, each step's
    discounted, times P(alive). CLV is this times the expected spend per purchase."""
    if not (math.isfinite(horizon) and horizon > 0):
        raise ValueError(f"horizon must be finite and > 0, got {horizon}")
    if not (math.isfinite(step) and step > 0):
        raise ValueError(f"step must be finite and > 0, got {step}")
    if not (math.isfinite(discount_rate_per_period) and discount_rate_per_period > -1):
        raise ValueError(
            f"discount_rate_per_period must be finite and > -1, got {discount_rate_per_period}"
        )
    x, t_x, big_t = _summary_arrays(frequency, recency, T)
    alive = expit(-_log_p_dead_odds(bg, x, t_x, big_t))
    steps = math.ceil(horizon / step - 1e-9)
    discounted = np.zeros(x.shape)
    previous = np.zeros(x.shape)
    for k in range(1, steps + 1):
        cumulative = _purchases_if_alive(bg, np.float64(min(k * step, horizon)), x, big_t)
        discounted += (cumulative - previous) / (1.0 + discount_rate_per_period) ** k
        previous = cumulative
    return discounted * alive


# --------------------------------------------------------------------------------------------
# Simulation: planted ground truth for tests and the benchmark
# --------------------------------------------------------------------------------------------


def simulate_bg_nbd(
    params: BgNbdParams, T: ArrayLike, holdout: float = 0.0, seed: int = 0
) -> pd.DataFrame:
    """Draw customers from the BG/NBD story itself, so a fit can be checked against the
    parameters that made the data and a forecast against what then happened.

    Each customer has a Poisson rate lambda ~ Gamma(r, alpha) and a dropout probability
    p ~ Beta(a, b), and leaves right after their J-th repeat purchase, J ~ Geometric(p). With
    N ~ Poisson(lambda T) purchases in (0, T], x = min(J, N) and, given N, the x-th purchase
    time is the x-th of N uniform order statistics, T * Beta(x, N - x + 1). Customers still
    active at T (N < J) buy min(J - N, Poisson(lambda holdout)) times in (T, T + holdout].
    Returns frequency, recency, T, holdout_frequency, lambda_ and p.
    """
    big_t = _as_float_array("T", T)
    rng = np.random.default_rng(seed)
    n = len(big_t)
    rate = rng.gamma(params.r, 1.0 / params.alpha, n)
    dropout = np.clip(rng.beta(params.a, params.b, n), 1e-12, 1.0)
    purchases_until_dropout = rng.geometric(dropout)
    in_calibration = rng.poisson(rate * big_t)
    x = np.minimum(purchases_until_dropout, in_calibration)
    repeat = x > 0
    recency = np.zeros(n)
    recency[repeat] = big_t[repeat] * rng.beta(x[repeat], in_calibration[repeat] - x[repeat] + 1)
    alive = in_calibration < purchases_until_dropout
    later = rng.poisson(rate * holdout) if holdout > 0 else np.zeros(n, dtype=np.int64)
    holdout_x = np.where(alive, np.minimum(purchases_until_dropout - in_calibration, later), 0)
    return pd.DataFrame(
        {
            "frequency": x,
            "recency": recency,
            "T": big_t,
            "holdout_frequency": holdout_x,
            "lambda_": rate,
            "p": dropout,
        }
    )


def simulate_gamma_gamma(
    params: GammaGammaParams, frequency: ArrayLike, seed: int = 0
) -> np.ndarray:
    """Mean repeat spend per customer drawn from the Gamma-Gamma story (NaN where frequency
    is 0): nu ~ Gamma(q, gamma), and the mean of x Gamma(p, nu) spends is Gamma(p x, x nu)."""
    x = _as_float_array("frequency", frequency)
    _check_counts(x)
    rng = np.random.default_rng(seed)
    nu = rng.gamma(params.q, 1.0 / params.gamma, len(x))
    repeat = x > 0
    zbar = np.full(len(x), np.nan)
    zbar[repeat] = rng.gamma(params.p * x[repeat], 1.0 / (x[repeat] * nu[repeat]))
    return zbar
