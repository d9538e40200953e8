"""Crash safety: a writer killed by SIGKILL at several points leaves the published copy whole at
its previous version and the warehouse usable, and the next run completes without clean-up."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import duckdb
import pytest

from orchestration.publish import CURRENT_LINK, PublicTable, publish, read_publish_info
from orchestration.settings import PROJECT_DIR

TABLES = [PublicTable("customers", "marts.customers", "one row per customer")]

# A child process that publishes (or replaces a table) and parks at one point for the kill:
# the named function is wrapped so that, on its Nth call, it touches `ready` and sleeps.
CHILD = textwrap.dedent(
    """
    import sys, time, pathlib
    import pandas as pd
    from orchestration import publish as p, warehouse as w
    from orchestration.publish import PublicTable
    action, module, function, nth, ready, wh, out = sys.argv[1:]
    target = {"publish": p, "warehouse": w}[module]
    original, calls = getattr(target, function), [0]
    def parked(*args, **kwargs):
        calls[0] += 1
        if calls[0] == int(nth):
            pathlib.Path(ready).touch()
            time.sleep(600)
        return original(*args, **kwargs)
    setattr(target, function, parked)
    if action == "publish":
        p.publish(pathlib.Path(wh), pathlib.Path(out),
                  [PublicTable("customers", "marts.customers", "one row per customer")],
                  run_id="killed0000", export_dir=pathlib.Path(out) / "exports")
    else:
        import duckdb
        con = duckdb.connect(wh)
        frames = (pd.DataFrame({"customer_id": [f"new{b}_{i}" for i in range(100)]})
                  for b in range(5))
        w.replace_table(con, "marts", "customers", frames)
    """
)


def _warehouse(path, rows):
    con = duckdb.connect(str(path))
    con.execute("create schema if not exists marts")
    con.execute(
        "create or replace table marts.customers as"
        f" select 'cu_' || range as customer_id from range({rows})"
    )
    con.close()


def _kill_at(tmp_path, action, module, function, nth, warehouse, out):
    ready = tmp_path / f"ready-{function}-{nth}"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, action, module, function, str(nth), str(ready)]
        + [str(warehouse), str(out)],
        cwd=PROJECT_DIR,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert child.poll() is None, child.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "the child never reached the kill point"
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL


def _published_rows(out):
    info = read_publish_info(out / "customer_profiles.duckdb")
    parquet = out / "parquet" / CURRENT_LINK / "customers.parquet"
    in_parquet = duckdb.connect().execute(f"select count(*) from '{parquet}'").fetchone()[0]
    return info[0]["version"], info[0]["row_count"], in_parquet


# Publish: while copying a table (temporary file half-written), after the new file is complete
# but before the swap (`_fsync` of the temporary file), and between the file swap and the
# Parquet link swap (`_swap_symlink`).
KILL_POINTS = [("_comment", 1), ("_fsync", 1), ("_swap_symlink", 1)]


@pytest.mark.parametrize(("function", "nth"), KILL_POINTS)
def test_a_publish_killed_midway_leaves_the_previous_version_whole_and_the_next_one_succeeds(
    tmp_path, function, nth
):
    warehouse, out = tmp_path / "wh.duckdb", tmp_path / "published"
    _warehouse(warehouse, 3)
    first = publish(warehouse, out, TABLES, run_id="first000", export_dir=tmp_path / "exports")
    _warehouse(warehouse, 5)
    _kill_at(tmp_path, "publish", "publish", function, nth, warehouse, out)

    version, rows, in_parquet = _published_rows(out)
    if function == "_swap_symlink":  # the file was swapped already: new file, old Parquet
        assert (version, rows, in_parquet) == (version, 5, 3) and version != first.version
    else:
        assert (version, rows, in_parquet) == (first.version, 3, 3)

    again = publish(warehouse, out, TABLES, run_id="again000", export_dir=tmp_path / "exports")
    assert _published_rows(out) == (again.version, 5, 5)
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert leftovers == []
    versions = sorted(p.name for p in (out / "parquet").iterdir() if not p.is_symlink())
    assert versions == sorted({first.version, again.version})


def test_a_table_replace_killed_midway_leaves_the_old_table_and_the_next_replace_works(tmp_path):
    warehouse = tmp_path / "wh.duckdb"
    _warehouse(warehouse, 3)
    # Killed with every batch in the side table, just before the swap (the last check).
    _kill_at(tmp_path, "replace", "warehouse", "table_exists", 2, warehouse, tmp_path)
    con = duckdb.connect(str(warehouse))
    assert con.execute("select count(*) from marts.customers").fetchone()[0] == 3
    left = con.execute("select table_name from duckdb_tables() order by 1").fetchall()
    assert left == [("customers",), ("customers__new",)]  # the kill came after the inserts
    import pandas as pd

    from orchestration.warehouse import replace_table

    assert replace_table(con, "marts", "customers", pd.DataFrame({"customer_id": ["a"]})) == 1
    tables = con.execute("select table_name from duckdb_tables() order by 1").fetchall()
    assert tables == [("customers",)]
    con.close()
