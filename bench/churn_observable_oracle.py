"""How well could anyone rank 90-day churn from what the data shows? An "observable oracle" on
generated data, beside the generator's own oracle. Not collected by pytest.

    /work/main/.venv/bin/python bench/churn_observable_oracle.py \
        --raw /work/main/data/raw --truth /work/main/data/truth \
        [--warehouse /tmp/wh.duckdb]   # also the churn model's AUC on the same people

The generator's truth `p_no_purchase_next_90d` is 1 for everyone who has already lapsed
(`is_alive_at_end`): it knows the latent alive state, which no history reveals for certain. A
customer who lapsed last month and one who is alive but between purchases look alike. The
observable oracle knows every person's true purchase rate and lapse hazard (more than any
model, which must estimate them) but not whether they lapsed: it computes, by Bayes' rule,
P(alive at the data end | days without purchase since the last one, and the browsing since
then), using the generator's own mechanics (lapse at a daily hazard; browsing drops to
LAPSED_BROWSING of its rate after a lapse), and from that P(no purchase in the next 90 days).
Approximations, all of which can only lower it slightly: the hazard at the end is taken as
constant since the last purchase; seasonality and campaign boosts are ignored; each person's
browsing rate is estimated from their sessions between acquisition and last purchase. Its AUC
is an estimate of the best ranking possible from observable history.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestration.sampledata import world  # noqa: E402

HORIZON = world.FUTURE_DAYS


def load(raw: Path, truth: Path) -> tuple[pd.DataFrame, dict[str, np.ndarray], pd.Timestamp]:
    """Persons who bought in the observed window, their last purchase, and daily sessions."""
    manifest = json.loads((truth / "manifest.json").read_text())
    start = pd.Timestamp(manifest["data_start"])
    end = pd.Timestamp(manifest["data_end"])
    con = duckdb.connect()
    persons = con.execute(
        f"""
        with buys as (
            select owners.person_id, cast(max(try_cast(orders.ordered_at as timestamp)) as date)
                as last_purchase_date
            from read_parquet('{raw}/orders/*.parquet') as orders
            inner join read_parquet('{truth}/order_owners/*.parquet') as owners using (order_id)
            where cast(try_cast(orders.ordered_at as timestamp) as date) <= date '{end.date()}'
            group by 1
        )
        select persons.*, buys.last_purchase_date
        from read_parquet('{truth}/persons/*.parquet') as persons
        inner join buys using (person_id)
        where buys.last_purchase_date is not null
        """
    ).df()
    sessions = con.execute(
        f"""
        select ids.person_id, cast(try_cast(events.event_at as timestamp) as date) as day,
            count(distinct events.session_id) as sessions
        from read_parquet('{raw}/events/*.parquet') as events
        inner join read_parquet('{truth}/identifiers/*.parquet') as ids
            on ids.id_type = events.id_type and ids.id_value = events.id_value
            and ids.kind = 'personal'
        where try_cast(events.event_at as timestamp) is not null
        group by 1, 2
        """
    ).df()
    sessions = sessions.dropna()
    sessions["day"] = pd.to_datetime(sessions["day"])
    sessions = sessions[(sessions.day >= start) & (sessions.day <= end)]
    by_person = {
        p: (
            (g.day - start).dt.days.to_numpy(),
            g.sessions.to_numpy(dtype=np.float64),
        )
        for p, g in sessions.groupby("person_id")
    }
    persons["start"] = start
    return persons, by_person, end


def observable_p_no_purchase(
    persons: pd.DataFrame, sessions: dict, end: pd.Timestamp
) -> tuple[np.ndarray, np.ndarray]:
    """P(no purchase in the horizon | observable history, true rates) per person, and
    P(alive at the end | the same)."""
    start = persons["start"].iloc[0]
    end_day = (end - start).days
    lapsed_share = world.LAPSED_BROWSING
    out = np.empty(len(persons))
    alive_post = np.empty(len(persons))
    for i, row in enumerate(persons.itertuples(index=False)):
        p = 1 - np.exp(-row.purchases_per_year / 365.0)
        h = min(float(row.daily_lapse_hazard_at_end), 0.5)
        last = (pd.Timestamp(row.last_purchase_date) - start).days
        acquired = max((pd.Timestamp(row.acquired_date) - start).days, 0)
        t = end_day - last  # days after the last purchase, all without one
        # log-likelihood of the purchase process: alive through the end, or lapsed on day
        # last + j (j = 1..t), with no purchase before
        stay = np.log1p(-h) + np.log1p(-p)
        j = np.arange(1, t + 1)
        ll_lapse = (j - 1) * stay + np.log(h)
        ll_alive = t * stay
        # browsing after the last purchase: Poisson at rate b while alive, b * lapsed_share after
        days, counts = sessions.get(row.person_id, (np.empty(0), np.empty(0)))
        known_alive = max(last - acquired, 1)
        before = counts[(days >= acquired) & (days <= last)].sum()
        b = (before + 0.5) / known_alive  # a half-session prior keeps b > 0
        after = days > last
        k = np.zeros(t + 1)  # k[m] = sessions on day last + m, m = 1..t
        np.add.at(k, (days[after] - last).astype(int), counts[after])
        # lapsed from day last + j on: days m >= j browse at the lower rate
        per_day_shift = k[1:] * np.log(lapsed_share) - (lapsed_share - 1) * b
        tail = np.cumsum(per_day_shift[::-1])[::-1]  # sum over m >= j
        ll_lapse = ll_lapse + tail
        top = max(ll_alive, ll_lapse.max()) if t else ll_alive
        w_alive = np.exp(ll_alive - top)
        w_lapse = np.exp(ll_lapse - top).sum() if t else 0.0
        post = w_alive / (w_alive + w_lapse)
        # no purchase in the horizon when alive: survive-or-lapse without buying
        s = (1 - h) * (1 - p)
        q = s**HORIZON + h * (1 - s**HORIZON) / (1 - s)
        out[i] = post * q + (1 - post)
        alive_post[i] = post
    return out, alive_post


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--truth", type=Path, required=True)
    parser.add_argument("--warehouse", type=Path, help="a built warehouse: add the model's AUC")
    args = parser.parse_args()

    persons, sessions, end = load(args.raw, args.truth)
    score, alive_post = observable_p_no_purchase(persons, sessions, end)
    y = ~persons["bought_next_90d"].to_numpy(dtype=bool)
    recency = (end - pd.to_datetime(persons["last_purchase_date"])).dt.days.to_numpy()
    result = {
        "persons_who_bought": len(persons),
        "churn_rate": round(float(y.mean()), 4),
        "generator_oracle_auc": round(roc_auc_score(y, persons["p_no_purchase_next_90d"]), 4),
        "observable_oracle_auc": round(roc_auc_score(y, score), 4),
        "recency_auc": round(roc_auc_score(y, recency), 4),
        "alive_state_auc_of_observable_posterior": round(
            roc_auc_score(persons["is_alive_at_end"].to_numpy(dtype=bool), alive_post), 4
        ),
    }
    if args.warehouse:
        con = duckdb.connect(str(args.warehouse), read_only=True)
        model = con.execute(
            f"""
            select persons.person_id, scores.churn_probability
            from marts.churn_scores as scores
            inner join intermediate.int_identity__customer_ids as ids using (customer_id)
            inner join read_parquet('{args.truth}/persons/*.parquet') as persons
                on ids.identifier_key = 'member_id:' || persons.member_id
            where scores.churn_probability is not null
            qualify count(*) over (partition by scores.customer_id) = 1
            """
        ).df()
        both = persons.assign(observable=score, generator=persons["p_no_purchase_next_90d"])
        both = both.merge(model, on="person_id")
        yy = ~both["bought_next_90d"].to_numpy(dtype=bool)
        result["model_customers"] = len(both)
        result["model_auc_same_people"] = round(roc_auc_score(yy, both.churn_probability), 4)
        result["observable_oracle_auc_same_people"] = round(roc_auc_score(yy, both.observable), 4)
        result["generator_oracle_auc_same_people"] = round(roc_auc_score(yy, both.generator), 4)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
