"""End to end: the CLI builds the Dagster asset graph (raw views + dbt) on generated data."""

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from orchestration.raw_contract import CONTRACT
from orchestration.settings import PROJECT_DIR

CLI = str(Path(sys.executable).with_name("customer-profiles"))


@pytest.fixture(scope="module")
def built(small_pipeline):
    """The session's pipeline run on the small dataset (tests/conftest.py)."""
    return small_pipeline


STAGED = {
    "customers": "stg_crm__customers",
    "identity_links": "stg_identity__links",
    "orders": "stg_commerce__orders",
    "order_items": "stg_commerce__order_items",
    "events": "stg_behaviour__events",
    "support_tickets": "stg_service__tickets",
    "campaign_touches": "stg_marketing__campaign_touches",
    "surveys": "stg_service__surveys",
}


def test_every_raw_row_is_staged_or_quarantined_and_every_planted_bad_row_is_caught(
    built, small_dataset
):
    root, _ = built
    manifest = json.loads((small_dataset / "truth" / "manifest.json").read_text())
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    assert set(STAGED) == set(CONTRACT.names)
    for source, model in STAGED.items():
        files = f"read_parquet('{small_dataset / 'raw' / source}/*.parquet')"
        generated = con.execute(f"select count(*) from {files}").fetchone()[0]
        staged = con.execute(f"select count(*) from staging.{model}").fetchone()[0]
        quarantined = con.execute(
            "select count(*) from audit.quarantine_rows where source_name = ?", [source]
        ).fetchone()[0]
        assert staged + quarantined == generated, source
        assert quarantined >= sum(manifest["bad_rows"][source].values()), source
    # Only hashes of PII leave staging: no raw phone number reaches a mart.
    phones = con.execute(
        "select count(*) from marts.customer_360 where regexp_matches(name_hash, '^1[0-9]{10}$')"
    ).fetchone()[0]
    assert phones == 0
    con.close()


def test_every_tag_value_has_an_english_name_except_open_names(built):
    # The segments' English names come from customer_segments; the values for none (未知,
    # 未购买) of open tags from a var. Cities, brands and categories are names already.
    con = duckdb.connect(str(built[0] / "warehouse.duckdb"), read_only=True)
    try:
        untranslated = con.execute(
            "select distinct tag_code, tag_value from marts.customer_tags"
            " where tag_value_en = tag_value and (tag_code = 'segment'"
            " or tag_value in ('未知', '未购买'))"
        ).fetchall()
        segments = con.execute(
            "select count(*) from marts.customer_tags as tags"
            " inner join marts.customer_segments as segments using (customer_id)"
            " where tags.tag_code = 'segment' and tags.tag_value_en <> segments.segment_name_en"
        ).fetchone()[0]
    finally:
        con.close()
    assert untranslated == []
    assert segments == 0


def test_the_run_prints_a_summary_and_records_the_run_for_the_ui(built):
    root, stdout = built
    assert "pipeline finished" in stdout
    assert "staging.stg_commerce__orders" in stdout
    assert any((root / "dagster").rglob("*.db")), "no run storage in DAGSTER_HOME"


def test_evaluate_writes_metrics_that_match_the_generated_data(built, small_dataset, tmp_path):
    root, _ = built
    out = tmp_path / "metrics.json"
    result = subprocess.run(
        [CLI, "evaluate", "--truth", str(small_dataset / "truth"), "--out", str(out),
         "--warehouse", str(root / "warehouse.duckdb")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    metrics = json.loads(out.read_text())
    assert metrics["basic"]["persons_generated"] == 1_500
    for source in CONTRACT.names:
        assert (
            metrics["raw"][f"raw_rows_{source}"] == metrics["raw"][f"raw_rows_{source}_generated"]
        )
    assert "raw_rows_orders" in result.stdout
    # OneID against the generator's ground truth (the targets on default data).
    assert metrics["identity"]["identity_precision"] >= 0.99
    assert metrics["identity"]["identity_recall"] >= 0.97
    assert metrics["basic"]["customers_found_over_persons"] == pytest.approx(1.0, abs=0.03)
    # Lookalikes seeded with half of each planted persona find the other half well above its
    # base rate (on the default 20k sample every persona clears 3x; here, their mean does).
    lookalike = metrics["lookalike"]
    assert lookalike["lookalike_precision_at_n"] >= 3 * lookalike["lookalike_base_rate"]
    # Every campaign's read-out for all customers holds the generator's true uplift (too few
    # customers here for cells by persona: the default sample reports those).
    campaigns = metrics["campaigns"]
    assert campaigns["uplift_campaigns_evaluated"] >= 10
    assert campaigns["uplift_ci_coverage_all_customers"] >= 0.9


def test_the_asset_graph_connects_raw_files_through_staging_to_marts(built):
    from dagster_dbt import get_asset_key_for_model

    from orchestration.assets.dbt import dbt_models
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {f"raw/{s}" for s in CONTRACT.names} <= keys
    checked = get_asset_key_for_model([dbt_models], "base_commerce__orders")
    assert {p.to_user_string() for p in graph.get(checked).parent_keys} >= {"raw/orders"}
    orders = graph.get(get_asset_key_for_model([dbt_models], "stg_commerce__orders"))
    assert set(orders.parent_keys) == {checked}
    assert orders.group_name == "staging"
    customer_360 = graph.get(get_asset_key_for_model([dbt_models], "customer_360"))
    assert customer_360.group_name == "marts"


def test_dbt_materialisations_carry_row_counts_and_documented_column_schemas(built):
    """What the UI shows on a dbt model's or seed's page, views included: its row count and
    its columns as the warehouse has them, each with its yml description."""
    import dagster as dg
    from dagster_dbt import get_asset_key_for_model

    from orchestration.assets.dbt import dbt_models

    root, _ = built
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    with dg.DagsterInstance.from_config(str(root / "dagster")) as instance:
        for model, relation in [
            ("customer_360", "marts.customer_360"),  # a table
            ("stg_commerce__orders", "staging.stg_commerce__orders"),  # a view
            ("enum_mappings", "reference.enum_mappings"),  # a seed
        ]:
            key = get_asset_key_for_model([dbt_models], model)
            metadata = instance.get_latest_materialization_event(key).asset_materialization.metadata
            rows = con.execute(f"select count(*) from {relation}").fetchone()[0]
            assert rows > 0 and metadata["dagster/row_count"].value == rows, model
            columns = metadata["dagster/column_schema"].value.columns
            described = con.execute(f"describe {relation}").fetchall()
            assert [(c.name, c.type) for c in columns] == [(r[0], r[1]) for r in described]
            assert all(c.description for c in columns), f"{model}: a column has no description"
    con.close()


def test_dbt_sources_declare_exactly_the_raw_contract():
    declared = {}
    for path in (PROJECT_DIR / "models").rglob("*__sources.yml"):
        for source in yaml.safe_load(path.read_text())["sources"]:
            if source.get("schema") != "raw":
                continue  # Python models' outputs (schema ml) are sources too
            for table in source["tables"]:
                declared[table["name"]] = {c["name"] for c in table["columns"]}
                assert table["meta"]["dagster"]["asset_key"] == ["raw", table["name"]]
    assert declared == {s.name: set(s.columns) for s in CONTRACT.sources}


def test_a_run_that_skipped_steps_or_left_assets_unwritten_is_not_finished():
    """Dagster reports success when a step skipped; `customer-profiles run` must not."""
    import dagster as dg

    from orchestration.pipeline import unfinished

    @dg.multi_asset(
        outs={"written": dg.AssetOut(is_required=False), "lost": dg.AssetOut(is_required=False)},
        can_subset=True,
    )
    def models():
        yield dg.Output(1, output_name="written")  # "lost": an output whose event went missing

    @dg.asset(deps=["lost"])
    def downstream():
        return 1

    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([models, downstream], instance=instance)
        assert result.success  # what Dagster says
        left_out = unfinished(instance, result.run_id)
        assert "skipped steps: downstream" in left_out
        assert "assets not written: downstream, lost" in left_out

        complete = dg.materialize([models], instance=instance, selection=["written"])
        assert unfinished(instance, complete.run_id) == ""


def test_the_summary_gives_the_as_of_date_when_the_first_table_has_none(
    tmp_path, monkeypatch, capsys
):
    # With no audiences, the first publish_info row (audience_members, empty) has no date,
    # and the summary printed "as of None".
    from types import SimpleNamespace

    from orchestration import publish
    from orchestration.pipeline import print_published

    (tmp_path / publish.DATABASE_NAME).touch()
    rows = [
        {"table_name": "audience_members", "version": "v1", "as_of_date": None},
        {"table_name": "churn_scores", "version": "v1", "as_of_date": "2025-12-31"},
    ]
    monkeypatch.setattr(publish, "read_publish_info", lambda database: rows)
    print_published(SimpleNamespace(published_dir=tmp_path))
    assert "(version v1, as of 2025-12-31, 2 tables" in capsys.readouterr().out
