"""The end of the graph: publish the public tables for BI, then draw the report from them."""

import json

import dagster as dg
from pydantic import Field

from orchestration.assets.dbt import dbt_model_key
from orchestration.assets.raw import WAREHOUSE_POOL
from orchestration.assets.tables import OUTSIDE_WAREHOUSE_KEY
from orchestration.project import dbt_project
from orchestration.publish import (
    CURRENT_LINK,
    DATABASE_NAME,
    Published,
    public_tables,
    publish,
)
from orchestration.report import build_report, report_path
from orchestration.resources import WarehouseResource
from orchestration.settings import Settings

PUBLISH_GROUP = "publish"

# The public marker is read from the manifest once, at load: the same list for the asset's
# deps (a model marked public later joins them on the next load) and for what it copies.
_PUBLIC = public_tables(json.loads(dbt_project.manifest_path.read_text()))
_published_dir = Settings.from_env().published_dir


class PublishConfig(dg.Config):
    keep_parquet_versions: int = Field(
        default=2,
        description=(
            "Parquet versions kept: the current one and the one before, so a reader that"
            " resolved the `current` link just before a swap can finish its scan."
        ),
    )


@dg.asset(
    group_name=PUBLISH_GROUP,
    deps=[dbt_model_key(table.dbt_model) for table in _PUBLIC if table.dbt_model],
    # It only reads the warehouse, but DuckDB lets no reader in while another process writes:
    # waiting for the warehouse slot makes it run when no writer does.
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "parquet"},
    metadata={
        OUTSIDE_WAREHOUSE_KEY: str(_published_dir),
        "public_tables": ", ".join(table.name for table in _PUBLIC),
    },
)
def published_tables(
    context: dg.AssetExecutionContext, config: PublishConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Copy the public tables into a read-only DuckDB file and Parquet for BI, swapped atomically."""
    settings = warehouse.settings()
    options = {
        "run_id": context.run.run_id,
        "keep_versions": config.keep_parquet_versions,
        "duckdb_config": {"threads": settings.threads, "memory_limit": settings.memory_limit},
    }
    if settings.target == "duckdb":
        # DuckDB copies straight from the attached warehouse file, faster than any batches.
        published = publish(settings.warehouse_path, settings.published_dir, _PUBLIC, **options)
    else:
        with warehouse.open(read_only=True) as opened:
            published = publish(
                settings.warehouse_path, settings.published_dir, _PUBLIC, source=opened, **options
            )
    context.log.info(f"published version {published.version} to {published.database_path}")
    return dg.MaterializeResult(metadata=_publish_metadata(published))


def _publish_metadata(published: Published) -> dict[str, dg.MetadataValue]:
    rows = "\n".join(f"| {name} | {count:,} |" for name, count in published.row_counts.items())
    parquet = published.parquet_dir.parent / CURRENT_LINK
    return {
        "version": dg.MetadataValue.text(published.version),
        "run_id": dg.MetadataValue.text(published.run_id or ""),
        "as_of_date": dg.MetadataValue.text(str(published.as_of_date)),
        "database": dg.MetadataValue.path(str(published.database_path)),
        "parquet": dg.MetadataValue.path(str(parquet)),
        "tables": dg.MetadataValue.int(len(published.row_counts)),
        "row_counts": dg.MetadataValue.md(f"| table | rows |\n|---|---:|\n{rows}"),
    }


@dg.asset(
    group_name=PUBLISH_GROUP,
    deps=[published_tables],
    kinds={"html"},
    metadata={OUTSIDE_WAREHOUSE_KEY: str(report_path(_published_dir))},
)
def profile_report(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Draw the marketer's HTML report (segments, RFM, lifecycle, churn, CLV, tags, audiences)."""
    published_dir = warehouse.settings().published_dir
    # From the published copy, not the warehouse: the report shows exactly what BI sees, and
    # needs no warehouse slot.
    report = build_report(published_dir / DATABASE_NAME, report_path(published_dir).parent)
    metadata: dict[str, dg.MetadataValue] = {
        "report": dg.MetadataValue.path(str(report.path)),
        "open": dg.MetadataValue.url(report.path.resolve().as_uri()),
        "version": dg.MetadataValue.text(report.version),
    }
    for name, value in report.headline.items():
        if value is None:
            continue
        metadata[name] = (
            dg.MetadataValue.int(value) if isinstance(value, int) else dg.MetadataValue.float(value)
        )
    return dg.MaterializeResult(metadata=metadata)
