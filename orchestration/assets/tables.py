"""The convention that keeps the asset graph connected across dbt and Python.

A Python asset that writes a warehouse table `S.T` is declared with `warehouse_table_spec(S, T)`:
its asset key is `[S, T]` and its metadata names the table. The same table is declared as a
dbt source (schema `S`, table `T`) whose `meta.dagster.asset_key` is `[S, T]`, so dagster-dbt
makes every model that selects from it a child of the Python asset: raw -> dbt -> Python -> dbt.
`tests/test_orchestration_graph.py` checks both halves for every non-dbt asset in the code
location, so a Python asset whose table is not (or wrongly) declared in dbt fails the suite
instead of leaving a hole in the lineage.

An asset that writes nothing to the warehouse (the published copy, exports, the HTML report)
says so with `writes_outside_warehouse` metadata instead, naming where its output goes.
"""

from collections.abc import Iterable, Mapping
from typing import Any

import dagster as dg

from orchestration.settings import Settings

# Dagster's documented metadata key for the table an asset lives in (shown in the UI).
TABLE_NAME_KEY = "dagster/table_name"
# Metadata key for assets whose output is not a warehouse table (a file, a published copy).
OUTSIDE_WAREHOUSE_KEY = "customer_profiles/writes_outside_warehouse"
# The engine holding the tables (CP_DBT_TARGET at load): shown as the assets' kind in the UI.
WAREHOUSE_ENGINE = Settings.from_env().target


def warehouse_table_key(schema: str, table: str) -> dg.AssetKey:
    return dg.AssetKey([schema, table])


def warehouse_table_spec(
    schema: str,
    table: str,
    *,
    description: str,
    group_name: str,
    deps: Iterable[dg.AssetDep | dg.AssetKey | dg.AssetSpec | dg.AssetsDefinition] = (),
    metadata: Mapping[str, Any] | None = None,
    kinds: Iterable[str] = ("python", WAREHOUSE_ENGINE),
) -> dg.AssetSpec:
    """The spec of a table a Python asset writes; declare the same table as a dbt source."""
    return dg.AssetSpec(
        key=warehouse_table_key(schema, table),
        description=description,
        group_name=group_name,
        deps=list(deps),
        kinds=set(kinds),
        metadata={**(metadata or {}), TABLE_NAME_KEY: f"{schema}.{table}"},
    )


def warehouse_table_of(spec_metadata: Mapping[str, Any]) -> tuple[str, str] | None:
    """(schema, table) an asset writes, from its metadata; None when it declares none."""
    table_name = spec_metadata.get(TABLE_NAME_KEY)
    if table_name is None:
        return None
    text = table_name.value if isinstance(table_name, dg.TextMetadataValue) else str(table_name)
    schema, _, table = text.rpartition(".")
    return schema, table
