"""Lifetime value: BG/NBD and Gamma-Gamma fitted on the purchase summary dbt computes."""

import dagster as dg

from orchestration.assets.dbt import dbt_model_key, dbt_model_relation
from orchestration.assets.model_fits import record_fit
from orchestration.assets.raw import WAREHOUSE_POOL
from orchestration.assets.tables import warehouse_table_spec
from orchestration.ml.value import (
    ValueConfig,
    fit_value_models,
    parameters,
    score_value,
    unscored_value,
)
from orchestration.project import dbt_var
from orchestration.resources import WarehouseResource

VALUE_TABLE = ("ml", "customer_value")


@dg.multi_asset(
    specs=[
        warehouse_table_spec(
            *VALUE_TABLE,
            description="P(alive), expected purchases and spend, and CLV per customer who bought.",
            group_name="ml",
            deps=[dbt_model_key("int_customer_purchase_summary")],
        )
    ],
    pool=WAREHOUSE_POOL,
    code_version="customer_value-1",
)
def customer_value(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Fit BG/NBD and Gamma-Gamma on every buyer's purchase summary and score every buyer."""
    config = ValueConfig(
        horizon_days=int(dbt_var("clv_horizon_days")),
        annual_discount_rate=float(dbt_var("clv_annual_discount_rate")),
    )
    with warehouse.open() as opened:
        # A few numbers per buyer: small enough to hold even at millions of customers. In
        # customer order: the fit's float sums follow row order, and dbt's row order is not
        # the same on every build.
        summary = opened.query_frame(
            f"select * from {dbt_model_relation('int_customer_purchase_summary')}"
            " order by customer_id"
        )
        if summary.empty:
            raise ValueError("no customer has bought anything as of as_of_date: nothing to fit")
        if (summary["repeat_purchase_days"] > 0).any():
            fit = fit_value_models(summary, config)
            scores = score_value(summary, fit, config)
            warnings = fit.warnings()
        else:
            fit, scores = None, unscored_value(summary)
            warnings = [
                f"none of the {len(summary):,} buyers has bought on two days yet: BG/NBD has"
                " nothing to fit, so P(alive), purchases, spend and CLV are null"
            ]
        as_of = summary["as_of_date"].iloc[0]
        scores.insert(1, "as_of_date", as_of)
        scores["horizon_days"] = config.horizon_days
        rows = opened.replace_table(*VALUE_TABLE, scores)
    for warning in warnings:
        context.log.warning(warning)
    revenue = scores["expected_revenue"]
    metrics = {
        **(fit.metrics() if fit else {"scored": False}),
        "mean_p_alive": float(scores["p_alive"].mean()) if fit else None,
        # null, not 0, when there is no spend model: nothing was forecast
        "expected_revenue_total": float(revenue.sum()) if revenue.notna().any() else None,
        "warnings": "; ".join(warnings) or None,
    }
    metadata = record_fit(
        context,
        warehouse,
        model_name="customer_value",
        as_of_date=as_of,
        metrics=metrics,
        parameters=parameters(config),
        data_window=(summary["first_purchase_date"].min(), as_of),
    )
    return dg.MaterializeResult(metadata={**metadata, "dagster/row_count": rows})
