"""The COPY path of EventStore.append, for large batches (sql/007_event_store_batch_append.sql).

append_events parses one jsonb document and chains hashes in SQL: fine for a command's few events, but
several times the cost of the insert itself per event. Here the server does what only it can (locks,
version checks, transaction id, positions, the final checks) and the client numbers and chains the
events while it streams them with COPY, so the two work at the same time.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bank_pipeline.store.hashing import event_hash, jsonb_text
from bank_pipeline.store.records import EVENT_COLUMNS, NewEvent

# jsonb's binary form is a version byte (1) then its text: payload and metadata, already encoded for the
# hash, are sent as that, declared as bytea so psycopg passes the bytes through untouched.
_COPY_TYPES = (
    "bigint", "bigint", "text", "bigint", "text", "integer", "uuid", "bytea", "bytea", "timestamptz", "timestamptz",
    "bytea", "bytea",
)  # fmt: skip
_JSONB_VERSION = b"\x01"


def encoded_json(documents: Sequence[dict[str, Any]]) -> list[bytes]:
    """Each document as the UTF-8 of its jsonb text: what is hashed and what is copied. Raises
    NotCanonicalJson for documents only the SQL path can hash."""
    return [jsonb_text(document) for document in documents]


def append_by_copy(
    connection: psycopg.Connection,
    events: Sequence[NewEvent],
    expected: Mapping[str, int | None],
    occurred_at: Sequence[datetime],
    encoded: tuple[Sequence[bytes], Sequence[bytes]] | None = None,
    *,
    snapshots: Mapping[str, dict[str, Any]],
    snapshot_version: int | None,
    idempotency_key: str | None,
    request_hash: bytes | None,
) -> tuple[list[Any], bool]:
    """Append `events` in one transaction on `connection` (a savepoint if the caller's transaction is
    open). `expected` lists every stream to check or append to. `encoded`: each event's payload and
    metadata already through encoded_json(); otherwise they are encoded while the rows stream, and
    NotCanonicalJson may interrupt the COPY (nothing is written). Returns (rows, replayed): one
    (global_position, stream_id, stream_version, transaction_id) per event."""
    with connection.transaction():
        replayed, transaction_id, recorded_at, positions, head_streams, head_versions, head_hashes = connection.execute(
            "SELECT * FROM event_store.begin_batch_append(%b, %b, %s, %s, %s)",
            (list(expected), list(expected.values()), len(events), idempotency_key, request_hash),
            binary=True,  # thousands of array elements: the binary form is much cheaper to encode and decode
        ).fetchone()
        if replayed:
            rows = [(p, s, v, transaction_id) for p, s, v in zip(positions, head_streams, head_versions, strict=True)]
            return rows, True

        versions = dict(zip(head_streams, head_versions, strict=True))
        first_versions = dict(versions)
        last_hashes = dict(zip(head_streams, head_hashes, strict=True))
        event_versions = []
        with connection.cursor().copy(f"COPY event_store.events ({EVENT_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(_COPY_TYPES)
            for index, (event, position, occurred) in enumerate(zip(events, positions, occurred_at, strict=True)):
                if encoded:
                    payload, meta = encoded[0][index], encoded[1][index]
                else:  # here, so that the server stores the rows already sent meanwhile
                    payload, meta = jsonb_text(event.payload), jsonb_text(event.metadata)
                stream_id = event.stream_id
                version = versions[stream_id] + 1
                previous = last_hashes[stream_id]
                link = event_hash(
                    previous, position, stream_id, version, event.event_type, event.schema_version, event.event_id,
                    occurred, recorded_at, payload, meta,
                )  # fmt: skip
                copy.write_row(
                    (
                        position, transaction_id, stream_id, version, event.event_type, event.schema_version,
                        event.event_id, _JSONB_VERSION + payload, _JSONB_VERSION + meta, occurred,
                        recorded_at, previous, link,
                    )
                )  # fmt: skip
                versions[stream_id] = version
                last_hashes[stream_id] = link
                event_versions.append(version)

        appended = list(dict.fromkeys(event.stream_id for event in events))
        connection.execute(
            "SELECT event_store.finish_batch_append(%s, %b, %b, %b, %b, %s::jsonb[], %s, %s, %b, %b, %b, %s, %s)",
            (
                transaction_id,
                appended,
                [first_versions[s] for s in appended],
                [versions[s] for s in appended],
                [last_hashes[s] for s in appended],
                [Jsonb(snapshots[s]) if s in snapshots else None for s in appended],
                snapshot_version,
                positions[-1],
                # The per-event result is stored only under an idempotency key.
                positions if idempotency_key else None,
                [event.stream_id for event in events] if idempotency_key else None,
                event_versions if idempotency_key else None,
                idempotency_key,
                request_hash,
            ),
            binary=True,
        )
    rows = [(p, e.stream_id, v, transaction_id) for p, e, v in zip(positions, events, event_versions, strict=True)]
    return rows, False
