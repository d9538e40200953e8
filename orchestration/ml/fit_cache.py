"""Reuse a model fit while what it learns from has barely changed.

A nightly refresh moves as_of_date by a day, but a model trained on labelled past cut-offs
(churn) sees nearly the same rows on most nights: a cut-off joins or becomes labelled once a
month, and in between only the customers whose identifiers moved, or whose late rows
arrived, change (at a million customers one night: 0.2% of the 250k sampled training rows).
Refitting on those rows gives a model that differs by noise, at 23 s a night. So the asset
keeps its last fit in one file with

- a key: a fingerprint of everything that must match exactly (configuration, code, library
  versions, the training columns and the labelled cut-offs), and
- a 64-bit hash of each training row it saw (`row_hashes`),

and reuses the fit while the key matches and at most `max_changed_share` of those rows
changed (`changed_share`, measured against the rows of the stored fit, so small changes
accumulate until they force a refit). Zero reuses only an identical set of rows. A file that
cannot be read is a miss, never an error: the model is refitted.

The file is a pickle written by this project's own pipeline next to its warehouse; like the
warehouse, it is trusted local state. Plain functions, no Dagster.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

LIBRARIES = ("numpy", "pandas", "scikit-learn", "scipy")


def fingerprint(*inputs: Any) -> str:
    """A hex digest of each input (JSON-able values, or a module's source file as `Path`) and
    of the versions of the numerical libraries."""
    digest = hashlib.sha256()
    for value in inputs:
        if isinstance(value, Path):
            digest.update(value.read_bytes())
        else:
            digest.update(json.dumps(value, sort_keys=True, default=str).encode())
    digest.update(json.dumps({name: version(name) for name in LIBRARIES}).encode())
    return digest.hexdigest()


def column_types(rows: pd.DataFrame) -> list[list[str]]:
    """The columns' names and types, for a key: a new or retyped column is never "similar"."""
    return [[str(c), str(t)] for c, t in rows.dtypes.items()]


def row_hashes(rows: pd.DataFrame) -> np.ndarray:
    """One 64-bit hash of each row's values (in column order), sorted: row order never counts."""
    return np.sort(pd.util.hash_pandas_object(rows, index=False).to_numpy())


def changed_share(now: np.ndarray, fitted: np.ndarray) -> float:
    """The rows added or removed since the fit (a changed row is both), over the fit's rows.
    Both arguments are `row_hashes`; a repeated row counts as often as it occurs."""
    if len(fitted) == 0:
        return 0.0 if len(now) == 0 else float("inf")
    every = np.union1d(now, fitted)
    now_count, fit_count = (
        np.bincount(np.searchsorted(every, hashes), minlength=len(every))
        for hashes in (now, fitted)
    )
    return float(np.abs(now_count - fit_count).sum()) / len(fitted)


@dataclass(frozen=True)
class StoredFit:
    fitted: Any
    changed_share: float  # of the fit's training rows, as `changed_share` measures it


def load_fit(path: Path, key: str, rows: np.ndarray, max_changed_share: float) -> StoredFit | None:
    """The fit stored under `key` if at most `max_changed_share` of its rows differ from
    `rows` (`row_hashes` of tonight's training rows); else None, as for no file, another key
    or a file that cannot be read (one written by an older version of the model's classes)."""
    try:
        with Path(path).open("rb") as file:
            stored_key, stored_rows, fitted = pickle.load(file)
    except Exception:  # none yet, or unreadable: a miss; the refit overwrites it
        return None
    if stored_key != key:
        return None
    share = changed_share(rows, stored_rows)
    return StoredFit(fitted, share) if share <= max_changed_share else None


def store_fit(path: Path, key: str, rows: np.ndarray, fitted: Any) -> None:
    """Keep `fitted` under `key` with the `row_hashes` of its training rows, replacing the
    previous fit (written aside, then renamed over, so a crash leaves the old file or the new,
    never half of one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as file:
        pickle.dump((key, rows, fitted), file, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(temporary, path)
