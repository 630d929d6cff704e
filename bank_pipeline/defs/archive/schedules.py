import dagster as dg

from bank_pipeline.defs.archive.assets import retention_purge

retention_purge_job = dg.define_asset_job(
    "purge_past_retention",
    selection=[retention_purge],
    description="Purges the archived events of streams past retention (legal holds kept) and checks the holds.",
)

# On the 2nd at 03:00 UTC: after the month's archive run and the digests published on the 1st.
monthly_retention_purge = dg.ScheduleDefinition(
    job=retention_purge_job, cron_schedule="0 3 2 * *", execution_timezone="UTC"
)
