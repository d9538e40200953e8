"""Churn risk: a calibrated classifier trained on the point-in-time feature history."""

import json
from pathlib import Path

import dagster as dg
from pydantic import Field

from orchestration.assets.dbt import dbt_model_key, dbt_model_relation
from orchestration.assets.model_fits import record_fit
from orchestration.assets.raw import WAREHOUSE_POOL
from orchestration.assets.tables import warehouse_table_spec
from orchestration.ml import churn as churn_module
from orchestration.ml.churn import (
    ChurnConfig,
    ChurnModel,
    ChurnNotLearnable,
    fit_churn,
    headline_metrics,
    score_churn,
    unscored_churn,
)
from orchestration.ml.fit_cache import column_types, fingerprint, load_fit, row_hashes, store_fit
from orchestration.ml.value import p_alive_by_cutoff
from orchestration.project import dbt_var
from orchestration.resources import WarehouseResource
from orchestration.warehouse import Warehouse, hash_share_filter

CHURN_TABLE = ("ml", "churn_scores")
# The last churn fit, beside the warehouse it was trained from (orchestration/ml/fit_cache.py).
FIT_CACHE = Path("model_fits") / "churn.pkl"


class ChurnRunConfig(dg.Config):
    max_training_rows: int = Field(
        default=250_000,
        description="Training rows sampled (by customer, the same customers at every cut-off).",
    )
    score_batch_rows: int = Field(
        default=200_000, description="Customers scored per batch: bounds memory at any size."
    )
    tier_high: float = Field(default=0.6, description="Churn probability from which risk is high.")
    tier_medium: float = Field(
        default=0.3, description="Churn probability from which risk is medium."
    )
    refit_changed_share: float = Field(
        default=0.01,
        ge=0.0,
        description=(
            "Reuse the last fit while at most this share of its training rows changed (and"
            " the labelled cut-offs, settings and code are the same); 0 refits on any change."
        ),
    )


def _todays_model(
    context: dg.AssetExecutionContext,
    opened: Warehouse,
    config: ChurnRunConfig,
    churn_config: ChurnConfig,
    cache: Path,
) -> tuple[ChurnModel, bool, float]:
    """The model to score with: the last fit while it still holds, else a new one; with
    whether it was reused and the share of its training rows that changed. Raises
    ChurnNotLearnable when the data cannot train one yet."""
    history = dbt_model_relation("customer_feature_history")
    labels = dbt_model_relation("int_churn_labels")
    labelled = opened.scalar(f"select count(*) from {labels}")
    if not labelled:
        raise ChurnNotLearnable(
            f"{labels} is empty: no cut-off of the feature history has a finished"
            " churn horizon before as_of_date; the data covers too short a period"
        )
    # A deterministic sample of customers (a hash of the id), so every cut-off holds the
    # same people and reruns train on the same rows, on either engine.
    share = min(1.0, config.max_training_rows / labelled)
    training = opened.query_frame(training_query(history, labels, share))
    # Most nights a few of the labelled rows moved since the last fit: reuse it
    # (orchestration/ml/fit_cache.py); a new labelled cut-off always refits.
    key = fingerprint(
        churn_config.parameters(),
        Path(churn_module.__file__),
        column_types(training),
        sorted(training["cutoff_date"].astype(str).unique()),
    )
    training_rows = row_hashes(training)
    stored = load_fit(cache, key, training_rows, config.refit_changed_share)
    if stored is not None:
        context.log.info(
            f"reusing the last fit: {stored.changed_share:.3%} of its training rows changed"
            f" (refit above {config.refit_changed_share:.2%})"
        )
        return stored.fitted, True, stored.changed_share
    context.log.info(f"training on {len(training):,} rows of {labelled:,} labelled")
    training["p_alive"] = p_alive_by_cutoff(training)
    model = fit_churn(training, churn_config)
    store_fit(cache, key, training_rows, model.without_training_rows())
    return model, False, 0.0


def training_query(history: str, labels: str, share: float) -> str:
    """The labelled feature rows of about `share` of the customers (all of their cut-offs), in
    one order: the P(alive) baseline's sums then never move."""
    return f"""
        select history.*, history.as_of_date as cutoff_date, labels.is_churned
        from {history} as history
        inner join {labels} as labels
            on labels.customer_id = history.customer_id
            and labels.cutoff_date = history.as_of_date
        where {hash_share_filter("history.customer_id", share)}
        order by history.as_of_date, history.customer_id
    """


@dg.multi_asset(
    specs=[
        warehouse_table_spec(
            *CHURN_TABLE,
            description="Calibrated churn probability, risk tier and top reasons per customer.",
            group_name="ml",
            deps=[
                dbt_model_key("customer_feature_history"),
                dbt_model_key("int_churn_labels"),
                dbt_model_key("customer_features"),
            ],
        )
    ],
    pool=WAREHOUSE_POOL,
    code_version="churn_scores-1",
)
def churn_scores(
    context: dg.AssetExecutionContext, config: ChurnRunConfig, warehouse: WarehouseResource
):
    """Train on labelled past cut-offs (the latest held out), then score every customer."""
    # The warehouse's thread budget (CP_THREADS) bounds the model too: at 1M customers two
    # threads fit in 23 s against 30 s on one, when nothing else competes for the cores.
    threads = warehouse.settings().threads
    churn_config = ChurnConfig(
        horizon_days=int(dbt_var("churn_horizon_days")),
        max_training_rows=config.max_training_rows,
        tier_high=config.tier_high,
        tier_medium=config.tier_medium,
        threads=threads,
        score_threads=threads,
    )
    features = dbt_model_relation("customer_features")
    with warehouse.open() as opened:
        try:
            cache = warehouse.settings().warehouse_path.parent / FIT_CACHE
            model, reused, changed = _todays_model(context, opened, config, churn_config, cache)
        except ChurnNotLearnable as reason:
            # A young shop: everyone unscored, every other table still built and published.
            model, not_learnable = None, str(reason)
            context.log.warning(f"churn not scored: {not_learnable}")
        as_of, first_day = opened.query_rows(
            f"select max(as_of_date), min(first_seen_date) from {features}"
        )[0]

        def scored_batches():
            for batch in opened.stream_batches(
                f"select * from {features}", config.score_batch_rows
            ):
                scores = unscored_churn(batch) if model is None else score_churn(model, batch)
                scores.insert(1, "as_of_date", batch["as_of_date"].to_numpy())
                yield scores

        rows = opened.replace_table(*CHURN_TABLE, scored_batches())
    if model is None:
        metrics = {"scored": False, "not_learnable": not_learnable}
        parameters = churn_config.parameters()
        window = (first_day, as_of)
    else:
        metrics = {
            **headline_metrics(model),
            # the reliability diagram, as JSON text: bin, mean predicted, observed, count
            "calibration_table": json.dumps(model.metrics["validation"]["calibration_table"]),
        }
        parameters = {
            **model.parameters,
            "fit_reused": reused,
            "training_rows_changed_share": round(changed, 6),
        }
        window = (first_day, model.trained_through.date())
    metadata = record_fit(
        context,
        warehouse,
        model_name="churn",
        as_of_date=as_of,
        metrics=metrics,
        parameters=parameters,
        data_window=window,
    )
    return dg.MaterializeResult(metadata={**metadata, "dagster/row_count": rows})
