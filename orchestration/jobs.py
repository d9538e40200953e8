"""Jobs: named selections of the asset graph that schedules, sensors and operators launch."""

import dagster as dg

from orchestration.assets.raw import raw_files

# Everything, in dependency order: observe the raw folders, register the raw views, build
# dbt, then the Python models and dbt models downstream of them. Each asset runs once.
# `AssetSelection.all()` leaves external assets out; the raw folders are added by name.
full_build = dg.define_asset_job(
    "full_build",
    selection=dg.AssetSelection.all() | dg.AssetSelection.assets(raw_files),
    description="Observe the raw files and rebuild every asset from them, in dependency order.",
)
