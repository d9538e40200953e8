"""Derive "one more day of data" from a raw folder: `python bench/next_day.py RAW OUT DAY`.

OUT becomes a raw folder holding every file of RAW (symlinked, never copied or written) plus one
new file per daily source (orders, order_items, events) with the rows of DAY shifted by one day
under fresh ids (`<id>-d1`), in a file named by the new day. OUT can be the RAW of
another call: one more night. The other sources (customers, identity links, tickets, surveys,
campaigns) are unchanged: a day of trade and browsing by the same people, which is what a
nightly refresh mostly sees. DAY is the as_of_date a build of RAW inferred (`built_as_of_date`),
so the new day becomes as_of_date + 1; taking it from the build, not a copy of its rule, keeps
the two from drifting.
Same input, same output (the rows are a deterministic function of RAW and DAY).
"""

from __future__ import annotations

import shutil
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestration.raw_contract import CONTRACT  # noqa: E402
from orchestration.raw_files import source_files  # noqa: E402

TS = "%Y-%m-%d %H:%M:%S"  # the generator's text timestamp format


def built_as_of_date(warehouse: Path) -> date:
    """The as_of_date a build of the warehouse used (read only: run it after the build)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute("select max(as_of_date) from marts.customer_features").fetchone()[0]
    finally:
        con.close()


def write_next_day(raw: Path, out: Path, day: date) -> None:
    """Link RAW's files into OUT and add the rows of DAY again, one day later."""
    raw, out = raw.resolve(), out.resolve()
    # Named by the new day, after the generator's part files: a folder made by an earlier call
    # can be RAW again (one more night), and its files are links this call must not write through.
    new_file = f"zz-next-{day + timedelta(days=1)}.parquet"
    if out.exists():
        shutil.rmtree(out)
    for source in CONTRACT.sources:
        files = source_files(raw, source)
        if files:
            (out / source.name).mkdir(parents=True)
        for path in files:
            (out / source.name / path.name).symlink_to(path)
    con = duckdb.connect()
    shift = f"strftime(try_cast({{col}} as timestamp) + interval 1 day, '{TS}')"
    same_day = f"cast(try_cast({{col}} as timestamp) as date) = date '{day}'"
    orders = f"read_parquet('{raw}/orders/*.parquet', union_by_name = true)"
    con.execute(
        f"""
        copy (
            select * replace (
                order_id || '-d1' as order_id, {shift.format(col="ordered_at")} as ordered_at
            )
            from {orders} where {same_day.format(col="ordered_at")}
        ) to '{out}/orders/{new_file}' (format parquet)
        """
    )
    if (out / "order_items").exists():
        con.execute(
            f"""
            copy (
                select items.* replace (items.order_id || '-d1' as order_id)
                from read_parquet('{raw}/order_items/*.parquet', union_by_name = true) as items
                where items.order_id in (
                    select order_id from {orders} where {same_day.format(col="ordered_at")}
                )
            ) to '{out}/order_items/{new_file}' (format parquet)
            """
        )
    if (out / "events").exists():
        con.execute(
            f"""
            copy (
                select * replace (
                    event_id || '-d1' as event_id,
                    session_id || '-d1' as session_id,
                    {shift.format(col="event_at")} as event_at
                )
                from read_parquet('{raw}/events/*.parquet', union_by_name = true)
                where {same_day.format(col="event_at")}
            ) to '{out}/events/{new_file}' (format parquet)
            """
        )
    con.close()


if __name__ == "__main__":
    day = date.fromisoformat(sys.argv[3])
    write_next_day(Path(sys.argv[1]), Path(sys.argv[2]), day)
    print(f"copied the rows of {day} + 1 day")
