"""An incremental refresh gives the same public tables as a full rebuild on the same data."""

import shutil
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import yaml
from dbtrunner import dbt_build, dbt_show_value

from orchestration.settings import PROJECT_DIR

sys.path.insert(0, str(PROJECT_DIR / "bench"))
from cut_off import built_as_of_date, write_cut_off  # noqa: E402

NO_TESTS = ("--exclude", "resource_type:test", "resource_type:unit_test")


def first_row(warehouse: Path, sql: str, params=()) -> tuple:
    """The first row of a query on a warehouse, opened read-only and closed again."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params).fetchone()


def last_order_day(raw: Path) -> date:
    """The day of the newest order in a raw export."""
    with duckdb.connect() as con:
        return con.execute(
            "select max(try_cast(ordered_at as timestamp))::date"
            f" from read_parquet('{raw / 'orders'}/*.parquet')"
        ).fetchone()[0]


# Customer ids are stable across builds, so the daily roll-ups must be equal too: their old
# rows hold what a public table may show only at some cut-offs (a previous purchase day).
ROLL_UPS = [
    ("intermediate", "int_daily_orders_per_customer"),
    ("intermediate", "int_daily_items_per_customer"),
    ("intermediate", "int_daily_events_per_customer"),
    ("intermediate", "int_daily_category_sales"),
]


def table_digests(warehouse: Path, tables=None) -> dict[str, tuple[int, int]]:
    """Row count and an order-insensitive hash of every row of each (schema, table); by
    default every public table: the marts, and the audit tables (quarantined rows among them)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = (
            tables
            or con.execute(
                "select schema_name, table_name from duckdb_tables()"
                " where schema_name in ('marts', 'audit') order by 1, 2"
            ).fetchall()
        )
        digests = {}
        for schema, table in tables:
            columns = [
                row[0]
                for row in con.execute(
                    "select column_name from duckdb_columns()"
                    " where schema_name = ? and table_name = ? order by column_index",
                    [schema, table],
                ).fetchall()
            ]
            row = ", ".join(f'"{column}"' for column in columns)
            # sum, not xor: two identical rows must not cancel out
            digests[f"{schema}.{table}"] = con.execute(
                f"select count(*), coalesce(sum(hash(row({row})) % 1000000007), 0)"
                f" from {schema}.{table}"
            ).fetchone()
        return digests
    finally:
        con.close()


@pytest.fixture(scope="module")
def day_before(tiny_dataset, tmp_path_factory) -> Path:
    """The tiny data as exported at the end of the day before its as_of_date."""
    root = tmp_path_factory.mktemp("day_before")
    raw = tiny_dataset / "raw"
    day = dbt_show_value(raw, root / "probe.duckdb", "select {{ as_of_date() }} - 1")
    write_cut_off(raw, root / "raw", date.fromisoformat(str(day)))
    return root / "raw"


LATE_DAYS_BACK = 40  # the day whose afternoon of events the D - 1 export lacks: before a month-end


@pytest.fixture(scope="module")
def late_day(day_before) -> datetime:
    """Midnight of the day LATE_DAYS_BACK before the last day of the D - 1 export."""
    last = last_order_day(day_before)
    return datetime.combine(last - timedelta(days=LATE_DAYS_BACK), datetime.min.time())


def corrected_days(late_day: datetime) -> tuple[date, date]:
    """The days among which D's export corrects an event: a fortnight or so before late_day."""
    return late_day.date() - timedelta(days=17), late_day.date() - timedelta(days=10)


@pytest.fixture(scope="module")
def refreshed_and_rebuilt(
    tiny_dataset, day_before, late_day, tmp_path_factory
) -> tuple[Path, Path, dict]:
    """Built on the export of the day before the data's as_of_date D, then refreshed with D:
    D's orders and events, and its new members and the devices it stitches to known ones, so
    identifiers move between customers. The D - 1 export also lacks the afternoon of events of
    a day six weeks back (an app's offline buffer), which D's export brings, far older than
    the lookback and before the last month-end cut-off of the feature history; and D's export
    refunds an order of a month before that, older than the orders' lookback and before the
    month-end cut-off before, and corrects the type of an event of a fortnight before it (the
    day's count of events unchanged). And a copy of the D - 1 warehouse rebuilt in full at D
    (--full-refresh: every incremental model from scratch). Both start from the D - 1
    warehouse because customer ids are stable across builds (int_identity__customer_ids keeps
    the ids its identifiers had), so only a rebuild with the same past gets the same ids."""
    root = tmp_path_factory.mktemp("incremental")
    raw = tiny_dataset / "raw"
    (root / "refreshed").mkdir()
    (root / "rebuilt").mkdir()
    refreshed = root / "refreshed" / "warehouse.duckdb"
    rebuilt = root / "rebuilt" / "warehouse.duckdb"
    buffered = keep_rows(day_before, root / "buffered", {"events": without_afternoon(late_day)})
    # a refund of a month before the late afternoon: a cut-off that only the refund changes
    refund = member_order(raw, "refunded", *(late_day.date() - timedelta(days=n) for n in (30, 20)))
    buffered = with_order_status(buffered, root / "unrefunded", refund, "completed")
    # and an event of a fortnight before the late afternoon that D's export corrects
    corrected, _ = device_event(raw, "add_to_cart", *corrected_days(late_day))
    buffered = with_value(
        buffered,
        root / "uncorrected",
        "events",
        ("event_id", corrected),
        ("event_type", "page_view"),
    )
    dbt_build(buffered, refreshed, *NO_TESTS)
    shutil.copyfile(refreshed, rebuilt)
    before = table_digests(refreshed)
    dbt_build(raw, refreshed, *NO_TESTS)
    # The tag history cannot be rebuilt (it records what earlier runs saw): the rebuilt
    # warehouse extends day D - 1's history from its own rebuilt tags.
    dbt_build(raw, rebuilt, "--full-refresh", *NO_TESTS, "customer_tag_history")
    dbt_build(raw, rebuilt, "--select", "customer_tag_history", *NO_TESTS)
    return refreshed, rebuilt, before


def test_an_incremental_refresh_equals_a_full_rebuild_in_every_public_table(
    refreshed_and_rebuilt,
):
    refreshed, rebuilt, _ = refreshed_and_rebuilt
    from_refresh = table_digests(refreshed) | table_digests(refreshed, ROLL_UPS)
    from_scratch = table_digests(rebuilt) | table_digests(rebuilt, ROLL_UPS)
    assert {"marts.customer_feature_history", "audit.quarantine_rows"} <= set(from_scratch)
    assert sorted(from_refresh) == sorted(from_scratch)
    different = [t for t in from_scratch if from_refresh[t] != from_scratch[t]]
    assert different == []


def test_the_appended_day_reaches_the_public_tables(refreshed_and_rebuilt):
    """Guards the test above against comparing two copies of the old day."""
    refreshed, _, before = refreshed_and_rebuilt
    after = table_digests(refreshed)
    assert after["marts.customer_features"] != before["marts.customer_features"]
    as_of = built_as_of_date(refreshed)
    con = duckdb.connect(str(refreshed), read_only=True)
    try:
        days = con.execute(
            "select count(distinct order_date), max(order_date)"
            " from intermediate.int_daily_orders_per_customer"
        ).fetchone()
        newest_event = con.execute(
            "select max(cast(event_at as date)) from staging.stg_behaviour__events"
        ).fetchone()[0]
    finally:
        con.close()
    assert days[1] == as_of
    assert newest_event == as_of  # checked by the incremental base model


def test_events_delivered_weeks_late_reach_the_base_table_and_the_roll_up(
    refreshed_and_rebuilt, tiny_dataset, late_day
):
    """Names what the comparison above finds when a refresh never reads the late afternoon:
    after the refresh, the base table holds every raw event of that day, and the roll-up
    counts the events the full rebuild counts there (with nothing watching for late days, the
    base table held 6 of the day's 47 events and the roll-up counted 6 instead of 47)."""
    refreshed, rebuilt, _ = refreshed_and_rebuilt
    con = duckdb.connect()
    try:
        raw_rows, late_rows = con.execute(
            "select count(*), count(*) filter (where hour(try_cast(event_at as timestamp)) >= 12)"
            f" from read_parquet('{tiny_dataset / 'raw' / 'events'}/*.parquet')"
            " where try_cast(event_at as timestamp)::date = ?",
            [late_day.date()],
        ).fetchone()
    finally:
        con.close()
    assert late_rows > 0  # the afternoon the D - 1 export lacked

    def counted(warehouse: Path) -> tuple[int, int]:
        return first_row(
            warehouse,
            "select (select count(*) from staging.base_behaviour__events"
            "        where cast(event_at as date) = $day),"
            "    (select sum(events) from intermediate.int_daily_events_per_customer"
            "        where event_date = $day)",
            {"day": late_day.date()},
        )

    assert counted(refreshed) == (raw_rows, counted(rebuilt)[1])


def test_an_event_corrected_weeks_later_reaches_the_usable_events_and_the_roll_up(
    refreshed_and_rebuilt, tiny_dataset, late_day
):
    """The event whose type D's export corrects, on a day older than the lookback whose
    count of events did not change: after the refresh the usable events hold the corrected
    type, and the roll-up counts the day's add-to-carts as the full rebuild does."""
    refreshed, rebuilt, _ = refreshed_and_rebuilt
    event, day = device_event(tiny_dataset / "raw", "add_to_cart", *corrected_days(late_day))

    def seen(warehouse: Path) -> tuple[str, int]:
        return first_row(
            warehouse,
            "select (select event_type from staging.stg_behaviour__events where event_id = $id),"
            "    (select sum(add_to_carts) from intermediate.int_daily_events_per_customer"
            "        where event_date = $day)",
            {"id": event, "day": day},
        )

    assert seen(rebuilt)[0] == "add_to_cart"
    assert seen(refreshed) == seen(rebuilt)


def test_a_day_fingerprint_sees_a_correction_made_to_both_copies_of_a_repeated_row(
    tiny_dataset, tmp_path
):
    """Raw events repeat (an export sent twice), and order lines have no id of their own: an
    xor over rows cancels a pair, so correcting both copies of a row left a day's fingerprint
    as it was. The day's rows as five tables, fingerprinted by fingerprint_per_day."""
    warehouse = tmp_path / "warehouse.duckdb"
    days = {
        "pair": ["a", "a"],
        "pair_corrected": ["b", "b"],
        "single": ["a"],
        "two": ["a", "b"],
        "two_reordered": ["b", "a"],
    }
    with duckdb.connect(str(warehouse)) as con:
        for name, values in days.items():
            rows = ", ".join(f"(timestamp '2025-01-01 10:00', '{v}')" for v in values)
            con.execute(f"create table main.{name} as from (values {rows}) as t(event_at, v)")
    fingerprint = {
        name: "(select fingerprint from ({{ fingerprint_per_day(adapter.get_relation(target.database,"
        f" 'main', '{name}'), 'event_at') }}}}))"
        for name in days
    }
    checks = [
        f"{fingerprint['pair']} <> {fingerprint['pair_corrected']}",
        f"{fingerprint['pair']} <> {fingerprint['single']}",
        f"{fingerprint['two']} = {fingerprint['two_reordered']}",
    ]
    found = dbt_show_value(
        tiny_dataset / "raw", warehouse, f"select concat_ws(',', {', '.join(checks)})"
    )
    assert found == "true,true,true"


def test_the_feature_history_is_the_same_whatever_the_cut_offs_per_query(
    refreshed_and_rebuilt, tiny_dataset, tmp_path
):
    """The history is built a few cut-offs per query (the model's query, then a post-hook for
    the rest); one query for all twelve must give the same rows."""
    _, rebuilt, _ = refreshed_and_rebuilt
    raw = tiny_dataset / "raw"
    one_query = tmp_path / "warehouse.duckdb"
    shutil.copyfile(rebuilt, one_query)
    dbt_build(
        raw, one_query, "--select", "customer_feature_history", "--full-refresh",
        "--vars", "{feature_history_cutoffs_per_query: 12}", *NO_TESTS,
    )  # fmt: skip
    batched = table_digests(rebuilt)["marts.customer_feature_history"]
    assert batched[0] > 1_000  # a row per customer and cut-off: it was built
    assert table_digests(one_query)["marts.customer_feature_history"] == batched


def test_a_refresh_at_an_inferred_as_of_date_extends_the_tag_history(refreshed_and_rebuilt):
    """Day D's intervals survive the refresh at D+1 (as_of_date inferred both times): closed
    at D+1 where the value changed, still open where it did not. The rewind once compared
    with the as_of_date seen at parse time, 1970-01-01, and erased every row."""
    refreshed, _, _ = refreshed_and_rebuilt
    as_of = built_as_of_date(refreshed)
    con = duckdb.connect(str(refreshed), read_only=True)
    try:
        intervals = dict(
            con.execute(
                "select case when valid_from = ? then 'opened today'"
                " when valid_to = ? then 'closed today'"
                " when valid_to is null then 'still open' else 'closed earlier' end, count(*)"
                " from marts.customer_tag_history group by 1",
                [as_of, as_of],
            ).fetchall()
        )
        tags = con.execute("select count(*) from marts.customer_tags").fetchone()[0]
    finally:
        con.close()
    assert intervals.get("still open", 0) > 0.5 * tags, intervals  # most tags did not change
    assert intervals.get("closed today", 0) > 0, intervals  # the new day changed some
    assert intervals.get("still open", 0) + intervals.get("opened today", 0) == tags


def test_a_refresh_recomputes_the_past_only_of_customers_whose_identifiers_changed(
    tmp_path, tiny_dataset
):
    """A planted mark on every roll-up row and feature-history row before the last day: after
    the refresh, rows older than the lookback keep it exactly for the customers whose
    identifiers did not change; those that changed (the day's new members, stitched devices,
    merges) are recomputed in full, and everyone's roll-up rows of the lookback days (the
    newest day built and the incremental_lookback_days before it; order_lookback_days for the
    order roll-ups). So the refresh did not rebuild from scratch, and the comparison with a
    full rebuild above covers the targeted path."""
    warehouse = tmp_path / "warehouse.duckdb"
    # A week of new data, so that some identifiers change: the tiny data's last days are
    # quiet (an order or four a day) and bring no new member or device.
    day = dbt_show_value(
        tiny_dataset / "raw", tmp_path / "probe.duckdb", "select {{ as_of_date() }} - 7"
    )
    write_cut_off(tiny_dataset / "raw", tmp_path / "before", date.fromisoformat(str(day)))
    select = ("--select", "+customer_feature_history", *NO_TESTS)
    dbt_build(tmp_path / "before", warehouse, *select)
    dbt_vars = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
    days, order_days = dbt_vars["incremental_lookback_days"], dbt_vars["order_lookback_days"]
    marks = {  # the column marked, the day column, the lookback
        "intermediate.int_daily_orders_per_customer": ("orders_placed", "order_date", order_days),
        "intermediate.int_daily_events_per_customer": ("events", "event_date", days),
        "intermediate.int_daily_items_per_customer": ("units", "order_date", order_days),
        "marts.customer_feature_history": ("order_count", "as_of_date", days),
    }
    con = duckdb.connect(str(warehouse))
    for table, (column, _, _) in marks.items():
        con.execute(f"update {table} set {column} = -1")
    # re-aggregated for everyone: the lookback before each roll-up's newest day
    newest = {
        table: con.execute(f"select max({day}) from {table}").fetchone()[0]
        for table, (_, day, _) in marks.items()
    }
    newest["marts.customer_feature_history"] = newest["intermediate.int_daily_orders_per_customer"]
    lookback_from = {
        table: newest[table] - timedelta(days=back) for table, (_, _, back) in marks.items()
    }
    con.close()
    dbt_build(tiny_dataset / "raw", warehouse, *select)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        changed = {
            row[0]
            for row in con.execute(
                "select customer_id from intermediate.int_identity__changed_customers"
            ).fetchall()
        }
        assert 0 < len(changed) < 100, len(changed)  # of about 400 customers
        for table, (column, day, _) in marks.items():
            rows = con.execute(
                f"select customer_id, {column} = -1 from {table} where {day} < ?",
                [lookback_from[table]],
            ).fetchall()
            kept = [marked for customer, marked in rows if customer not in changed]
            redone = [marked for customer, marked in rows if customer in changed]
            assert kept and all(kept), table
            assert redone and not any(redone), table
            if table.startswith("intermediate."):
                recent = con.execute(
                    f"select count(*), count(*) filter (where {column} = -1) from {table}"
                    f" where {day} between ? and ?",
                    [lookback_from[table], newest[table]],
                ).fetchone()
                assert recent[0] > 0 and recent[1] == 0, (table, recent)
    finally:
        con.close()


def keep_rows(raw: Path, out: Path, keep: dict[str, str]) -> Path:
    """OUT: a copy of RAW in which each source in KEEP keeps only the rows its SQL condition
    holds for, and the other sources are linked."""
    shutil.copytree(raw, out, symlinks=True, ignore=shutil.ignore_patterns(*keep))
    con = duckdb.connect()
    for source, condition in keep.items():
        (out / source).mkdir()
        con.execute(
            f"copy (select * from read_parquet('{raw / source}/*.parquet') where {condition})"
            f" to '{out / source / 'part.parquet'}' (format parquet)"
        )
    con.close()
    return out


def happened_before(column: str, moment: datetime) -> str:
    """A keep_rows condition: the rows whose column says they happened before the moment."""
    return f"try_cast({column} as timestamp) < timestamp '{moment}'"


def without_afternoon(day: datetime) -> str:
    """A keep_rows condition for events: all but those of the afternoon of DAY (midnight)."""
    return (
        f"not coalesce({happened_before('event_at', day + timedelta(days=1))}"
        f" and not {happened_before('event_at', day + timedelta(hours=12))}, false)"
    )


def keep_before(raw: Path, out: Path, cuts: dict[str, tuple[str, datetime]]) -> Path:
    """keep_rows: each source in CUTS keeps the rows whose (column, moment) says they happened
    before the moment."""
    return keep_rows(raw, out, {
        source: happened_before(column, moment) for source, (column, moment) in cuts.items()
    })  # fmt: skip


def member_order(raw: Path, status: str, first_day: date, last_day: date) -> str:
    """The first (by id) order with STATUS placed between the two days in RAW by a member who
    bought on no other day between them and again later: so its purchase day, once the order
    is refunded or not, is the previous purchase day of a later one, or not."""
    with duckdb.connect() as con:
        return con.execute(
            f"""with orders as (
                select order_id, customer_ref, status,
                    try_cast(ordered_at as timestamp)::date as day
                from read_parquet('{raw / "orders"}/*.parquet')
                where customer_ref is not null
            )
            select order_id from orders as candidate
            where status = $status and day between $first and $last
                and not exists (
                    select 1 from orders as other where other.customer_ref = candidate.customer_ref
                    and other.day between $first and $last and other.order_id <> candidate.order_id
                )
                and exists (
                    select 1 from orders as later where later.customer_ref = candidate.customer_ref
                    and later.day > $last and later.status = 'completed'
                )
            order by order_id limit 1""",
            {"status": status, "first": first_day, "last": last_day},
        ).fetchone()[0]


def with_value(raw: Path, out: Path, source: str, key: tuple[str, str], change: tuple[str, str]):
    """OUT: a copy of RAW (other sources linked) in which the row of SOURCE whose key column
    holds the key's value has another value in one column: (column, value)."""
    shutil.copytree(raw, out, symlinks=True, ignore=shutil.ignore_patterns(source))
    (out / source).mkdir()
    (key_column, key_value), (column, value) = key, change
    with duckdb.connect() as con:
        con.execute(
            f"copy (select * replace (case when {key_column} = $key then $value else {column}"
            f" end as {column}) from read_parquet('{raw / source}/*.parquet'))"
            f" to '{out / source / 'part.parquet'}' (format parquet)",
            {"key": key_value, "value": value},
        )
    return out


def with_order_status(raw: Path, out: Path, order_id: str, status: str) -> Path:
    """OUT: a copy of RAW (other sources linked) in which one order has another status."""
    return with_value(raw, out, "orders", ("order_id", order_id), ("status", status))


def device_event(raw: Path, event_type: str, first_day: date, last_day: date) -> tuple[str, date]:
    """The first (by id) event of EVENT_TYPE between the two days logged under a device in
    RAW, sent once, and its day (a device is rarely shared: the event counts for its owner in
    the events roll-up)."""
    with duckdb.connect() as con:
        found = con.execute(
            "select event_id, any_value(try_cast(event_at as timestamp)::date)"
            f" from read_parquet('{raw / 'events'}/*.parquet')"
            " where event_type = $type and id_type = 'device_id'"
            " and try_cast(event_at as timestamp)::date between $first and $last"
            " group by event_id having count(*) = 1 order by event_id limit 1",
            {"type": event_type, "first": first_day, "last": last_day},
        ).fetchone()
    assert found is not None, f"no {event_type} event under a device from {first_day} to {last_day}"
    return found


def test_a_refresh_recomputes_the_cut_offs_that_late_rows_or_a_new_source_change(
    tmp_path, day_before
):
    """Changes that move no identifier but change old history rows, each older than the
    as_of_date's lookback. The events export stops at noon six days back, and the rest of that
    day arrives later with nothing newer: the events roll-up re-aggregates that day though its
    newest day did not move, so the cut-off on it is recomputed. Then the afternoon of events
    of three weeks back, missing so far (an app's offline buffer), arrives: the roll-up
    re-aggregates that day (late_days.sql) and the cut-offs after it are recomputed. Then the
    ticket export, ten days behind, catches up (tickets are read from staging, not a roll-up):
    the cut-offs from its first late ticket on are recomputed. Then an order of three weeks
    ago is refunded: it leaves the customer's purchases in the orders roll-up, and the
    cut-offs after it are recomputed. Then one of seven weeks ago, older than the orders'
    lookback (late_days.sql: its day's orders changed), with the same result. Every other
    cut-off keeps its rows. Then surveys are
    delivered for the first time, which changes the history's definition: it is rebuilt."""
    last = last_order_day(day_before)
    old, tickets_cutoff, events_cutoff = (last - timedelta(days=n) for n in (60, 10, 6))
    events_day = datetime.combine(events_cutoff, datetime.min.time())
    tickets_until = ("opened_at", datetime.combine(last - timedelta(days=11), datetime.min.time()))
    no_surveys = {"surveys": ("answered_at", datetime(1900, 1, 1))}
    buffered_day = datetime.combine(last - timedelta(days=21), datetime.min.time())
    tickets_and_surveys = {
        "support_tickets": happened_before(*tickets_until),
        "surveys": happened_before(*no_surveys["surveys"]),
    }

    def events_until(name: str, moment: datetime, buffered: bool = True) -> Path:
        """The export with events up to the moment, with or without the afternoon of
        buffered_day, and the tickets and surveys of the first steps."""
        events = happened_before("event_at", moment)
        if buffered:
            events += f" and {without_afternoon(buffered_day)}"
        return keep_rows(day_before, tmp_path / name, {"events": events, **tickets_and_surveys})

    half_day = events_until("half_day", events_day + timedelta(hours=12))
    whole_day = events_until("whole_day", events_day + timedelta(days=1))
    unbuffered = events_until("unbuffered", events_day + timedelta(days=1), buffered=False)
    late_tickets = keep_before(day_before, tmp_path / "late_tickets", no_surveys)
    con = duckdb.connect()
    first_late_ticket = con.execute(
        f"select min(try_cast(opened_at as timestamp))::date from read_parquet('{late_tickets}"
        f"/support_tickets/*.parquet') where try_cast(opened_at as timestamp) >= ?",
        [tickets_until[1]],
    ).fetchone()[0]
    late_events, buffered_events = (
        con.execute(
            f"select count(*) from read_parquet('{day_before / 'events'}/*.parquet')"
            " where try_cast(event_at as timestamp) between ? and ?",
            [day + timedelta(hours=12), day + timedelta(days=1)],
        ).fetchone()[0]
        for day in (events_day, buffered_day)
    )
    con.close()
    assert first_late_ticket <= tickets_cutoff and late_events > 0 and buffered_events > 0
    warehouse = tmp_path / "warehouse.duckdb"
    cutoffs = [str(day) for day in (old, tickets_cutoff, events_cutoff)]
    select = (
        "--select", "+customer_feature_history", *NO_TESTS,
        "--vars", f"{{as_of_date: '{last}', feature_history_cutoffs: {cutoffs}}}",
    )  # fmt: skip

    def refresh_marked(raw: Path) -> dict:
        """Mark every history row, refresh with RAW: the rows still marked per cut-off."""
        con = duckdb.connect(str(warehouse))
        try:
            con.execute("update marts.customer_feature_history set order_count = -1")
        finally:
            con.close()
        dbt_build(raw, warehouse, *select)
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            return dict(
                con.execute(
                    "select as_of_date, count(*) filter (where order_count = -1)"
                    " from marts.customer_feature_history group by 1"
                ).fetchall()
            )
        finally:
            con.close()

    dbt_build(half_day, warehouse, *select)
    marked = refresh_marked(whole_day)  # the events' last day fills in
    assert marked[events_cutoff] == 0
    assert marked[tickets_cutoff] > 100 and marked[old] > 100  # no rebuild
    marked = refresh_marked(unbuffered)  # the afternoon of three weeks back arrives
    assert marked[tickets_cutoff] == 0 and marked[events_cutoff] == 0
    assert marked[old] > 100
    marked = refresh_marked(late_tickets)  # the tickets catch up (and the events)
    assert marked[tickets_cutoff] == 0 and marked[events_cutoff] == 0
    assert marked[old] > 100

    def refunds_that_day(order_id: str) -> int:
        return first_row(
            warehouse,
            "select refunds from intermediate.int_daily_orders_per_customer as daily"
            " inner join intermediate.int_orders_attributed as attributed"
            "  on attributed.customer_id = daily.customer_id"
            "  and cast(attributed.ordered_at as date) = daily.order_date"
            " where attributed.order_id = ?",
            [order_id],
        )[0]

    export = late_tickets
    for name, first_day, last_day in (
        ("refunded", last - timedelta(days=25), tickets_cutoff - timedelta(days=5)),
        ("refunded_late", old + timedelta(days=5), last - timedelta(days=35)),
    ):  # an order of three weeks ago is refunded; then one of seven weeks ago, past the lookback
        order_id = member_order(day_before, "completed", first_day, last_day)
        export = with_order_status(export, tmp_path / name, order_id, "refunded")
        refunds_before = refunds_that_day(order_id)
        marked = refresh_marked(export)
        assert refunds_that_day(order_id) == refunds_before + 1, name
        assert marked[tickets_cutoff] == 0 and marked[events_cutoff] == 0, name
        assert marked[old] > 100, name
    assert refresh_marked(day_before) == {old: 0, tickets_cutoff: 0, events_cutoff: 0}
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        answered = con.execute(
            "select count(latest_nps_score) from marts.customer_feature_history"
        ).fetchone()[0]
    finally:
        con.close()
    assert answered > 0


def test_a_rerun_of_an_earlier_day_quarantines_the_events_after_it(tmp_path, tiny_dataset):
    """The base events table is checked incrementally; rerunning a day ten days back (an
    operator's backfill of a missed night) must quarantine the events after that day as in the
    future, as a full build as of that day does, not keep them usable."""
    raw, warehouse = tiny_dataset / "raw", tmp_path / "warehouse.duckdb"
    select = ("--select", "+base_behaviour__events", *NO_TESTS)
    last = dbt_show_value(raw, tmp_path / "probe.duckdb", "select {{ as_of_date() }}")
    earlier = date.fromisoformat(str(last)) - timedelta(days=10)
    dbt_build(raw, warehouse, *select)
    dbt_build(raw, warehouse, *select, "--vars", f"{{as_of_date: '{earlier}'}}")
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        usable_after, quarantined_after = con.execute(
            "select count(*) filter (where quarantine_reason is null),"
            " count(*) filter (where quarantine_reason = 'future_timestamp:event_at')"
            " from staging.base_behaviour__events where cast(event_at as date) > ?",
            [earlier],
        ).fetchone()
    finally:
        con.close()
    assert usable_after == 0 and quarantined_after > 0
