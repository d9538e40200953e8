"""Content hashes of a published DuckDB file, for the rerun and crash-recovery tests."""

from pathlib import Path

import duckdb

# The log of fits gains rows on every run, each stamped with its run: what must not change
# between two runs on the same data is the latest fit of each model, less those stamps.
RUN_STAMPED = {"model_runs": ("run_id", "created_at", "duration_seconds", "code_version")}


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
    stamped = RUN_STAMPED.get(table)
    if stamped:
        columns = [r[0] for r in con.execute(f"select * from {relation} limit 0").description]
        kept = ", ".join(f'"{c}"' for c in columns if c not in stamped)
        relation = (
            f"(select {kept} from {relation}"
            " qualify row_number() over (partition by model_name order by created_at desc) = 1)"
        )
    return con.execute(
        "select count(*), md5(coalesce(string_agg(h, ',' order by h), ''))"
        f" from (select md5(cast(t as varchar)) as h from {relation} as t)"
    ).fetchone()
