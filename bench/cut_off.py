"""A raw export as it looked at the end of a day: `python bench/cut_off.py RAW OUT [DAY]`.

OUT becomes a raw folder with the rows of RAW dated on or before DAY (default: the day before
the generator's last day, from the truth manifest beside RAW): orders, order lines, events, new
members, identity links, tickets, campaign sends and survey answers, with the fields filled in
later blanked (a resolution, an open or click, a record update). Rows whose date does not parse
are kept: an export cannot tell when they happened.

The bench builds the export of the day before the last, then the whole data on the same
warehouse: a real nightly refresh, whose day brings its own trade, its new customers and the
devices and accounts it stitches to known ones, as the generator made them. (Repeating a day's
rows under fresh ids, as this bench once did, brings no new identity, so it skipped the work an
identity change costs.) The tests use it for the same night on the tiny data and to check that
features at a cut-off ignore every later row. Same input, same output.
"""

from __future__ import annotations

import json
import shutil
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestration.raw_contract import CONTRACT  # noqa: E402
from orchestration.raw_files import source_files  # noqa: E402

# The column that dates each source's rows (order lines are dated by their order), and the
# fields a later day fills in, each with the column that dates it.
DATED_BY = {
    "customers": "registered_at",
    "identity_links": "observed_at",
    "orders": "ordered_at",
    "events": "event_at",
    "support_tickets": "opened_at",
    "campaign_touches": "sent_at",
    "surveys": "answered_at",
}
FILLED_LATER = {
    "customers": {"updated_at": "updated_at"},
    "support_tickets": {"resolved_at": "resolved_at", "satisfaction": "resolved_at"},
    "campaign_touches": {"opened_at": "opened_at", "clicked_at": "clicked_at"},
}


def built_as_of_date(warehouse: Path) -> date:
    """The as_of_date a build of the warehouse used (read only: run it after the build)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute("select max(as_of_date) from marts.customer_features").fetchone()[0]
    finally:
        con.close()


def generated_last_day(raw: Path) -> date:
    """The last day the generator simulated, from the truth manifest beside RAW."""
    manifest = raw.resolve().parent / "truth" / "manifest.json"
    if not manifest.exists():
        raise SystemExit(f"{manifest} not found: pass the day to cut at")
    return date.fromisoformat(json.loads(manifest.read_text())["data_end"])


def write_cut_off(raw: Path, out: Path, day: date) -> None:
    """Write OUT: RAW as exported at the end of DAY."""
    raw, out = raw.resolve(), out.resolve()
    if out.exists():
        shutil.rmtree(out)
    con = duckdb.connect()

    def later(column: str) -> str:
        return f"coalesce(try_cast({column} as timestamp) >= date '{day}' + 1, false)"

    def relation(source_name: str) -> str:
        files = source_files(raw, CONTRACT[source_name])
        not_parquet = [path for path in files if path.suffix != ".parquet"]
        if not_parquet:
            raise SystemExit(f"{not_parquet[0]}: only Parquet raw files can be cut by day")
        return (
            f"read_parquet([{', '.join(repr(str(path)) for path in files)}], union_by_name = true)"
        )

    for source in CONTRACT.sources:
        files = source_files(raw, source)
        if not files:
            continue
        (out / source.name).mkdir(parents=True)
        columns = [
            row[0]
            for row in con.execute(f"describe select * from {relation(source.name)}").fetchall()
        ]
        if source.name == "order_items":
            placed_later = (
                f"select order_id from {relation('orders')}"
                f" where {later('ordered_at')} and order_id is not null"
            )
            where = f"order_id not in ({placed_later})"
        elif DATED_BY.get(source.name) in columns:
            where = f"not {later(DATED_BY[source.name])}"
        else:  # nothing dates the rows: all of them
            for path in files:
                (out / source.name / path.name).symlink_to(path)
            continue
        blanked = FILLED_LATER.get(source.name, {})
        selected = ", ".join(
            f'case when {later(blanked[column])} then null else "{column}" end as "{column}"'
            if column in blanked and blanked[column] in columns
            else f'"{column}"'
            for column in columns
        )
        con.execute(
            f"copy (select {selected} from {relation(source.name)} where {where})"
            f" to '{out / source.name / 'cut-off.parquet'}' (format parquet)"
        )
    con.close()


if __name__ == "__main__":
    raw_dir, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
    if len(sys.argv) > 3:
        cut = date.fromisoformat(sys.argv[3])
    else:
        cut = generated_last_day(raw_dir) - timedelta(days=1)
    write_cut_off(raw_dir, out_dir, cut)
    print(f"wrote {out_dir}: {raw_dir} as exported at the end of {cut}")
