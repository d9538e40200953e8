"""The Dagster code location: one connected graph, single writer, schedule and run config."""

import importlib.metadata
import inspect
import json
from datetime import datetime
from functools import cached_property
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest
from dagster_dbt import DagsterDbtProjectPreparer, DbtCliResource, get_asset_key_for_model
from packaging.version import Version

from orchestration.assets.dbt import dbt_model_key, dbt_models, relation_metadata, translator
from orchestration.assets.raw import WAREHOUSE_POOL, raw_files, raw_sources
from orchestration.assets.tables import OUTSIDE_WAREHOUSE_KEY, warehouse_table_of
from orchestration.definitions import defs
from orchestration.instance import INSTANCE_CONFIG, ensure_instance
from orchestration.jobs import WAREHOUSE_WRITER_TAG, WAREHOUSE_WRITER_VALUE
from orchestration.project import ManifestPreparer, dbt_project
from orchestration.raw_contract import CONTRACT
from orchestration.resources import DbtCli, WarehouseResource
from orchestration.settings import Settings


@pytest.fixture(scope="module")
def graph():
    return defs.resolve_asset_graph()


def _dbt_sources() -> list[tuple[dict, dg.AssetKey]]:
    """Every dbt source with the asset key dagster-dbt gives it (from meta.dagster.asset_key)."""
    manifest = json.loads(dbt_project.manifest_path.read_text())
    return [
        (source, translator.get_asset_spec(manifest, unique_id, dbt_project).key)
        for unique_id, source in manifest["sources"].items()
    ]


def _non_dbt_materializable(graph):
    return [
        graph.get(key)
        for key in graph.materializable_asset_keys
        if key not in dbt_models.keys and not graph.get(key).is_external
    ]


def test_every_upstream_of_every_asset_is_defined_in_the_code_location(graph):
    undefined = {
        f"{parent.to_user_string()} (needed by {key.to_user_string()})"
        for key in graph.get_all_asset_keys()
        for parent in graph.get(key).parent_keys
        if not graph.get(parent).is_executable
    }
    assert not undefined, (
        "upstream assets nobody produces or observes: declare the table's producer with"
        f" warehouse_table_spec, or map the dbt source to it: {sorted(undefined)}"
    )


def test_lineage_runs_from_raw_files_through_raw_views_into_staging(graph):
    for source in CONTRACT.sources:
        view = dg.AssetKey(["raw", source.name])
        assert graph.get(view).parent_keys == {dg.AssetKey(["raw_files", source.name])}
        children = graph.get(view).child_keys
        assert children and children <= dbt_models.keys, f"nothing in dbt reads {view}"
    assert {graph.get(k).is_observable for k in raw_files.keys} == {True}
    assert {graph.get(k).is_materializable for k in raw_files.keys} == {False}


def test_every_table_a_python_asset_writes_is_a_dbt_source_mapped_to_that_asset(graph):
    sources = {(s["schema"], s["identifier"]): (s, key) for s, key in _dbt_sources()}
    python_assets = _non_dbt_materializable(graph)
    assert raw_sources.keys <= {node.key for node in python_assets}
    for node in python_assets:
        table = warehouse_table_of(node.metadata)
        if table is None:
            assert OUTSIDE_WAREHOUSE_KEY in node.metadata, (
                f"{node.key.to_user_string()} declares neither the warehouse table it writes"
                " (use warehouse_table_spec) nor where else its output goes"
            )
            continue
        assert table in sources, (
            f"{node.key.to_user_string()} writes {'.'.join(table)}, which no dbt source declares"
        )
        source, mapped = sources[table]
        assert mapped == node.key, (
            f"dbt source {source['source_name']}.{source['name']} ({'.'.join(table)}) maps to"
            f" {mapped.to_user_string()}, but the asset writing it is"
            f" {node.key.to_user_string()}: set meta.dagster.asset_key to {list(node.key.path)}"
        )


def test_every_dbt_source_is_written_by_a_python_asset_that_declares_the_same_table(graph):
    written = {
        warehouse_table_of(node.metadata): node.key for node in _non_dbt_materializable(graph)
    }
    for source, key in _dbt_sources():
        assert written.get((source["schema"], source["identifier"])) == key, (
            f"dbt source {source['unique_id']} ({source['schema']}.{source['identifier']}) is"
            f" not the declared output of asset {key.to_user_string()}"
        )


def test_the_full_build_job_runs_every_asset_once_in_dependency_order(graph):
    job = defs.resolve_job_def("full_build")
    assert job.asset_layer.selected_asset_keys == graph.get_all_asset_keys()
    ops = [node.name for node in job.nodes_in_topological_order]
    assert len(ops) == len(set(ops))
    assert ops.index(raw_files.op.name) < ops.index(raw_sources.op.name)
    assert ops.index(raw_sources.op.name) < ops.index(dbt_models.op.name)
    assert job.tags[WAREHOUSE_WRITER_TAG] == WAREHOUSE_WRITER_VALUE


def test_python_assets_find_dbt_models_by_name_through_the_manifest(graph):
    key = dbt_model_key("stg_commerce__orders")
    assert key in dbt_models.keys and graph.get(key).group_name == "staging"
    with pytest.raises(KeyError, match="no_such_model"):
        dbt_model_key("no_such_model")


def test_every_dbt_test_is_an_asset_check_on_the_model_it_tests():
    manifest = json.loads(dbt_project.manifest_path.read_text())
    tests = [n for n in manifest["nodes"].values() if n["resource_type"] == "test"]
    checks = {check.name: check.asset_key for check in dbt_models.check_specs}
    assert tests
    for test in tests:
        assert test["name"] in checks, (
            f"dbt test {test['name']} is not an asset check: a singular test reading several"
            " models must name the one it checks, config(meta={'dagster': {'ref': {'name': ...}}})"
        )
        if test.get("attached_node"):
            model = manifest["nodes"][test["attached_node"]]["name"]
            assert checks[test["name"]] == get_asset_key_for_model([dbt_models], model)


def test_only_assets_that_write_the_warehouse_wait_for_its_single_slot(tmp_path):
    assert raw_sources.op.pool == WAREHOUSE_POOL
    assert dbt_models.op.pool == WAREHOUSE_POOL
    assert raw_files.op.pool is None

    home = tmp_path / "dagster"
    settings = Settings(tmp_path / "raw", tmp_path / "w.duckdb", home, 1, "1GB", "test-salt")
    ensure_instance(settings)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        concurrency = instance.get_concurrency_config()
        assert concurrency.pool_config.default_pool_limit == 1
        limits = concurrency.run_queue_config.tag_concurrency_limits
        assert {"key": WAREHOUSE_WRITER_TAG, "value": WAREHOUSE_WRITER_VALUE, "limit": 1} in limits


def test_an_instance_config_the_user_wrote_is_kept_and_an_outdated_managed_one_refreshed(tmp_path):
    settings = Settings(
        tmp_path / "raw", tmp_path / "w.duckdb", tmp_path / "home", 1, "1GB", "test-salt"
    )
    config = ensure_instance(settings)
    config.write_text(INSTANCE_CONFIG.replace("default_limit: 1", "default_limit: 3"))
    ensure_instance(settings)
    assert config.read_text() == INSTANCE_CONFIG
    config.write_text("telemetry:\n  enabled: false\n")
    ensure_instance(settings)
    assert config.read_text() == "telemetry:\n  enabled: false\n"


def test_the_daily_refresh_runs_the_full_build_at_six_in_shanghai_with_as_of_date_from_data():
    schedule = defs.resolve_schedule_def("daily_refresh")
    assert schedule.execution_timezone == "Asia/Shanghai"
    assert schedule.cron_schedule == "0 6 * * *"
    assert schedule.job_name == "full_build"
    tick = datetime(2026, 1, 5, 6, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    context = dg.build_schedule_context(scheduled_execution_time=tick)
    (request,) = schedule.evaluate_tick(context).run_requests
    assert request.run_config["resources"]["as_of"]["config"]["as_of_date"] is None
    assert dg.validate_run_config(defs.resolve_job_def("full_build"), request.run_config)


@pytest.mark.parametrize(
    ("as_of_date", "dbt_vars"),
    [(None, {}), ("2025-06-30", {"as_of_date": "2025-06-30"})],
)
def test_as_of_date_is_run_config_passed_to_dbt_as_a_var(as_of_date, dbt_vars):
    from orchestration.resources import AsOfDate

    run_config = {"resources": {"as_of": {"config": {"as_of_date": as_of_date}}}}
    assert dg.validate_run_config(defs.resolve_job_def("full_build"), run_config)
    assert AsOfDate(as_of_date=as_of_date).dbt_vars() == dbt_vars


def test_an_as_of_date_that_is_not_a_date_is_refused():
    from orchestration.resources import AsOfDate

    with pytest.raises(ValueError, match="as_of_date"):
        AsOfDate(as_of_date="31/12/2025")


def test_metadata_a_relation_cannot_give_is_left_out_and_never_fails_the_build(tmp_path):
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create schema marts; create table marts.kept as select * from range(2) t(a)")
    con.close()
    documented = {"a": {"description": "a number"}}
    nodes = {
        f"model.p.{name}": {"schema": "marts", "name": name, "columns": documented}
        for name in ("kept", "never_built")
    }
    described = relation_metadata(nodes, WarehouseResource(warehouse_path=str(path)))
    assert list(described) == ["model.p.kept"]
    assert described["model.p.kept"]["dagster/row_count"] == 2
    (column,) = described["model.p.kept"]["dagster/column_schema"].schema.columns
    assert (column.name, column.type, column.description) == ("a", "BIGINT", "a number")
    missing = WarehouseResource(warehouse_path=str(tmp_path / "no_such.duckdb"))
    assert relation_metadata(nodes, missing) == {}


def test_the_dbt_resource_skips_only_start_up_work_the_dbt_steps_never_use():
    """DbtCli and ManifestPreparer override private members of dagster-dbt. Should an upgrade
    rename them, the overrides would silently stop saving anything (or the preparer stop
    marking seeds stale): check that dagster-dbt still has and uses them, and that the
    shortcut gives the version `dbt --version` gives."""
    assert isinstance(DbtCliResource.__dict__.get("_cli_version"), cached_property)
    assert callable(DbtCliResource.__dict__.get("_initialize_dbt_core_adapter"))
    assert "_initialize_dbt_core_adapter(" in inspect.getsource(DbtCliResource.cli)
    assert "self._prepare_manifest" in inspect.getsource(DagsterDbtProjectPreparer.prepare)
    assert "_invalidate_seeds_in_partial_parse(" in inspect.getsource(
        DagsterDbtProjectPreparer._prepare_manifest
    )
    assert issubclass(ManifestPreparer, DagsterDbtProjectPreparer)
    dbt = defs.resources["dbt"]
    assert isinstance(dbt, DbtCli)
    assert dbt._initialize_dbt_core_adapter(["build"]) is None
    from_cli = DbtCliResource(project_dir=dbt.project_dir)._cli_version  # runs `dbt --version`
    assert dbt._cli_version == from_cli == Version(importlib.metadata.version("dbt-core"))
