"""The docs match the code: `dbt docs generate` runs, and every public model and column is described."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.project import dbt_project
from orchestration.publish import PUBLIC_ACCESS, is_public
from orchestration.settings import PROJECT_DIR

DBT = str(Path(sys.executable).with_name("dbt"))
TODAYS_PUBLIC_MODELS = {
    "customer_360", "customer_features", "customer_tags", "customer_profile", "tag_catalog",
    "customer_tag_history", "customer_segments", "segment_profiles", "churn_scores",
    "customer_value",
}  # fmt: skip


@pytest.fixture(scope="module")
def docs(tmp_path_factory) -> dict:
    """`dbt docs generate`, as an analyst runs it, into a temporary target; the manifest.

    `--no-compile --empty-catalog`: the site needs neither compiled SQL nor a built warehouse
    (column types come from the enforced contracts), and reusing the session's parse keeps
    this to a few seconds. The manifest it documents is that parse (target/manifest.json).
    """
    target = tmp_path_factory.mktemp("docs")
    shutil.copy(PROJECT_DIR / "target" / "partial_parse.msgpack", target)
    command = ["docs", "generate", "--no-compile", "--empty-catalog", "--target-path", str(target)]
    result = subprocess.run(
        [DBT, *command],
        cwd=PROJECT_DIR,
        env={**os.environ, "CP_WAREHOUSE": str(target / "unused.duckdb")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "manifest.json" in (target / "index.html").read_text()  # the site loads it
    return json.loads(dbt_project.manifest_path.read_text())


def _public(manifest: dict) -> list[dict]:
    return [node for node in manifest["nodes"].values() if is_public(node)]


def test_every_public_model_and_each_of_its_columns_has_a_description(docs):
    manifest = docs
    public = _public(manifest)
    assert len(public) >= 10
    for node in public:
        assert len(node["description"].split()) >= 5, f"{node['name']} has no real description"
        assert "one row per" in node["description"].lower(), f"{node['name']} states no grain"
        for column in node["columns"].values():
            assert column.get("description", "").strip(), f"{node['name']}.{column['name']}"


def test_every_public_model_enforces_its_contract(docs):
    manifest = docs
    for node in _public(manifest):
        assert node["config"]["contract"]["enforced"], f"{node['name']} has no enforced contract"
        for column in node["columns"].values():
            assert column.get("data_type"), f"{node['name']}.{column['name']} has no data_type"


def test_exposures_declare_the_bi_consumers_of_public_models_only(docs):
    manifest = docs
    exposures = manifest["exposures"].values()
    assert {e["type"] for e in exposures} >= {"dashboard", "analysis"}
    nodes = manifest["nodes"]
    for exposure in exposures:
        assert exposure["description"].strip() and exposure["owner"].get("name")
        for upstream in exposure["depends_on"]["nodes"]:
            assert nodes[upstream].get("access") == PUBLIC_ACCESS, (
                f"exposure {exposure['name']} reads {upstream}, which is not public"
            )
    # Today's public models all have a declared consumer. (A model made public later is
    # published at once; its consumers are declared when there are some.)
    exposed = {manifest["nodes"][u]["name"] for e in exposures for u in e["depends_on"]["nodes"]}
    assert exposed >= TODAYS_PUBLIC_MODELS


def test_every_project_macro_is_documented(docs):
    """macros/_macros.yml describes every macro in macros/ (not the per-adapter
    implementations adapter.dispatch picks, which their dispatcher's entry covers)."""
    undocumented = sorted(
        macro["name"]
        for macro in docs["macros"].values()
        if macro["package_name"] == "customer_profiles"
        and macro["original_file_path"].startswith("macros/")
        and not macro["name"].startswith(("default__", "duckdb__", "spark__"))
        and not macro["description"].strip()
    )
    assert undocumented == []
