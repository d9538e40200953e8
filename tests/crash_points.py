"""Kill a real `customer-profiles run` at a point read from its progress, for
tests/test_reliability.py and bench/crash_recovery.py.

Two kinds of point:

- **during dbt**: the main dbt step's own log shows models built while its `dbt build`
  process is still alive (the run is found by the run id in the warehouse's writer lock);
- **during a Python asset's write**: a `sitecustomize` put on the run's PYTHONPATH parks
  `orchestration.warehouse._swap_in` for one table, in whichever step process writes it: every
  batch is in the side table, the swap has not happened.

The kill is SIGKILL to the run's process group (the run starts in a session of its own), so
the orchestrating process, its step processes and dbt all die at once, as in a power cut or
an OOM kill of the whole tree.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from orchestration.settings import PROJECT_DIR
from orchestration.writer_lock import current_holder

PARK_TABLE_ENV = "CP_TEST_PARK_BEFORE_SWAP"  # schema.table whose swap parks
PARK_READY_ENV = "CP_TEST_PARK_READY"  # file touched once parked

# Patches the module only once something imports it, so the dbt processes (which never
# import orchestration) pay nothing and the patch reaches every step process.
SITECUSTOMIZE = textwrap.dedent(
    f"""
    import importlib.abc, importlib.machinery, os, pathlib, sys, time

    def _patch(module):
        original = module._swap_in

        def parked(con, schema, table):
            if f"{{schema}}.{{table}}" == os.environ["{PARK_TABLE_ENV}"]:
                pathlib.Path(os.environ["{PARK_READY_ENV}"]).touch()
                time.sleep(3600)
            return original(con, schema, table)

        module._swap_in = parked

    class _Loader(importlib.abc.Loader):
        def __init__(self, real):
            self.real = real

        def create_module(self, spec):
            return self.real.create_module(spec)

        def exec_module(self, module):
            self.real.exec_module(module)
            _patch(module)

    class _ParkSwap(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != "orchestration.warehouse":
                return None
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is not None:
                spec.loader = _Loader(spec.loader)
            return spec

    if os.environ.get("{PARK_TABLE_ENV}"):
        sys.meta_path.insert(0, _ParkSwap())
    """
)


def run_env(raw_dir: Path, root: Path) -> dict[str, str]:
    """The environment of a run on `raw_dir` whose warehouse and instance live in `root`."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(PROJECT_DIR), os.environ.get("PYTHONPATH")) if p
        ),
        "CP_RAW_DIR": str(raw_dir),
        "CP_WAREHOUSE": str(root / "warehouse.duckdb"),
        "DAGSTER_HOME": str(root / "dagster"),
        # Explicitly beside the warehouse: importing orchestration.project pins the
        # repository's published/ in this process's environment, and a run would inherit it
        # (publishing elsewhere, the kill tests would compare an untouched folder).
        "CP_PUBLISHED_DIR": str(root / "published"),
        "CP_EXPORT_DIR": str(root / "exports"),
    }


def start_run(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen:
    """`customer-profiles run` in a process group of its own, its output to `log`."""
    with log.open("w") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "orchestration.cli", "run", *args],
            env=env,
            cwd=PROJECT_DIR,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def run_to_end(env: dict[str, str], log: Path, timeout: float, *args: str) -> tuple[int, str]:
    """`customer-profiles run` to its end: (exit code, output). On timeout the whole process
    group is killed (steps and dbt too, not only the CLI) and the test fails."""
    run = start_run(env, log, *args)
    try:
        code = run.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(run)
        raise AssertionError(f"the run did not end in {timeout:.0f}s:\n{tail(log)}") from None
    return code, log.read_text(errors="replace")


def parked_env(env: dict[str, str], table: str, ready: Path, site_dir: Path) -> dict[str, str]:
    """`env` with the sitecustomize that parks the swap of `table` (schema.table)."""
    site_dir.mkdir(parents=True, exist_ok=True)
    (site_dir / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return {
        **env,
        "PYTHONPATH": os.pathsep.join([str(site_dir), env["PYTHONPATH"]]),
        PARK_TABLE_ENV: table,
        PARK_READY_ENV: str(ready),
    }


def group_commands(pgid: int) -> list[str]:
    """Command lines of the live processes in a process group."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid or fields[0] == "Z":
                continue
            found.append((stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, IndexError, ValueError):
            continue  # ended while we looked
    return found


def dbt_building(pgid: int) -> bool:
    return any("dbt" in c and " build " in c for c in group_commands(pgid))


def dbt_models_built(warehouse: Path, step: str = "dbt_models") -> int:
    """Models dbt has built so far in the writing run's main dbt step, from that invocation's
    own log (Dagster's materialisation events only come once dbt has exited)."""
    holder = current_holder(warehouse)
    if holder is None or not holder.run_id:
        return 0
    logs = (PROJECT_DIR / "target").glob(f"{step}-{holder.run_id[:7]}-*/dbt.log")
    return sum(log.read_text(errors="replace").count("OK created") for log in logs)


def wait_until(condition, process: subprocess.Popen, log: Path, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(
                f"the run ended ({process.returncode}) before {what}:\n{tail(log)}"
            )
        if time.monotonic() > deadline:
            kill_group(process)
            raise AssertionError(f"{what} did not happen in {timeout:.0f}s:\n{tail(log)}")
        time.sleep(0.2)


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the run's whole process group, and wait until none of it is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 30
    while group_commands(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)


def tail(log: Path, characters: int = 4000) -> str:
    return log.read_text(errors="replace")[-characters:] if log.exists() else "(no log)"
