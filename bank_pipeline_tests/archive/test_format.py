"""The archive's file layout (format 3): sorted by stream, previous_hash stored only where it is not the hash of the
row before, no event's hash (recomputed on every read); a one-stream read decodes only the row groups that can hold
it; files of format 1 (delivery order, everything stored) and 2 (every hash stored) still read, verify and
replay."""

import hashlib
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from bank_pipeline.archive import export
from bank_pipeline.archive.chain import restore_chain
from bank_pipeline.archive.columns import (
    FILE_SCHEMA_V2,
    FORMAT_V1,
    FORMAT_V2,
    FORMAT_V3,
    SCHEMA,
    compact_chain,
    compact_previous_hashes,
    file_format,
    restore_previous_hashes,
)
from bank_pipeline.archive.errors import ArchiveMismatch
from bank_pipeline.archive.export import Manifest
from bank_pipeline.archive.months import add_months, month_of
from bank_pipeline.archive.reading import (
    archived_stream_rows,
    archived_table,
    read_archived_stream,
    recorded_events,
)
from bank_pipeline.archive.retire import archive_month
from bank_pipeline.archive.store import ArchiveStore
from bank_pipeline.archive.verify import VerifiedArchive, check_hashes, in_delivery_order, read_archive
from bank_pipeline.cli.main import app
from bank_pipeline.store import EventStore, NewEvent
from bank_pipeline.store.audit import verify
from bank_pipeline.store.hashing import GENESIS, event_hash

MONTH = month_of(datetime.now(UTC))
LATER = datetime.combine(add_months(MONTH, 15), datetime.min.time(), UTC)
STREAMS = ("acct-a", 'acct-"b",x', "acct-ü", "acct-z")


def interleaved_history(store: EventStore) -> None:
    """Streams written alternately, in single appends and in a COPY-sized batch, so that the file's stream order
    differs from delivery order and streams cross row-group boundaries."""
    for round_ in range(6):
        store.append([NewEvent(s, "Credited", {"amount": 10 * round_ + i, "memo": "a,b\nc ü"}, metadata={"r": round_})
                      for i, s in enumerate(STREAMS)])  # fmt: skip
    store.append([NewEvent(f"bulk-{i % 7}", "Credited", {"amount": i}) for i in range(150)])


@pytest.fixture
def archived(fresh_store, fresh_database_url, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "ROW_GROUP_EVENTS", 16)  # many row groups, streams across their boundaries
    interleaved_history(fresh_store)
    streams = (*STREAMS, *(f"bulk-{i}" for i in range(7)))
    before = {s: fresh_store.read_stream(s) for s in streams}
    store = ArchiveStore(str(tmp_path / "archive"))
    with psycopg.connect(fresh_database_url, autocommit=True) as conn:
        assert archive_month(conn, store, MONTH, now=LATER).status == "archived"
        yield conn, store, before


def test_the_new_layout_round_trips_every_field(archived):
    conn, store, before = archived
    path = Path(store.path(store.parquet_key(MONTH)))
    file = pq.ParquetFile(path)
    assert file_format(file.schema_arrow) == FORMAT_V3 and file.metadata.num_row_groups > 10
    stored = file.read()
    assert stored.column("previous_hash").null_count > 150  # only a row group's or a stream's first row keeps it
    assert stored.column("hash").null_count == stored.num_rows  # every hash is recomputed on reading
    keys = list(zip(stored.column("stream_id").to_pylist(), stored.column("stream_version").to_pylist(), strict=True))
    assert keys == sorted(keys)
    for stream, events in before.items():
        assert read_archived_stream(conn, stream) == events  # every field, previous_hash included
        assert read_archived_stream(conn, stream, after_version=2) == events[2:]
    table = archived_table(conn, MONTH)
    assert table.schema.equals(SCHEMA) and table.num_rows == sum(map(len, before.values()))
    hot = sorted((e for events in before.values() for e in events), key=lambda e: e.checkpoint)
    delivered = in_delivery_order(table)
    assert delivered.column("previous_hash").to_pylist() == [e.previous_hash for e in hot]
    assert delivered.column("global_position").to_pylist() == [e.global_position for e in hot]
    assert verify(conn).ok


def test_a_one_stream_read_decodes_only_the_row_groups_that_can_hold_it(archived):
    _, store, before = archived
    data = store.read_bytes(store.parquet_key(MONTH))
    rows = archived_stream_rows(data, MONTH, "acct-a")
    assert rows.column("stream_version").to_pylist() == [e.stream_version for e in before["acct-a"]]
    assert rows.column("previous_hash").to_pylist() == [e.previous_hash for e in before["acct-a"]]


def test_a_broken_chain_is_stored_as_it_is():
    hashes = [bytes([i]) * 32 for i in range(1, 5)]
    batch = pa.RecordBatch.from_pylist(
        [{"global_position": i, "transaction_id": i, "stream_id": "s", "stream_version": i + 1, "event_type": "E",
          "schema_version": 1, "event_id": bytes(16), "payload": "{}", "metadata": "{}",
          "occurred_at": datetime(2026, 1, 1, tzinfo=UTC), "recorded_at": datetime(2026, 1, 1, tzinfo=UTC),
          "previous_hash": previous, "hash": hashes[i]}
         for i, previous in enumerate([bytes(32), hashes[0], b"\x77" * 32, hashes[2]])],
        schema=SCHEMA,
    )  # fmt: skip
    compacted = compact_previous_hashes(batch)
    assert compacted.column("previous_hash").is_null().to_pylist() == [False, True, False, True]
    assert restore_previous_hashes(pa.Table.from_batches([compacted])).equals(pa.Table.from_batches([batch]))


def test_an_archive_of_format_1_still_reads_verifies_and_replays(archived, tmp_path):
    conn, store, before = archived
    table = in_delivery_order(archived_table(conn, MONTH))
    old_store = ArchiveStore(str(tmp_path / "old"))
    path = Path(old_store.path(old_store.parquet_key(MONTH)))
    path.parent.mkdir(parents=True)
    pq.write_table(table, path, compression="zstd")  # the old layout: delivery order, SCHEMA, no format mark
    data = path.read_bytes()
    manifest = json.loads(store.read_bytes(store.manifest_key(MONTH)))
    del manifest["row_order"]  # format-1 manifests have no row_order
    manifest.update(format=FORMAT_V1, parquet_sha256=hashlib.sha256(data).hexdigest(), parquet_bytes=len(data))
    old_store.write_bytes(old_store.manifest_key(MONTH), json.dumps(manifest).encode())

    old = read_archive(old_store, MONTH)  # sha256, schema, count, ranges, chain digest and heads
    assert old.manifest.format == FORMAT_V1 and old.manifest.row_order == "transaction_id, global_position"
    check_hashes(VerifiedArchive(MONTH, old.manifest, old.table))
    assert old.table.equals(table)
    for stream, events in before.items():
        assert recorded_events(archived_stream_rows(data, MONTH, stream)) == events


def chained_batch(previous_hashes: list[bytes | None]) -> pa.RecordBatch:
    """One stream's events with real hashes; a None previous hash links to the event before, bytes break the chain."""
    rows, before = [], GENESIS
    for i, previous in enumerate(previous_hashes):
        row = {"global_position": i + 1, "transaction_id": 7, "stream_id": "s", "stream_version": i + 1,
               "event_type": "E", "schema_version": 1, "event_id": bytes([i]) * 16, "payload": f'{{"n": {i}}}',
               "metadata": "{}", "occurred_at": datetime(2026, 1, 1, tzinfo=UTC),
               "recorded_at": datetime(2026, 1, 2, tzinfo=UTC), "previous_hash": previous or before}  # fmt: skip
        row["hash"] = before = event_hash(
            row["previous_hash"], row["global_position"], "s", row["stream_version"], "E", 1,
            uuid.UUID(bytes=row["event_id"]), row["occurred_at"], row["recorded_at"], row["payload"].encode(), b"{}",
        )  # fmt: skip
        rows.append(row)
    return pa.RecordBatch.from_pylist(rows, schema=SCHEMA)


def test_format_3_stores_no_hash_and_restores_every_one_with_a_broken_chain_kept():
    batch = chained_batch([None, None, b"\x77" * 32, None])
    compacted = compact_chain(batch)
    assert compacted.column("previous_hash").is_null().to_pylist() == [False, True, False, True]
    assert compacted.column("hash").null_count == 4
    restored = restore_chain(pa.Table.from_batches([compacted]), SCHEMA)
    assert restored.equals(pa.Table.from_batches([batch]))
    # One stream's rows of a row group restore alone: its first row keeps its previous hash.
    tail = pa.Table.from_batches([compacted]).slice(2)
    assert restore_chain(tail, SCHEMA).equals(pa.Table.from_batches([batch]).slice(2))


def test_format_3_refuses_a_stored_hash_that_is_not_its_fields_hash():
    batch = chained_batch([None, None])
    compacted = compact_chain(batch)
    forged = pa.array([None, b"\x01" * 32], pa.binary(32))
    table = pa.Table.from_batches([compacted]).set_column(SCHEMA.get_field_index("hash"), "hash", forged)
    with pytest.raises(ValueError, match="position 2: its stored hash is not the hash of its fields"):
        restore_chain(table, SCHEMA)


def test_a_changed_field_in_a_format_3_file_changes_the_chain_digest(archived, tmp_path):
    _, store, _ = archived
    path = Path(store.path(store.parquet_key(MONTH)))
    stored = pq.read_table(path)
    payloads = stored.column("payload").to_pylist()
    payloads[5] = payloads[5].replace("1", "9", 1) if "1" in payloads[5] else payloads[5] + " "
    payload = stored.schema.get_field_index("payload")
    forged = stored.set_column(payload, stored.schema.field(payload), pa.array(payloads, pa.string()))
    pq.write_table(forged, path, row_group_size=16)  # the forger rewrites the file and its manifest's sha256
    data = path.read_bytes()
    manifest = json.loads(store.read_bytes(store.manifest_key(MONTH)))
    manifest.update(parquet_sha256=hashlib.sha256(data).hexdigest(), parquet_bytes=len(data))
    store.write_bytes(store.manifest_key(MONTH), json.dumps(manifest).encode())
    with pytest.raises(ArchiveMismatch, match="chain_digest"):
        read_archive(store, MONTH)


def test_an_archive_of_format_2_still_reads_verifies_and_replays(archived, tmp_path):
    conn, store, before = archived
    table = archived_table(conn, MONTH)  # restored, in stream order
    old_store = ArchiveStore(str(tmp_path / "old"))
    path = Path(old_store.path(old_store.parquet_key(MONTH)))
    path.parent.mkdir(parents=True)
    with pq.ParquetWriter(path, FILE_SCHEMA_V2, compression="zstd") as writer:
        for batch in table.to_batches(max_chunksize=16):
            writer.write_batch(compact_previous_hashes(batch), row_group_size=16)
    data = path.read_bytes()
    manifest = json.loads(store.read_bytes(store.manifest_key(MONTH)))
    manifest.update(format=FORMAT_V2, parquet_sha256=hashlib.sha256(data).hexdigest(), parquet_bytes=len(data))
    old_store.write_bytes(old_store.manifest_key(MONTH), json.dumps(manifest).encode())

    old = read_archive(old_store, MONTH)
    assert file_format(pq.ParquetFile(path).schema_arrow) == FORMAT_V2 and old.manifest.format == FORMAT_V2
    assert pq.read_table(path).column("hash").null_count == 0
    check_hashes(VerifiedArchive(MONTH, old.manifest, old.table))
    assert old.table.equals(table)
    for stream, events in before.items():
        assert recorded_events(archived_stream_rows(data, MONTH, stream)) == events


def test_a_manifest_of_an_unknown_format_is_refused():
    document = Manifest("2026-01", "events_2026_01", "f", "0", 0, 0, None, None, None, None, "0", {}).to_json()
    with pytest.raises(export.ArchiveError, match="format"):
        Manifest.from_json(document.replace(FORMAT_V3.encode(), b"bank_pipeline.event_archive/9"))


def test_bench_archive_runs_at_a_tiny_size(database_url):
    result = CliRunner().invoke(
        app, ["bench", "archive", "--events", "2000", "--queries", "20", "--replays", "3"], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    for line in ("(a) archive size:", "(b) export step:", "(b) archive_month end to end:", "(c) API balance as of",
                 "(c) investigator's replay", "ratio to raw COPY", "replays from the archive agree"):  # fmt: skip
        assert line in result.output, result.output
