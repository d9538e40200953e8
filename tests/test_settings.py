"""Settings that Python and dbt must agree on."""

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
