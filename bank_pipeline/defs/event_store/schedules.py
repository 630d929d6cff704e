import dagster as dg

from bank_pipeline.defs.event_store.assets import event_store_partitions

event_store_maintenance_job = dg.define_asset_job(
    "event_store_maintenance",
    selection=[event_store_partitions],
    description="Keeps the monthly event partitions ready ahead of time.",
)

daily_event_store_maintenance = dg.ScheduleDefinition(
    job=event_store_maintenance_job, cron_schedule="15 0 * * *", execution_timezone="UTC"
)
