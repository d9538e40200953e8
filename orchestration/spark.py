"""The local Spark session: one configuration for dbt-spark and the Python assets.

dbt-spark's `method: session` calls `SparkSession.builder.getOrCreate()` in our process, so
whichever of dbt and the Python code starts first decides the configuration. Both use
`spark_conf`: profiles.yml's `server_side_parameters` repeat it in Jinja (a test keeps the two
equal). Tables are Parquet files under `<spark_dir>/warehouse`, the catalog an embedded Derby
metastore under `<spark_dir>/metastore_db`, so tables outlive the process, as the DuckDB file
does. Derby admits one process at a time, the same one-writer rule as DuckDB.

One process at a time, also between the steps of a run. The warehouse pool runs one step at
a time, but Dagster starts the next step as soon as the last one reports success, while that
step's process (and its JVM, and dbt's JVM, a grandchild) may still be exiting with Derby
booted: the next JVM would then fail with "Another instance of Derby may have already
booted the database". So a process ends its JVM before it exits (`stop_spark_session`, run at
exit by every process that started one here), and every JVM start waits until no other
process has the metastore booted (`wait_for_metastore`, before a session here and before
each dbt invocation on Spark).
"""

from __future__ import annotations

import atexit
import fcntl
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from orchestration.settings import Settings

if TYPE_CHECKING:  # pyspark is the optional [spark] dependency
    from pyspark.sql import SparkSession

# Derby holds an exclusive POSIX lock on this file while a JVM has the database booted, and
# the kernel drops it when that JVM exits: the lock, not the file, says who uses it.
DERBY_LOCK_FILE = "dbex.lck"


@dataclass(frozen=True)
class MetastoreWaitConfig:
    # A JVM that exits releases Derby at once (measured: `stop_spark_session` returns with
    # the metastore free in about 1 s at load ~7); 5 minutes is far beyond that, so hitting
    # the bound means another process really uses this Spark warehouse, which it names.
    wait_seconds: float = 300.0
    # Twice a second: a JVM takes 10-30 s to start, so the poll adds nothing noticeable.
    poll_seconds: float = 0.5
    # One line every 30 s while waiting, so a stuck wait is visible in the step's log.
    report_every_seconds: float = 30.0


class MetastoreBusyError(RuntimeError):
    """Another process kept the Derby metastore booted for longer than the wait bound."""


def metastore_lock_file(spark_dir: Path) -> Path:
    return spark_dir / "metastore_db" / DERBY_LOCK_FILE


def metastore_holder(spark_dir: Path) -> int | None:
    """The pid of the process that has the Derby metastore booted (0 when some process
    holds it but /proc/locks does not say which), or None when it is free."""
    lock_file = metastore_lock_file(spark_dir)
    try:
        fd = os.open(lock_file, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return _lock_owner(lock_file) or 0
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)  # drops only this process's own POSIX locks on the file


def _lock_owner(path: Path) -> int | None:
    """The pid holding a POSIX lock on `path`, from /proc/locks (Linux)."""
    try:
        inode = path.stat().st_ino
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()
            if len(fields) > 5 and fields[1] == "POSIX" and fields[5].endswith(f":{inode}"):
                return int(fields[4])
    except (OSError, ValueError):
        return None
    return None


def wait_for_metastore(
    spark_dir: Path,
    config: MetastoreWaitConfig | None = None,
    say: Callable[[str], None] | None = None,
) -> float:
    """Wait until no process has the Derby metastore of `spark_dir` booted; returns the
    seconds waited, raises `MetastoreBusyError` naming the holder after the bound."""
    config = config or MetastoreWaitConfig()
    started = time.monotonic()
    reported = started
    while (holder := metastore_holder(spark_dir)) is not None:
        waited = time.monotonic() - started
        if waited >= config.wait_seconds:
            raise MetastoreBusyError(
                f"{metastore_lock_file(spark_dir)}: the Spark metastore is still in use by"
                f" {f'pid {holder}' if holder else 'another process'} after {waited:.0f} s;"
                " Derby admits one process: stop it, or wait for it to finish"
            )
        if say is not None and time.monotonic() - reported >= config.report_every_seconds:
            say(f"waiting for pid {holder} to release the Spark metastore ({waited:.0f} s)")
            reported = time.monotonic()
        time.sleep(config.poll_seconds)
    return time.monotonic() - started


def spark_conf(settings: Settings) -> dict[str, str]:
    """Spark settings for a small local warehouse on this machine's cores."""
    root = settings.spark_dir
    return {
        "spark.master": f"local[{settings.threads}]",
        "spark.sql.warehouse.dir": str(root / "warehouse"),
        "javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={root / 'metastore_db'};create=true",
        # derby.log beside the metastore, not in whatever directory the process started in
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={root}",
        "spark.driver.memory": settings.memory_limit.replace("GB", "g"),
        # The default 200 shuffle partitions cost seconds per query on small data; adaptive
        # execution coalesces further.
        "spark.sql.shuffle.partitions": str(4 * settings.threads),
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        # pyspark starts the JVM as a "shell", which turns on the console progress bar; in
        # dbt's process it lands in the middle of dbt's JSON log lines on the shared output,
        # and dagster-dbt then loses those models' events (and skips everything after them).
        "spark.ui.showConsoleProgress": "false",
    }


def spark_session(settings: Settings | None = None) -> SparkSession:
    """The process's Spark session, created with `spark_conf` if none is running yet."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise RuntimeError(
            "CP_DBT_TARGET=spark needs the optional Spark dependencies: pip install -e '.[spark]'"
        ) from exc
    settings = settings or Settings.from_env()
    settings.spark_dir.mkdir(parents=True, exist_ok=True)
    if _running_jvm() is None:  # a new JVM: after the last process let go of the metastore
        wait_for_metastore(settings.spark_dir)
        atexit.unregister(stop_spark_session)  # once, however many JVMs this process starts
        atexit.register(stop_spark_session)
    builder = SparkSession.builder.enableHiveSupport()
    for key, value in spark_conf(settings).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def _running_jvm():
    """This process's Spark JVM (a Popen), or None when it has none."""
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    return getattr(gateway, "proc", None) if gateway is not None else None


def stop_spark_session(timeout_seconds: float = 60.0) -> None:
    """Stop this process's Spark session and wait for its JVM to exit, so the metastore is
    free when this returns (a process exiting without it leaves the JVM to notice the closed
    pipe on its own, seconds later). A later `spark_session` starts a new JVM."""
    try:
        from pyspark import SparkContext
        from pyspark.sql import SparkSession
    except ImportError:
        return
    proc = _running_jvm()
    session = SparkSession._instantiatedSession
    if session is not None:
        session.stop()
    elif SparkContext._active_spark_context is not None:
        SparkContext._active_spark_context.stop()
    gateway = SparkContext._gateway
    if gateway is None:
        return
    gateway.shutdown()
    SparkContext._gateway = None
    SparkContext._jvm = None
    if proc is not None:
        if proc.stdin is not None:
            proc.stdin.close()  # the JVM exits when its pipe to this process closes
        try:
            proc.wait(timeout=timeout_seconds)
        except subprocess.TimeoutExpired:  # never leave it behind
            proc.kill()
            proc.wait()
