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
