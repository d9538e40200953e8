"""The raw landing zone: raw files (external, observed) -> checked views in schema raw.

Two layers of assets, one per raw source each:

- `raw_files/<source>` are *external* assets: the folders of exports that something outside
  this project writes. Dagster cannot materialise them, only observe them; an observation
  records the folder's fingerprint (file names, sizes, modification times) as the asset's data
  version, with the file count and size as metadata. Nothing is read and the warehouse is not
  touched, so observing needs no warehouse slot.
- `raw/<source>` are the views this project creates over those files after checking them
  against the raw contract. They are materialisable (they write to the warehouse, so they
  hold the `warehouse` pool) and they are what the dbt sources point at.

Keeping the two apart, rather than declaring the views themselves external, keeps lineage
honest (raw files -> raw views -> staging) and lets Dagster say *why* a view is stale: its
upstream folder has a new data version. A full build observes the folders first, then
registers the views, then runs dbt; the raw-files sensor uses the same fingerprint to decide
when to request that build.
"""

import warnings

import dagster as dg

from orchestration.assets.tables import WAREHOUSE_ENGINE, warehouse_table_spec
from orchestration.raw_contract import CONTRACT
from orchestration.raw_files import fingerprint_raw_dir
from orchestration.resources import WarehouseResource
from orchestration.warehouse import RAW_SCHEMA

RAW_GROUP = "raw"
RAW_FILES_PREFIX = "raw_files"
# DuckDB allows one writer, as does Spark's local Derby metastore: every warehouse-writing
# asset uses this pool.
WAREHOUSE_POOL = "warehouse"


def raw_files_key(source: str) -> dg.AssetKey:
    return dg.AssetKey([RAW_FILES_PREFIX, source])


# Observable source assets are still marked beta in Dagster 1.13; they are the documented way
# to give an external asset a data version, so the warning is noise at every load.
warnings.filterwarnings(
    "ignore", category=dg.BetaWarning, message=".*multi_observable_source_asset"
)


@dg.multi_observable_source_asset(
    specs=[
        dg.AssetSpec(
            key=raw_files_key(source.name),
            description=f"Raw {source.name} files ({source.grain}), written outside this project.",
            group_name=RAW_GROUP,
            kinds={"file"},
            metadata={"required": source.required},
        )
        for source in CONTRACT.sources
    ],
)
def raw_files(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Observe each raw folder: its fingerprint becomes the data version of the files."""
    raw_dir = warehouse.settings().raw_dir
    for name, fingerprint in fingerprint_raw_dir(raw_dir).items():
        yield dg.ObserveResult(
            asset_key=raw_files_key(name),
            data_version=dg.DataVersion(fingerprint.version),
            metadata={
                "files": fingerprint.files,
                "bytes": fingerprint.bytes,
                "last_modified": dg.MetadataValue.timestamp(fingerprint.last_modified)
                if fingerprint.last_modified
                else dg.MetadataValue.null(),
                "folder": dg.MetadataValue.path(str(raw_dir / name)),
            },
        )


@dg.multi_asset(
    specs=[
        warehouse_table_spec(
            RAW_SCHEMA,
            source.name,
            description=f"Raw {source.name}: {source.grain}.",
            group_name=RAW_GROUP,
            deps=[raw_files_key(source.name)],
            kinds=("python", WAREHOUSE_ENGINE, "view"),
            metadata={"required": source.required, "columns": ", ".join(source.columns)},
        )
        for source in CONTRACT.sources
    ],
    pool=WAREHOUSE_POOL,
)
def raw_sources(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Check the raw files against the contract and expose each source as a view."""
    settings = warehouse.settings()
    with warehouse.open() as opened:
        registered = opened.register_raw_sources(settings.raw_dir)
    for source in registered:
        yield dg.MaterializeResult(
            asset_key=[RAW_SCHEMA, source.name],
            metadata={
                "dagster/row_count": source.rows,
                "files": len(source.files),
                "folder": dg.MetadataValue.path(str(settings.raw_dir / source.name)),
                "missing_optional_columns": ", ".join(source.missing_optional_columns) or "none",
                "ignored_extra_columns": ", ".join(source.extra_columns) or "none",
                "unread_files": ", ".join(source.unread_files) or "none",
            },
        )
