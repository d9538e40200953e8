"""Time and memory of one lookalike expansion at scale (not part of the suite).

    /usr/bin/time -v .venv/bin/python bench/lookalike_scale.py [--customers 1000000] [--seed-size 20000]

Synthetic customer features shaped like `customer_features` (40 numbers with nulls, 3 text
columns); the seed is drawn from one planted kind. Prints seconds for the expansion and its
precision at N against the kind's base rate.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestration.audiences.lookalike import lookalike_scores  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed-size", type=int, default=20_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n = args.customers
    kind = rng.random(n) < 0.1
    columns = {"customer_id": np.char.add("c", np.arange(n).astype(str))}
    for i in range(40):
        shift = 0.6 if i % 5 == 0 else 0.0  # a few columns carry the kind, weakly
        values = rng.lognormal(np.where(kind, shift, 0.0), 1.0)
        values[rng.random(n) < 0.2] = np.nan
        columns[f"x{i}"] = values
    for name, levels in (("top_category", 9), ("preferred_channel", 4), ("active_daypart", 4)):
        columns[name] = rng.integers(0, levels, n).astype(str)
    frame = pd.DataFrame(columns)
    members = np.flatnonzero(kind)
    seed = frame.customer_id.to_numpy()[rng.choice(members, args.seed_size, replace=False)]
    rest = np.setdiff1d(frame.customer_id.to_numpy()[members], seed)
    started = time.perf_counter()
    expansion = lookalike_scores(frame, seed, size=len(rest))
    seconds = time.perf_counter() - started
    precision = np.isin(expansion.customer_id, rest).mean()
    base = len(rest) / (n - len(seed))
    print(f"{n:,} customers, seed {len(seed):,}, N {len(rest):,}: {seconds:.1f} s;"
          f" precision at N {precision:.3f} vs base rate {base:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
