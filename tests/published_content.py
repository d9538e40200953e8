"""Content hashes of a published DuckDB file, for the rerun and crash-recovery tests."""

from pathlib import Path

import duckdb

# The log of fits gains a row per model on every run, stamped with the run (id, start time),
# and its metrics and parameters hold what differs on a rerun by design: fit durations, and
# the segments' warm start from the previous fit (inherited ids, centroid shifts of ~1e-16).
# Between two runs on the same data, the latest fit of each model must cover the same date
# and data window; the fits' outputs are compared in their own tables.
RUN_INDEPENDENT = {
    "model_runs": ("model_name", "as_of_date", "data_window_start", "data_window_end"),
}


def content_hashes(database: Path) -> dict[str, tuple[int, str]]:
    """(rows, hash) per published table, blind to row order; the publish stamp left out."""
    con = duckdb.connect(str(database), read_only=True)
    try:
        tables = [r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()]
        return {table: _table_hash(con, table) for table in tables if table != "publish_info"}
    finally:
        con.close()


def _table_hash(con: duckdb.DuckDBPyConnection, table: str) -> tuple[int, str]:
    relation = f"main.{table}"
    kept = RUN_INDEPENDENT.get(table)
    if kept:
        relation = (
            f"(select {', '.join(kept)} from {relation}"
            " qualify row_number() over (partition by model_name order by created_at desc) = 1)"
        )
    return con.execute(
        "select count(*), md5(coalesce(string_agg(h, ',' order by h), ''))"
        f" from (select md5(cast(t as varchar)) as h from {relation} as t)"
    ).fetchone()
