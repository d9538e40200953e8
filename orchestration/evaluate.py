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

Metrics = dict[str, float | int | str | None]
MetricGroup = Callable[[duckdb.DuckDBPyConnection, Path], Metrics]


def _truth(truth_dir: Path, table: str) -> str:
    path = truth_dir / table
    pattern = path / "*.parquet" if path.is_dir() else path.with_suffix(".parquet")
    return f"read_parquet('{pattern}')"


def _has_relation(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    query = (
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?"
    )
    return con.execute(query, [schema, name]).fetchone()[0] > 0


def basic_counts(con: duckdb.DuckDBPyConnection, truth_dir: Path) -> Metrics:
    """Persons generated against records and customers the warehouse found."""
    persons, members = con.execute(
        f"select count(*), count(*) filter (where is_member) from {_truth(truth_dir, 'persons')}"
    ).fetchone()
    metrics: Metrics = {"persons_generated": persons, "persons_with_member_record": members}
    if _has_relation(con, "staging", "stg_crm__customers"):
        metrics["member_records_staged"] = con.execute(
            "select count(distinct customer_ref) from staging.stg_crm__customers"
        ).fetchone()[0]
    if _has_relation(con, "marts", "customer_360"):
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
        if not _has_relation(con, "raw", source):
            metrics[f"raw_rows_{source}"] = "not available: raw view missing"
            continue
        seen = con.execute(f"select count(*) from raw.{source}").fetchone()[0]
        metrics[f"raw_rows_{source}"] = seen
        metrics[f"raw_rows_{source}_generated"] = generated
        metrics[f"planted_bad_rows_{source}"] = sum(manifest["bad_rows"][source].values())
    return metrics


METRIC_GROUPS: dict[str, MetricGroup] = {
    "basic": basic_counts,
    "raw": raw_completeness,
}


def evaluate(warehouse_path: Path, truth_dir: Path) -> dict[str, Metrics]:
    if not (truth_dir / "manifest.json").exists():
        raise FileNotFoundError(f"{truth_dir}: no manifest.json; is this a generator truth folder?")
    if not warehouse_path.exists():
        raise FileNotFoundError(f"{warehouse_path}: warehouse not found; run the pipeline first")
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
