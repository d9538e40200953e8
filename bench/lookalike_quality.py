"""How well, and how fast, lookalike settings find the rest of a planted group (not in the suite).

    .venv/bin/python bench/lookalike_quality.py --warehouse bench/data/l/run/warehouse.duckdb \
        --truth bench/data/l/truth [--out bench/results/lookalike_l.json]

On a built warehouse and its generator truth: the customers matched to one planted person
(evaluate's matching) form groups: each persona, and the people who bought in the withheld 90
days. For each group a seed of 20% of its members (at most 20,000, a fixed-seed draw) is
expanded over every customer of `customer_features`, as the audiences step does, once per
setting. Reported per group and setting: seconds, ROC AUC of the held-out members against
every other non-seed customer, and precision in the top 2,000 (the sample audience's size)
against the held-out members' base rate.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import duckdb
import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestration.audiences.lookalike import LookalikeConfig, lookalike_scores  # noqa: E402
from orchestration.evaluate import _matched_persons  # noqa: E402

TOP = 2_000
SETTINGS = {
    "default": LookalikeConfig(),
    "previous": LookalikeConfig(max_iter=200, learning_rate=0.05, max_negatives=200_000),
    "more_negatives": LookalikeConfig(max_negatives=100_000),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--truth", type=Path, required=True)
    parser.add_argument("--settings", nargs="*", default=list(SETTINGS))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    con = duckdb.connect(str(args.warehouse), read_only=True)
    features = con.execute("select * from marts.customer_features order by customer_id").df()
    features = features.drop(columns=["as_of_date"])
    truth = con.execute(
        f"select customer_id, persona, bought_next_90d from ({_matched_persons(args.truth)})"
    ).df()
    con.close()
    groups = {f"persona={p}": truth.customer_id[truth.persona == p] for p in truth.persona.unique()}
    groups["bought_next_90d"] = truth.customer_id[truth.bought_next_90d]
    rng = np.random.default_rng(11)
    results = []
    for group, members in sorted(groups.items()):
        seed = rng.choice(members.to_numpy(), min(20_000, len(members) // 5), replace=False)
        held_out = members[~members.isin(seed)]
        for name in args.settings:
            started = time.perf_counter()
            ranked = lookalike_scores(features, seed, size=len(features), config=SETTINGS[name])
            seconds = time.perf_counter() - started
            found = ranked.customer_id.isin(held_out).to_numpy()
            row = {
                "group": group,
                "setting": name,
                "seed": len(seed),
                "held_out": len(held_out),
                "seconds": round(seconds, 1),
                "auc": round(roc_auc_score(found, ranked.likeness), 4),
                f"precision_top_{TOP}": round(found[:TOP].mean(), 4),
                "base_rate": round(found.mean(), 4),
            }
            results.append(row)
            print(json.dumps(row), flush=True)
    if args.out:
        settings = {name: asdict(SETTINGS[name]) for name in args.settings}
        args.out.write_text(json.dumps({"settings": settings, "results": results}, indent=1))


if __name__ == "__main__":
    main()
