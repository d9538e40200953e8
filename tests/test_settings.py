"""Settings that Python and dbt must agree on."""

from orchestration.settings import DEMO_PII_SALT, PROJECT_DIR


def test_dbt_and_python_hash_pii_with_the_same_default_salt():
    # evaluate.py re-hashes ground-truth phones and emails to compare them with the warehouse.
    macro = (PROJECT_DIR / "macros" / "hash_pii.sql").read_text()
    assert f"env_var('CP_PII_SALT', '{DEMO_PII_SALT}')" in macro
