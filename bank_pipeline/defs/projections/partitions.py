from datetime import date, timedelta

import dagster as dg

#: The first business day the calendar offers. Earlier days can still be projected; they just have no partition.
FIRST_BUSINESS_DAY = "2025-01-01"

#: Business days (UTC dates of business time), today included: a run for today catches up what has arrived.
business_days = dg.DailyPartitionsDefinition(start_date=FIRST_BUSINESS_DAY, timezone="UTC", end_offset=1)


def business_days_of(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """The first and last business day a run covers: one partition, or a backfill's whole range."""
    window = context.partition_time_window
    return window.start.date(), (window.end - timedelta(days=1)).date()
