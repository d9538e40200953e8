"""One writer on the warehouse at a time, however the run was started.

DuckDB lets one process write a file; Dagster's run queue and pools only see runs of one
instance, and `customer-profiles run` executes in-process, outside the queue. So every writer
(the CLI's run, a daemon- or UI-launched run) takes an advisory `flock` on a lock file beside
the warehouse for the whole run, in the process that orchestrates it. The kernel releases the
lock when that process exits or is killed, so a crash never leaves a stale lock to clean up.
The file also holds who took it (run id, pid, host, since when), for the waiting writer's
message; it is never deleted, because deleting a lock file another process has open races.

A second writer waits, bounded, printing who holds the warehouse; after the bound it gives up
with `WarehouseBusyError`. Waiting rather than skipping is what an operator expects from a
rebuild they asked for: a sensor run queued behind the schedule's run, or a `make run` typed
during the nightly build, should still happen, just after the one in progress.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

LOCK_SUFFIX = ".writer.lock"
WAIT_SECONDS_ENV = "CP_WRITER_WAIT_SECONDS"


@dataclass(frozen=True)
class WriterLockConfig:
    # 2 h: over ten times the longest full build measured (647 s at 1M customers,
    # bench/results/l.json), so a wait ends because the holder finished, not because of the
    # bound; for more data or a slower machine raise it with CP_WRITER_WAIT_SECONDS.
    wait_seconds: float = 7200.0
    # Checking once a second costs nothing and starts the waiting run within a second.
    poll_seconds: float = 1.0
    # One line a minute in the waiting run's log: alive, and still waiting for the same holder.
    report_every_seconds: float = 60.0

    @classmethod
    def from_env(cls) -> WriterLockConfig:
        """The defaults, with the wait bound from CP_WRITER_WAIT_SECONDS if it is set."""
        value = os.environ.get(WAIT_SECONDS_ENV)
        if not value:
            return cls()
        try:
            seconds = float(value)
        except ValueError:
            raise ValueError(
                f"{WAIT_SECONDS_ENV}={value!r}: expected a number of seconds"
            ) from None
        if seconds < 0:
            raise ValueError(f"{WAIT_SECONDS_ENV}={value!r}: must be 0 or more seconds")
        return cls(wait_seconds=seconds)


@dataclass(frozen=True)
class LockHolder:
    """Who writes the warehouse: enough for an operator to find the run or the process."""

    pid: int
    host: str
    purpose: str
    since: str  # UTC, ISO 8601, seconds
    run_id: str | None = None
    command: tuple[str, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        who = f"run {self.run_id}" if self.run_id else "a process"
        return f"{who} ({self.purpose}, pid {self.pid} on {self.host}) since {self.since}"

    @classmethod
    def this_process(cls, purpose: str, run_id: str | None = None) -> LockHolder:
        since = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        return cls(os.getpid(), socket.gethostname(), purpose, since, run_id, tuple(sys.argv))


class WarehouseBusyError(RuntimeError):
    """Another writer kept the warehouse for longer than this one was willing to wait."""


def lock_path(warehouse_path: Path) -> Path:
    """The lock file beside the warehouse (`<warehouse>.writer.lock`)."""
    return warehouse_path.with_name(warehouse_path.name + LOCK_SUFFIX)


@dataclass
class _Hold:
    fd: int
    holder: LockHolder
    depth: int


# Locks this process holds, by lock file: a run the CLI started in-process enters the lock
# again in Dagster's executor, and a second flock on a new descriptor would wait for itself.
_held: dict[Path, _Hold] = {}
_held_guard = threading.Lock()


def _write_holder(fd: int, holder: LockHolder) -> None:
    payload = json.dumps({**asdict(holder), "command": list(holder.command)}).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, payload, 0)


def _read_holder(path: Path) -> LockHolder | None:
    try:
        data = json.loads(path.read_text() or "null")
    except (OSError, ValueError):  # absent, or caught between truncate and write
        return None
    if not isinstance(data, dict):
        return None
    try:
        return LockHolder(**{**data, "command": tuple(data.get("command") or ())})
    except TypeError:  # a file written by another version of this module
        return None


def _who_holds(path: Path) -> str:
    """The writer named in the lock file; a reader (reading_warehouse) leaves no note."""
    holder = _read_holder(path)
    return holder.describe() if holder else "another process (or read by a command)"


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def current_holder(warehouse_path: Path) -> LockHolder | None:
    """Who writes the warehouse now, or None when nobody does (a dead holder's note is
    ignored: the kernel released its lock)."""
    path = lock_path(warehouse_path)
    with _held_guard:
        if path in _held:
            return _held[path].holder
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        if _try_lock(fd):
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
    finally:
        os.close(fd)
    return _read_holder(path) or LockHolder(0, "?", "unknown holder", "?")


@contextmanager
def reading_warehouse(warehouse_path: Path) -> Iterator[None]:
    """Hold the writer lock shared while a command outside a run reads the working warehouse.

    A run holds DuckDB's own file lock only while a step writes: a reader that opened the
    file between two steps made the next step fail on the reader's lock. So a reader takes
    the writer lock shared: while a run holds it, reading is refused (WarehouseBusyError),
    and a run that starts meanwhile waits for the reader as it would for another writer. A
    file with no lock file beside it (a published copy, a copy made by hand) has never been
    written by a run and is read without one; so is the warehouse a run of this very
    process holds."""
    path = lock_path(warehouse_path)
    with _held_guard:
        ours = path in _held
    if ours or not path.exists():
        yield
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WarehouseBusyError(
                f"warehouse {warehouse_path} is being written by {_who_holds(path)}; try again"
                " when it has finished (the published copy can be read meanwhile)"
            ) from None
        yield
    finally:
        os.close(fd)  # releases the shared lock


@contextmanager
def hold_warehouse(
    warehouse_path: Path,
    holder: LockHolder,
    config: WriterLockConfig | None = None,
    say: Callable[[str], None] = print,
) -> Iterator[LockHolder]:
    """Be the warehouse's only writer for the duration of the block; wait (bounded) for the
    current one, telling `say` who it is. Re-entrant within a process: the inner holder's run
    id replaces the outer one's in the note until the inner block ends."""
    config = config or WriterLockConfig.from_env()
    path = lock_path(warehouse_path)
    with _held_guard:
        hold = _held.get(path)
        if hold is not None:
            hold.depth += 1
    if hold is not None:
        outer = hold.holder
        if holder.run_id and holder.run_id != outer.run_id:
            hold.holder = replace(outer, run_id=holder.run_id)
            _write_holder(hold.fd, hold.holder)
        try:
            yield hold.holder
        finally:
            with _held_guard:
                hold.depth -= 1
            if hold.holder != outer:
                hold.holder = outer
                _write_holder(hold.fd, outer)
        return

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(fd, path, warehouse_path, config, say)
        _write_holder(fd, holder)
        with _held_guard:
            _held[path] = _Hold(fd, holder, 1)
        try:
            yield holder
        finally:
            with _held_guard:
                del _held[path]
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(
    fd: int, path: Path, warehouse_path: Path, config: WriterLockConfig, say: Callable[[str], None]
) -> None:
    if _try_lock(fd):
        return
    started = time.monotonic()
    reported_at = None
    while True:
        waited = time.monotonic() - started
        if reported_at is None or waited - reported_at >= config.report_every_seconds:
            who = _who_holds(path)
            say(
                f"warehouse {warehouse_path} is being written by {who}; waiting for it"
                f" ({waited:.0f}s of at most {config.wait_seconds:.0f}s, {WAIT_SECONDS_ENV})"
            )
            reported_at = waited
        if waited >= config.wait_seconds:
            who = _who_holds(path)
            raise WarehouseBusyError(
                f"warehouse {warehouse_path} is still being written by {who} after"
                f" {waited:.0f}s of waiting; try again when it has finished"
                f" (or raise {WAIT_SECONDS_ENV})"
            )
        time.sleep(min(config.poll_seconds, max(config.wait_seconds - waited, 0.0)))
        if _try_lock(fd):
            return
