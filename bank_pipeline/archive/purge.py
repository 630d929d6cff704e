"""Purge after the retention period: the archived events of streams whose life ended long ago become tombstones.

Retention counts from the end of a relationship, as banking law does, and never breaks a live aggregate: a stream is
purged when nothing was appended to it since the cutoff (now minus the retention period, default 7 years) and its
life is over - a closed account; a transfer in a final state whose account is purged too (or gone); a customer no
longer active whose accounts are all purged - unless a legal hold keeps it (personal_data/legal_holds.py: the
customer, or one account and its customer). Everything else stays whole however old it is.

A tombstone keeps what the audit digests need - global position, transaction id, recorded_at and the event's hash -
and nothing else (archive/tombstones.py), so the month digests, range digests and the chains of the streams that
stay still verify after a purge.

One run, under an advisory lock:
1. plan the streams to purge; take the stream locks every append takes (session advisory locks on the candidates
   and on the customers owning candidate accounts: a legal hold is appended to the customer stream), then catch the
   read model up and plan again: only streams planned both times, and locked, are purged;
2. append a `RetentionPurged` event (stream `retention-purges`): when, which cutoff, how many streams, and a sha256
   of their sorted ids (ids are personal data, so they are not listed);
3. rewrite each archived month holding their events to a new file beside the old one (read back and checked), with
   a manifest of its own, and record it in event_store.month_purges with the event's position;
4. in one transaction, remove the purged streams' rows from event_store.streams and the read model.
A crash anywhere leaves a state a re-run finishes: the streams are found again (their rows are still there) and the
months already rewritten hold none of their events. Files a purge replaced are removed a day later, by a later run,
so a reader that started before the purge can still finish with the file it was given.
"""

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import psycopg
import pyarrow.compute as pc

from bank_pipeline.archive.errors import ArchiveCorrupt, ArchiveError
from bank_pipeline.archive.months import month_of
from bank_pipeline.archive.parts import file_parts, record_parts
from bank_pipeline.archive.reading import archive_files, read_archive_file, read_verified_uri
from bank_pipeline.archive.store import ArchiveStore
from bank_pipeline.archive.tombstones import tombstone_mask, write_purged_month
from bank_pipeline.archive.verify import in_delivery_order, table_of
from bank_pipeline.domain.transfer import TransferState
from bank_pipeline.personal_data.legal_holds import held_streams
from bank_pipeline.projections.catching_up import catch_up_with_committed_events
from bank_pipeline.store import EventStore, NewEvent

DEFAULT_RETENTION_YEARS = 7
PURGE_STREAM = "retention-purges"
FINAL_TRANSFER_STATES = frozenset({"settled", "rejected", "expired", "credited", "returned"})
#: Streams purged in one run at most: each is held by a session advisory lock for the run's length, and the
#: server's lock table is shared (max_locks_per_transaction x max_connections). A later run takes the rest.
MAX_STREAMS_PER_RUN = 5_000
#: How long a file a purge replaced stays readable for readers that were given it before the purge.
SUPERSEDED_FILE_GRACE = timedelta(days=1)

MonthHook = Callable[[date], None]


class PurgeBlocked(ArchiveError):
    """The purge cannot run; the message says what to do first."""


@dataclass(frozen=True)
class MonthPurged:
    month: date
    purge_number: int
    events_purged: int
    events_kept: int
    parquet_uri: str
    parquet_sha256: str


@dataclass(frozen=True)
class PurgeReport:
    cutoff: datetime
    streams_purged: int
    streams_held: int
    months: list[MonthPurged]
    event_position: int | None  # the RetentionPurged event's global position; None when nothing was purged
    seconds: float

    @property
    def events_purged(self) -> int:
        return sum(month.events_purged for month in self.months)


def retention_cutoff(now: datetime, years: int) -> datetime:
    """`now` moved back `years` calendar years (29 February becomes the 28th)."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)


# Accounts and customers nothing was appended to since the cutoff whose life is over, legal holds taken out.
_ENDED_ACCOUNTS_AND_CUSTOMERS = """
WITH ended_accounts AS (
    SELECT s.stream_id, b.customer_id
      FROM event_store.streams s
      JOIN projections.account_balances b ON s.stream_id = 'account-' || b.account_id
     WHERE s.category = 'account' AND s.updated_at < %(cutoff)s AND b.status = 'closed'
       AND s.stream_id <> ALL (%(held)s)
)
SELECT stream_id, 'customer-' || customer_id FROM ended_accounts
UNION ALL
SELECT s.stream_id, s.stream_id
  FROM event_store.streams s
  JOIN projections.customers c ON s.stream_id = 'customer-' || c.customer_id
 WHERE s.category = 'customer' AND s.updated_at < %(cutoff)s AND c.status <> 'active'
   AND s.stream_id <> ALL (%(held)s)
   AND NOT EXISTS (SELECT 1 FROM projections.customer_accounts ca
                    WHERE ca.customer_id = c.customer_id
                      AND 'account-' || ca.account_id NOT IN (SELECT stream_id FROM ended_accounts))
"""

_OLD_TRANSFERS = "SELECT stream_id FROM event_store.streams WHERE category = 'transfer' AND updated_at < %(cutoff)s"


@dataclass(frozen=True)
class PurgePlan:
    streams: set[str]  # to purge
    owners: set[str]  # the customer streams whose appends could change the plan (a hold on an account)
    held: set[str]


def plan_purge(conn: psycopg.Connection, event_store: EventStore, cutoff: datetime) -> PurgePlan:
    held = held_streams(conn)
    rows = conn.execute(_ENDED_ACCOUNTS_AND_CUSTOMERS, {"cutoff": cutoff, "held": sorted(held)}).fetchall()
    streams, owners = {stream for stream, _ in rows}, {owner for _, owner in rows}
    streams |= _ended_transfers(conn, event_store, cutoff, purged_accounts=streams)
    streams = set(sorted(streams)[:MAX_STREAMS_PER_RUN])
    return PurgePlan(streams, owners, held)


def _ended_transfers(
    conn: psycopg.Connection, event_store: EventStore, cutoff: datetime, *, purged_accounts: set[str]
) -> set[str]:
    """Transfer streams untouched since the cutoff, in a final state, whose account is purged now or already gone:
    a transfer stays with an account that lives on (or is held)."""
    from bank_pipeline.application import CommandHandler  # the application builds on the archive: import late

    old = [stream_id for (stream_id,) in conn.execute(_OLD_TRANSFERS, {"cutoff": cutoff})]
    states, _ = CommandHandler(event_store).states_of(old, event_store.stream_heads(old, conn=conn))
    ended = {stream_id: state.account_id for stream_id, state in states.items()
             if isinstance(state, TransferState) and state.status in FINAL_TRANSFER_STATES}  # fmt: skip
    accounts = {f"account-{account_id}" for account_id in ended.values()}
    living = set(event_store.stream_heads(accounts - purged_accounts, conn=conn))
    return {stream_id for stream_id, account_id in ended.items() if f"account-{account_id}" not in living}


def check_archived(conn: psycopg.Connection, streams: set[str]) -> None:
    """Every event of the streams to purge must be in the archive: a purge never touches the hot store."""
    row = conn.execute(
        "SELECT stream_id, recorded_at FROM event_store.events WHERE stream_id = ANY(%s) LIMIT 1", (sorted(streams),)
    ).fetchone()
    if row is not None:
        raise PurgeBlocked(
            f"{row[0]} is past retention but still has events in PostgreSQL (recorded {row[1]:%Y-%m-%d}): "
            f"run `bank-pipeline archive run` for that month first, then purge"
        )


def purge_expired(
    event_store: EventStore,
    store: ArchiveStore,
    *,
    now: datetime,
    retention_years: int = DEFAULT_RETENTION_YEARS,
    on_month: MonthHook | None = None,
    allow_future_now: bool = False,
) -> PurgeReport:
    """Purge every stream past retention (see the module doc). One purge runs at a time (an advisory lock).
    `now` later than the clock is refused unless `allow_future_now` (rehearsals on a copy of the data, tests):
    a purge cannot be undone."""
    if retention_years < 1:
        raise PurgeBlocked(f"the retention period must be at least 1 year, not {retention_years}")
    if now > datetime.now(UTC) + timedelta(minutes=5) and not allow_future_now:
        raise PurgeBlocked(f"--now {now.isoformat()} is in the future: a purge cannot be undone, so it is refused")
    started = time.perf_counter()
    cutoff = retention_cutoff(now, retention_years)
    _catch_up(event_store)  # holds and closures are read from the read model
    with event_store.pool.connection() as conn, _session_lock(conn, "event_store.purge"):
        first = plan_purge(conn, event_store, cutoff)
        if not first.streams:
            _remove_superseded_files(conn, store)
            return PurgeReport(cutoff, 0, len(first.held), [], None, time.perf_counter() - started)
        with _stream_locks(conn, first.streams | first.owners):
            # Nothing can be appended to these streams now; what was committed before is projected once this returns.
            _catch_up(event_store)
            plan = plan_purge(conn, event_store, cutoff)
            streams = plan.streams & first.streams
            if not streams:
                return PurgeReport(cutoff, 0, len(plan.held), [], None, time.perf_counter() - started)
            check_archived(conn, streams)
            position = _record_purge(conn, event_store, cutoff, streams, plan.held)
            months = []
            for month, uri, sha256, purge_number in archive_files(conn, through=month_of(cutoff)):
                (on_month or (lambda _: None))(month)
                outcome = _purge_month(conn, store, month, uri, sha256, purge_number, streams, position)
                if outcome is not None:
                    months.append(outcome)
            with conn.transaction():
                _forget_streams(conn, sorted(streams))
        _remove_superseded_files(conn, store)
        return PurgeReport(cutoff, len(streams), len(plan.held), months, position, time.perf_counter() - started)


def _catch_up(event_store: EventStore) -> None:
    caught_up = catch_up_with_committed_events(event_store.pool)
    if not caught_up.complete:
        raise PurgeBlocked(
            "the read model could not reach every committed event (a long transaction is open?): the purge reads "
            "legal holds and closures from it, so it did not start; try again later"
        )


@contextmanager
def _session_lock(conn: psycopg.Connection, name: str) -> Iterator[None]:
    conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (name,))
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (name,))


@contextmanager
def _stream_locks(conn: psycopg.Connection, streams: set[str]) -> Iterator[None]:
    """The advisory locks every append takes on its streams (sql/005, 007), held for the block: in the appenders'
    order (ascending key), so neither side can deadlock the other."""
    keys = conn.execute(
        "SELECT DISTINCT hashtextextended(s, 0) FROM unnest(%s::text[]) AS s ORDER BY 1", (sorted(streams),)
    ).fetchall()
    keys = [key for (key,) in keys]
    locked = []
    try:
        for key in keys:
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
            locked.append(key)
        yield
    finally:
        for key in reversed(locked):
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


def _record_purge(
    conn: psycopg.Connection, event_store: EventStore, cutoff: datetime, streams: set[str], held: set[str]
) -> int:
    digest = hashlib.sha256("\n".join(sorted(streams)).encode()).hexdigest()
    payload = {"cutoff": cutoff.isoformat(), "streams_purged": len(streams), "streams_held": len(held),
               "streams_sha256": digest}  # fmt: skip
    appended = event_store.append(
        [NewEvent(PURGE_STREAM, "RetentionPurged", payload, 1, {"actor": "retention"}, datetime.now(UTC))]
    )
    return appended.global_positions[0]


def _purge_month(
    conn: psycopg.Connection,
    store: ArchiveStore,
    month: date,
    uri: str,
    sha256: bytes,
    purge_number: int,
    purged: set[str],
    event_position: int,
) -> MonthPurged | None:
    table = read_archive_file(uri, sha256, month)
    wanted = tombstone_mask(table, purged)
    count = pc.sum(wanted).as_py() or 0
    if count == 0:
        return None
    number = purge_number + 1
    written = write_purged_month(store, month, table, wanted, number)
    tombstones = pc.sum(pc.is_null(table.column("stream_id"))).as_py() + count
    data = read_verified_uri(written.uri, bytes.fromhex(written.sha256))
    _check_rewritten(month, table, table_of(data, month), tombstones)
    store.write_bytes(store.purge_manifest_key(month, number), json.dumps({
        "format": "bank_pipeline.event_archive.purge/1", "month": f"{month:%Y-%m}", "purge_number": number,
        "parquet": written.uri.rsplit("/", 1)[1], "parquet_sha256": written.sha256, "parquet_bytes": written.bytes,
        "replaces_parquet_sha256": bytes(sha256).hex(), "event_count": table.num_rows, "tombstones": tombstones,
        "events_purged": count, "retention_purged_event_position": event_position,
    }, indent=1, sort_keys=True).encode())  # fmt: skip
    conn.execute(
        "INSERT INTO event_store.month_purges (month, purge_number, parquet_uri, parquet_sha256, events_purged, "
        "tombstones, events_kept, event_position) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (month, number, written.uri, bytes.fromhex(written.sha256), count, tombstones, table.num_rows - tombstones,
         event_position),
    )  # fmt: skip
    record_parts(conn, file_parts(data, bytes.fromhex(written.sha256)))
    return MonthPurged(month, number, count, table.num_rows - tombstones, written.uri, written.sha256)


def _check_rewritten(month: date, before, after, tombstones: int) -> None:
    """The new file holds every event of the old one, in the same delivery order with the same hashes, and exactly
    the tombstones intended."""
    same = after.num_rows == before.num_rows and in_delivery_order(after).column("hash").equals(
        in_delivery_order(before).column("hash")
    )
    if not same or pc.sum(pc.is_null(after.column("stream_id"))).as_py() != tombstones:
        raise ArchiveCorrupt(f"{month:%Y-%m}: the purged file does not read back as written; nothing was recorded")


def _forget_streams(conn: psycopg.Connection, streams: list[str]) -> None:
    ids = {category: [s.split("-", 1)[1] for s in streams if s.startswith(f"{category}-")]
           for category in ("account", "customer")}  # fmt: skip
    conn.execute("DELETE FROM event_store.streams WHERE stream_id = ANY(%s)", (streams,))
    for table in ("account_balances", "account_entries", "daily_balances", "account_holds", "account_status_changes"):
        conn.execute(f"DELETE FROM projections.{table} WHERE account_id = ANY(%s)", (ids["account"],))
    conn.execute(
        "DELETE FROM projections.customer_accounts WHERE account_id = ANY(%s) OR customer_id = ANY(%s)",
        (ids["account"], ids["customer"]),
    )
    for table in ("customers", "legal_holds"):  # only released holds remain on a purged customer
        conn.execute(f"DELETE FROM projections.{table} WHERE customer_id = ANY(%s)", (ids["customer"],))


def _remove_superseded_files(conn: psycopg.Connection, store: ArchiveStore) -> None:
    """Files a later purge replaced more than SUPERSEDED_FILE_GRACE ago."""
    rows = conn.execute(
        "SELECT p.month, p.purge_number FROM event_store.month_purges p WHERE p.purged_at < now() - %s",
        (SUPERSEDED_FILE_GRACE,),
    ).fetchall()
    for month, purge_number in rows:
        replaced = conn.execute(
            "SELECT parquet_uri FROM event_store.archived_months WHERE month = %(month)s AND %(number)s = 1 "
            "UNION ALL SELECT parquet_uri FROM event_store.month_purges "
            " WHERE month = %(month)s AND purge_number = %(number)s - 1",
            {"month": month, "number": purge_number},
        ).fetchall()
        for (uri,) in replaced:
            store.remove_uri(uri)
