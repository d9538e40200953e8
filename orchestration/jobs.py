"""Jobs: named selections of the asset graph that schedules, sensors and operators launch."""

import dagster as dg

from orchestration.assets.raw import raw_files

# Runs that write the warehouse carry this tag; the instance (see instance.py) lets one such
# run be in progress at a time, so a sensor run and a scheduled run queue, never overlap.
WAREHOUSE_WRITER_TAG = "customer_profiles/warehouse"
WAREHOUSE_WRITER_VALUE = "writer"

# Everything, in dependency order: observe the raw folders, register the raw views, build
# dbt, then the Python models and dbt models downstream of them. Each asset runs once.
# `AssetSelection.all()` leaves external assets out; the raw folders are added by name.
full_build = dg.define_asset_job(
    "full_build",
    selection=dg.AssetSelection.all() | dg.AssetSelection.assets(raw_files),
    description="Observe the raw files and rebuild every asset from them, in dependency order.",
    tags={WAREHOUSE_WRITER_TAG: WAREHOUSE_WRITER_VALUE},
)
