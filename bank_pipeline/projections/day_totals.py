"""Per business day and currency, the ledger across the accounts that had entries that day."""

from dataclasses import dataclass
from datetime import date

import psycopg


@dataclass(frozen=True)
class DayTotals:
    business_day: date
    currency: str
    accounts: int  # accounts with entries that day
    entries: int
    opening: int
    credits: int
    debits: int
    closing: int


def day_totals(conn: psycopg.Connection, first_day: date, last_day: date) -> list[DayTotals]:
    rows = conn.execute(
        "SELECT business_day, currency, count(*), sum(entry_count)::bigint, sum(opening_balance)::bigint, "
        "sum(credits)::bigint, sum(debits)::bigint, "
        "sum(closing_balance)::bigint FROM projections.daily_balances WHERE business_day BETWEEN %s AND %s "
        "GROUP BY business_day, currency ORDER BY business_day, currency",
        (first_day, last_day),
    ).fetchall()
    return [DayTotals(*row) for row in rows]
