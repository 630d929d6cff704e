import dagster as dg

from bank_pipeline.defs.audit.assets import event_store_digests

audit_digest_job = dg.define_asset_job(
    "seal_audit_digests",
    selection=[event_store_digests],
    description="Seals new digests over the event store and verifies the whole history.",
)

hourly_audit_digests = dg.ScheduleDefinition(job=audit_digest_job, cron_schedule="5 * * * *", execution_timezone="UTC")
