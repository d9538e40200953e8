"""Every dbt model, seed and test as Dagster assets and checks."""

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)

from orchestration.assets.raw import WAREHOUSE_POOL
from orchestration.project import dbt_project


class CustomerProfilesTranslator(DagsterDbtTranslator):
    """Groups follow the dbt layer folder (fqn), unless a model's meta names a group."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        group = super().get_group_name(dbt_resource_props)
        if group:
            return group
        fqn = dbt_resource_props.get("fqn", [])
        # fqn = [project, layer, ...] for models; seeds sit at [project, seed_name]
        if dbt_resource_props.get("resource_type") == "seed":
            return "reference"
        return fqn[1] if len(fqn) > 2 else None


translator = CustomerProfilesTranslator(
    settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
)


@dbt_assets(
    manifest=dbt_project.manifest_path, dagster_dbt_translator=translator, pool=WAREHOUSE_POOL
)
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """Build the dbt models and run their tests (tests report as asset checks)."""
    yield from dbt.cli(["build"], context=context).stream().fetch_row_counts()
