"""Settings that Python and dbt must agree on."""

import os
import re
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest
import yaml

from orchestration.settings import DEMO_PII_SALT, PROJECT_DIR, Settings
from orchestration.spark import spark_conf


def test_dbt_and_python_hash_pii_with_the_same_default_salt():
    # evaluate.py re-hashes ground-truth phones and emails to compare them with the warehouse.
    macro = (PROJECT_DIR / "macros" / "hash_pii.sql").read_text()
    assert f"env_var('CP_PII_SALT', '{DEMO_PII_SALT}')" in macro


def _render_profile(environ: dict[str, str]) -> dict:
    """profiles.yml rendered as dbt renders it: Jinja with env_var, then YAML."""
    jinja = jinja2.Environment()
    jinja.filters["as_text"] = str  # dbt's filter that keeps a rendered value a string
    template = jinja.from_string((PROJECT_DIR / "profiles.yml").read_text())
    return yaml.safe_load(
        template.render(env_var=lambda name, default="": environ.get(name, default))
    )


def test_the_spark_profile_configures_spark_as_the_python_assets_do(tmp_path):
    environ = {"CP_SPARK_DIR": str(tmp_path / "spark"), "CP_THREADS": "3", "CP_MEMORY_LIMIT": "5GB"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environ.items():
            patch.setenv(name, value)
        expected = spark_conf(Settings.from_env())
    outputs = _render_profile(environ)["customer_profiles"]["outputs"]
    assert outputs["spark"]["server_side_parameters"] == expected
    assert expected["spark.sql.shuffle.partitions"] == "12"
    assert expected["spark.driver.memory"] == "5g"


def test_an_unknown_target_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("CP_DBT_TARGET", "postgres")
    with pytest.raises(ValueError, match="CP_DBT_TARGET='postgres'"):
        Settings.from_env()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CP_THREADS", "abc", "CP_THREADS='abc': expected a whole number of threads"),
        ("CP_THREADS", "0", "CP_THREADS='0': expected a whole number of threads, 1 or more"),
        ("CP_MEMORY_LIMIT", "lots", "CP_MEMORY_LIMIT='lots': expected a size such as 7GB"),
    ],
)
def test_a_bad_knob_is_refused_naming_its_variable(monkeypatch, variable, value, message):
    # Left unchecked, each failed a run's first steps with DuckDB's words and no variable.
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=re.escape(message)):
        Settings.from_env()


def test_a_folder_given_as_the_warehouse_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("CP_WAREHOUSE", str(tmp_path))
    with pytest.raises(ValueError, match=f"CP_WAREHOUSE={tmp_path}: is a folder"):
        Settings.from_env()


def _run(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "CP_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
        "CP_PUBLISHED_DIR": str(tmp_path / "published"),
        "CP_RAW_DIR": str(tmp_path / "raw"),
        **env,
    }
    cli = str(Path(sys.executable).with_name("customer-profiles"))
    return subprocess.run([cli, "run", *args], env=environ, capture_output=True, text=True)


def test_an_empty_raw_folder_of_ones_own_is_an_error_not_sample_data(tmp_path):
    # Only the default data/raw is filled with sample data: a mistyped CP_RAW_DIR once built
    # and published 20,000 invented customers.
    result = _run(tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"CP_RAW_DIR={tmp_path / 'raw'}: no files in" in result.stderr
    assert not (tmp_path / "raw").exists() and not (tmp_path / "warehouse.duckdb").exists()


def test_an_unwritable_published_folder_is_refused_before_the_build(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    result = _run(tmp_path, CP_PUBLISHED_DIR=str(blocker / "published"))
    assert result.returncode == 2
    assert f"CP_PUBLISHED_DIR={blocker / 'published'}: cannot create the folder" in result.stderr


def test_a_negative_wait_is_refused(tmp_path):
    result = _run(tmp_path, "--wait-seconds", "-5")
    assert result.returncode == 2 and "expected seconds, 0 or more" in result.stderr
