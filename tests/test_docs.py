"""The docs match the code: `dbt docs generate` on a built warehouse, every public column described."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tinypipeline import tiny_run

from orchestration.publish import PUBLIC_ACCESS, is_public
from orchestration.settings import PROJECT_DIR

DBT = str(Path(sys.executable).with_name("dbt"))


@pytest.fixture(scope="module")
def docs(tiny_dataset, tmp_path_factory) -> tuple[dict, dict]:
    """`dbt docs generate` against the tiny pipeline's warehouse: (manifest, catalog)."""
    run = tiny_run(tiny_dataset, tmp_path_factory)
    target = tmp_path_factory.mktemp("docs")
    result = subprocess.run(
        [DBT, "docs", "generate", "--target-path", str(target), "--quiet"],
        cwd=PROJECT_DIR,
        env=run.env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (target / "index.html").exists()
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    return manifest, catalog


def _public(manifest: dict) -> list[dict]:
    return [node for node in manifest["nodes"].values() if is_public(node)]


def test_every_public_model_and_each_of_its_columns_has_a_description(docs):
    manifest, _ = docs
    public = _public(manifest)
    assert len(public) >= 10
    for node in public:
        assert len(node["description"].split()) >= 5, f"{node['name']} has no real description"
        assert "one row per" in node["description"].lower(), f"{node['name']} states no grain"
        for column in node["columns"].values():
            assert column.get("description", "").strip(), f"{node['name']}.{column['name']}"


def test_the_documented_columns_are_exactly_the_columns_the_warehouse_has(docs):
    manifest, catalog = docs
    for node in _public(manifest):
        built = catalog["nodes"][node["unique_id"]]["columns"]
        assert {c.lower() for c in built} == {c.lower() for c in node["columns"]}, node["name"]


def test_every_public_model_enforces_its_contract(docs):
    manifest, _ = docs
    for node in _public(manifest):
        assert node["config"]["contract"]["enforced"], f"{node['name']} has no enforced contract"
        for column in node["columns"].values():
            assert column.get("data_type"), f"{node['name']}.{column['name']} has no data_type"


def test_exposures_declare_the_bi_consumers_of_public_models_only(docs):
    manifest, _ = docs
    exposures = manifest["exposures"].values()
    assert {e["type"] for e in exposures} >= {"dashboard", "analysis"}
    nodes = manifest["nodes"]
    for exposure in exposures:
        assert exposure["description"].strip() and exposure["owner"].get("name")
        for upstream in exposure["depends_on"]["nodes"]:
            assert nodes[upstream].get("access") == PUBLIC_ACCESS, (
                f"exposure {exposure['name']} reads {upstream}, which is not public"
            )
    exposed = {u for e in exposures for u in e["depends_on"]["nodes"]}
    assert exposed == {n["unique_id"] for n in _public(manifest)}
