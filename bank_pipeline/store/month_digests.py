"""Monthly audit digests (sql/016): publish, for each closed month, the Merkle tree hash of its events' hashes in
delivery order, chained to the month before; recompute and compare them (`audit verify`); prove one event's place
in its month (`audit prove`).

A month is closed when it ended at least CLOSING_GRACE ago and none of its events is above the read horizon (no
transaction that wrote into it is still open). An event written into a published month after all (a transaction
open across the month's end for longer than the grace) is not lost: `audit verify` reports the month's root as
no longer matching, which is what a digest is for.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import psycopg

from bank_pipeline.archive.months import add_months, month_of  # pure month arithmetic, shared with the archive
from bank_pipeline.domain.merkle import MerkleAccumulator, inclusion_proof
from bank_pipeline.store.errors import EventStoreError
from bank_pipeline.store.records import Checkpoint

CLOSING_GRACE = timedelta(hours=1)
NO_ROOT = bytes(32)  # the previous root of the first published month
_BATCH = 50_000

_MONTH_HASHES = """
SELECT transaction_id, global_position, hash
  FROM event_store.events
 WHERE recorded_at >= %(start)s AND recorded_at < %(end)s
 ORDER BY transaction_id, global_position
"""


class MonthNotClosed(EventStoreError):
    """The month may still receive events: publishing its digest now would publish the wrong root."""


class EventNotFound(EventStoreError):
    pass


@dataclass(frozen=True)
class MonthDigest:
    month: date  # the first day
    event_count: int
    first: Checkpoint | None  # the month's first and last event in delivery order (None: no events)
    last: Checkpoint | None
    merkle_root: bytes
    previous_root: bytes = NO_ROOT
    published_at: datetime | None = None  # None: computed, not published


@dataclass(frozen=True)
class InclusionProof:
    """What an auditor needs to check that one event is in a published month, with the month's root alone."""

    month: date
    global_position: int
    event_hash: bytes  # the leaf
    index: int  # its place in the month's delivery order
    tree_size: int
    path: list[bytes]
    merkle_root: bytes  # as published


def month_bounds(month: date) -> tuple[datetime, datetime]:
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    return start, datetime.combine(add_months(month, 1), datetime.min.time(), UTC)


def compute_month_digest(conn: psycopg.Connection, month: date) -> MonthDigest:
    """The month's root from the events in the database, streamed (memory does not grow with the month)."""
    tree = MerkleAccumulator()
    first = last = None
    for checkpoint, event_hash in _month_hashes(conn, month):
        tree.add(event_hash)
        first = first or checkpoint
        last = checkpoint
    return MonthDigest(month, tree.count, first, last, tree.root())


def _month_hashes(conn: psycopg.Connection, month: date) -> Iterator[tuple[Checkpoint, bytes]]:
    """The month's (checkpoint, event hash) in delivery order, wherever the month lives: its partition, or the
    archive once it was moved there (the caller need not know)."""
    from bank_pipeline.archive.reading import archived_table  # the archive builds on the store: import late

    table = archived_table(conn, month)  # None while the month is hot
    if table is not None:
        table = table.sort_by([("transaction_id", "ascending"), ("global_position", "ascending")])
        columns = [table.column(name).to_pylist() for name in ("transaction_id", "global_position", "hash")]
        for transaction_id, position, event_hash in zip(*columns, strict=True):
            yield Checkpoint(transaction_id, position), event_hash
        return
    start, end = month_bounds(month)
    with conn.transaction(), conn.cursor(name=f"month_hashes_{month:%Y_%m}") as cursor:
        cursor.itersize = _BATCH
        cursor.execute(_MONTH_HASHES, {"start": start, "end": end})
        for transaction_id, position, event_hash in cursor:
            yield Checkpoint(transaction_id, position), bytes(event_hash)


def published_months(conn: psycopg.Connection) -> list[MonthDigest]:
    rows = conn.execute(
        "SELECT month, event_count, first_transaction_id, first_position, last_transaction_id, last_position, "
        "merkle_root, previous_root, published_at FROM event_store.month_digests ORDER BY month"
    ).fetchall()
    return [_digest(row) for row in rows]


def _digest(row: tuple) -> MonthDigest:
    month, count, first_tx, first_pos, last_tx, last_pos, root, previous, published_at = row
    first = Checkpoint(first_tx, first_pos) if first_tx is not None else None
    last = Checkpoint(last_tx, last_pos) if last_tx is not None else None
    return MonthDigest(month, count, first, last, bytes(root), bytes(previous), published_at)


def months_due(conn: psycopg.Connection, now: datetime) -> list[date]:
    """The closed months not published yet, oldest first: from the month after the last published one (or the
    month of the first event) through the last month that ended CLOSING_GRACE before `now`."""
    last_published = conn.execute("SELECT max(month) FROM event_store.month_digests").fetchone()[0]
    if last_published is not None:
        month = add_months(last_published, 1)
    elif (first := first_month(conn)) is not None:
        month = first
    else:
        return []
    due = []
    while month_bounds(month)[1] + CLOSING_GRACE <= now:
        due.append(month)
        month = add_months(month, 1)
    return due


def first_month(conn: psycopg.Connection) -> date | None:
    """The month of the first event, archived or hot (None: no event yet)."""
    archived, hot = conn.execute(
        "SELECT (SELECT min(month) FROM event_store.archived_months), (SELECT min(recorded_at) FROM event_store.events)"
    ).fetchone()
    months = [m for m in (archived, month_of(hot) if hot is not None else None) if m is not None]
    return min(months) if months else None


def publish_month(conn: psycopg.Connection, month: date, now: datetime) -> MonthDigest:
    """Compute and publish the month's digest, chained to the month before. Refused while the month may still
    receive events, and out of order (the month before must be published first, unless none has been)."""
    end = month_bounds(month)[1]
    if end + CLOSING_GRACE > now:
        raise MonthNotClosed(
            f"{month:%Y-%m} ends {end:%Y-%m-%d %H:%M} UTC: its digest can be published {CLOSING_GRACE} after that"
        )
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('event_store.month_digests', 0))")
        published = {digest.month: digest for digest in published_months(conn)}
        if month in published:
            return published[month]
        first = first_month(conn)
        if not published and first is not None and month > first:
            raise MonthNotClosed(f"publish months in order: the first month with events is {first:%Y-%m}")
        if published and max(published) != add_months(month, -1):
            raise MonthNotClosed(
                f"publish months in order: the last published is {max(published):%Y-%m}, not the month before "
                f"{month:%Y-%m}"
            )
        if _has_open_writes(conn, month):
            raise MonthNotClosed(f"a transaction that wrote into {month:%Y-%m} is still open: try again later")
        digest = compute_month_digest(conn, month)
        previous_root = published[max(published)].merkle_root if published else NO_ROOT
        row = conn.execute(
            "INSERT INTO event_store.month_digests (month, event_count, first_transaction_id, first_position, "
            "last_transaction_id, last_position, merkle_root, previous_root) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING month, event_count, first_transaction_id, "
            "first_position, last_transaction_id, last_position, merkle_root, previous_root, published_at",
            (month, digest.event_count, *(digest.first or (None, None)), *(digest.last or (None, None)),
             digest.merkle_root, previous_root),
        ).fetchone()  # fmt: skip
    return _digest(row)


def publish_due_months(conn: psycopg.Connection, now: datetime) -> list[MonthDigest]:
    return [publish_month(conn, month, now) for month in months_due(conn, now)]


def _has_open_writes(conn: psycopg.Connection, month: date) -> bool:
    """Whether a transaction that may still write into the month is open. recorded_at is now(), the transaction's
    start: any open transaction (ours aside) that started before the month's end could; its rows are invisible
    until it commits, so look at the transactions themselves, then at committed rows not below the horizon."""
    start, end = month_bounds(month)
    return conn.execute(
        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE xact_start < %(end)s AND pid <> pg_backend_pid()"
        "               AND datname = current_database() AND backend_type = 'client backend')"
        "    OR EXISTS (SELECT FROM event_store.events WHERE recorded_at >= %(start)s AND recorded_at < %(end)s"
        "               AND transaction_id >= event_store.read_horizon())",
        {"start": start, "end": end},
    ).fetchone()[0]


@dataclass(frozen=True)
class MonthFinding:
    month: date
    message: str


def check_published_months(conn: psycopg.Connection) -> tuple[int, list[MonthFinding]]:
    """Recompute every published month from the events and check each month's link to the month before. Returns
    how many months were checked and what does not match, oldest first."""
    findings: list[MonthFinding] = []
    published = published_months(conn)
    previous_root = NO_ROOT
    for digest in published:
        if digest.previous_root != previous_root:
            unlinked = f"month {digest.month:%Y-%m} does not chain to the month published before it: "
            findings.append(MonthFinding(digest.month, unlinked + "a published digest was removed or replaced"))
        try:
            recomputed = compute_month_digest(conn, digest.month)
        except EventStoreError as error:  # an archived month whose file is missing or altered
            findings.append(MonthFinding(digest.month, f"month {digest.month:%Y-%m} cannot be recomputed: {error}"))
            previous_root = digest.merkle_root
            continue
        if recomputed.merkle_root != digest.merkle_root:
            findings.append(MonthFinding(digest.month, _mismatch(digest, recomputed)))
        previous_root = digest.merkle_root
    return len(published), findings


def _mismatch(published: MonthDigest, recomputed: MonthDigest) -> str:
    return (
        f"month {published.month:%Y-%m}: the published root {published.merkle_root.hex()[:16]}… over "
        f"{published.event_count} events does not match {recomputed.merkle_root.hex()[:16]}… recomputed over "
        f"{recomputed.event_count}: an event recorded in that month was changed, removed or added after publication"
    )


def _month_holding(conn: psycopg.Connection, global_position: int) -> date:
    found = conn.execute(
        "SELECT recorded_at FROM event_store.events WHERE global_position = %s", (global_position,)
    ).fetchone()
    if found is not None:
        return month_of(found[0])
    archived = conn.execute(
        "SELECT month FROM event_store.archived_months WHERE %s BETWEEN first_global_position AND last_global_position "
        "ORDER BY month",
        (global_position,),
    ).fetchall()
    for (month,) in archived:  # positions are not strictly monotonic across months: look in each candidate
        if any(checkpoint.global_position == global_position for checkpoint, _ in _month_hashes(conn, month)):
            return month
    raise EventNotFound(f"no event at global position {global_position}, hot or archived")


def prove_inclusion(conn: psycopg.Connection, global_position: int) -> InclusionProof:
    """The inclusion proof of the event at `global_position` in its published month."""
    month = _month_holding(conn, global_position)
    published = {digest.month: digest for digest in published_months(conn)}
    if month not in published:
        raise MonthNotClosed(f"{month:%Y-%m} has no published digest yet: `bank-pipeline audit publish` first")
    checkpoints, hashes = [], []
    for checkpoint, event_hash in _month_hashes(conn, month):
        checkpoints.append(checkpoint.global_position)
        hashes.append(event_hash)
    index = checkpoints.index(global_position)
    return InclusionProof(
        month, global_position, hashes[index], index, len(hashes), inclusion_proof(hashes, index),
        published[month].merkle_root,
    )  # fmt: skip
