"""The raw-files sensor: a change in the raw directory requests one full build, no change none."""

import os
import shutil

import dagster as dg
import pytest

from orchestration.definitions import defs
from orchestration.resources import WarehouseResource
from orchestration.sensors import raw_files_sensor


@pytest.fixture
def raw_dir(tmp_path):
    return tmp_path / "raw"


def _tick(raw_dir, cursor: str | None):
    context = dg.build_sensor_context(
        cursor=cursor, resources={"warehouse": WarehouseResource(raw_dir=str(raw_dir))}
    )
    return raw_files_sensor.evaluate_tick(context)


def _drop(small_dataset, raw_dir, source: str) -> None:
    (raw_dir / source).mkdir(parents=True, exist_ok=True)
    for path in (small_dataset / "raw" / source).glob("*.parquet"):
        shutil.copy(path, raw_dir / source / path.name)


def test_a_new_file_in_the_raw_directory_requests_one_full_build(small_dataset, raw_dir):
    raw_dir.mkdir()
    empty = _tick(raw_dir, None)
    assert not empty.run_requests

    _drop(small_dataset, raw_dir, "orders")
    first = _tick(raw_dir, empty.cursor)
    (request,) = first.run_requests
    assert raw_files_sensor.job_name == "full_build"
    assert request.tags["customer_profiles/changed_sources"] == "orders"

    again = _tick(raw_dir, first.cursor)
    assert not again.run_requests
    assert again.cursor in (None, first.cursor)


def test_a_changed_file_requests_a_build_naming_only_the_sources_that_changed(
    small_dataset, raw_dir
):
    for source in ("orders", "customers"):
        _drop(small_dataset, raw_dir, source)
    built = _tick(raw_dir, None)
    assert len(built.run_requests) == 1

    (path,) = (raw_dir / "customers").glob("*.parquet")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    changed = _tick(raw_dir, built.cursor)
    (request,) = changed.run_requests
    assert request.tags["customer_profiles/changed_sources"] == "customers"


def test_a_raw_directory_without_the_required_orders_requests_nothing(small_dataset, raw_dir):
    _drop(small_dataset, raw_dir, "customers")
    result = _tick(raw_dir, None)
    assert not result.run_requests
    assert "orders" in result.skip_message
    # Once orders arrive, the build is requested.
    _drop(small_dataset, raw_dir, "orders")
    assert len(_tick(raw_dir, result.cursor).run_requests) == 1


def test_the_sensor_and_schedule_are_registered_and_off_until_an_operator_starts_them():
    sensor = defs.resolve_sensor_def("raw_files_sensor")
    schedule = defs.resolve_schedule_def("daily_refresh")
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
