"""Write a sample dataset: every raw source as Parquet, and the ground truth beside it.

Chunks of people are simulated independently (seeded by chunk index) and written as they are
made, so memory stays flat and the same seed and size always give byte-identical files.
"""

from __future__ import annotations

import functools
import json
import shutil
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from orchestration.raw_contract import CONTRACT
from orchestration.sampledata import world as w
from orchestration.sampledata.noise import BAD_ROW_SPECS, inject_bad_rows
from orchestration.sampledata.simulate import CHUNK_SIZE, GeneratorConfig, World, simulate_chunk

S, F, INT, B = pa.string(), pa.float64(), pa.int64(), pa.bool_()
# Types as the brand's systems export them. Timestamps arrive as text, as they do from most
# exports, which is also what lets a broken one exist at all.
RAW_SCHEMAS: dict[str, pa.Schema] = {
    "customers": pa.schema(
        [("customer_ref", S), ("source_system", S), ("name", S), ("gender", S),
         ("birth_date", S), ("phone", S), ("email", S), ("province", S), ("city", S),
         ("registered_at", S), ("register_channel", S), ("member_level", S),
         ("marketing_consent", B), ("updated_at", S)]
    ),
    "identity_links": pa.schema(
        [("id_type_a", S), ("id_value_a", S), ("id_type_b", S), ("id_value_b", S),
         ("observed_at", S), ("source", S)]
    ),
    "orders": pa.schema(
        [("order_id", S), ("customer_ref", S), ("id_type", S), ("id_value", S),
         ("ordered_at", S), ("channel", S), ("store_city", S), ("total_amount", F),
         ("discount_amount", F), ("coupon_used", B), ("status", S), ("currency", S)]
    ),
    "order_items": pa.schema(
        [("order_id", S), ("sku", S), ("category", S), ("brand", S), ("quantity", INT),
         ("unit_price", F)]
    ),
    "events": pa.schema(
        [("event_id", S), ("id_type", S), ("id_value", S), ("event_type", S), ("event_at", S),
         ("session_id", S), ("category", S), ("dwell_seconds", INT), ("platform", S)]
    ),
    "support_tickets": pa.schema(
        [("ticket_id", S), ("customer_ref", S), ("opened_at", S), ("topic", S),
         ("satisfaction", INT), ("resolved_at", S)]
    ),
    "campaign_touches": pa.schema(
        [("campaign_id", S), ("customer_ref", S), ("channel", S), ("sent_at", S), ("group", S),
         ("opened_at", S), ("clicked_at", S)]
    ),
    "surveys": pa.schema([("customer_ref", S), ("answered_at", S), ("nps_score", INT)]),
}  # fmt: skip
TRUTH_TABLES = ("persons", "identifiers", "order_owners")


def default_truth_dir(out: Path) -> Path:
    return out.parent / "truth"


def generate(
    config: GeneratorConfig,
    out: Path,
    truth: Path | None = None,
    progress: bool = True,
    workers: int = 2,
) -> dict:
    """Generate `config.customers` people into `out` (raw) and `truth`; return the manifest."""
    if config.customers < 1:
        raise ValueError("--customers must be at least 1")
    truth = truth or default_truth_dir(out)
    for folder in [out / s for s in CONTRACT.names] + [truth]:
        shutil.rmtree(folder, ignore_errors=True)  # no stale parts from a bigger earlier run
    for folder in [out / s for s in CONTRACT.names] + [truth / t for t in TRUTH_TABLES]:
        folder.mkdir(parents=True, exist_ok=True)

    n_chunks = -(-config.customers // CHUNK_SIZE)
    rows: Counter = Counter()
    bad_rows: dict[str, Counter] = {s: Counter() for s in CONTRACT.names}
    uplift_parts = []
    bar = tqdm(total=config.customers, unit=" customers", disable=not progress, desc="generating")
    # Chunks are independent, so they can be made in parallel without changing a byte.
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        tasks = [(config, chunk, out, truth) for chunk in range(n_chunks)]
        for chunk_rows, chunk_bad_rows, uplift in pool.map(_make_chunk, tasks):
            rows.update(chunk_rows)
            for source, counts in chunk_bad_rows.items():
                bad_rows[source].update(counts)
            uplift_parts.append(uplift)
            bar.update(min(CHUNK_SIZE, config.customers - (len(uplift_parts) - 1) * CHUNK_SIZE))
    bar.close()

    _write(_campaign_uplift(pa.concat_tables(uplift_parts)), truth / "campaign_uplift.parquet")
    manifest = _manifest(config, _world(config), rows, bad_rows)
    (truth / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    return manifest


def _make_chunk(task: tuple[GeneratorConfig, int, Path, Path]) -> tuple[Counter, dict, pa.Table]:
    config, chunk, out, truth = task
    output = simulate_chunk(_world(config), chunk)
    bad_rng = np.random.default_rng([config.seed, chunk, 0xBAD])
    rows: Counter = Counter()
    bad_rows: dict[str, Counter] = {}
    for source in CONTRACT.names:
        table = output.raw[source].cast(RAW_SCHEMAS[source])
        table, bad_rows[source] = inject_bad_rows(
            table, BAD_ROW_SPECS[source], config.bad_row_rate, bad_rng, config.end_date
        )
        rows[source] = table.num_rows
        _write(table, out / source / f"part-{chunk:05d}.parquet")
    for name in TRUTH_TABLES:
        _write(output.truth[name], truth / name / f"part-{chunk:05d}.parquet")
    return rows, bad_rows, output.uplift


@functools.cache
def _world(config: GeneratorConfig) -> World:
    """Built once per worker process: the world depends only on the configuration."""
    return World.build(config)


def _write(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression="zstd")


def _campaign_uplift(sums: pa.Table) -> pa.Table:
    """True uplift per campaign and persona: mean P(convert | treated) - P(convert | control).

    A conversion is a purchase within the campaign window after the send. Both probabilities
    are each targeted person's own (treated or not), from their state at the send date,
    averaged over everyone the campaign targeted in that persona.
    """
    keys = ["campaign_id", "persona"]
    totals = sums.group_by(keys).aggregate([(c, "sum") for c in sums.column_names if c not in keys])
    n_t = totals["n_treatment_sum"]
    n_c = totals["n_control_sum"]
    targeted = pc.max_element_wise(pc.add(n_t, n_c), 1)
    p_t = pc.divide(totals["sum_p_treatment_sum"], targeted)
    p_c = pc.divide(totals["sum_p_control_sum"], targeted)
    result = pa.table(
        {
            "campaign_id": totals["campaign_id"],
            "persona": totals["persona"],
            "n_treatment": pc.cast(n_t, pa.int64()),
            "n_control": pc.cast(n_c, pa.int64()),
            "true_conversion_treatment": p_t,
            "true_conversion_control": p_c,
            "true_uplift": pc.subtract(p_t, p_c),
            "conversions_treatment": pc.cast(totals["conversions_treatment_sum"], pa.int64()),
            "conversions_control": pc.cast(totals["conversions_control_sum"], pa.int64()),
        }
    )
    return result.sort_by([("campaign_id", "ascending"), ("persona", "ascending")])


def _manifest(config: GeneratorConfig, world: World, rows: Counter, bad_rows: dict) -> dict:
    return {
        "generator": "customer-profiles generate",
        "customers": config.customers,
        "seed": config.seed,
        "bad_row_rate": config.bad_row_rate,
        "data_start": str(config.start_date),
        "data_end": str(config.end_date),
        "future_days": w.FUTURE_DAYS,
        "price_rise_date": str(
            config.start_date
            + np.timedelta64(config.days - w.PRICE_RISE_DAYS_BEFORE_END, "D").astype(object)
        ),
        "campaign_window_days": w.CAMPAIGN_WINDOW_DAYS,
        "campaigns": [c.campaign_id for c in world.campaigns],
        "store_phones": list(world.store_phones),
        "rows": dict(rows),
        "bad_rows": {s: dict(c) for s, c in bad_rows.items()},
        "truth_tables": {
            "persons": "one row per generated person: persona, lapse date, withheld-future outcome",
            "identifiers": "who is behind each identifier (canonical form); kind says if shared",
            "order_owners": "the person behind every order in the raw data",
            "campaign_uplift": "true and observed conversion by campaign and persona",
        },
    }
