"""A two-step job on the warehouse-writer executor, for tests/test_writer_lock.py: each step
parks until the test lets it go, so the test can look at the lock between and during steps."""

import os
import time
from pathlib import Path

import dagster as dg

from orchestration.jobs import warehouse_writer_executor


def _park(name: str) -> None:
    folder = Path(os.environ["WRITER_LOCK_TEST_DIR"])
    (folder / f"{name}.started").write_text(str(time.time()))
    deadline = time.monotonic() + 120
    while not (folder / f"{name}.go").exists():
        assert time.monotonic() < deadline, f"step {name} was never let go"
        time.sleep(0.02)


@dg.op
def first_step() -> int:
    _park("first")
    return 1


@dg.op
def second_step(value: int) -> None:
    _park("second")


@dg.job(executor_def=warehouse_writer_executor)
def two_steps() -> None:
    second_step(first_step())


if __name__ == "__main__":
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(dg.reconstructable(two_steps), instance=instance)
    print(f"run {result.run_id} success={result.success}", flush=True)
