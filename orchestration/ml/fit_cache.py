"""Reuse a model fit when nothing it learns from has changed.

A nightly refresh moves as_of_date by a day, but a model trained on labelled past cut-offs
(churn) sees the same rows on most nights: a cut-off joins or becomes labelled once a month.
Its fit is deterministic, so refitting on the same rows, configuration and code would give
the same model. The asset keeps its last fit in one file under a fingerprint of all three and
reuses it while the fingerprint matches (at a million customers, 31 s of churn fitting on
most nights). A file that cannot be read is a miss, never an error: the model is refitted.

The file is a pickle written by this project's own pipeline next to its warehouse; like the
warehouse, it is trusted local state. Plain functions, no Dagster.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd

LIBRARIES = ("numpy", "pandas", "scikit-learn", "scipy")


def fingerprint(rows: pd.DataFrame, order_by: Sequence[str], *inputs: Any) -> str:
    """A hex digest of the rows (in any order: sorted by `order_by` first), their column names
    and types, each input (JSON-able values or a module's source file path as `Path`), and
    the versions of the numerical libraries."""
    ordered = rows.sort_values(list(order_by), kind="stable", ignore_index=True)
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(ordered, index=False).to_numpy().tobytes())
    digest.update(json.dumps([[str(c), str(t)] for c, t in ordered.dtypes.items()]).encode())
    for value in inputs:
        if isinstance(value, Path):
            digest.update(value.read_bytes())
        else:
            digest.update(json.dumps(value, sort_keys=True, default=str).encode())
    digest.update(json.dumps({name: version(name) for name in LIBRARIES}).encode())
    return digest.hexdigest()


def load_fit(path: Path, key: str) -> Any | None:
    """The fit stored under `key`, or None (no file, another key, or a file that cannot be
    read, such as one written by an older version of the model's classes)."""
    try:
        with Path(path).open("rb") as file:
            stored_key, fitted = pickle.load(file)
    except Exception:  # none yet, or unreadable: a miss; the refit overwrites it
        return None
    return fitted if stored_key == key else None


def store_fit(path: Path, key: str, fitted: Any) -> None:
    """Keep `fitted` under `key`, replacing the previous fit (written aside, then renamed over,
    so a crash leaves the old file or the new, never half of one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as file:
        pickle.dump((key, fitted), file, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(temporary, path)
