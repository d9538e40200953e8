"""Churn risk and P(alive) on a real orders-only shop: the grocery log, held out by time.

The log (CLVTools' groceryElog, GPL) is read from `../shared/data/grocery/` beside the
repository (or under $CP_SHARED_DATA) and never copied into it. Standing at 2007-09-30, the warehouse sees only the orders
up to then; the outcome is whether a customer bought anything in the next 90 days
(2007-10-01..2007-12-29), which the log holds but no model sees.
"""

import os
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from dbtrunner import dbt_build
from sklearn.metrics import roc_auc_score

from orchestration.ml.churn import ChurnConfig, fit_churn, score_churn
from orchestration.ml.value import p_alive_by_cutoff
from orchestration.sampledata.grocery import read_grocery, write_grocery_orders

SHARED_DATA = Path(os.environ.get("CP_SHARED_DATA", Path(__file__).parents[2] / "shared" / "data"))
LOG = SHARED_DATA / "grocery" / "groceryElog.csv"
AS_OF = "2007-09-30"
OUTCOME_END = "2007-12-29"  # 90 days after AS_OF, within the log (it ends 2007-12-30)

pytestmark = pytest.mark.skipif(
    not LOG.exists(),
    reason=f"the grocery log is not at {LOG} (GPL data, kept outside the repository)",
)


@pytest.fixture(scope="module")
def grocery(tmp_path_factory) -> dict[str, pd.DataFrame]:
    """The log as a shop's order export, built by dbt as of AS_OF: the labelled feature history
    (training rows) and the features at AS_OF (the customers to score)."""
    root = tmp_path_factory.mktemp("grocery")
    write_grocery_orders(LOG, root / "raw")
    warehouse = root / "warehouse.duckdb"
    dbt_build(
        root / "raw",
        warehouse,
        "--vars",
        f"{{as_of_date: '{AS_OF}'}}",
        "--select",
        "+customer_feature_history +int_churn_labels +customer_features",
        "--exclude",
        "resource_type:test",  # the staging tests read the quarantine, not selected here
    )
    con = duckdb.connect(str(warehouse), read_only=True)
    training = con.execute(
        """
        select history.*, history.as_of_date as cutoff_date, labels.is_churned
        from marts.customer_feature_history as history
        inner join intermediate.int_churn_labels as labels
            on labels.customer_id = history.customer_id
            and labels.cutoff_date = history.as_of_date
        """
    ).df()
    current = con.execute(
        """
        select features.*, features.as_of_date as cutoff_date,
            replace(ids.identifier_key, 'member_id:GR', '') as cust
        from marts.customer_features as features
        inner join intermediate.int_identity__customer_ids as ids
            on ids.customer_id = features.customer_id and ids.id_type = 'member_id'
        where features.order_count > 0
        """
    ).df()
    con.close()
    return {"training": training, "current": current}


def test_the_warehouse_sees_every_grocery_buyer_up_to_the_cutoff(grocery):
    log = read_grocery(LOG)
    seen = log[log.date <= AS_OF]
    assert len(grocery["current"]) == seen.cust.nunique()
    days = seen.groupby("cust").date.nunique()
    current = grocery["current"].set_index("cust")
    assert (current.purchase_days == days.reindex(current.index)).all()


@pytest.fixture(scope="module")
def held_out(grocery) -> pd.DataFrame:
    """Each customer at AUC: churn model, P(alive), recency, and the held-out outcome."""
    training, current = grocery["training"], grocery["current"]
    model = fit_churn(training.assign(p_alive=p_alive_by_cutoff(training)), ChurnConfig(threads=1))
    scores = score_churn(model, current)
    log = read_grocery(LOG)
    future = log[(log.date > AS_OF) & (log.date <= OUTCOME_END)]
    return pd.DataFrame(
        {
            "churn_probability": scores.churn_probability.to_numpy(),
            "p_alive": p_alive_by_cutoff(current),
            "recency_days": current.recency_days.to_numpy(),
            "repeat_buyer": current.purchase_days.to_numpy() > 1,
            "churned": ~current.cust.isin(future.cust).to_numpy(),
        }
    ).assign(validation=[model.metrics] * len(current))


def _auc(frame: pd.DataFrame) -> dict[str, float]:
    y = frame.churned.to_numpy()
    return {
        "churn_model": roc_auc_score(y, frame.churn_probability),
        "p_alive": roc_auc_score(y, 1.0 - frame.p_alive),
        "recency": roc_auc_score(y, frame.recency_days),
    }


def test_every_buyer_gets_a_churn_probability_and_the_quarter_has_both_outcomes(held_out):
    assert held_out.churn_probability.notna().all()
    assert min(held_out.churned.sum(), (~held_out.churned).sum()) >= 100


def test_p_alive_ranks_repeat_buyers_lapsing_better_than_recency(held_out):
    # Only repeat buyers: BG/NBD gives P(alive) = 1 to anyone without a repeat purchase (a
    # customer is assumed alive until a purchase gap says otherwise), so over all buyers the
    # 37% one-time buyers tie at the top and P(alive) ranks at chance (AUC 0.50 here).
    auc = _auc(held_out[held_out.repeat_buyer])
    assert auc["p_alive"] > auc["recency"], auc


def test_the_churn_model_beats_recency_at_its_own_time_split_validation(held_out):
    metrics = held_out.validation.iloc[0]
    assert metrics["validation"]["roc_auc"] > metrics["baselines"]["recency"]["roc_auc"]


@pytest.mark.xfail(
    strict=True,
    reason="measured: on this log the churn model only ties recency on the held-out quarter "
    "(0.9315 vs 0.9323); with dates alone every feature is a function of the purchase days, "
    "and 1,525 customers leave the trees little beyond recency to learn",
)
def test_the_churn_model_beats_recency_on_the_held_out_quarter(held_out):
    auc = _auc(held_out)
    assert auc["churn_model"] > auc["recency"], auc
