"""Shared fixtures: small generated datasets, made once per test session."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.sampledata.generate import generate
from orchestration.sampledata.simulate import GeneratorConfig

SMALL = GeneratorConfig(customers=1_500, seed=7, bad_row_rate=0.01)
# For tests of the orchestration itself (UI, reruns): every asset, as little data as works.
TINY = GeneratorConfig(customers=400, seed=11, bad_row_rate=0.01)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Parse the dbt project before collection: test modules load the Dagster Definitions,
    which read the manifest at import, and a clean clone has none (a stale one would hide
    new models)."""
    from orchestration.project import prepare_manifest

    prepare_manifest()


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory) -> Path:
    """A 1,500-person dataset: `raw/` and `truth/` under the returned folder."""
    root = tmp_path_factory.mktemp("small")
    generate(SMALL, root / "raw", progress=False, workers=1)
    return root


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """A 400-person dataset for tests that exercise the orchestration, not the models."""
    root = tmp_path_factory.mktemp("tiny")
    generate(TINY, root / "raw", progress=False, workers=1)
    return root


@pytest.fixture(scope="session")
def small_pipeline(small_dataset, tmp_path_factory) -> tuple[Path, str]:
    """`customer-profiles run` on the small dataset, once per session: (folder, its output).
    The warehouse is `warehouse.duckdb` in the folder; tests only read it."""
    root = tmp_path_factory.mktemp("built")
    env = {
        **os.environ,
        "CP_RAW_DIR": str(small_dataset / "raw"),
        "CP_WAREHOUSE": str(root / "warehouse.duckdb"),
        "DAGSTER_HOME": str(root / "dagster"),
        # Beside the warehouse, never the repository's: importing orchestration.project pins
        # the repository defaults in this process's environment, and the run inherits it.
        "CP_PUBLISHED_DIR": str(root / "published"),
        "CP_EXPORT_DIR": str(root / "exports"),
    }
    cli = str(Path(sys.executable).with_name("customer-profiles"))
    result = subprocess.run([cli, "run"], env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root, result.stdout
