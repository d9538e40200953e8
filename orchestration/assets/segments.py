"""Segments: k-means personas with stable ids and bilingual names, refreshed from features."""

import json

import dagster as dg
import pandas as pd
from pydantic import Field

from orchestration.assets.dbt import dbt_model_key, dbt_model_relation
from orchestration.assets.model_fits import record_fit
from orchestration.assets.raw import WAREHOUSE_POOL
from orchestration.assets.tables import warehouse_table_spec
from orchestration.ml.segments import (
    SegmentConfig,
    SegmentModel,
    assign_frame,
    fit_segments,
    segment_profiles,
)
from orchestration.model_runs import MODEL_RUNS_SCHEMA, MODEL_RUNS_TABLE
from orchestration.resources import WarehouseResource
from orchestration.warehouse import Warehouse, hash_order

SEGMENTS_TABLE = ("ml", "customer_segments")
PROFILES_TABLE = ("ml", "segment_profiles")
MODEL_NAME = "segments"


class SegmentRunConfig(dg.Config):
    fit_sample_size: int = Field(
        default=50_000, description="Customers the k-means fit sees (a fixed hash sample)."
    )
    assign_batch_rows: int = Field(
        default=200_000, description="Customers assigned per batch: bounds memory at any size."
    )
    k_min: int = Field(default=4, description="Fewest segments to consider.")
    k_max: int = Field(default=10, description="Most segments to consider.")


def _previous_model(opened: Warehouse) -> SegmentModel | None:
    """The last fit's model, persisted in model_runs, so ids and names carry over."""
    if not opened.table_exists(MODEL_RUNS_SCHEMA, MODEL_RUNS_TABLE):
        return None
    parameters = opened.scalar(
        f"select parameters_json from {MODEL_RUNS_SCHEMA}.{MODEL_RUNS_TABLE}"
        " where model_name = ? order by created_at desc limit 1",
        [MODEL_NAME],
    )
    if parameters is None:
        return None
    model = json.loads(parameters).get("model")
    return SegmentModel.from_dict(model) if model else None


def sample_query(features: str) -> str:
    """The fit sample: the first `?` customers by a hash of the id, the same every refresh."""
    return f"select * from {features} order by {hash_order('customer_id')} limit ?"


# Customers in both refreshes who kept their segment, and customers in both.
STABILITY_QUERY = f"""
    select count(*) filter (where new.segment_id = old.segment_id), count(*)
    from {".".join(SEGMENTS_TABLE)} as new
    inner join previous_segments as old using (customer_id)
"""


def _keep_previous_assignments(opened: Warehouse) -> bool:
    """Copy the last refresh's assignments aside (a temp table) to measure stability."""
    schema, table = SEGMENTS_TABLE
    found = opened.table_exists(schema, table)
    if found:
        opened.temp_table(
            "previous_segments", f"select customer_id, segment_id from {schema}.{table}"
        )
    return bool(found)


@dg.multi_asset(
    specs=[
        warehouse_table_spec(
            *SEGMENTS_TABLE,
            description="The segment (persona) of every customer, with its bilingual name.",
            group_name="ml",
            deps=[dbt_model_key("customer_features")],
        ),
        warehouse_table_spec(
            *PROFILES_TABLE,
            description="A persona card per segment: size, value, tastes, distinguishing traits.",
            group_name="ml",
            deps=[dbt_model_key("customer_features")],
        ),
    ],
    pool=WAREHOUSE_POOL,
    code_version="segments-1",
)
def customer_segments(
    context: dg.AssetExecutionContext, config: SegmentRunConfig, warehouse: WarehouseResource
):
    """Fit k-means on a sample of customer_features, then assign every customer in batches."""
    segment_config = SegmentConfig(
        fit_sample_size=config.fit_sample_size,
        assign_batch_size=config.assign_batch_rows,
        k_min=config.k_min,
        k_max=config.k_max,
    )
    features = dbt_model_relation("customer_features")
    with warehouse.open() as opened:
        previous = _previous_model(opened)
        # The sample by a hash of the id: the same customers every refresh, in any row order,
        # on either engine.
        sample = opened.query_frame(sample_query(features), [config.fit_sample_size])
        if sample.empty:
            raise ValueError(f"{features} is empty: no customers to segment")
        model = fit_segments(sample, segment_config, previous=previous)

        def assigned():
            for batch in opened.stream_batches(
                f"select * from {features}", config.assign_batch_rows
            ):
                out = assign_frame(model, batch)
                out.insert(1, "as_of_date", batch["as_of_date"].to_numpy())
                yield out

        had_previous = _keep_previous_assignments(opened)
        rows = opened.replace_table(*SEGMENTS_TABLE, assigned())
        if had_previous:
            # Stability: the share of customers in both refreshes who kept their segment.
            kept, both = opened.query_rows(STABILITY_QUERY)[0]
            model.metrics["kept_segment_share"] = round(kept / both, 4) if both else None
        sizes = opened.query_rows(
            f"select segment_id, count(*) from {'.'.join(SEGMENTS_TABLE)} group by 1"
        )
        # Persona cards from the fit sample (means and tastes), with exact sizes from the
        # assignment of everyone.
        cards = segment_profiles(sample, assign_frame(model, sample), model)
        exact = pd.Series(dict(sizes))
        cards["customers"] = cards["segment_id"].map(exact).fillna(0).astype("int64")
        cards["share"] = cards["customers"] / max(rows, 1)
        cards.insert(1, "as_of_date", sample["as_of_date"].iloc[0])
        opened.replace_table(*PROFILES_TABLE, cards)
        first_day = opened.scalar(f"select min(first_seen_date) from {features}")
    metadata = record_fit(
        context,
        warehouse,
        model_name=MODEL_NAME,
        as_of_date=sample["as_of_date"].iloc[0],
        metrics=model.metrics,
        parameters={"config": segment_config.to_dict(), "model": model.to_dict()},
        data_window=(first_day, sample["as_of_date"].iloc[0]),
    )
    yield dg.MaterializeResult(
        asset_key=dg.AssetKey(list(SEGMENTS_TABLE)),
        metadata={**metadata, "dagster/row_count": rows},
    )
    yield dg.MaterializeResult(
        asset_key=dg.AssetKey(list(PROFILES_TABLE)), metadata={"dagster/row_count": len(cards)}
    )
