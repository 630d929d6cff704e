"""Appending and reading events. Every write goes through the SQL in sql/: event_store.append (008; a
command's events, handing over to 005's append_events when a stream gets several), append_commands (008; a
CommandBus group) or the COPY path of 007 (large batches)."""

import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
from psycopg_pool import ConnectionPool

from bank_pipeline.store.batch_append import append_by_copy, encoded_json
from bank_pipeline.store.errors import translate
from bank_pipeline.store.hashing import NotCanonicalJson
from bank_pipeline.store.records import (
    EVENT_COLUMNS,
    START,
    AppendResult,
    Checkpoint,
    NewEvent,
    RecordedEvent,
    StreamHead,
)

NOTIFY_CHANNEL = "event_store_appended"
#: Appends of at least this many events go through COPY (store/batch_append.py); smaller ones, such as a
#: command's, through one call of event_store.append (sql/008).
COPY_THRESHOLD = 64
PARTITION_MARGIN = timedelta(days=45)


def _json(document: Any) -> str:
    return orjson.dumps(document).decode()


_cursors: "weakref.WeakKeyDictionary[psycopg.Connection, psycopg.Cursor]" = weakref.WeakKeyDictionary()


def _cursor(connection: psycopg.Connection) -> psycopg.Cursor:
    """The connection's cursor for the store's hot statements, kept across calls: a new cursor looks up
    every parameter and column type's adapter again, which cost as much client time as the rest of a
    command's round trip. A connection serves one thread at a time, so one cursor each is enough."""
    cursor = _cursors.get(connection)
    if cursor is None or cursor.closed:
        cursor = _cursors[connection] = connection.cursor()
    return cursor


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"occurred_at must carry a time zone, not {moment!r}: use datetime.now(UTC) and the like")
    return moment


def _recorded(row: Sequence[Any]) -> RecordedEvent:
    return RecordedEvent(*row[:11], bytes(row[11]), bytes(row[12]))


class EventStore:
    """The write side's only door. Thread-safe: each call borrows a connection from the pool."""

    def __init__(self, pool: ConnectionPool, *, partitions_ahead_months: int = 3, copy_threshold: int = COPY_THRESHOLD):
        self.pool = pool
        self.copy_threshold = copy_threshold
        self._partitions_ahead_months = partitions_ahead_months
        self._partitions_ready_until: datetime | None = None
        self._partition_lock = threading.Lock()

    @contextmanager
    def _connection(self, conn: psycopg.Connection | None) -> Iterator[psycopg.Connection]:
        if conn is not None:
            yield conn
        else:
            with self.pool.connection() as pooled:
                yield pooled

    # -- writing ---------------------------------------------------------------------------------

    def append(
        self,
        events: Sequence[NewEvent],
        expected_versions: Mapping[str, int | None] | None = None,
        *,
        snapshots: Mapping[str, dict[str, Any]] | None = None,
        snapshot_version: int | None = None,
        idempotency_key: str | None = None,
        request_hash: bytes | None = None,
        conn: psycopg.Connection | None = None,
    ) -> AppendResult:
        """Append `events` atomically, across any number of streams.

        `expected_versions` maps every stream the caller's decision depended on to the version it saw
        (0 = must not exist yet, None = any). Streams that receive events but are not listed accept any
        version. On a mismatch nothing is written and ConcurrencyError is raised.
        Pass `conn` to append inside the caller's transaction; the append must be its first write.
        """
        use_copy, encoded = len(events) >= self.copy_threshold, None
        if use_copy and conn is not None:
            # In the caller's transaction a failed COPY cannot fall back (its transaction id is taken), so
            # the documents are checked first; in ours they are encoded as they stream.
            encoded = _encoded_for_copy(events)
            use_copy = encoded is not None
        return self._append(
            events, expected_versions, use_copy, encoded, snapshots=snapshots, snapshot_version=snapshot_version,
            idempotency_key=idempotency_key, request_hash=request_hash, conn=conn,
        )  # fmt: skip

    def append_batches(self, batches: Iterable[Sequence[NewEvent]]) -> Iterator[AppendResult]:
        """Append each batch as append(batch) would, one transaction after another, yielding each result
        once its batch has committed: for loading many batches (ingestion, migrations). While a batch is
        on the server, a helper thread encodes the next one's documents, work this process would
        otherwise do while the server waits."""
        with ThreadPoolExecutor(1, thread_name_prefix="append-batches-encoder") as encoder:
            remaining = iter(batches)
            batch = next(remaining, None)
            encoding = encoder.submit(self._encoded_batch, batch) if batch is not None else None
            while batch is not None:
                use_copy, encoded = encoding.result()
                following = next(remaining, None)
                if following is not None:
                    encoding = encoder.submit(self._encoded_batch, following)
                yield self._append(
                    batch, None, use_copy, encoded, snapshots=None, snapshot_version=None, idempotency_key=None,
                    request_hash=None, conn=None,
                )  # fmt: skip
                batch = following

    def _encoded_batch(self, events: Sequence[NewEvent]) -> tuple[bool, tuple[list[bytes], list[bytes]] | None]:
        """Whether `events` go through COPY, and if so their documents encoded for it."""
        if len(events) < self.copy_threshold:
            return False, None
        encoded = _encoded_for_copy(events)
        return encoded is not None, encoded

    def _append(
        self,
        events: Sequence[NewEvent],
        expected_versions: Mapping[str, int | None] | None,
        use_copy: bool,
        encoded: tuple[list[bytes], list[bytes]] | None,
        *,
        snapshots: Mapping[str, dict[str, Any]] | None,
        snapshot_version: int | None,
        idempotency_key: str | None,
        request_hash: bytes | None,
        conn: psycopg.Connection | None,
    ) -> AppendResult:
        """append() once the path is chosen: COPY (`encoded` None encodes while copying, and falls back
        to the SQL path for documents only PostgreSQL can hash) or event_store.append."""
        if not events:
            raise ValueError("append needs at least one event")
        checked, occurred_at = self._prepare(events, expected_versions)
        snapshots = snapshots or {}
        with self._connection(conn) as connection:
            try:
                if use_copy:
                    try:
                        rows, replayed = append_by_copy(
                            connection, events, checked, occurred_at, encoded, snapshots=snapshots,
                            snapshot_version=snapshot_version, idempotency_key=idempotency_key,
                            request_hash=request_hash,
                        )  # fmt: skip
                        return AppendResult.of_rows(rows, replayed=replayed)
                    except NotCanonicalJson:
                        pass  # PostgreSQL hashes these: the SQL path below
                rows = self._append_events(
                    connection, events, checked, occurred_at, snapshots, snapshot_version, idempotency_key,
                    request_hash,
                )  # fmt: skip
            except psycopg.Error as error:
                raise translate(error, idempotency_key) from error
        return AppendResult.of_rows(rows, replayed=rows[0][4])

    @staticmethod
    def _append_events(
        connection, events, checked, occurred_at, snapshots, snapshot_version, idempotency_key, request_hash
    ) -> list[tuple]:
        """One call of event_store.append (sql/008, append_events of sql/005 when a stream gets several
        events): a single round trip, for a command's events."""
        streams_document, events_document = _documents(events, checked, occurred_at, snapshots)
        return (
            _cursor(connection)
            .execute(
                "SELECT global_position, stream_id, stream_version, transaction_id, replayed "
                "FROM event_store.append(%s::jsonb, %s::jsonb, %s, %s, %s)",
                (_json(streams_document), _json(events_document), snapshot_version, idempotency_key, request_hash),
            )
            .fetchall()
        )

    def _prepare(
        self, events: Sequence[NewEvent], expected_versions: Mapping[str, int | None] | None
    ) -> tuple[dict[str, int | None], list[datetime]]:
        """What every append path needs first: partitions ready, every stream to check (those that only
        receive events accept any version), and each event's business time (the append's by default)."""
        self._ensure_partitions_ready()
        checked = dict(expected_versions or {})
        for event in events:
            checked.setdefault(event.stream_id, None)
        now = datetime.now(UTC)
        return checked, [_aware(e.occurred_at or now) for e in events]

    def _ensure_partitions_ready(self) -> None:
        ready_until = self._partitions_ready_until
        if ready_until is not None and datetime.now(UTC) + PARTITION_MARGIN < ready_until:
            return
        with self._partition_lock:
            self._partitions_ready_until = self.ensure_partitions()

    def ensure_partitions(self) -> datetime:
        """Create the monthly partitions up to `partitions_ahead_months` ahead; returns their end.

        Uses its own short-lived connection: the caller of append may hold the pool's last one, inside
        a transaction this must not write in."""
        with psycopg.connect(self.pool.conninfo, autocommit=True) as conn:
            (until,) = conn.execute(
                "SELECT event_store.ensure_partitions(%s)", (self._partitions_ahead_months,)
            ).fetchone()
        return until

    def partitions(self) -> list[str]:
        """The names of the monthly partitions of event_store.events, oldest first."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'event_store.events'::regclass ORDER BY 1"
            ).fetchall()
        return [row[0] for row in rows]

    def seal_digest(self, max_events: int = 100_000) -> dict[str, Any] | None:
        """Seal the next digest over final events not yet covered; None when there is nothing new."""
        with self.pool.connection() as conn:
            cursor = conn.execute("SELECT * FROM event_store.seal_digest(%s)", (max_events,))
            row = cursor.fetchone()
            if row is None:
                return None
            return dict(zip([c.name for c in cursor.description], row, strict=True))

    def seal_all_digests(self, max_events: int = 100_000) -> list[dict[str, Any]]:
        """Seal digests until every final event is covered; returns the digests sealed now."""
        sealed = []
        while (digest := self.seal_digest(max_events)) is not None:
            sealed.append(digest)
        return sealed

    def digest_totals(self) -> tuple[int, int]:
        """How many digests are sealed, and how many events they cover."""
        with self.pool.connection() as conn:
            digests, events = conn.execute(
                "SELECT count(*), coalesce(sum(event_count), 0) FROM event_store.digests"
            ).fetchone()
        return digests, int(events)

    # -- reading ---------------------------------------------------------------------------------

    def read_stream(
        self, stream_id: str, *, after_version: int = 0, conn: psycopg.Connection | None = None
    ) -> list[RecordedEvent]:
        with self._connection(conn) as connection:
            rows = (
                _cursor(connection)
                .execute(
                    f"SELECT {EVENT_COLUMNS} FROM event_store.events "
                    "WHERE stream_id = %s AND stream_version > %s ORDER BY stream_version",
                    (stream_id, after_version),
                )
                .fetchall()
            )
        return [_recorded(row) for row in rows]

    def read_all(
        self, after: Checkpoint = START, limit: int = 1000, *, conn: psycopg.Connection | None = None
    ) -> list[RecordedEvent]:
        """The next `limit` final events after `after`, in delivery order. Never skips a late commit."""
        with self._connection(conn) as connection:
            return read_final_events(connection, after, limit)

    def newest_checkpoint(self, *, conn: psycopg.Connection | None = None) -> Checkpoint:
        """The checkpoint of the newest committed event, final or not (START when there is none): what a
        reader that wants every event committed so far has to reach."""
        with self._connection(conn) as connection:
            row = connection.execute(
                "SELECT transaction_id, global_position FROM event_store.events "
                "ORDER BY transaction_id DESC, global_position DESC LIMIT 1"
            ).fetchone()
        return Checkpoint(*row) if row else START

    def iter_all(self, after: Checkpoint = START, batch_size: int = 5000) -> Iterator[RecordedEvent]:
        """Every final event after `after`, in delivery order, fetched in batches."""
        while True:
            batch = self.read_all(after, batch_size)
            yield from batch
            if len(batch) < batch_size:
                return
            after = batch[-1].checkpoint

    def stream_heads(
        self, stream_ids: Iterable[str], *, conn: psycopg.Connection | None = None
    ) -> dict[str, StreamHead]:
        with self._connection(conn) as connection:
            rows = connection.execute(
                "SELECT stream_id, version, snapshot, snapshot_version FROM event_store.streams "
                "WHERE stream_id = ANY(%s)",
                (list(stream_ids),),
            ).fetchall()
        return {row[0]: StreamHead(*row) for row in rows}

    def command_context(
        self, stream_ids: Iterable[str], idempotency_keys: Iterable[str]
    ) -> tuple[dict[str, StreamHead], dict[str, tuple[bytes, AppendResult]]]:
        """What commands need before deciding, in one round trip: the heads of `stream_ids`, and for each
        of `idempotency_keys` already used, its request hash and the result stored under it."""
        with self.pool.connection() as conn:
            rows = (
                _cursor(conn)
                .execute(
                    "SELECT * FROM event_store.command_context(%s, %s)", (list(stream_ids), list(idempotency_keys))
                )
                .fetchall()
            )
        heads = {row[0]: StreamHead(*row[:4]) for row in rows if row[0] is not None}
        earlier = {row[4]: _idempotent_result(*row[5:]) for row in rows if row[4] is not None}
        return heads, earlier

    def append_commands(
        self,
        events: Sequence[NewEvent],
        expected_versions: Mapping[str, int | None],
        keyed_commands: Sequence[tuple[str, bytes, int, int]],
        *,
        snapshots: Mapping[str, dict[str, Any]] | None = None,
        snapshot_version: int | None = None,
    ) -> list[tuple[int, str, int, int]]:
        """Append the events of several commands atomically (sql/008), storing each command's result
        under its idempotency key: keyed_commands holds (key, request_hash, first event index, event
        count). Returns one (global_position, stream_id, stream_version, transaction_id) per event.
        Raises ConcurrencyError, or KeyTakenMeanwhile when one of the keys is already stored."""
        checked, occurred_at = self._prepare(events, expected_versions)
        streams_document, events_document = _documents(events, checked, occurred_at, snapshots or {})
        commands = [
            {"idempotency_key": key, "request_hash": fingerprint.hex(), "first_event": first + 1, "event_count": count}
            for key, fingerprint, first, count in keyed_commands
        ]
        with self.pool.connection() as connection:
            try:
                return (
                    _cursor(connection)
                    .execute(
                        "SELECT * FROM event_store.append_commands(%s::jsonb, %s::jsonb, %s, %s::jsonb)",
                        (_json(streams_document), _json(events_document), snapshot_version, _json(commands)),
                    )
                    .fetchall()
                )
            except psycopg.Error as error:
                raise translate(error) from error


def read_final_events(conn: psycopg.Connection, after: Checkpoint, limit: int) -> list[RecordedEvent]:
    """The next `limit` final events after `after`, in delivery order, on the caller's connection (and in its
    transaction): what a subscriber that keeps its checkpoint in the same database reads."""
    rows = (
        _cursor(conn)
        .execute(
            f"SELECT {EVENT_COLUMNS} FROM event_store.events "
            "WHERE (transaction_id, global_position) > (%s, %s) "
            "AND transaction_id < event_store.read_horizon() "
            "ORDER BY transaction_id, global_position LIMIT %s",
            (after.transaction_id, after.global_position, limit),
        )
        .fetchall()
    )
    return [_recorded(row) for row in rows]


def _documents(
    events: Sequence[NewEvent],
    checked: Mapping[str, int | None],
    occurred_at: Sequence[datetime],
    snapshots: Mapping[str, dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """append_events' two arguments: one object per stream to check or append to, one per event."""
    streams = [
        {
            "stream_id": stream_id,
            "expected": expected,
            **({"snapshot": snapshots[stream_id]} if stream_id in snapshots else {}),
        }
        for stream_id, expected in checked.items()
    ]
    documents = [
        {
            "stream_id": e.stream_id,
            "event_type": e.event_type,
            "schema_version": e.schema_version,
            "event_id": str(e.event_id),
            "payload": e.payload,
            "metadata": e.metadata,
            "occurred_at": occurred.isoformat(),
        }
        for e, occurred in zip(events, occurred_at, strict=True)
    ]
    return streams, documents


def _encoded_for_copy(events: Sequence[NewEvent]) -> tuple[list[bytes], list[bytes]] | None:
    """The payloads and metadata of `events` encoded for the COPY path, or None when one of them needs
    the SQL path (see NotCanonicalJson)."""
    try:
        return encoded_json([e.payload for e in events]), encoded_json([e.metadata for e in events])
    except NotCanonicalJson:
        return None


def _idempotent_result(
    request_hash: bytes, positions: list[int], streams: list[str], versions: list[int], transaction_id: int
) -> tuple[bytes, AppendResult]:
    rows = [(p, s, v, transaction_id) for p, s, v in zip(positions, streams, versions, strict=True)]
    return bytes(request_hash), AppendResult.of_rows(rows, replayed=True)
