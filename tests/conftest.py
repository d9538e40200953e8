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
    new models). Under pytest-xdist the controller parses before it starts the workers."""
    if hasattr(session.config, "workerinput"):
        return
    from orchestration.project import prepare_manifest

    prepare_manifest()


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`make test` runs two workers (`--dist loadgroup`): each module goes whole to one worker,
    so its module fixtures are built once, and the modules that read the session's small
    pipeline go to the same worker, so that pipeline is built once too."""
    sharing = {item.module.__name__ for item in items if "small_pipeline" in item.fixturenames}
    for item in items:
        module = item.module.__name__
        item.add_marker(pytest.mark.xdist_group("small_pipeline" if module in sharing else module))


@pytest.hookimpl(optionalhook=True)  # xdist's hook: unknown when xdist is not loaded
def pytest_xdist_node_collection_finished(node, ids: list[str]) -> None:
    """Stop where xdist no longer groups (it did not on pytest 9.2, pytest-xdist#1386): the
    suite would still pass, in twice the time. A grouped test's id ends in `@group`."""
    if node.config.getoption("dist") == "loadgroup" and not all("@" in id for id in ids):
        pytest.exit("pytest-xdist did not group the tests: see pyproject.toml's pytest pin")


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
