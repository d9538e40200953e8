"""The raw landing zone: each raw source folder becomes a checked view in schema raw."""

import dagster as dg

from orchestration.raw_contract import CONTRACT
from orchestration.resources import WarehouseResource
from orchestration.warehouse import register_raw_sources

RAW_GROUP = "raw"
WAREHOUSE_POOL = "warehouse"  # DuckDB allows one writer: every warehouse-writing asset uses it


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            key=["raw", source.name],
            description=f"Raw {source.name}: {source.grain}.",
            group_name=RAW_GROUP,
            metadata={"required": source.required, "columns": ", ".join(source.columns)},
        )
        for source in CONTRACT.sources
    ],
    pool=WAREHOUSE_POOL,
)
def raw_sources(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Check the raw files against the contract and expose each source as a view."""
    settings = warehouse.settings()
    with warehouse.connect() as con:
        registered = register_raw_sources(con, settings.raw_dir)
    for source in registered:
        yield dg.MaterializeResult(
            asset_key=["raw", source.name],
            metadata={
                "dagster/row_count": source.rows,
                "files": len(source.files),
                "folder": dg.MetadataValue.path(str(settings.raw_dir / source.name)),
                "missing_optional_columns": ", ".join(source.missing_optional_columns) or "none",
                "ignored_extra_columns": ", ".join(source.extra_columns) or "none",
            },
        )
