"""BG/NBD and Gamma-Gamma against the published CDNOW results, planted ground truth and tiny
frames whose right answer is obvious."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import hyp2f1
from scipy.stats import chi2

from orchestration.ml.clv import (
    BgNbdParams,
    GammaGammaParams,
    _bg_nbd_data,
    _bg_nbd_loglik,
    _gamma_gamma_loglik,
    bg_nbd_log_likelihood,
    customer_lifetime_value,
    expected_purchases,
    expected_purchases_new,
    expected_spend,
    fit_bg_nbd,
    fit_gamma_gamma,
    gamma_gamma_log_likelihood,
    p_alive,
    purchase_days_between,
    rfm_summary,
    simulate_bg_nbd,
    simulate_gamma_gamma,
)

CDNOW = Path(__file__).parent / "data" / "cdnow"
SHARED_DATA = Path(os.environ.get("CP_SHARED_DATA", Path(__file__).parents[2] / "shared" / "data"))
GROCERY = SHARED_DATA / "grocery" / "groceryElog.csv"

# Fader, Hardie & Lee (2005), "Counting your customers the easy way", 39-week calibration, weeks.
PAPER_BG = BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
PAPER_BG_LL = -9582.4
# Fader, Hardie & Lee (2005), "RFM and CLV: using iso-value curves", 946 repeat buyers.
PAPER_GG = GammaGammaParams(p=6.25, q=3.74, gamma=15.44)
PAPER_GG_LL = -4055.92
CALIBRATION_END = "1997-09-30"  # end of week 39
HOLDOUT_END = "1998-06-30"  # end of week 78
HOLDOUT_WEEKS = 39.0


def _close(found, published, rel=0.01):
    return {k: v == pytest.approx(getattr(published, k), rel=rel) for k, v in vars(found).items()}


@pytest.fixture(scope="module")
def cdnow_log() -> pd.DataFrame:
    log = pd.read_csv(
        CDNOW / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["master_id", "customer_id", "date", "cds", "dollars"],
        dtype={"date": str},
    )
    log["date"] = pd.to_datetime(log["date"], format="%Y%m%d")
    return log


@pytest.fixture(scope="module")
def our_summary(cdnow_log) -> pd.DataFrame:
    return rfm_summary(cdnow_log, "customer_id", "date", "dollars", CALIBRATION_END)


@pytest.fixture(scope="module")
def published_summary() -> pd.DataFrame:
    return pd.read_csv(CDNOW / "cdnow_customers_summary_with_transactions.csv", index_col="ID")


# --- the published CDNOW results --------------------------------------------------------------


def test_bg_nbd_on_the_published_cdnow_summary_finds_the_papers_parameters():
    summary = pd.read_csv(CDNOW / "cdnow_customers_summary.csv")
    fit = fit_bg_nbd(summary["frequency"], summary["recency"], summary["T"])
    assert fit.converged
    assert all(_close(fit.params, PAPER_BG).values()), fit.params
    assert fit.log_likelihood == pytest.approx(PAPER_BG_LL, abs=0.5)


def test_rfm_summary_of_the_raw_cdnow_log_is_the_published_summary(our_summary, published_summary):
    assert our_summary.index.equals(published_summary.index)
    assert (our_summary["frequency"] == published_summary["x"]).all()
    # The published file rounds weeks and dollars to 2 decimals: that is the only difference.
    assert np.allclose(our_summary["recency"], published_summary["t_x"], atol=0.005 + 1e-9)
    assert np.allclose(our_summary["T"], published_summary["T"], atol=0.005 + 1e-9)
    repeat = our_summary["frequency"] > 0
    assert our_summary.loc[~repeat, "monetary_value"].isna().all()
    assert np.allclose(
        our_summary.loc[repeat, "monetary_value"],
        published_summary.loc[repeat, "zbar"],
        atol=0.005 + 1e-9,
    )


def test_bg_nbd_on_our_own_cdnow_summary_finds_the_papers_parameters(our_summary):
    fit = fit_bg_nbd(our_summary["frequency"], our_summary["recency"], our_summary["T"])
    assert all(_close(fit.params, PAPER_BG).values()), fit.params
    assert fit.log_likelihood == pytest.approx(PAPER_BG_LL, abs=0.5)


def test_gamma_gamma_on_the_946_cdnow_repeat_buyers_finds_the_published_fit(published_summary):
    fit = fit_gamma_gamma(published_summary["x"], published_summary["zbar"])
    assert fit.n_customers == 946
    assert fit.converged
    assert all(_close(fit.params, PAPER_GG).values()), fit.params
    assert fit.log_likelihood == pytest.approx(PAPER_GG_LL, abs=0.01)


def test_holdout_forecasts_track_what_cdnow_customers_bought_as_published(cdnow_log, our_summary):
    actual = purchase_days_between(
        cdnow_log, "customer_id", "date", CALIBRATION_END, HOLDOUT_END
    ).reindex(our_summary.index, fill_value=0)
    assert actual.sum() == 1882  # the paper's count of holdout repeat transactions
    forecast = expected_purchases(
        PAPER_BG, HOLDOUT_WEEKS, our_summary["frequency"], our_summary["recency"], our_summary["T"]
    )
    assert np.corrcoef(forecast, actual)[0, 1] == pytest.approx(0.626, abs=0.01)
    never_returned = (our_summary["frequency"] == 0).to_numpy()
    assert actual[never_returned].mean() == pytest.approx(0.24, abs=0.005)
    assert forecast[never_returned].mean() == pytest.approx(0.23, abs=0.01)


# --- planted ground truth ---------------------------------------------------------------------


def test_bg_nbd_recovers_the_parameters_that_generated_the_data():
    T = np.random.default_rng(1).uniform(1.0, 104.0, 50_000)
    sim = simulate_bg_nbd(PAPER_BG, T, seed=1)
    fit = fit_bg_nbd(sim["frequency"], sim["recency"], sim["T"])
    true_ll = bg_nbd_log_likelihood(PAPER_BG, sim["frequency"], sim["recency"], sim["T"])
    # The MLE is at least as likely as the truth, and the truth lies inside the 99.9%
    # likelihood-ratio region (2 * gap ~ chi2 with 4 degrees of freedom).
    assert 0 <= fit.log_likelihood - true_ll < chi2.ppf(0.999, 4) / 2
    assert all(_close(fit.params, PAPER_BG, rel=0.1).values()), fit.params


def test_gamma_gamma_recovers_the_parameters_that_generated_the_spend():
    frequency = np.random.default_rng(2).integers(0, 10, 20_000)
    zbar = simulate_gamma_gamma(PAPER_GG, frequency, seed=2)
    fit = fit_gamma_gamma(frequency, zbar)
    true_ll = gamma_gamma_log_likelihood(PAPER_GG, frequency, zbar)
    assert 0 <= fit.log_likelihood - true_ll < chi2.ppf(0.999, 3) / 2
    assert all(_close(fit.params, PAPER_GG, rel=0.1).values()), fit.params


def test_conditional_forecasts_match_what_simulated_customers_then_bought():
    T = np.random.default_rng(3).uniform(10.0, 52.0, 200_000)
    sim = simulate_bg_nbd(PAPER_BG, T, holdout=HOLDOUT_WEEKS, seed=3)
    forecast = expected_purchases(
        PAPER_BG, HOLDOUT_WEEKS, sim["frequency"], sim["recency"], sim["T"]
    )
    error = sim["holdout_frequency"].to_numpy() - forecast
    groups = np.digitize(sim["frequency"], [1, 2, 4, 8])  # 0, 1, 2-3, 4-7, 8+ repeat purchases
    for group in range(5):
        e = error[groups == group]
        assert abs(e.mean()) < 4 * e.std() / np.sqrt(len(e)), group


def test_a_new_customers_forecast_matches_simulated_new_customers():
    horizons = [1.0, 10.0, 52.0, 260.0]
    for t, expected in zip(horizons, expected_purchases_new(PAPER_BG, horizons), strict=True):
        sim = simulate_bg_nbd(PAPER_BG, np.zeros(200_000), holdout=t, seed=4)
        bought = sim["holdout_frequency"]
        assert abs(bought.mean() - expected) < 4 * bought.std() / np.sqrt(len(bought)), t


def test_the_rearranged_hypergeometric_gives_equation_10_of_the_paper():
    # Where the paper's form is still computable, the Euler-transformed one must equal it.
    x = np.arange(0.0, 30.0)
    T, t = 38.86, 39.0
    p = PAPER_BG
    z = t / (p.alpha + T + t)
    paper = (
        (p.a + p.b + x - 1)
        / (p.a - 1)
        * (
            1
            - ((p.alpha + T) / (p.alpha + T + t)) ** (p.r + x)
            * hyp2f1(p.r + x, p.b + x, p.a + p.b + x - 1, z)
        )
    )
    recency = np.where(x > 0, 20.0, 0.0)
    ours = expected_purchases(p, t, x, recency, np.full_like(x, T)) / p_alive(
        p, x, recency, np.full_like(x, T)
    )
    assert np.allclose(ours, paper, rtol=1e-9)


def test_a_heavy_buyers_long_forecast_stays_below_buying_at_their_posterior_rate_forever():
    x = np.array([50.0, 200.0, 1000.0])
    T = np.full(3, 52.0)
    t = 520.0
    forecast = expected_purchases(PAPER_BG, t, x, T, T)  # bought in the last week: alive
    posterior_rate = (PAPER_BG.r + x) / (PAPER_BG.alpha + T)
    assert np.all(np.isfinite(forecast))
    assert np.all((forecast > 0) & (forecast < posterior_rate * t))


def test_the_analytic_gradients_are_the_derivatives_of_the_log_likelihoods():
    sim = simulate_bg_nbd(PAPER_BG, np.linspace(1, 52, 2_000), seed=5)
    data = _bg_nbd_data(*(sim[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T")))
    zbar = simulate_gamma_gamma(PAPER_GG, sim["frequency"], seed=5)
    rep = sim["frequency"].to_numpy() > 0
    x, z = sim["frequency"].to_numpy(dtype=float)[rep], zbar[rep]
    ux, cx = np.unique(x, return_counts=True)
    cases = [
        (lambda q, g: _bg_nbd_loglik(q, data, g), np.array([0.3, 5.0, 0.7, 2.0])),
        (lambda q, g: _gamma_gamma_loglik(q, x, z, ux, cx * 1.0, g), np.array([5.0, 4.0, 12.0])),
    ]
    for loglik, point in cases:
        _, grad = loglik(point, True)
        for i in range(len(point)):
            h = np.zeros_like(point)
            h[i] = 1e-6 * point[i]
            numeric = (loglik(point + h, False)[0] - loglik(point - h, False)[0]) / (2 * h[i])
            assert grad[i] == pytest.approx(numeric, rel=1e-5), i


# --- tiny frames ------------------------------------------------------------------------------


def test_a_customer_who_never_came_back_is_surely_still_alive():
    # BG/NBD lets customers leave only right after a repeat purchase.
    assert np.all(p_alive(PAPER_BG, [0, 0], [0, 0], [1.0, 100.0]) == 1.0)


def test_a_frequent_buyer_who_has_gone_quiet_is_probably_gone():
    recency = np.array([52.0, 40.0, 26.0, 10.0])
    alive = p_alive(PAPER_BG, np.full(4, 10), recency, np.full(4, 52.0))
    assert alive[0] > 0.9
    assert np.all(np.diff(alive) < 0)
    assert alive[-1] < 0.01


def test_clv_grows_with_the_horizon_and_falls_with_the_discount_rate():
    def clv(horizon: float, rate: float) -> float:
        return customer_lifetime_value(
            PAPER_BG, PAPER_GG, [3], [30.0], [39.0], [40.0], horizon, rate
        )[0]

    assert np.all(np.diff([clv(h, 0.01) for h in (4, 13, 52, 104)]) > 0)
    assert np.all(np.diff([clv(52, d) for d in (0.0, 0.005, 0.02, 0.1)]) < 0)


def test_undiscounted_clv_is_expected_purchases_times_expected_spend():
    # With d = 0 the per-step increments telescope to E[Y(horizon)].
    args = dict(frequency=[0, 2, 7], recency=[0.0, 12.0, 35.0], T=[20.0, 39.0, 39.0])
    spend = expected_spend(PAPER_GG, args["frequency"], [np.nan, 25.0, 60.0])
    clv = customer_lifetime_value(
        PAPER_BG,
        PAPER_GG,
        **args,
        monetary_value=[np.nan, 25.0, 60.0],
        horizon=30,
        discount_rate_per_period=0.0,
        step=4,
    )
    assert np.allclose(clv, expected_purchases(PAPER_BG, 30, **args) * spend, rtol=1e-12)


def test_spend_expected_in_the_first_period_is_discounted_by_one_period():
    args = dict(frequency=[4], recency=[30.0], T=[39.0], monetary_value=[50.0])
    undiscounted = customer_lifetime_value(
        PAPER_BG, PAPER_GG, **args, horizon=1, discount_rate_per_period=0.0
    )
    discounted = customer_lifetime_value(
        PAPER_BG, PAPER_GG, **args, horizon=1, discount_rate_per_period=0.25
    )
    assert discounted == pytest.approx(undiscounted / 1.25)


def test_expected_spend_pulls_a_customers_mean_toward_the_population_mean():
    population_mean = PAPER_GG.p * PAPER_GG.gamma / (PAPER_GG.q - 1)
    spend = expected_spend(PAPER_GG, [0, 1, 100], [np.nan, 100.0, 100.0])
    assert spend[0] == pytest.approx(population_mean)
    assert population_mean < spend[1] < spend[2] < 100.0
    assert spend[2] == pytest.approx(100.0, rel=0.01)


def test_rfm_summary_counts_a_day_with_several_purchases_once():
    log = pd.DataFrame(
        {
            "customer": ["a", "a", "a", "a", "b", "c"],
            "at": pd.to_datetime([
                "2024-01-01 09:00", "2024-01-08 10:00", "2024-01-08 18:00", "2024-01-15 12:00",
                "2024-01-08 08:00", "2024-01-22 08:00",
            ]),
            "amount": [5.0, 10.0, 20.0, 40.0, 7.0, 1.0],
        }
    )  # fmt: skip
    summary = rfm_summary(log, "customer", "at", "amount", "2024-01-15", time_unit_days=7)
    # c first bought after the calibration end, so is not a customer yet.
    assert list(summary.index) == ["a", "b"]
    assert summary.loc["a"].to_dict() == {
        "frequency": 2, "recency": 2.0, "T": 2.0, "monetary_value": (30.0 + 40.0) / 2,
    }  # fmt: skip
    assert summary.loc["b", ["frequency", "recency", "T"]].tolist() == [0, 0.0, 1.0]
    assert np.isnan(summary.loc["b", "monetary_value"])


def test_rfm_summary_starts_each_customer_at_their_first_purchase_in_the_window():
    log = pd.DataFrame({"customer": [1, 1, 1], "day": ["2023-12-25", "2024-01-03", "2024-01-10"]})
    summary = rfm_summary(log, "customer", "day", None, "2024-01-31", 1, "2024-01-01")
    assert summary.loc[1].to_dict() == {"frequency": 1, "recency": 7.0, "T": 28.0}


@pytest.mark.parametrize(
    ("frequency", "recency", "T", "message"),
    [
        ([1, -2, -1], [1.0, 0.0, 0.0], [2.0, 2.0, 2.0], "frequency: 2 rows are negative"),
        ([1, 0.5], [1.0, 1.0], [2.0, 2.0], "frequency: 1 rows are not whole"),
        ([1, 1, 0], [3.0, 4.0, 0.0], [2.0, 2.0, 2.0], "recency: 2 rows are greater than T"),
        ([2, 0], [0.0, 0.0], [2.0, 2.0], "recency: 1 rows have frequency > 0 but recency 0"),
        ([1, 1], [1.0, np.nan], [2.0, np.nan], "recency: 1 rows are NaN"),
        ([0, 0], [0.0, 0.0], [2.0, -1.0], "T: 1 rows are negative"),
    ],
)
def test_bad_summaries_are_refused_naming_the_argument_and_the_rows(frequency, recency, T, message):
    with pytest.raises(ValueError, match=message):
        fit_bg_nbd(frequency, recency, T)


def test_a_sample_without_repeat_buyers_is_refused_rather_than_fitted_to_nonsense():
    with pytest.raises(ValueError, match="none of the 3 customers has a repeat purchase"):
        fit_bg_nbd([0, 0, 0], [0.0, 0.0, 0.0], [5.0, 10.0, 20.0])


def test_a_gamma_gamma_fit_that_runs_to_the_bounds_is_not_reported_as_converged():
    # Identical spends: no spread between customers, so p and q run off to infinity.
    assert not fit_gamma_gamma([1, 1, 2, 3], [10.0, 10.0, 10.0, 10.0]).converged


def test_a_repeat_buyer_without_a_positive_spend_is_refused():
    with pytest.raises(
        ValueError, match="monetary_value: 2 rows with frequency > 0 are zero or negative"
    ):
        fit_gamma_gamma([1, 2, 3, 0], [10.0, 0.0, -5.0, np.nan])


# --- the grocery log (GPL, read from ../shared/data, never copied) ----------------------------


@pytest.mark.skipif(not GROCERY.exists(), reason=f"grocery log not found at {GROCERY}")
def test_on_grocery_bg_nbd_ranks_next_years_buyers_better_than_past_frequency():
    log = pd.read_csv(GROCERY, parse_dates=["date"])
    summary = rfm_summary(log, "cust", "date", None, "2006-12-31")  # first 52 weeks
    actual = purchase_days_between(log, "cust", "date", "2006-12-31", "2007-12-30").reindex(
        summary.index, fill_value=0
    )
    fit = fit_bg_nbd(summary["frequency"], summary["recency"], summary["T"])
    assert fit.converged
    forecast = expected_purchases(
        fit.params, 52.0, summary["frequency"], summary["recency"], summary["T"]
    )
    assert np.corrcoef(forecast, actual)[0, 1] > np.corrcoef(summary["frequency"], actual)[0, 1]


@pytest.mark.parametrize("spread", [1e4, 1e7])
def test_a_fit_that_gives_everyone_one_dropout_probability_still_forecasts(spread):
    # A small shop's fit ran a and b to 1e7: the 2F1 series overflowed and every forecast,
    # and so every CLV, came out NaN. Its limit agrees with the series where both work (to
    # about x / (a + b): the posterior of the dropout probability moves with x).
    x, t_x, big_t = np.array([0.0, 1.0, 3.0]), np.array([0.0, 5, 20]), np.full(3, 50.0)
    narrow = BgNbdParams(r=0.5, alpha=5.0, a=0.29 * spread, b=0.71 * spread)
    series = BgNbdParams(r=0.5, alpha=5.0, a=0.29 * 999, b=0.71 * 999)
    forecast = expected_purchases(narrow, 13.0, x, t_x, big_t)
    assert np.isfinite(forecast).all() and (forecast > 0).all()
    np.testing.assert_allclose(
        forecast, expected_purchases(series, 13.0, x, t_x, big_t), rtol=0.005
    )
