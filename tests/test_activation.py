"""Audiences, exports and campaign read-outs on the session's pipeline run (small dataset)."""

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from orchestration.audiences.definitions import load_definitions
from orchestration.audiences.export import export_audience
from orchestration.audiences.members import count_expression
from orchestration.audiences.uplift import uplift_interval
from orchestration.cli import EXIT_BUSY
from orchestration.settings import PROJECT_DIR

CLI = str(Path(sys.executable).with_name("customer-profiles"))


@pytest.fixture(scope="module")
def warehouse(small_pipeline) -> Path:
    return small_pipeline[0] / "warehouse.duckdb"


@pytest.fixture
def con(warehouse):
    con = duckdb.connect(str(warehouse), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def exports(warehouse, tmp_path_factory) -> Path:
    """Every shipped audience exported in both formats, through the command line."""
    out = tmp_path_factory.mktemp("exports")
    for audience in load_definitions(PROJECT_DIR / "audiences.yml").audiences:
        for fmt in ("csv", "parquet"):
            result = subprocess.run(
                [
                    CLI,
                    "export",
                    audience.name,
                    "--format",
                    fmt,
                    "--out",
                    str(out),
                    "--warehouse",
                    str(warehouse),
                ],  # fmt: skip
                capture_output=True,
                text=True,
            )
            assert result.returncode == 0, result.stderr
            assert "left out: no marketing consent" in result.stdout
    return out


def test_every_shipped_audience_is_built_with_the_members_its_expression_selects(con):
    definitions = load_definitions(PROJECT_DIR / "audiences.yml")
    sizes = dict(
        con.execute(
            "select audience_name, count(*) from marts.audience_members group by 1"
        ).fetchall()
    )
    catalog = dict(con.execute("select audience_name, members from ml.audiences").fetchall())
    assert set(catalog) == {a.name for a in definitions.audiences}
    for audience in definitions.audiences:
        assert catalog[audience.name] == sizes.get(audience.name, 0)
        if not audience.is_lookalike:  # not exclusive: each is exactly its expression
            assert sizes.get(audience.name, 0) == count_expression(con, audience.expression)[0]
    lookalike = next(a for a in definitions.audiences if a.is_lookalike)
    assert sizes[lookalike.name] > 0
    seed_overlap = con.execute(
        "select count(*) from marts.audience_members as lal"
        " inner join marts.audience_members as seed using (customer_id)"
        " where lal.audience_name = ? and seed.audience_name = ?",
        [lookalike.name, lookalike.lookalike_of],
    ).fetchone()[0]
    assert seed_overlap == 0


def test_no_customer_without_consent_is_in_any_export(con, exports):
    consented = {
        row[0]
        for row in con.execute(
            "select customer_id from marts.customer_profile where has_marketing_consent"
        ).fetchall()
    }
    exported = 0
    for path in exports.glob("*.csv"):
        ids = duckdb.sql(f"select customer_id from read_csv('{path}')").fetchall()
        exported += len(ids)
        assert {row[0] for row in ids} <= consented, path.name
    for path in exports.glob("*.parquet"):
        assert set(pq.read_table(path).column("customer_id").to_pylist()) <= consented
    assert exported > 0


def _raw_pii(raw: Path) -> set[str]:
    """Every phone, email and name in the raw files, as written and as staging normalises it."""
    con = duckdb.connect()
    values = set()
    for column in ("name", "phone", "email"):
        values |= {
            r[0]
            for r in con.execute(
                f"select distinct {column} from read_parquet('{raw}/customers/*.parquet')"
                f" where {column} is not null"
            ).fetchall()
        }
    values |= {
        r[0]
        for r in con.execute(
            f"select distinct id_value_a from read_parquet('{raw}/identity_links/*.parquet')"
            " where id_type_a in ('phone', 'email') and id_value_a is not null"
        ).fetchall()
    }
    con.close()
    digits = {re.sub(r"\D", "", v)[-11:] for v in values if sum(c.isdigit() for c in v) >= 11}
    lowered = {v.strip().lower() for v in values if "@" in v}
    return {v for v in values | digits | lowered if len(v) >= 2}


def test_no_raw_phone_email_or_name_appears_in_any_export_file(small_dataset, exports):
    pii = _raw_pii(small_dataset / "raw")
    assert len(pii) > 1000
    files = list(exports.iterdir())
    assert len(files) >= 4
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        if path.suffix == ".parquet":  # the values, in case a page is compressed
            text += json.dumps(pq.read_table(path).to_pylist(), ensure_ascii=False)
        found = [value for value in pii if value in text]
        assert not found, f"{path.name} contains {found[:3]}"


def test_the_manifest_describes_its_file_exactly(con, exports):
    for manifest_path in exports.glob("*.manifest.json"):
        manifest = json.loads(manifest_path.read_text())
        data = exports / manifest["file"]
        assert hashlib.sha256(data.read_bytes()).hexdigest() == manifest["sha256"]
        if manifest["format"] == "parquet":
            rows = pq.read_metadata(data).num_rows
        else:
            rows = duckdb.sql(f"select count(*) from read_csv('{data}')").fetchall()[0][0]
        assert rows == manifest["rows"]
        total, consented = con.execute(
            "select count(*), count(*) filter (where has_marketing_consent)"
            " from marts.audience_members where audience_name = ?",
            [manifest["audience"]],
        ).fetchone()
        assert (manifest["rows"], manifest["excluded_for_consent"]) == (
            consented,
            total - consented,
        )
        assert manifest["as_of_date"] and manifest["exported_at"]


def test_each_exported_file_has_its_own_manifest(exports):
    # A CSV and a Parquet export of one audience and day once shared one manifest, which
    # then described only the file written last.
    data_files = [p for p in exports.iterdir() if p.suffix in (".csv", ".parquet")]
    assert len(data_files) >= 4
    for data in data_files:
        manifest = json.loads(data.with_name(f"{data.name}.manifest.json").read_text())
        assert manifest["file"] == data.name and manifest["format"] == data.suffix[1:]


def test_exporting_an_unknown_audience_names_the_ones_that_exist(con, tmp_path):
    with pytest.raises(ValueError, match="no audience named 'nobody'.*vip_winback"):
        export_audience(con, "nobody", "csv", tmp_path)
    assert not list(tmp_path.iterdir())


def test_audience_count_on_the_command_line_counts_and_rejects_with_a_pointer(warehouse):
    ok = subprocess.run(
        [CLI, "audience", "count", "lifecycle_stage = '活跃'", "--warehouse", str(warehouse)],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0 and re.match(r"[\d,]+ customers \([\d,]+ with", ok.stdout)
    bad = subprocess.run(
        [CLI, "audience", "count", "lifecycle_stage = '活越'", "--warehouse", str(warehouse)],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "活越" in bad.stderr and "活跃" in bad.stderr


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=env)


def test_audience_count_reads_the_published_copy_as_it_reads_the_warehouse(
    small_pipeline, warehouse
):
    expression = "lifecycle_stage = '活跃' and monetary_365d > 100"
    working = _cli("audience", "count", expression, "--warehouse", str(warehouse))
    published = small_pipeline[0] / "published" / "customer_profiles.duckdb"
    copy = _cli("audience", "count", expression, "--warehouse", str(published))
    assert copy.returncode == 0, copy.stderr
    assert copy.stdout == working.stdout


def test_a_wrong_warehouse_path_is_named_with_what_to_give_instead(tmp_path):
    # A folder, a Parquet file and a typo used to give two tracebacks and "run make run".
    parquet = tmp_path / "customer_profile.parquet"
    parquet.write_bytes(b"PAR1")
    for path, says in (
        (tmp_path, "is a folder; give the DuckDB file in it"),
        (parquet, "not a DuckDB database file"),
        (tmp_path / "customer_profile.duckdb", "no such file (the working warehouse is"),
    ):
        result = _cli("audience", "count", "true", "--warehouse", str(path))
        assert result.returncode == 2 and says in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


# Two kinds of writer: a run, which holds the writer lock for its whole length (DuckDB's own
# lock is free between its steps, and a reader opening the file then made the next step
# fail), and a process that opened the file for writing without it.
WRITERS = {
    "a run": (
        "import pathlib, sys, time\n"
        "from orchestration.writer_lock import LockHolder, hold_warehouse\n"
        "with hold_warehouse(pathlib.Path(sys.argv[1]), LockHolder.this_process('a run',"
        " run_id='run-between-steps')):\n"
        "    print('held', flush=True); time.sleep(60)",
        "is being written by run run-between-steps",
    ),
    "a duckdb writer": (
        "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True);"
        " time.sleep(60)",
        "is being written by another process",
    ),
}


@pytest.mark.parametrize("writer_kind", WRITERS)
def test_the_readers_give_way_to_a_writer_with_a_busy_error(warehouse, tmp_path, writer_kind):
    code, message = WRITERS[writer_kind]
    held = tmp_path / "held.duckdb"
    shutil.copy(warehouse, held)
    writer = subprocess.Popen(
        [sys.executable, "-c", code, str(held)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout.readline().strip() == "held"
        for args in (["audience", "count", "true"], ["export", "vip_winback"]):
            busy = _cli(*args, "--warehouse", str(held))
            assert busy.returncode == EXIT_BUSY, busy.stderr
            assert message in busy.stderr and "Traceback" not in busy.stderr
    finally:
        writer.kill()
        writer.wait()


def test_an_export_folder_that_cannot_be_written_is_an_error_naming_it(warehouse, tmp_path):
    not_a_folder = tmp_path / "a_file"
    not_a_folder.write_text("")
    for out in (not_a_folder, not_a_folder / "below"):
        failed = _cli("export", "vip_winback", "--out", str(out), "--warehouse", str(warehouse))
        assert failed.returncode == 2
        assert f"cannot write the export to {out}" in failed.stderr
        assert "Traceback" not in failed.stderr


def test_an_audience_that_selects_no_one_exports_under_the_runs_date(con, tmp_path):
    # ml.audiences lists it; marts.audience_members has no row to take the date from.
    scratch = duckdb.connect()
    for relation in ("marts.audience_members", "marts.customer_profile",
                     "intermediate.int_identity__customer_ids"):  # fmt: skip
        schema = relation.split(".")[0]
        scratch.execute(f"create schema if not exists {schema}")
        scratch.register("rows", con.execute(f"select * from {relation}").to_arrow_table())
        scratch.execute(f"create table {relation} as select * from rows")
        scratch.unregister("rows")
    scratch.execute("create schema ml")
    scratch.execute(
        "create table ml.audiences as select 'nobody' as audience_name,"
        " 'monetary_365d < 0' as expression, cast(null as varchar) as lookalike_of"
    )
    result = export_audience(scratch, "nobody", "csv", tmp_path)
    as_of = con.execute("select max(as_of_date) from marts.customer_profile").fetchone()[0]
    assert result.data_file.name == f"nobody_{as_of}.csv" and result.rows == 0
    assert json.loads(result.manifest_file.read_text())["as_of_date"] == str(as_of)


def test_campaign_effects_intervals_are_the_documented_formula(con):
    rows = con.execute(
        "select treatment_conversions, treatment_customers, control_conversions,"
        " control_customers, uplift, uplift_ci_low, uplift_ci_high, is_significant"
        " from marts.campaign_effects where treatment_customers > 0 and control_customers > 0"
    ).df()
    assert len(rows) > 12
    uplift, low, high = uplift_interval(
        rows.treatment_conversions,
        rows.treatment_customers,
        rows.control_conversions,
        rows.control_customers,
    )
    np.testing.assert_allclose(rows.uplift, uplift, atol=1e-12)
    np.testing.assert_allclose(rows.uplift_ci_low, low, atol=1e-9)
    np.testing.assert_allclose(rows.uplift_ci_high, high, atol=1e-9)
    assert (rows.is_significant == ((low > 0) | (high < 0))).all()
