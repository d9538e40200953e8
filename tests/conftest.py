"""Shared fixtures: small generated datasets, made once per test session."""

from pathlib import Path

import pytest

from orchestration.sampledata.generate import generate
from orchestration.sampledata.simulate import GeneratorConfig

SMALL = GeneratorConfig(customers=1_500, seed=7, bad_row_rate=0.01)


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory) -> Path:
    """A 1,500-person dataset: `raw/` and `truth/` under the returned folder."""
    root = tmp_path_factory.mktemp("small")
    generate(SMALL, root / "raw", progress=False, workers=1)
    return root
