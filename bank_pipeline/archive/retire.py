"""The whole step for one month: export -> manifest -> read back and verify -> record, detach and drop.

Only the last step changes the database, in one transaction: the row in event_store.archived_months, DETACH
(event_store.detach_archived_partition re-checks the partition under its lock) and DROP. A failure anywhere
before its commit leaves the partition attached and untouched, and a re-run starts over and finishes the job; a
month already recorded is skipped. `on_step` is called after each named step (tests raise from it).
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

import psycopg
from psycopg import sql

from bank_pipeline.archive.errors import MonthNotDue, PartitionChanged
from bank_pipeline.archive.export import ExportReport, ensure_final, export_month, partition_exists, write_manifest
from bank_pipeline.archive.months import (
    DEFAULT_HOT_MONTHS,
    is_due,
    month_of,
    month_of_partition,
    oldest_hot_month,
    partition_name,
)
from bank_pipeline.archive.parts import FileParts, record_parts
from bank_pipeline.archive.store import ArchiveStore
from bank_pipeline.archive.verify import verify_month

STEPS = ("exported", "manifest_written", "verified", "recorded", "detached")
LOCK_TIMEOUT = "10s"  # DETACH waits for running appends to the partitioned table; past this, fail and retry

StepHook = Callable[[str], None]


@dataclass(frozen=True)
class MonthOutcome:
    month: date
    status: str  # archived | already_archived | no_partition
    export: ExportReport | None = None
    seconds: float = 0.0


def archived_months(conn: psycopg.Connection) -> list[dict]:
    cursor = conn.execute("SELECT * FROM event_store.archived_months ORDER BY month")
    names = [column.name for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def attached_months(conn: psycopg.Connection) -> list[date]:
    """The months of event_store.events' attached partitions, oldest first."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'event_store.events'::regclass"
    ).fetchall()
    return sorted(m for (name,) in rows if (m := month_of_partition(name)) is not None)


def check_due(month: date, now: datetime, hot_months: int) -> None:
    if month >= month_of(now):
        raise MonthNotDue(month, "it is the current month or later")
    if not is_due(month, now, hot_months):
        raise MonthNotDue(month, f"it is inside the hot window ({hot_months} months before {month_of(now):%Y-%m}, "
                                 f"from {oldest_hot_month(now, hot_months):%Y-%m})")  # fmt: skip


def archive_month(
    conn: psycopg.Connection,
    store: ArchiveStore,
    month: date,
    *,
    now: datetime,
    hot_months: int = DEFAULT_HOT_MONTHS,
    on_step: StepHook | None = None,
) -> MonthOutcome:
    """Archive `month` (any day of it) and drop its partition. `conn` must be in autocommit mode."""
    started = time.perf_counter()
    month = month_of(month)
    step = on_step or (lambda name: None)
    check_due(month, now, hot_months)
    # One archiver per month at a time (the CLI and a Dagster run may overlap): the second waits, then skips.
    lock = conn.execute("SELECT hashtextextended('event_store.archive ' || %s::text, 0)", (month,)).fetchone()[0]
    conn.execute("SELECT pg_advisory_lock(%s)", (lock,))
    try:
        return _archive_locked(conn, store, month, step, started)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (lock,))


def _archive_locked(
    conn: psycopg.Connection, store: ArchiveStore, month: date, step: StepHook, started: float
) -> MonthOutcome:
    if conn.execute("SELECT 1 FROM event_store.archived_months WHERE month = %s", (month,)).fetchone():
        return MonthOutcome(month, "already_archived")
    if not partition_exists(conn, month):
        return MonthOutcome(month, "no_partition")

    exported = export_month(conn, store, month)
    step("exported")
    write_manifest(store, exported)
    step("manifest_written")
    verified = verify_month(conn, store, month, expected=exported.manifest)
    step("verified")
    _record_and_drop(conn, month, exported, verified.parts, step)
    return MonthOutcome(month, "archived", exported, time.perf_counter() - started)


def _record_and_drop(
    conn: psycopg.Connection, month: date, exported: ExportReport, parts: FileParts, step: StepHook
) -> None:
    manifest = exported.manifest
    with conn.transaction():
        conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))
        ensure_final(conn, month)
        conn.execute(
            "INSERT INTO event_store.archived_months (month, partition_name, parquet_uri, manifest_uri, event_count, "
            "first_global_position, last_global_position, first_transaction_id, last_transaction_id, "
            "parquet_sha256, chain_digest) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                month, partition_name(month), exported.parquet_uri, exported.manifest_uri, manifest.event_count,
                manifest.first_global_position, manifest.last_global_position, manifest.first_transaction_id,
                manifest.last_transaction_id, bytes.fromhex(manifest.parquet_sha256),
                bytes.fromhex(manifest.chain_digest),
            ),
        )  # fmt: skip
        record_parts(conn, parts)
        step("recorded")
        try:
            conn.execute("SELECT event_store.detach_archived_partition(%s)", (month,))
        except psycopg.Error as error:
            if getattr(error, "sqlstate", None) in ("BP011", "BP012"):
                raise PartitionChanged(f"{error.diag.message_primary}: nothing was dropped") from error
            raise
        step("detached")
        conn.execute(sql.SQL("DROP TABLE event_store.{}").format(sql.Identifier(partition_name(month))))


def archive_due_months(
    conn: psycopg.Connection,
    store: ArchiveStore,
    *,
    now: datetime,
    hot_months: int = DEFAULT_HOT_MONTHS,
    on_month: Callable[[date], None] | None = None,
    on_step: StepHook | None = None,
) -> list[MonthOutcome]:
    """Archive every attached partition's month that is due, oldest first."""
    outcomes = []
    for month in attached_months(conn):
        if not is_due(month, now, hot_months):
            continue
        if on_month is not None:
            on_month(month)
        outcomes.append(archive_month(conn, store, month, now=now, hot_months=hot_months, on_step=on_step))
    return outcomes
