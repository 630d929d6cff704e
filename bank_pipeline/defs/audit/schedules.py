from datetime import timedelta

import dagster as dg

from bank_pipeline.defs.audit.assets import audit_digest, digest_months, event_store_digests

audit_digest_job = dg.define_asset_job(
    "seal_audit_digests",
    selection=[event_store_digests],
    description="Seals new digests over the event store and verifies the whole history.",
)

hourly_audit_digests = dg.ScheduleDefinition(job=audit_digest_job, cron_schedule="5 * * * *", execution_timezone="UTC")

publish_month_digest_job = dg.define_asset_job(
    "publish_month_digest",
    selection=[audit_digest],
    partitions_def=digest_months,
    description="Publishes the digest of a closed month (and of any closed month before it not published yet).",
)


@dg.schedule(job=publish_month_digest_job, cron_schedule="0 2 1 * *", execution_timezone="UTC")
def monthly_audit_digest(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """At 02:00 UTC on the 1st, an hour after the closing grace: the month that just ended."""
    this_month = context.scheduled_execution_time.date().replace(day=1)
    ended = (this_month - timedelta(days=1)).replace(day=1)
    return dg.RunRequest(run_key=f"{ended:%Y-%m}", partition_key=f"{ended:%Y-%m-%d}")
