"""The one Dagster code location: raw files -> raw views -> dbt -> (Python models) -> dbt -> publish."""

import dagster as dg

from orchestration.assets.audiences import audiences
from orchestration.assets.churn import churn_scores
from orchestration.assets.dbt import dbt_models
from orchestration.assets.publish import profile_report, published_tables
from orchestration.assets.raw import raw_files, raw_sources
from orchestration.assets.segments import customer_segments
from orchestration.assets.value import customer_value
from orchestration.jobs import full_build, warehouse_writer_executor
from orchestration.project import dbt_project
from orchestration.resources import AsOfDate, DbtCli, WarehouseResource
from orchestration.schedules import daily_refresh
from orchestration.sensors import raw_files_sensor

defs = dg.Definitions(
    assets=[
        raw_files,
        raw_sources,
        dbt_models,
        customer_value,
        churn_scores,
        customer_segments,
        audiences,
        published_tables,
        profile_report,
    ],
    jobs=[full_build],
    schedules=[daily_refresh],
    sensors=[raw_files_sensor],
    # Ad-hoc materialisations from the UI take the warehouse writer lock too, like full_build.
    executor=warehouse_writer_executor,
    resources={
        "dbt": DbtCli(project_dir=dbt_project),
        "warehouse": WarehouseResource(),
        "as_of": AsOfDate(),
    },
)
