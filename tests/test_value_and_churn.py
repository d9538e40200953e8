"""Lifetime value through the project's own path: raw orders -> dbt summary -> fitted models."""

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from dbtrunner import dbt_build

from orchestration.ml.value import ValueConfig, fit_value_models, score_value
from orchestration.sampledata.cdnow import read_cdnow, write_cdnow_orders

CDNOW = Path(__file__).parent / "data" / "cdnow" / "CDNOW_sample.txt"
CALIBRATION_END = "1997-09-30"  # week 39 of Fader, Hardie & Lee (2005)
HOLDOUT_END = "1998-06-30"  # week 78


@pytest.fixture(scope="module")
def cdnow_summary(tmp_path_factory) -> pd.DataFrame:
    """The CDNOW log as a shop's order export, summarised by dbt as of the calibration end."""
    root = tmp_path_factory.mktemp("cdnow_value")
    write_cdnow_orders(CDNOW, root / "raw")
    warehouse = root / "warehouse.duckdb"
    dbt_build(
        root / "raw",
        warehouse,
        "--vars",
        f"{{as_of_date: '{CALIBRATION_END}'}}",
        "--select",
        "+int_customer_purchase_summary",
        "--exclude",
        "resource_type:test",  # the staging tests read the quarantine, not selected here
    )
    con = duckdb.connect(str(warehouse), read_only=True)
    summary = con.execute(
        """
        select summary.*, replace(ids.identifier_key, 'member_id:CD', '') as master_id
        from intermediate.int_customer_purchase_summary as summary
        inner join intermediate.int_identity__customer_ids as ids
            on ids.customer_id = summary.customer_id and ids.id_type = 'member_id'
        """
    ).df()
    con.close()
    return summary


def test_bg_nbd_and_gamma_gamma_fitted_through_dbt_reproduce_the_cdnow_papers(cdnow_summary):
    assert len(cdnow_summary) == 2357
    fit = fit_value_models(cdnow_summary, ValueConfig())
    bg, gg = fit.bg_nbd, fit.gamma_gamma
    # Fader, Hardie & Lee (2005), 39-week calibration, time in weeks.
    assert bg.params.r == pytest.approx(0.243, rel=0.01)
    assert bg.params.alpha == pytest.approx(4.414, rel=0.01)
    assert bg.params.a == pytest.approx(0.793, rel=0.01)
    assert bg.params.b == pytest.approx(2.426, rel=0.01)
    assert bg.log_likelihood == pytest.approx(-9582.4, abs=0.5)
    # The Gamma-Gamma fit on the 946 repeat buyers (iso-value curves paper).
    assert gg.n_customers == 946
    assert gg.params.p == pytest.approx(6.25, rel=0.01)
    assert gg.params.q == pytest.approx(3.74, rel=0.01)
    assert gg.params.gamma == pytest.approx(15.44, rel=0.01)


def test_cdnow_holdout_purchases_track_the_forecast_as_published(cdnow_summary):
    config = ValueConfig(horizon_days=273)  # weeks 40-78: 39 weeks
    fit = fit_value_models(cdnow_summary, config)
    scores = score_value(cdnow_summary, fit, config).set_index("customer_id")

    log = read_cdnow(CDNOW)
    holdout = log[(log.date > CALIBRATION_END) & (log.date <= HOLDOUT_END)]
    days = holdout.groupby("master_id").date.nunique()
    # The warehouse's customers carry the CDNOW id as their member id.
    actual = cdnow_summary.master_id.map(days).fillna(0).to_numpy()
    assert actual.sum() == 1882  # the paper's holdout repeat transactions
    forecast = scores.loc[cdnow_summary.customer_id, "expected_purchases"].to_numpy()
    assert np.corrcoef(forecast, actual)[0, 1] == pytest.approx(0.626, abs=0.01)


def _simulated_summary(spend: np.ndarray | float, n: int = 3_000) -> pd.DataFrame:
    """A purchase summary (in days) of simulated BG/NBD customers spending `spend`."""
    from orchestration.ml.clv import BgNbdParams, simulate_bg_nbd

    T = np.random.default_rng(4).uniform(4.0, 104.0, n)
    sim = simulate_bg_nbd(BgNbdParams(r=0.25, alpha=4.4, a=0.8, b=2.4), T, seed=4)
    repeat_spend = np.broadcast_to(spend, (n,)).astype(float)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "repeat_purchase_days": sim["frequency"],
            "recency_days": sim["recency"] * 7.0,
            "age_days": sim["T"] * 7.0,
            "repeat_spend_per_day": np.where(sim["frequency"] > 0, repeat_spend, np.nan),
        }
    )


def test_a_log_without_amounts_still_gets_p_alive_and_purchases_with_spend_left_null():
    # The grocery log has no amounts (written as 0): the value step used to fail, telling of
    # "no repeat buyers" where there were a thousand.
    summary = _simulated_summary(0.0)
    fit = fit_value_models(summary)
    scores = score_value(summary, fit)
    assert fit.gamma_gamma is None and "no spend model" in fit.warnings()[0]
    assert scores["p_alive"].between(0, 1).all() and scores["expected_purchases"].gt(0).all()
    assert scores[["expected_spend_per_purchase", "expected_revenue", "clv"]].isna().all().all()


def test_spend_too_heavy_tailed_for_a_mean_falls_back_to_the_observed_mean():
    # Log-normal spend with sigma 2: Gamma-Gamma's q fell below 1 (no mean), and scoring the
    # one-time buyers raised "expected spend is infinite".
    spend = np.random.default_rng(5).lognormal(4.0, 2.0, 3_000)
    summary = _simulated_summary(spend)
    fit = fit_value_models(summary)
    scores = score_value(summary, fit)
    assert np.isfinite(scores[["expected_spend_per_purchase", "clv"]].to_numpy()).all()
    once = summary["repeat_purchase_days"].eq(0).to_numpy()
    assert scores.loc[once, "expected_spend_per_purchase"].eq(fit.population_mean_spend).all()
    assert fit.gamma_gamma.params.q <= 1 and "too heavy-tailed" in fit.warnings()[-1]
    assert fit.population_mean_spend == pytest.approx(np.mean(spend[~once]))


def test_p_alive_baseline_skips_a_cut_off_where_nobody_had_bought_twice():
    # A young shop's first cut-off: the churn step failed on its BG/NBD baseline alone.
    from orchestration.ml.value import p_alive_by_cutoff

    history = pd.DataFrame(
        {
            "cutoff_date": ["2025-04-01"] * 2 + ["2025-07-01"] * 3,
            "purchase_days": [1, 1, 3, 1, 2],
            "first_order_date": [
                "2025-03-01",
                "2025-03-20",
                "2025-03-01",
                "2025-03-20",
                "2025-05-01",
            ],
            "last_order_date": [
                "2025-03-01",
                "2025-03-20",
                "2025-06-20",
                "2025-03-20",
                "2025-06-01",
            ],
        }
    )
    alive = p_alive_by_cutoff(history)
    assert np.isnan(alive[:2]).all() and np.isfinite(alive[2:]).all()
