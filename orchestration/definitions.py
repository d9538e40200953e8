"""The one Dagster code location: raw files -> dbt -> (Python models, publish as they land)."""

import dagster as dg
from dagster_dbt import DbtCliResource

from orchestration.assets.dbt import dbt_models
from orchestration.assets.raw import raw_sources
from orchestration.project import dbt_project
from orchestration.resources import WarehouseResource

# Everything, in dependency order: what `make run` and the UI's "Materialize all" run.
full_build = dg.define_asset_job("full_build", selection=dg.AssetSelection.all())

defs = dg.Definitions(
    assets=[raw_sources, dbt_models],
    jobs=[full_build],
    resources={
        "dbt": DbtCliResource(project_dir=dbt_project),
        "warehouse": WarehouseResource(),
    },
)
