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
from dagster_dbt.core.dbt_event_iterator import DbtEventIterator

from orchestration.assets.raw import WAREHOUSE_POOL
from orchestration.project import dbt_project
from orchestration.resources import AsOfDate
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
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, as_of: AsOfDate):
    """Build the dbt models and run their tests (tests report as asset checks)."""
    if Settings.from_env().target == "spark":
        yield from _build_on_spark(context, dbt, as_of)
        return
    build = dbt.cli(_build_args(as_of), context=context)
    # The metadata fetches below query the relations through dbt's own adapter in this
    # process, so with DuckDB they must wait for dbt to exit (it holds the file). dagster-dbt
    # waits in a loop that never sleeps: a whole core spun for as long as dbt ran, on a
    # machine of two. So the events are collected first (reading dbt's output blocks), then
    # the fetches run over the finished list. When dbt fails, the models it built still
    # report (a rerun from the failure starts after them), then the step fails.
    # Column schemas, not column lineage: lineage re-parses every compiled model with sqlglot,
    # which took most of the step on this project's large generated models (and cannot
    # follow the identity work tables at all).
    received: list[Any] = []
    failure: Exception | None = None
    try:
        try:
            for event in build.stream():
                received.append(event)
        except Exception as error:
            failure = error
        events = DbtEventIterator(iter(received), dbt_cli_invocation=build)
        for event in events.fetch_row_counts().fetch_column_metadata(with_column_lineage=False):
            yield _with_documented_columns(build, _with_view_row_count(build, event))
    finally:
        _close_adapter(build)
    if failure is not None:
        raise failure


def _build_args(as_of: AsOfDate) -> list[str]:
    """`dbt build`, with `--vars` only when the run sets some (see AsOfDate.dbt_vars)."""
    variables = as_of.dbt_vars()
    return ["build", *(["--vars", json.dumps(variables)] if variables else [])]


def _close_adapter(invocation: DbtCliInvocation) -> None:
    """Close the warehouse the fetches above opened through dbt's adapter in this process.

    Steps share one process (jobs.warehouse_writer_executor), and dbt-duckdb keeps its
    database open at class level after its connections are released: left open, the next
    step's dbt (a subprocess) or Python model would find the file locked.
    """
    adapter = invocation.adapter
    if adapter is None:
        return
    adapter.cleanup_connections()
    manager = type(adapter.connections)
    environment = getattr(manager, "_ENV", None)
    if environment is not None:
        environment.close()
        manager.close_all_connections()


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


def _with_view_row_count(invocation: DbtCliInvocation, event: Any) -> Any:
    """Row counts for views too: dagster-dbt counts tables only, and this project's views
    (staging) are projections over Parquet, which DuckDB counts from the file footers."""
    if not isinstance(event, dg.Output | dg.AssetMaterialization):
        return event
    node = _node_of(invocation, event)
    if node is None or "dagster/row_count" in event.metadata or invocation.adapter is None:
        return event
    if node["config"].get("materialized") != "view":
        return event
    adapter = invocation.adapter
    try:
        with adapter.connection_named(f"row_count_{node['unique_id']}"):
            _, table = adapter.execute(f"select count(*) from {node['relation_name']}", fetch=True)
    except Exception as exc:  # metadata is a nicety: never fail a build over it
        dg.get_dagster_logger().warning(f"row count of {node['relation_name']} failed: {exc}")
        return event
    return event.with_metadata({**event.metadata, "dagster/row_count": int(table[0][0])})


def _with_documented_columns(invocation: DbtCliInvocation, event: Any) -> Any:
    """Put the yml column descriptions back on the column schema read from the warehouse,
    so the UI shows each column's type *and* meaning on every materialisation."""
    schema = getattr(event, "metadata", {}).get("dagster/column_schema")
    node = _node_of(invocation, event) if schema is not None else None
    if node is None:
        return event
    documented = {name.lower(): c.get("description") for name, c in node["columns"].items()}
    columns = [
        dg.TableColumn(
            name=column.name,
            type=column.type,
            description=column.description or documented.get(column.name.lower()) or None,
            constraints=column.constraints,
            tags=column.tags,
        )
        for column in schema.schema.columns
    ]
    described = dg.MetadataValue.table_schema(dg.TableSchema(columns=columns))
    return event.with_metadata({**event.metadata, "dagster/column_schema": described})


def dbt_model_key(model_name: str) -> dg.AssetKey:
    """The asset key of a dbt model or seed, for a Python asset's `deps`."""
    return get_asset_key_for_model([dbt_models], model_name)


def dbt_model_relation(model_name: str) -> str:
    """The `schema.table` a dbt model builds, from the manifest, for a Python asset to read."""
    for node in _manifest()["nodes"].values():
        if node["resource_type"] == "model" and node["name"] == model_name:
            return f"{node['schema']}.{node.get('alias') or node['name']}"
    raise KeyError(f"the dbt manifest has no model {model_name!r}")


@functools.cache
def _manifest() -> Mapping[str, Any]:
    return json.loads(dbt_project.manifest_path.read_text())
