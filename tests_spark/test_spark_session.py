"""One process on the Spark metastore at a time, also between the steps of a run.

Derby's lock is a POSIX lock on `metastore_db/dbex.lck`; the holder here is a plain Python
process taking the same lock (what a JVM with Derby booted does), and one real JVM shows that
`stop_spark_session` leaves the metastore free.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from orchestration.settings import Settings
from orchestration.spark import (
    MetastoreBusyError,
    MetastoreWaitConfig,
    metastore_holder,
    metastore_lock_file,
    spark_session,
    stop_spark_session,
    wait_for_metastore,
)

HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.lockf(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _hold_lock(spark_dir: Path, seconds: float) -> subprocess.Popen:
    """Another process holding the metastore's lock for `seconds`, as a JVM would."""
    lock = metastore_lock_file(spark_dir)
    lock.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def test_a_metastore_nobody_has_booted_is_free(tmp_path):
    assert metastore_holder(tmp_path) is None
    metastore_lock_file(tmp_path).parent.mkdir(parents=True)
    metastore_lock_file(tmp_path).write_text("")  # a lock file left by a JVM that exited
    assert metastore_holder(tmp_path) is None
    assert wait_for_metastore(tmp_path) < 0.5


def test_the_next_step_waits_until_the_last_process_lets_go(tmp_path):
    holder = _hold_lock(tmp_path, 2.0)
    try:
        assert metastore_holder(tmp_path) == holder.pid
        waited = wait_for_metastore(tmp_path, MetastoreWaitConfig(poll_seconds=0.1))
    finally:
        holder.kill()
        holder.wait()
    assert 1.0 < waited < 10.0
    assert metastore_holder(tmp_path) is None


def test_a_wait_that_runs_out_names_the_process_holding_the_metastore(tmp_path):
    holder = _hold_lock(tmp_path, 60.0)
    try:
        with pytest.raises(MetastoreBusyError, match=f"pid {holder.pid}"):
            wait_for_metastore(tmp_path, MetastoreWaitConfig(wait_seconds=0.5, poll_seconds=0.1))
    finally:
        holder.kill()
        holder.wait()


def test_a_stopped_session_leaves_no_jvm_and_a_free_metastore(tmp_path):
    settings = replace(Settings.from_env(), spark_dir=tmp_path / "spark", threads=1)
    spark = spark_session(settings)
    spark.sql("create database if not exists boots_the_metastore")
    jvm = spark.sparkContext._gateway.proc.pid
    assert metastore_holder(settings.spark_dir) == jvm
    stop_spark_session()
    assert metastore_holder(settings.spark_dir) is None
    assert not Path(f"/proc/{jvm}").exists() or _is_zombie(jvm)
    # A later step in the same process starts a JVM of its own and sees the same catalog.
    again = spark_session(settings)
    try:
        assert "boots_the_metastore" in {row[0] for row in again.sql("show databases").collect()}
        assert again.sparkContext._gateway.proc.pid != jvm
    finally:
        stop_spark_session()


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_the_wait_reports_while_it_waits(tmp_path):
    holder = _hold_lock(tmp_path, 1.5)
    said: list[str] = []
    try:
        wait_for_metastore(
            tmp_path,
            MetastoreWaitConfig(poll_seconds=0.1, report_every_seconds=0.5),
            say=said.append,
        )
    finally:
        holder.kill()
        holder.wait()
    assert said and all(f"pid {holder.pid}" in line for line in said)
