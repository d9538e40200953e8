"""Audiences: the definitions file evaluated against the finished profile on every run."""

import dagster as dg

from orchestration.assets.dbt import dbt_model_key, dbt_model_relation
from orchestration.assets.raw import WAREHOUSE_POOL
from orchestration.assets.tables import warehouse_table_spec
from orchestration.audiences.definitions import load_definitions
from orchestration.audiences.members import (
    AUDIENCES_TABLE,
    MEMBERS_TABLE,
    OVERLAPS_TABLE,
    SCHEMA,
    build_audiences,
)
from orchestration.resources import WarehouseResource

_DEPS = [dbt_model_key(name) for name in ("customer_profile", "tag_catalog", "customer_features")]


@dg.multi_asset(
    specs=[
        warehouse_table_spec(
            SCHEMA,
            MEMBERS_TABLE,
            description="Members of every audience in the definitions file, consent flagged.",
            group_name="activation",
            deps=_DEPS,
        ),
        warehouse_table_spec(
            SCHEMA,
            OVERLAPS_TABLE,
            description="Customers shared by each pair of audiences (before exclusivity).",
            group_name="activation",
            deps=_DEPS,
        ),
        warehouse_table_spec(
            SCHEMA,
            AUDIENCES_TABLE,
            description="One row per audience definition: owner, expression, sizes.",
            group_name="activation",
            deps=_DEPS,
        ),
    ],
    pool=WAREHOUSE_POOL,
    code_version="audiences-1",
)
def audiences(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Evaluate every audience; a bad expression fails the step naming the audience."""
    # A missing file fails the step: a mistyped CP_AUDIENCES_FILE must not empty every audience.
    path = warehouse.settings().audiences_file
    definitions = load_definitions(path)
    with warehouse.open() as opened:
        build = build_audiences(
            opened,
            definitions,
            profile=dbt_model_relation("customer_profile"),
            catalog=dbt_model_relation("tag_catalog"),
            features=dbt_model_relation("customer_features"),
        )
    for name, size in build.sizes.items():
        context.log.info(
            f"audience {name}: {size:,} members, {build.consented[name]:,} with consent"
        )
    for name, why in build.skipped.items():
        context.log.warning(f"audience {name}: no members, {why}")
    summary = {
        "definitions_file": dg.MetadataValue.path(str(path)),
        "audiences": len(definitions.audiences),
        "exclusive": definitions.exclusive,
        "sizes": dg.MetadataValue.json(build.sizes),
        "with_consent": dg.MetadataValue.json(build.consented),
        "skipped": dg.MetadataValue.json(build.skipped),
        "overlaps": dg.MetadataValue.md(
            "\n".join(
                ["| audience | audience | customers in both |", "|---|---|---|"]
                + [f"| {a} | {b} | {n:,} |" for a, b, n in build.overlaps]
            )
        ),
    }
    yield dg.MaterializeResult(
        asset_key=[SCHEMA, MEMBERS_TABLE],
        metadata={**summary, "dagster/row_count": sum(build.sizes.values())},
    )
    yield dg.MaterializeResult(
        asset_key=[SCHEMA, OVERLAPS_TABLE], metadata={"dagster/row_count": len(build.overlaps)}
    )
    yield dg.MaterializeResult(
        asset_key=[SCHEMA, AUDIENCES_TABLE],
        metadata={"dagster/row_count": len(definitions.audiences)},
    )
