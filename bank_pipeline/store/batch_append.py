"""The COPY path of EventStore.append, for large batches (sql/007_event_store_batch_append.sql).

append_events parses one jsonb document and chains hashes in SQL: fine for a command's few events, but
several times the cost of the insert itself per event. Here the server does what only it can (locks,
version checks, transaction id, positions, the final checks) and the client numbers and chains the
events while it streams them with COPY, so the two work at the same time.
"""

import struct
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bank_pipeline.store.hashing import chain_link, jsonb_text, timestamp_microseconds
from bank_pipeline.store.records import EVENT_COLUMNS, NewEvent

# The rows are written in PostgreSQL's binary COPY format, built here rather than by psycopg's
# write_row: the fields are already in binary form for the hash, and building the row around them costs
# a third of what adapting thirteen values one by one does. Per row: the field count, then each field as
# its byte length and bytes, in EVENT_COLUMNS order. jsonb's binary form is a version byte (1) then
# its text, which is already encoded for the hash.
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # + flags and header extension length, both 0
_TRAILER = b"\xff\xff"
_POSITION_TO_STREAM = struct.Struct(">hiqiqi").pack  # 13 fields; global_position; transaction_id; len(stream_id)
_VERSION_TO_TYPE = struct.Struct(">iqi").pack  # stream_version; len(event_type)
_SCHEMA_TO_PAYLOAD = struct.Struct(">iii16sib").pack  # schema_version; event_id; len(payload), jsonb version
_METADATA = struct.Struct(">ib").pack  # len(metadata), jsonb version
_TIMES_TO_PREVIOUS = struct.Struct(">iqiqi").pack  # occurred_at; recorded_at; len(previous_hash)
_HASH_LENGTH = struct.pack(">i", 32)
_ROWS_PER_WRITE = 256  # the server stores the rows already sent while the client builds the next ones


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
        recorded = timestamp_microseconds(recorded_at)
        encoded_names: dict[str, bytes] = {}  # stream ids and event types, encoded once per batch
        pending = [_SIGNATURE]
        with connection.cursor().copy(f"COPY event_store.events ({EVENT_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
            for index, (event, position, occurred) in enumerate(zip(events, positions, occurred_at, strict=True)):
                if encoded:
                    payload, meta = encoded[0][index], encoded[1][index]
                else:  # here, so that the server stores the rows already sent meanwhile
                    payload, meta = jsonb_text(event.payload), jsonb_text(event.metadata)
                stream_id, event_type = event.stream_id, event.event_type
                stream = encoded_names.get(stream_id) or encoded_names.setdefault(stream_id, stream_id.encode())
                kind = encoded_names.get(event_type) or encoded_names.setdefault(event_type, event_type.encode())
                version = versions[stream_id] + 1
                previous = last_hashes[stream_id]
                event_id = event.event_id.bytes
                occurred_us = timestamp_microseconds(occurred)
                link = chain_link(
                    previous, position, version, event.schema_version, event_id, occurred_us, recorded, stream, kind,
                    payload, meta,
                )  # fmt: skip
                pending += (
                    _POSITION_TO_STREAM(13, 8, position, 8, transaction_id, len(stream)), stream,
                    _VERSION_TO_TYPE(8, version, len(kind)), kind,
                    _SCHEMA_TO_PAYLOAD(4, event.schema_version, 16, event_id, len(payload) + 1, 1), payload,
                    _METADATA(len(meta) + 1, 1), meta,
                    _TIMES_TO_PREVIOUS(8, occurred_us, 8, recorded, 32), previous, _HASH_LENGTH, link,
                )  # fmt: skip
                if index % _ROWS_PER_WRITE == _ROWS_PER_WRITE - 1:
                    copy.write(b"".join(pending))
                    pending = []
                versions[stream_id] = version
                last_hashes[stream_id] = link
                event_versions.append(version)
            pending.append(_TRAILER)
            copy.write(b"".join(pending))

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
