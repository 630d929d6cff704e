import dagster as dg

from bank_pipeline.defs.projections.jobs import project_read_model_job


@dg.schedule(
    cron_schedule="*/5 * * * *",
    job=project_read_model_job,
    execution_timezone="UTC",
    description="Every five minutes: catch the read model up and reconcile it (today's partition). The worker "
    "keeps it current within a second; this is the batch path's guarantee and the place its checks are seen.",
)
def read_model_every_five_minutes(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return dg.RunRequest(partition_key=context.scheduled_execution_time.date().isoformat())
