from datetime import date, timedelta

import dagster as dg

from bank_pipeline.defs.projections.partitions import FIRST_BUSINESS_DAY
from bank_pipeline.domain.statements import StatementPeriod

#: Calendar months (UTC), the month in progress included: a run for it gives month-to-date statements, and the
#: schedule asks for each month once it has ended.
statement_months = dg.MonthlyPartitionsDefinition(start_date=FIRST_BUSINESS_DAY, timezone="UTC", end_offset=1)


def statement_period_of(context: dg.AssetExecutionContext) -> StatementPeriod:
    start = context.partition_time_window.start
    return StatementPeriod.month(start.year, start.month)


def month_before(day: date) -> str:
    """The partition key of the month before `day`'s month."""
    last_day_of_previous = day.replace(day=1) - timedelta(days=1)
    return last_day_of_previous.replace(day=1).isoformat()
