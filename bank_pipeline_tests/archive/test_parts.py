"""Reading one stream from the archive fetches and checks only the file's footer and the row groups that can hold
the stream, each against the sha256 recorded for it (event_store.archive_file_parts), not the whole month."""

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest

from bank_pipeline.archive import export
from bank_pipeline.archive.errors import ArchiveCorrupt
from bank_pipeline.archive.months import add_months, month_of
from bank_pipeline.archive.parts import recorded_parts, row_group_range
from bank_pipeline.archive.reading import read_archived_stream
from bank_pipeline.archive.retire import archive_month
from bank_pipeline.archive.store import ArchiveStore
from bank_pipeline.store import NewEvent

MONTH = month_of(datetime.now(UTC))
LATER = datetime.combine(add_months(MONTH, 15), datetime.min.time(), UTC)
STREAMS = [f"acct-{i:02d}" for i in range(12)]


@pytest.fixture
def archived(fresh_store, fresh_database_url, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "ROW_GROUP_EVENTS", 8)
    for round_ in range(5):
        fresh_store.append([NewEvent(stream, "Credited", {"amount": round_}) for stream in STREAMS])
    before = {stream: fresh_store.read_stream(stream) for stream in STREAMS}
    store = ArchiveStore(str(tmp_path / "archive"))
    with psycopg.connect(fresh_database_url, autocommit=True) as conn:
        assert archive_month(conn, store, MONTH, now=LATER).status == "archived"
        yield conn, store, before


def file_of(conn, store) -> tuple[Path, bytes]:
    [(uri, sha256)] = conn.execute("SELECT parquet_uri, parquet_sha256 FROM event_store.archive_files").fetchall()
    return Path(uri.removeprefix("file://")), bytes(sha256)


def test_the_archiver_records_a_checksum_for_the_footer_and_every_row_group(archived):
    conn, store, before = archived
    path, sha256 = file_of(conn, store)
    data = path.read_bytes()
    parts = recorded_parts(conn, sha256)
    metadata = pq.read_metadata(path)
    assert parts is not None and parts.row_groups == metadata.num_row_groups > 5
    assert parts.parquet_bytes == len(data)
    assert hashlib.sha256(data[parts.footer_start :]).digest() == parts.footer_sha256
    for index in range(metadata.num_row_groups):
        start, end = row_group_range(metadata, index)
        assert hashlib.sha256(data[start:end]).digest() == parts.row_group_digest(index)
    for stream, events in before.items():
        assert read_archived_stream(conn, stream) == events
    with pytest.raises(psycopg.DatabaseError, match="append-only"):
        conn.execute("UPDATE event_store.archive_file_parts SET footer_start = 4")


def test_a_stream_reads_without_the_row_groups_it_is_not_in_and_a_changed_one_is_refused(archived):
    conn, store, before = archived
    path, _ = file_of(conn, store)
    metadata = pq.read_metadata(path)
    stream_column = metadata.schema.to_arrow_schema().get_field_index("stream_id")
    last = metadata.num_row_groups - 1
    statistics = metadata.row_group(last).column(stream_column).statistics
    start, end = row_group_range(metadata, last)
    data = bytearray(path.read_bytes())
    data[(start + end) // 2] ^= 0xFF  # the last row group changed on disk: the whole file no longer matches
    path.write_bytes(bytes(data))

    assert read_archived_stream(conn, STREAMS[0]) == before[STREAMS[0]]  # never touches the last row group
    assert statistics.max == STREAMS[-1]
    with pytest.raises(ArchiveCorrupt, match=f"row group {last} does not match its recorded sha256"):
        read_archived_stream(conn, STREAMS[-1])


def test_a_changed_footer_is_refused(archived):
    conn, store, _ = archived
    path, _ = file_of(conn, store)
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArchiveCorrupt, match="footer does not match its recorded sha256"):
        read_archived_stream(conn, STREAMS[0])
