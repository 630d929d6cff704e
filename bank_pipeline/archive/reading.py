"""Archived events read back as the event store's RecordedEvent, so replay can span hot and cold months.

Each file is read through its URI recorded in event_store.archived_months and checked against the sha256
recorded there before any of it is used.
"""

import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import date

import fsspec
import psycopg
import pyarrow as pa
import pyarrow.compute as pc

from bank_pipeline.archive.errors import ArchiveCorrupt
from bank_pipeline.archive.verify import table_of
from bank_pipeline.store.records import RecordedEvent


def read_verified_uri(uri: str, sha256: bytes) -> bytes:
    try:
        with fsspec.open(uri, "rb") as file:
            data = file.read()
    except FileNotFoundError as error:
        raise ArchiveCorrupt(f"{uri} is missing from the archive store") from error
    if hashlib.sha256(data).digest() != bytes(sha256):
        raise ArchiveCorrupt(f"{uri} does not match its recorded sha256 {bytes(sha256).hex()}")
    return data


def archived_table(conn: psycopg.Connection, month: date) -> pa.Table | None:
    row = conn.execute(
        "SELECT parquet_uri, parquet_sha256 FROM event_store.archived_months WHERE month = %s", (month,)
    ).fetchone()
    if row is None:
        return None
    return table_of(read_verified_uri(row[0], row[1]), month)


def archived_tables(conn: psycopg.Connection) -> Iterator[tuple[date, pa.Table]]:
    """Every archived month with its events, oldest first, each file checked against its recorded sha256 (a month
    whose file is missing or altered raises ArchiveCorrupt when its turn comes)."""
    for (month,) in conn.execute("SELECT month FROM event_store.archived_months ORDER BY month").fetchall():
        yield month, archived_table(conn, month)


def read_archived_stream(conn: psycopg.Connection, stream_id: str, *, after_version: int = 0) -> list[RecordedEvent]:
    """The stream's archived events after `after_version`, by version, across every archived month."""
    events: list[RecordedEvent] = []
    for _, table in archived_tables(conn):
        wanted = pc.and_(
            pc.equal(table.column("stream_id"), stream_id), pc.greater(table.column("stream_version"), after_version)
        )
        selected = table.filter(wanted)
        events.extend(recorded_events(selected))
    return sorted(events, key=lambda event: event.stream_version)


def recorded_events(table: pa.Table) -> list[RecordedEvent]:
    """Rows of the archive's schema as RecordedEvent, every field as the event store's read_stream returns it."""
    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    return [
        RecordedEvent(
            global_position=columns["global_position"][i],
            transaction_id=columns["transaction_id"][i],
            stream_id=columns["stream_id"][i],
            stream_version=columns["stream_version"][i],
            event_type=columns["event_type"][i],
            schema_version=columns["schema_version"][i],
            event_id=uuid.UUID(bytes=columns["event_id"][i]),
            payload=json.loads(columns["payload"][i]),  # psycopg loads jsonb with json.loads too
            metadata=json.loads(columns["metadata"][i]),
            occurred_at=columns["occurred_at"][i],
            recorded_at=columns["recorded_at"][i],
            previous_hash=columns["previous_hash"][i],
            hash=columns["hash"][i],
        )
        for i in range(table.num_rows)
    ]
