"""One writer at a time: a second writer waits and is told who holds the warehouse, gives up
with the holder named when it may not wait, and a killed holder never blocks the next one.
Writers here are other processes, as they are in production: `customer-profiles run`, a
second one, and a Dagster run on the warehouse-writer executor. A run whose process was killed is
failed by the next writer, so it holds neither the run queue's writer place nor the pool slot."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import pytest

from orchestration.assets.raw import WAREHOUSE_POOL
from orchestration.instance import ensure_instance
from orchestration.jobs import (
    WAREHOUSE_WRITER_TAG,
    WAREHOUSE_WRITER_VALUE,
    fail_abandoned_writer_runs,
)
from orchestration.settings import PROJECT_DIR, Settings
from orchestration.writer_lock import (
    LockHolder,
    WarehouseBusyError,
    WriterLockConfig,
    current_holder,
    hold_warehouse,
    lock_path,
    reading_warehouse,
)

TESTS_DIR = Path(__file__).resolve().parent
# A holder in another process: takes the lock as run `run-held-1`, says so, waits to be let go.
HOLDER = textwrap.dedent(
    """
    import pathlib, sys, time
    from orchestration.writer_lock import LockHolder, hold_warehouse
    warehouse, ready, release, log = map(pathlib.Path, sys.argv[1:5])
    with hold_warehouse(warehouse, LockHolder.this_process("test holder", run_id="run-held-1")):
        ready.touch()
        while not release.exists():
            time.sleep(0.02)
        log.write_text(str(time.time()))
    """
)
QUICK = WriterLockConfig(wait_seconds=60, poll_seconds=0.02, report_every_seconds=60)
NO_WAIT = WriterLockConfig(wait_seconds=0)


def _env() -> dict[str, str]:
    paths = [str(PROJECT_DIR), str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def _wait_for(path: Path, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 90
    while not path.exists():
        assert process.poll() is None, f"{what}: the process ended ({process.returncode})"
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.02)


@pytest.fixture
def holder(tmp_path):
    """Start the holder process; yields (warehouse, release file, log file, process)."""
    warehouse = tmp_path / "warehouse.duckdb"
    ready, release, log = tmp_path / "ready", tmp_path / "release", tmp_path / "released_at"
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(warehouse), str(ready), str(release), str(log)],
        env=_env(),
    )
    _wait_for(ready, process, "the holder taking the lock")
    yield warehouse, release, log, process
    release.touch()
    if process.poll() is None:
        process.kill()
    process.wait()


def test_a_second_writer_waits_for_the_first_and_is_told_which_run_holds_it(holder):
    warehouse, release, log, process = holder
    messages = []

    def told(message):
        messages.append(message)
        release.touch()  # the first writer finishes once the second one is waiting

    with hold_warehouse(warehouse, LockHolder.this_process("second"), QUICK, say=told):
        acquired_at = time.time()
    assert process.wait(timeout=30) == 0
    assert float(log.read_text()) <= acquired_at  # never both at once
    (message,) = messages
    assert f"warehouse {warehouse} is being written by run run-held-1" in message
    assert f"(test holder, pid {process.pid} on " in message and " since 20" in message


def test_a_writer_that_may_not_wait_gives_up_at_once_naming_the_holder(holder):
    warehouse, *_ = holder
    started = time.monotonic()
    second = LockHolder.this_process("second")
    with (
        pytest.raises(WarehouseBusyError, match=r"still being written by run run-held-1 \("),
        hold_warehouse(warehouse, second, NO_WAIT, say=print),
    ):
        pytest.fail("entered while another process held the warehouse")
    assert time.monotonic() - started < 5


def test_a_reader_is_refused_while_a_run_writes_naming_the_run(holder):
    # A reader that opened the file between two of the run's steps made the next one fail.
    warehouse, *_ = holder
    with (
        pytest.raises(WarehouseBusyError, match=r"being written by run run-held-1 \("),
        reading_warehouse(warehouse),
    ):
        pytest.fail("read while another process wrote the warehouse")


def test_a_writer_waits_for_a_reader_and_readers_share(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    with hold_warehouse(warehouse, LockHolder.this_process("first run"), NO_WAIT, say=print):
        pass  # a run has written it: the lock file exists
    reader = subprocess.Popen(
        [sys.executable, "-c",
         "import pathlib, sys, time; from orchestration.writer_lock import reading_warehouse\n"
         "with reading_warehouse(pathlib.Path(sys.argv[1])):\n"
         "    pathlib.Path(sys.argv[2]).touch(); time.sleep(60)",
         str(warehouse), str(tmp_path / "reading")],
        env=_env(),
    )  # fmt: skip
    try:
        _wait_for(tmp_path / "reading", reader, "the reader taking the lock")
        with reading_warehouse(warehouse):  # a second reader is welcome
            pass
        with (
            pytest.raises(WarehouseBusyError, match="read by a command"),
            hold_warehouse(warehouse, LockHolder.this_process("second run"), NO_WAIT, say=print),
        ):
            pytest.fail("wrote while another process read the warehouse")
    finally:
        reader.kill()
        reader.wait()
    with hold_warehouse(warehouse, LockHolder.this_process("third run"), NO_WAIT, say=print):
        pass  # free again once the reader is gone


def test_a_file_no_run_has_written_is_read_without_a_lock(tmp_path):
    published = tmp_path / "customer_profiles.duckdb"
    with reading_warehouse(published):
        pass
    assert not lock_path(published).exists()


def test_a_holder_killed_by_sigkill_leaves_no_lock_behind(holder):
    warehouse, _, _, process = holder
    assert current_holder(warehouse).run_id == "run-held-1"
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    # Its note is still in the file (nobody cleaned up), but the kernel dropped the lock.
    assert json.loads(lock_path(warehouse).read_text())["run_id"] == "run-held-1"
    assert current_holder(warehouse) is None
    with hold_warehouse(warehouse, LockHolder.this_process("next"), NO_WAIT) as me:
        assert me.pid == os.getpid()


def test_a_run_started_inside_a_held_lock_re_enters_it_and_names_its_run_meanwhile(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    outer = LockHolder.this_process("customer-profiles run")
    with hold_warehouse(warehouse, outer, NO_WAIT):
        with hold_warehouse(warehouse, LockHolder.this_process("dagster", "run-2"), NO_WAIT):
            assert json.loads(lock_path(warehouse).read_text())["run_id"] == "run-2"
        note = json.loads(lock_path(warehouse).read_text())
        assert (note["run_id"], note["purpose"]) == (None, "customer-profiles run")
    assert lock_path(warehouse).read_text() == ""  # released: no holder to report
    assert current_holder(warehouse) is None


def test_a_wait_bound_that_is_not_a_number_is_refused_naming_the_variable(monkeypatch):
    monkeypatch.setenv("CP_WRITER_WAIT_SECONDS", "two hours")
    with pytest.raises(ValueError, match="CP_WRITER_WAIT_SECONDS='two hours'"):
        WriterLockConfig.from_env()


def test_a_dagster_run_waits_for_the_cli_writer_then_holds_the_lock_across_all_its_steps(
    tmp_path,
):
    """The executor takes the lock in the run's orchestrating process, so it covers the time
    between steps too (each step is its own process)."""
    warehouse, folder = tmp_path / "warehouse.duckdb", tmp_path / "steps"
    folder.mkdir()
    env = {
        **_env(),
        "CP_WAREHOUSE": str(warehouse),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "WRITER_LOCK_TEST_DIR": str(folder),
        "CP_WRITER_WAIT_SECONDS": "120",
    }
    (tmp_path / "dagster").mkdir()
    cli = LockHolder.this_process("customer-profiles run")
    output = tmp_path / "run.log"
    with hold_warehouse(warehouse, cli, NO_WAIT), output.open("w") as sink:
        run = subprocess.Popen(
            [sys.executable, str(TESTS_DIR / "writer_lock_job.py")],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        waiting = _line_with(output, run, "is being written by")
        released_at = time.time()
    assert f"(customer-profiles run, pid {os.getpid()} on " in waiting
    try:
        for step in ("first", "second"):
            _wait_for(folder / f"{step}.started", run, f"step {step} starting")
            assert float((folder / f"{step}.started").read_text()) >= released_at
            held = current_holder(warehouse)
            assert held.run_id and held.purpose == "Dagster run of two_steps"
            with (
                pytest.raises(WarehouseBusyError, match=f"by run {held.run_id} "),
                hold_warehouse(warehouse, LockHolder.this_process("cli"), NO_WAIT),
            ):
                pytest.fail("entered while the run held the warehouse")
            (folder / f"{step}.go").touch()
        run.wait(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert f"run {held.run_id} success=True" in output.read_text()
    assert current_holder(warehouse) is None


def _line_with(log: Path, process: subprocess.Popen, needle: str) -> str:
    """The first line of the process's log that holds `needle`, once it is written."""
    deadline = time.monotonic() + 90
    while True:
        lines = [line for line in log.read_text().splitlines() if needle in line]
        if lines:
            return lines[0]
        assert process.poll() is None, f"ended without saying {needle!r}:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"never said {needle!r}:\n{log.read_text()}"
        time.sleep(0.05)


def _started_writer_run(instance, pid: int) -> str:
    """A warehouse-writer run the instance shows as started by process `pid` (a small job:
    planning full_build's hundreds of steps would cost half a minute)."""
    from writer_lock_job import two_steps

    tags = {WAREHOUSE_WRITER_TAG: WAREHOUSE_WRITER_VALUE}
    run = instance.create_run_for_job(two_steps, tags=tags)
    instance.report_dagster_event(
        dg.DagsterEvent(dg.DagsterEventType.RUN_START.value, job_name=two_steps.name, pid=pid),
        run_id=run.run_id,
    )
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
    return run.run_id


def test_a_run_whose_process_was_killed_is_failed_and_frees_its_slot_a_live_one_is_kept(
    tmp_path,
):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    home = tmp_path / "dagster"
    settings = Settings(tmp_path / "raw", tmp_path / "w.duckdb", home, 1, "1GB", "test-salt")
    ensure_instance(settings)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        abandoned = _started_writer_run(instance, dead.pid)
        alive = _started_writer_run(instance, os.getpid())  # e.g. waiting for the writer lock
        storage = instance.event_log_storage
        storage.set_concurrency_slots(WAREHOUSE_POOL, 1)
        storage.claim_concurrency_slot(WAREHOUSE_POOL, abandoned, "dbt_models")
        assert storage.get_concurrency_info(WAREHOUSE_POOL).active_slot_count == 1

        assert fail_abandoned_writer_runs(instance) == [abandoned]
        assert instance.get_run_by_id(abandoned).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(alive).status == dg.DagsterRunStatus.STARTED
        assert storage.get_concurrency_info(WAREHOUSE_POOL).active_slot_count == 0
        assert fail_abandoned_writer_runs(instance) == []
