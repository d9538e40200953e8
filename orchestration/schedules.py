"""Schedules: the daily refresh of the whole graph."""

import dagster as dg

from orchestration.jobs import full_build

# Nightly exports are expected by early morning China time; refresh after them.
DAILY_REFRESH_CRON = "0 6 * * *"
TIMEZONE = "Asia/Shanghai"

daily_refresh = dg.ScheduleDefinition(
    name="daily_refresh",
    job=full_build,
    cron_schedule=DAILY_REFRESH_CRON,
    execution_timezone=TIMEZONE,
    # as_of_date stays null: dbt infers it from the data, so a late export never produces
    # a day of profiles computed as of a date the data does not reach.
    run_config={"resources": {"as_of": {"config": {"as_of_date": None}}}},
    tags={"customer_profiles/trigger": "daily_refresh"},
    description="Rebuild every asset daily at 06:00 Asia/Shanghai (as_of_date from the data).",
    # Off until an operator turns it on in the UI: opening the UI never starts a rebuild.
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
