"""Rebuilding a range of business days of the read model: what a Dagster backfill of the daily
`read_model` partitions runs.

In one transaction, with the projector locked out: delete the range's entries and daily balances, put
back the entries of the events booked on those days (up to the read model's checkpoint, so the range ends
exactly where the rest of the read model stands), and recompute what depends on them through the
projector's own statements: the running balances from the range on, the daily balances, and the
balances of the accounts involved. Holds, statuses and customers are not day-keyed: a full rebuild
(`bank-pipeline projections rebuild`) renews those.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import psycopg

from bank_pipeline.projections import statements as s
from bank_pipeline.projections.projector import LIVE_SCHEMA, ensure_batch_table, plan_for_a_batch
from bank_pipeline.store.records import Checkpoint

_FILL_RANGE = """
INSERT INTO projector_batch
SELECT e.transaction_id, e.global_position, e.stream_id, e.stream_version, e.event_type, e.payload,
       e.occurred_at, e.recorded_at
  FROM event_store.events e
 WHERE e.event_type IN ('AccountCredited', 'AccountDebited')
   AND e.occurred_at >= %(start)s AND e.occurred_at < %(end)s
   AND (e.transaction_id, e.global_position) <= (%(transaction_id)s, %(global_position)s)
"""

_RECOMPUTED_FROM_BATCH = (s.ENTRIES, s.BUSINESS_BALANCES, s.KNOWN_BALANCES, s.DAILY_BALANCES, s.ACCOUNT_BALANCES)


@dataclass(frozen=True)
class DayRangeRebuild:
    first_day: date
    last_day: date
    checkpoint: Checkpoint  # the read model's checkpoint the range was rebuilt to
    entries_removed: int
    entries_rebuilt: int
    daily_rows_removed: int
    daily_rows_rebuilt: int
    accounts: int


def _utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


class ArchivedDays(ValueError):
    """The range reaches into archived months: its rows would be rebuilt from the hot events alone."""


def refuse_archived_days(conn: psycopg.Connection, first_day: date) -> None:
    """Entries are rebuilt from hot events; an archived event (recorded before the newest archived month ended,
    so dated no later either) may have rows on days before that end, which a rebuild would delete for good."""
    archived_until = conn.execute("SELECT max(month) + interval '1 month' FROM event_store.archived_months").fetchone()[
        0
    ]
    if archived_until is not None and first_day < archived_until.date():
        raise ArchivedDays(
            f"business days before {archived_until:%Y-%m-%d} may hold entries of archived events: rebuild from "
            f"{archived_until:%Y-%m-%d} on (rebuilding across the archive is not supported yet)"
        )


def rebuild_business_days(conn: psycopg.Connection, first_day: date, last_day: date) -> DayRangeRebuild:
    """Delete and rebuild the read model's rows of business days first_day..last_day (inclusive, UTC), in one
    transaction. Readers see the old rows until it commits."""
    if last_day < first_day:
        raise ValueError(f"the range ends ({last_day}) before it starts ({first_day})")
    start, end = _utc_midnight(first_day), _utc_midnight(last_day + timedelta(days=1))
    refuse_archived_days(conn, first_day)
    ensure_batch_table(conn)
    with conn.transaction():
        row = conn.execute(s.in_schema(s.LOCK_CHECKPOINT, LIVE_SCHEMA)).fetchone()
        checkpoint = Checkpoint(*row)
        plan_for_a_batch(conn)
        conn.execute("DELETE FROM projector_batch")
        entries_removed = conn.execute(
            "DELETE FROM projections.account_entries WHERE occurred_at >= %s AND occurred_at < %s", (start, end)
        ).rowcount
        daily_removed = conn.execute(
            "DELETE FROM projections.daily_balances WHERE business_day BETWEEN %s AND %s", (first_day, last_day)
        ).rowcount
        entries = conn.execute(
            _FILL_RANGE,
            {
                "start": start,
                "end": end,
                "transaction_id": checkpoint.transaction_id,
                "global_position": checkpoint.global_position,
            },
        ).rowcount
        for statement in _RECOMPUTED_FROM_BATCH:
            conn.execute(s.in_schema(statement, LIVE_SCHEMA))
        daily_rebuilt, accounts = conn.execute(
            "SELECT count(*), count(DISTINCT account_id) FROM projections.daily_balances "
            "WHERE business_day BETWEEN %s AND %s",
            (first_day, last_day),
        ).fetchone()
    return DayRangeRebuild(
        first_day, last_day, checkpoint, entries_removed, entries, daily_removed, daily_rebuilt, accounts
    )
