"""Archived events read back as the event store's RecordedEvent, so replay can span hot and cold months.

Each month is read from the file event_store.archive_files names (the archiver's, or the newest retention purge's)
and checked against the sha256 recorded with it before any of it is used: the whole file, or, for one stream's
events, only the footer and the row groups that can hold them, each against its own recorded sha256
(archive/parts.py). Purged events are tombstones (no stream): a stream's reads never see them.
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
import pyarrow.parquet as pq

from bank_pipeline.archive.columns import STREAM_SORTED
from bank_pipeline.archive.errors import ArchiveCorrupt
from bank_pipeline.archive.parts import PartialFile, recorded_parts
from bank_pipeline.archive.verify import archive_format, parquet_file, rows_of, table_of
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


def archive_files(conn: psycopg.Connection, *, through: date | None = None) -> list[tuple[date, str, bytes, int]]:
    """(month, parquet URI, its sha256, how many purges rewrote it) of every archived month, oldest first."""
    return conn.execute(
        "SELECT month, parquet_uri, parquet_sha256, purge_number FROM event_store.archive_files "
        " WHERE %(through)s::date IS NULL OR month <= %(through)s ORDER BY month",
        {"through": through},
    ).fetchall()


def read_archive_file(uri: str, sha256: bytes, month: date) -> pa.Table:
    return table_of(read_verified_uri(uri, sha256), month)


def archived_table(conn: psycopg.Connection, month: date) -> pa.Table | None:
    """The month's archived events in the file's order (verify.table_of), None while the month is hot."""
    row = conn.execute(
        "SELECT parquet_uri, parquet_sha256 FROM event_store.archive_files WHERE month = %s", (month,)
    ).fetchone()
    if row is None:
        return None
    return read_archive_file(row[0], row[1], month)


def stream_row_groups(metadata: pq.FileMetaData, found: str, stream_id: str) -> list[int] | None:
    """The row groups that can hold `stream_id`'s rows: in a file sorted by stream (formats 2 and 3), those whose
    stream_id statistics admit it; None (all) in a file of format 1."""
    if found not in STREAM_SORTED:
        return None
    column = metadata.schema.to_arrow_schema().get_field_index("stream_id")
    groups = []
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        statistics = group.column(column).statistics
        if statistics is not None and statistics.has_null_count and statistics.null_count == group.num_rows:
            continue  # tombstones only (a purged month's last row groups)
        if statistics is None or not statistics.has_min_max or statistics.min <= stream_id <= statistics.max:
            groups.append(index)
    return groups


def archived_stream_rows(data: bytes, month: date, stream_id: str) -> pa.Table:
    """One stream's rows of a month's whole file: only the row groups that can hold it are decoded, and only its
    rows have their hashes restored."""
    file, found = parquet_file(data, month)
    return rows_of(file, found, month, stream_row_groups(file.metadata, found, stream_id), stream_id)


def month_stream_rows(conn: psycopg.Connection, month: date, uri: str, sha256: bytes, stream_id: str) -> pa.Table:
    """One stream's rows of a month's file. With the file's parts recorded (archive/parts.py) only its footer and
    the row groups that can hold the stream are fetched and checked; else the whole file is."""
    parts = recorded_parts(conn, sha256)
    if parts is None:
        return archived_stream_rows(read_verified_uri(uri, sha256), month, stream_id)
    partial = PartialFile(uri, parts)
    found = archive_format(partial.metadata.schema.to_arrow_schema(), month)
    groups = stream_row_groups(partial.metadata, found, stream_id)
    if groups is None:
        groups = list(range(partial.metadata.num_row_groups))
    return rows_of(partial.parquet_file(groups), found, month, groups, stream_id)


def archived_tables(conn: psycopg.Connection) -> Iterator[tuple[date, pa.Table]]:
    """Every archived month with its events, oldest first, each file checked against its recorded sha256 (a month
    whose file is missing or altered raises ArchiveCorrupt when its turn comes)."""
    for (month,) in conn.execute("SELECT month FROM event_store.archived_months ORDER BY month").fetchall():
        yield month, archived_table(conn, month)


def read_archived_stream(conn: psycopg.Connection, stream_id: str, *, after_version: int = 0) -> list[RecordedEvent]:
    """The stream's archived events after `after_version`, by version, across every archived month."""
    events: list[RecordedEvent] = []
    for month, uri, sha256, _ in archive_files(conn):
        table = month_stream_rows(conn, month, uri, sha256, stream_id)
        events.extend(recorded_events(table.filter(pc.greater(table.column("stream_version"), after_version))))
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
