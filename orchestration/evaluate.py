"""Compare what the warehouse holds with the generator's ground truth.

Each metric group is a function that reads the truth and the warehouse and returns a flat
dict; a group whose tables are not built yet reports why instead of failing, so the harness
grows with the project: each modelling feature adds its group here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import duckdb

from orchestration.settings import Settings
from orchestration.warehouse import table_exists

Metrics = dict[str, float | int | str | None]
MetricGroup = Callable[[duckdb.DuckDBPyConnection, Path], Metrics]


def _truth(truth_dir: Path, table: str) -> str:
    path = truth_dir / table
    pattern = path / "*.parquet" if path.is_dir() else path.with_suffix(".parquet")
    return f"read_parquet('{pattern}')"


def basic_counts(con: duckdb.DuckDBPyConnection, truth_dir: Path) -> Metrics:
    """Persons generated against records and customers the warehouse found."""
    persons, members = con.execute(
        f"select count(*), count(*) filter (where is_member) from {_truth(truth_dir, 'persons')}"
    ).fetchone()
    metrics: Metrics = {"persons_generated": persons, "persons_with_member_record": members}
    if table_exists(con, "staging", "stg_crm__customers"):
        metrics["member_records_staged"] = con.execute(
            "select count(distinct customer_ref) from staging.stg_crm__customers"
        ).fetchone()[0]
    if table_exists(con, "marts", "customer_360"):
        found = con.execute("select count(*) from marts.customer_360").fetchone()[0]
        metrics["customers_found"] = found
        metrics["customers_found_over_persons"] = round(found / persons, 4)
    else:
        metrics["customers_found"] = "not available: marts.customer_360 is not built yet"
    return metrics


def raw_completeness(con: duckdb.DuckDBPyConnection, truth_dir: Path) -> Metrics:
    """Every generated raw row is visible in the warehouse's raw views."""
    manifest = json.loads((truth_dir / "manifest.json").read_text())
    metrics: Metrics = {}
    for source, generated in manifest["rows"].items():
        if not table_exists(con, "raw", source):
            metrics[f"raw_rows_{source}"] = "not available: raw view missing"
            continue
        seen = con.execute(f"select count(*) from raw.{source}").fetchone()[0]
        metrics[f"raw_rows_{source}"] = seen
        metrics[f"raw_rows_{source}_generated"] = generated
        metrics[f"planted_bad_rows_{source}"] = sum(manifest["bad_rows"][source].values())
    return metrics


def identity_resolution(con: duckdb.DuckDBPyConnection, truth_dir: Path) -> Metrics:
    """Pairwise precision and recall of "same person" decisions over personal identifiers.

    Every identifier the truth gives one owner is an element; the warehouse's clusters are its
    customer_ids (an identifier left unstitched counts as a cluster of its own). Precision is
    the share of pairs put together that are one person; recall the share of one person's
    pairs put together. Counted from contingency tables, never by listing pairs.
    """
    if not table_exists(con, "intermediate", "int_identity__customer_ids"):
        return {"identity": "not available: identity models are not built yet"}
    salt = Settings.from_env().pii_salt
    con.execute(
        f"""
        create or replace temp table identity_elements as
        with truth as (
            select
                id_type || ':' || case
                    when id_type in ('phone', 'email') then sha256(? || id_value)
                    else id_value
                end as identifier_key,
                person_id
            from {_truth(truth_dir, "identifiers")}
            where kind = 'personal'
        )
        select truth.identifier_key, truth.person_id,
               coalesce(ids.customer_id, 'unstitched:' || truth.identifier_key) as cluster
        from truth
        left join intermediate.int_identity__customer_ids as ids using (identifier_key)
        """,
        [salt],
    )
    together, same_person, both = con.execute(
        """
        with by_cluster as (select cluster, count(*) as n from identity_elements group by 1),
             by_person as (select person_id, count(*) as n from identity_elements group by 1),
             by_both as (select cluster, person_id, count(*) as n from identity_elements group by 1, 2)
        select (select sum(n * (n - 1) / 2) from by_cluster),
               (select sum(n * (n - 1) / 2) from by_person),
               (select sum(n * (n - 1) / 2) from by_both)
        """
    ).fetchone()
    persons_split = con.execute(
        "select count(*) from (select person_id from identity_elements"
        " group by 1 having count(distinct cluster) > 1)"
    ).fetchone()[0]
    clusters_merged = con.execute(
        "select count(*) from (select cluster from identity_elements"
        " group by 1 having count(distinct person_id) > 1)"
    ).fetchone()[0]
    orders_right, orders_attributed, orders_total = con.execute(
        f"""
        with owners as (
            select attributed.customer_id, truth.person_id
            from intermediate.int_orders_attributed as attributed
            inner join {_truth(truth_dir, "order_owners")} as truth using (order_id)
        ),
        majority as (
            select customer_id, person_id,
                   row_number() over (partition by customer_id order by count(*) desc, person_id) as rank
            from owners where customer_id is not null group by 1, 2
        )
        select
            count(*) filter (where exists (
                select 1 from majority
                where majority.customer_id = owners.customer_id
                  and majority.person_id = owners.person_id and majority.rank = 1)),
            count(customer_id),
            count(*)
        from owners
        """
    ).fetchone()
    shared = con.execute(
        "select shared_reason, count(*) from audit.identity_shared_identifiers group by 1 order by 1"
    ).fetchall()
    return {
        "identity_precision": round(both / together, 4) if together else None,
        "identity_recall": round(both / same_person, 4) if same_person else None,
        "identity_pairs_predicted": int(together or 0),
        "identity_pairs_true": int(same_person or 0),
        "persons_split_across_customers": persons_split,
        "customers_merging_several_persons": clusters_merged,
        "order_attribution_rate": round(orders_attributed / orders_total, 4),
        "order_attribution_accuracy": round(orders_right / max(orders_attributed, 1), 4),
        **{f"shared_identifiers_{reason}": count for reason, count in shared},
    }


def _matched_persons(truth_dir: Path) -> str:
    """SQL: customer_id -> the one planted person behind their member id(s) (customers whose
    member ids belong to several people are left out), with that person's truth columns."""
    persons = _truth(truth_dir, "persons")
    return f"""
        select matched.customer_id, persons.*
        from (
            select ids.customer_id, min(persons.person_id) as person_id
            from intermediate.int_identity__customer_ids as ids
            inner join {persons} as persons
                on ids.identifier_key = 'member_id:' || persons.member_id
            group by 1
            having count(distinct persons.person_id) = 1
        ) as matched
        inner join {persons} as persons using (person_id)
    """


def churn_quality(con: duckdb.DuckDBPyConnection, truth_dir: Path) -> Metrics:
    """The churn model against the generator's withheld 90 days after the data ends.

    Each scored customer is matched to the one person behind their member id(s); the outcome
    is that person buying nothing in the withheld 90 days. churn_oracle_auc ranks the same
    customers by the generator's true probability of that (the best any model can do);
    churn_recency_auc by days since the last purchase. ECE over 10 equal-frequency bins.
    """
    from sklearn.metrics import roc_auc_score

    from orchestration.ml.churn import expected_calibration_error

    if not table_exists(con, "marts", "churn_scores"):
        return {"churn": "not available: marts.churn_scores is not built yet"}
    manifest = json.loads((truth_dir / "manifest.json").read_text())
    scored = con.execute(
        f"""
        select
            scores.churn_probability,
            features.recency_days,
            persons.p_no_purchase_next_90d,
            not persons.bought_next_90d as churned
        from marts.churn_scores as scores
        inner join marts.customer_features as features using (customer_id)
        inner join ({_matched_persons(truth_dir)}) as persons using (customer_id)
        where scores.churn_probability is not null
            and scores.as_of_date = cast(? as date)
        """,
        [manifest["data_end"]],
    ).df()
    if scored.empty or scored.churned.nunique() < 2:
        return {"churn": f"not available: no scores as of the data's end ({manifest['data_end']})"}
    y = scored.churned.to_numpy(dtype=bool)
    return {
        "churn_customers_evaluated": len(scored),
        "churn_rate": round(float(y.mean()), 4),
        "churn_auc": round(roc_auc_score(y, scored.churn_probability), 4),
        "churn_oracle_auc": round(roc_auc_score(y, scored.p_no_purchase_next_90d), 4),
        "churn_recency_auc": round(roc_auc_score(y, scored.recency_days), 4),
        "churn_ece": round(expected_calibration_error(y, scored.churn_probability.to_numpy()), 4),
    }


def segment_quality(con: duckdb.DuckDBPyConnection, truth_dir: Path) -> Metrics:
    """Segments and the eight RFM classes against the generator's planted personas.

    Adjusted Rand index over customers matched to one person through their member id(s);
    segment_stability is the share of customers who kept their segment in the latest refit
    (recorded by the segments asset when a previous assignment existed).
    """
    from sklearn.metrics import adjusted_rand_score

    if not table_exists(con, "marts", "customer_segments"):
        return {"segments": "not available: marts.customer_segments is not built yet"}
    rows = con.execute(
        f"""
        select persons.persona, segments.segment_id, profile.rfm_class
        from marts.customer_segments as segments
        inner join marts.customer_profile as profile using (customer_id)
        inner join ({_matched_persons(truth_dir)}) as persons using (customer_id)
        where profile.rfm_class != '未购买'
        """
    ).df()
    if rows.empty:
        return {"segments": "not available: no segmented customer matches a planted person"}
    stability = None
    if table_exists(con, "ml", "model_runs"):
        found = con.execute(
            "select json_extract(metrics_json, '$.kept_segment_share') from ml.model_runs"
            " where model_name = 'segments' order by created_at desc limit 1"
        ).fetchone()
        stability = float(found[0]) if found and found[0] is not None else None
    return {
        "segment_customers_evaluated": len(rows),
        "segment_ari": round(adjusted_rand_score(rows.persona, rows.segment_id), 4),
        "rfm_class_ari": round(adjusted_rand_score(rows.persona, rows.rfm_class), 4),
        "segment_stability": stability,
    }


LOOKALIKE_SEED_SEED = 20  # which random half of each persona seeds its lookalike


def lookalike_quality(con: duckdb.DuckDBPyConnection, truth_dir: Path) -> Metrics:
    """Lookalike expansion against the planted personas.

    For each persona: a random half of its (matched) customers is the seed; the expansion's
    size N is the other half; precision at N is the share of the expansion who are of the
    persona, against its base rate among all non-seed customers. Headline keys: the means
    over personas, and the smallest precision / base-rate ratio.
    """
    import numpy as np

    from orchestration.audiences.lookalike import lookalike_scores

    if not table_exists(con, "marts", "customer_features"):
        return {"lookalike": "not available: marts.customer_features is not built yet"}
    features = con.execute(
        "select * exclude (as_of_date) from marts.customer_features order by customer_id"
    ).df()
    personas = con.execute(
        f"select customer_id, persona from ({_matched_persons(truth_dir)}) order by customer_id"
    ).df()
    rng = np.random.default_rng(LOOKALIKE_SEED_SEED)
    metrics: Metrics = {}
    precisions, base_rates, ratios = [], [], []
    for persona, members in personas.groupby("persona").customer_id:
        members = members.to_numpy()
        if len(members) < 20:
            continue
        shuffled = rng.permutation(members)
        seed, rest = shuffled[: len(members) // 2], shuffled[len(members) // 2 :]
        expansion = lookalike_scores(features, seed, size=len(rest))
        precision = float(np.isin(expansion.customer_id, rest).mean())
        base_rate = len(rest) / (len(features) - len(seed))
        metrics[f"lookalike_precision_at_n_{persona}"] = round(precision, 4)
        metrics[f"lookalike_base_rate_{persona}"] = round(base_rate, 4)
        precisions.append(precision)
        base_rates.append(base_rate)
        ratios.append(precision / base_rate)
    if not precisions:
        return {"lookalike": "not available: no persona has 20 matched customers"}
    return {
        "lookalike_precision_at_n": round(float(np.mean(precisions)), 4),
        "lookalike_base_rate": round(float(np.mean(base_rates)), 4),
        "lookalike_min_lift": round(float(min(ratios)), 2),
        **metrics,
    }


# A campaign x persona cell is read out when both arms have at least this many customers:
# below it a 95% interval is too wide to say anything and its coverage is not the question.
MIN_CELL_CUSTOMERS = 30


def campaign_quality(con: duckdb.DuckDBPyConnection, truth_dir: Path) -> Metrics:
    """Coverage of the uplift intervals: the share of campaign x persona cells whose reported
    95% interval (campaign_effects' formula, grouped by planted persona) holds the true
    uplift (the generator's mean of treated-minus-control purchase probabilities)."""
    import numpy as np

    from orchestration.audiences.uplift import uplift_interval

    if not table_exists(con, "intermediate", "int_campaign_conversions"):
        return {"campaigns": "not available: int_campaign_conversions is not built yet"}
    cells = con.execute(
        f"""
        with conversions as (
            select truth.persona, conversions.*
            from intermediate.int_campaign_conversions as conversions
            inner join ({_matched_persons(truth_dir)}) as truth using (customer_id)
        )
        select
            conversions.campaign_id, conversions.persona,
            count(*) filter (where assignment_group = 'treatment') as treated,
            count(*) filter (where assignment_group = 'control') as control,
            count(*) filter (where assignment_group = 'treatment' and converted) as treated_conversions,
            count(*) filter (where assignment_group = 'control' and converted) as control_conversions,
            any_value(uplift.true_uplift) as true_uplift
        from conversions
        inner join {_truth(truth_dir, "campaign_uplift")} as uplift
            on uplift.campaign_id = conversions.campaign_id and uplift.persona = conversions.persona
        group by 1, 2
        """
    ).df()
    metrics: Metrics = {}
    cells = cells[(cells.treated >= MIN_CELL_CUSTOMERS) & (cells.control >= MIN_CELL_CUSTOMERS)]
    if cells.empty:
        metrics["uplift_ci_coverage"] = (
            f"not available: no campaign x persona cell has {MIN_CELL_CUSTOMERS}"
            " customers in each arm"
        )
    else:
        _, low, high = uplift_interval(
            cells.treated_conversions, cells.treated, cells.control_conversions, cells.control
        )
        covered = (low <= cells.true_uplift) & (cells.true_uplift <= high)
        metrics["uplift_cells_evaluated"] = len(cells)
        metrics["uplift_ci_coverage"] = round(float(np.mean(covered)), 4)
        metrics["uplift_mean_ci_width"] = round(float(np.mean(high - low)), 4)
    if table_exists(con, "marts", "campaign_effects"):
        # The published read-out itself, for everyone a campaign targeted: the true uplift
        # is the persona uplifts weighted by how many of each the campaign targeted.
        covered_all, campaigns = con.execute(
            f"""
            with truth as (
                select campaign_id,
                       sum(true_uplift * (n_treatment + n_control))
                           / nullif(sum(n_treatment + n_control), 0) as true_uplift
                from {_truth(truth_dir, "campaign_uplift")} group by 1
            )
            select count(*) filter (
                       where truth.true_uplift between effects.uplift_ci_low and effects.uplift_ci_high),
                   count(*)
            from marts.campaign_effects as effects
            inner join truth using (campaign_id)
            where effects.segment_id = 'all' and effects.uplift_ci_low is not null
            """
        ).fetchone()
        if campaigns:
            metrics["uplift_campaigns_evaluated"] = campaigns
            metrics["uplift_ci_coverage_all_customers"] = round(covered_all / campaigns, 4)
    return metrics


METRIC_GROUPS: dict[str, MetricGroup] = {
    "basic": basic_counts,
    "raw": raw_completeness,
    "identity": identity_resolution,
    "churn": churn_quality,
    "segments": segment_quality,
    "lookalike": lookalike_quality,
    "campaigns": campaign_quality,
}


def evaluate(warehouse_path: Path, truth_dir: Path) -> dict[str, Metrics]:
    if not (truth_dir / "manifest.json").exists():
        raise FileNotFoundError(f"{truth_dir}: no manifest.json; is this a generator truth folder?")
    if not warehouse_path.exists():
        raise FileNotFoundError(f"{warehouse_path}: warehouse not found; run the pipeline first")
    from orchestration.writer_lock import reading_warehouse

    with reading_warehouse(warehouse_path):  # never between a run's steps (writer_lock.py)
        con = duckdb.connect(str(warehouse_path), read_only=True)
        try:
            return {name: group(con, truth_dir) for name, group in METRIC_GROUPS.items()}
        finally:
            con.close()


def format_table(results: dict[str, Metrics]) -> str:
    rows = [(group, key, str(value)) for group, m in results.items() for key, value in m.items()]
    widths = [max(len(r[i]) for r in rows + [("group", "metric", "value")]) for i in range(3)]
    line = "  ".join(h.ljust(w) for h, w in zip(("group", "metric", "value"), widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)
