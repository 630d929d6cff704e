import dagster as dg

from bank_pipeline.defs.statements.jobs import monthly_statements_job
from bank_pipeline.defs.statements.partitions import month_before


@dg.schedule(
    cron_schedule="0 2 1 * *",
    job=monthly_statements_job,
    execution_timezone="UTC",
    name="statements_on_the_first_of_the_month",
    description="On the first day of each month (02:00 UTC), the statements of the month that just ended.",
)
def monthly_statements_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return dg.RunRequest(partition_key=month_before(context.scheduled_execution_time.date()))
