"""Every dbt model, seed and test as Dagster assets and checks.

Keys and groups come from the dbt manifest, never from model names: a model's key is
`[schema, name]` (dagster-dbt's default for a model with a configured schema), a source's key
is its `meta.dagster.asset_key` (which is how raw views and Python outputs join the graph), and
a model's group is its layer folder in `fqn` unless its yml names one. dbt tests become asset
checks on the model they test, named after the test; a failing `error`-severity test is a
blocking check, so nothing downstream of the model runs on data that failed it.
"""

import functools
import json
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliInvocation,
    DbtCliResource,
    dbt_assets,
    get_asset_key_for_model,
)

from orchestration.assets.raw import WAREHOUSE_POOL
from orchestration.project import dbt_project
from orchestration.resources import AsOfDate, WarehouseResource
from orchestration.settings import Settings
from orchestration.spark import stop_spark_session, wait_for_metastore


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
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=translator,
    pool=WAREHOUSE_POOL,
)
def dbt_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    as_of: AsOfDate,
    warehouse: WarehouseResource,
):
    """Build the dbt models and run their tests (tests report as asset checks)."""
    if Settings.from_env().target == "spark":
        yield from _build_on_spark(context, dbt, as_of)
        return
    build = dbt.cli(_build_args(as_of), context=context)
    # Each built relation's row count and column schema are read once dbt has exited (it
    # holds the DuckDB file while it runs), so its events are collected first (reading its
    # output blocks). They are read on one connection of this process, not with dagster-dbt's
    # fetch_row_counts / fetch_column_metadata: those start a dbt adapter in this process
    # (loading every macro) and send each query through it, which cost about 1 s per dbt
    # step, 7 s in the main one, on any data size. When dbt fails, the models it built still
    # report (a rerun from the failure starts after them), then the step fails.
    received: list[Any] = []
    failure: Exception | None = None
    try:
        for event in build.stream():
            received.append(event)
    except Exception as error:
        failure = error
    yield from _with_warehouse_metadata(build, received, warehouse)
    if failure is not None:
        raise failure


def _build_args(as_of: AsOfDate) -> list[str]:
    """`dbt build`, with `--vars` only when the run sets some (see AsOfDate.dbt_vars)."""
    variables = as_of.dbt_vars()
    return ["build", *(["--vars", json.dumps(variables)] if variables else [])]


def _build_on_spark(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, as_of: AsOfDate
) -> Iterator[Any]:
    """dbt on Spark (`method: session`: the JVM runs inside the dbt process), with none of
    the metadata queries above: they go through an adapter in this process, which would
    start a second JVM on the Derby metastore while dbt's holds it (Derby admits one).
    So dbt models carry no row counts or column schemas on Spark."""
    stop_spark_session()  # this process's own JVM, if an earlier step in it started one
    spark_dir = Settings.from_env().spark_dir
    waited = wait_for_metastore(spark_dir, say=context.log.info)
    if waited >= 1:
        context.log.info(f"waited {waited:.0f} s for the last step's JVM to release the metastore")
    build = dbt.cli(_build_args(as_of), context=context)
    yield from build.stream()


def _node_of(invocation: DbtCliInvocation, event: Any) -> Mapping[str, Any] | None:
    unique_id = event.metadata.get("unique_id")
    if unique_id is None:
        return None
    return invocation.manifest["nodes"].get(getattr(unique_id, "text", unique_id))


def _relation(node: Mapping[str, Any]) -> str:
    """`schema.table` of a model or seed, without the database (named after the file)."""
    return f"{node['schema']}.{node.get('alias') or node['name']}"


def _built_node(invocation: DbtCliInvocation, event: Any) -> Mapping[str, Any] | None:
    """The model or seed a materialisation event reports, if it left a relation."""
    if not isinstance(event, dg.Output | dg.AssetMaterialization):
        return None
    node = _node_of(invocation, event)
    if node is None or node["config"].get("materialized") == "ephemeral":
        return None
    return node


def _with_warehouse_metadata(
    invocation: DbtCliInvocation, events: list[Any], warehouse: WarehouseResource
) -> Iterator[Any]:
    """The events, each model's and seed's with its row count and its column schema as the
    warehouse has it (views counted too)."""
    nodes = [_built_node(invocation, event) for event in events]
    described = relation_metadata({n["unique_id"]: n for n in nodes if n}, warehouse)
    for event, node in zip(events, nodes, strict=True):
        if node is not None and node["unique_id"] in described:
            event = event.with_metadata({**event.metadata, **described[node["unique_id"]]})
        yield event


def relation_metadata(
    nodes: Mapping[str, Mapping[str, Any]], warehouse: WarehouseResource
) -> dict[str, dict[str, Any]]:
    """Row count and documented column schema of each node's relation, by unique_id. Metadata
    is a nicety: what cannot be read is logged and left out, never failing the build."""
    described: dict[str, dict[str, Any]] = {}
    if not nodes:
        return described
    log = dg.get_dagster_logger()
    try:
        with warehouse.open(read_only=True) as opened:
            for unique_id, node in nodes.items():
                relation = _relation(node)
                try:
                    described[unique_id] = {
                        "dagster/row_count": int(opened.scalar(f"select count(*) from {relation}")),
                        "dagster/column_schema": _documented_schema(node, opened.columns(relation)),
                    }
                except Exception as exc:
                    log.warning(f"no row count or column schema for {relation}: {exc}")
    except Exception as exc:
        log.warning(f"no row counts or column schemas: the warehouse did not open: {exc}")
    return described


def _documented_schema(
    node: Mapping[str, Any], columns: list[tuple[str, str]]
) -> dg.TableSchemaMetadataValue:
    """The columns as the warehouse has them, with the yml descriptions, so the UI shows each
    column's type *and* meaning on every materialisation."""
    documented = {name.lower(): c.get("description") for name, c in node["columns"].items()}
    return dg.MetadataValue.table_schema(
        dg.TableSchema(
            columns=[
                dg.TableColumn(
                    name=name, type=kind, description=documented.get(name.lower()) or None
                )
                for name, kind in columns
            ]
        )
    )


def dbt_model_key(model_name: str) -> dg.AssetKey:
    """The asset key of a dbt model or seed, for a Python asset's `deps`."""
    return get_asset_key_for_model([dbt_models], model_name)


def dbt_model_relation(model_name: str) -> str:
    """The `schema.table` a dbt model builds, from the manifest, for a Python asset to read."""
    for node in _manifest()["nodes"].values():
        if node["resource_type"] == "model" and node["name"] == model_name:
            return _relation(node)
    raise KeyError(f"the dbt manifest has no model {model_name!r}")


@functools.cache
def _manifest() -> Mapping[str, Any]:
    return json.loads(dbt_project.manifest_path.read_text())
