"""Archiving a month against the real database: round trip, a fault at every step, a corrupted file, refusals.

The events are appended now, into the current month's partition; `now` is passed 15 months ahead so that month
is due (time inside PostgreSQL is never faked)."""

import hashlib
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from bank_pipeline.archive.errors import ArchiveCorrupt, ArchiveMismatch, EventsNotFinal, MonthNotDue
from bank_pipeline.archive.export import Manifest, export_month, write_manifest
from bank_pipeline.archive.months import add_months, month_of, partition_name
from bank_pipeline.archive.reading import read_archived_stream
from bank_pipeline.archive.retire import STEPS, archive_month, archived_months
from bank_pipeline.archive.store import ArchiveStore
from bank_pipeline.archive.verify import compare_with_partition, read_archive
from bank_pipeline.store import EventStore, NewEvent

MONTH = month_of(datetime.now(UTC))
LATER = datetime.combine(add_months(MONTH, 15), datetime.min.time(), UTC)
STREAMS = ("acct-a", 'acct-"b",x', "acct-ü")


class Fault(RuntimeError):
    pass


def history(store: EventStore) -> None:
    store.append([NewEvent(s, "Opened", {"owner": f'{s} – ünïcode, "quoted"', "n": 1}) for s in STREAMS])
    for round_ in range(3):
        store.append(
            [NewEvent(s, "Credited", {"amount": 100 * round_ + i, "memo": "a,b\nc"}, metadata={"by": "t"})
             for i, s in enumerate(STREAMS)]
        )  # fmt: skip
    store.append([NewEvent("acct-a", "Debited", {"amount": 2**62}, schema_version=2)])
    # A batch large enough for the COPY append path, where Python chains the hashes.
    store.append([NewEvent("acct-bulk", "Credited", {"amount": i}) for i in range(200)])


def snapshot(conn: psycopg.Connection) -> tuple:
    """The partition's rows and their delivery-order digest, as a check that hot data is intact."""
    name = partition_name(MONTH)
    count, digest = conn.execute(
        f"SELECT count(*), sha256(string_agg(hash, ''::bytea ORDER BY transaction_id, global_position)) "
        f"FROM event_store.{name}"
    ).fetchone()
    attached = conn.execute(
        "SELECT count(*) FROM pg_inherits WHERE inhrelid = to_regclass(%s)", (f"event_store.{name}",)
    ).fetchone()[0]
    return count, bytes(digest), attached


def partition_exists(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"event_store.{partition_name(MONTH)}",)).fetchone()[0]


@pytest.fixture
def conn(fresh_store: EventStore, fresh_database_url: str):
    history(fresh_store)
    with psycopg.connect(fresh_database_url, autocommit=True) as connection:
        yield connection


@pytest.fixture
def archive(tmp_path: Path) -> ArchiveStore:
    return ArchiveStore(str(tmp_path / "archive"))


def test_a_month_is_archived_verified_dropped_and_reads_back_exactly(fresh_store, conn, archive):
    before = {s: fresh_store.read_stream(s) for s in (*STREAMS, "acct-bulk")}
    count, digest, _ = snapshot(conn)

    outcome = archive_month(conn, archive, MONTH, now=LATER)

    assert outcome.status == "archived" and outcome.export.events == count == 3 * 4 + 1 + 200
    assert not partition_exists(conn)
    [row] = archived_months(conn)
    assert (row["month"], row["event_count"], bytes(row["chain_digest"])) == (MONTH, count, digest)
    manifest = Manifest.from_json(archive.read_bytes(archive.manifest_key(MONTH)))
    assert manifest.chain_digest == digest.hex()
    parquet = Path(archive.path(archive.parquet_key(MONTH))).read_bytes()
    assert bytes(row["parquet_sha256"]).hex() == manifest.parquet_sha256 == hashlib.sha256(parquet).hexdigest()
    assert manifest.chain_heads["acct-a"].version == 5
    assert manifest.chain_heads["acct-a"].hash == before["acct-a"][-1].hash.hex()
    for stream, events in before.items():
        assert read_archived_stream(conn, stream) == events
    assert read_archived_stream(conn, "acct-a", after_version=3) == before["acct-a"][3:]
    assert archive_month(conn, archive, MONTH, now=LATER).status == "already_archived"


@pytest.mark.parametrize("failing_step", STEPS)
def test_a_fault_at_any_step_leaves_the_hot_data_intact_and_a_rerun_finishes(conn, failing_step, tmp_path):
    store = ArchiveStore(f"memory://{tmp_path.name}/archive")
    before = snapshot(conn)

    def fail_at(step: str) -> None:
        if step == failing_step:
            raise Fault(step)

    with pytest.raises(Fault):
        archive_month(conn, store, MONTH, now=LATER, on_step=fail_at)
    assert snapshot(conn) == before and before[2] == 1
    assert archived_months(conn) == []

    assert archive_month(conn, store, MONTH, now=LATER).status == "archived"
    assert len(archived_months(conn)) == 1 and not partition_exists(conn)
    assert archive_month(conn, store, MONTH, now=LATER).status == "already_archived"


def test_a_corrupted_parquet_file_is_refused_and_nothing_is_dropped(conn, archive):
    before = snapshot(conn)

    def flip_a_byte(step: str) -> None:
        if step == "manifest_written":
            path = Path(archive.path(archive.parquet_key(MONTH)))
            data = bytearray(path.read_bytes())
            data[len(data) // 2] ^= 0x01
            path.write_bytes(bytes(data))

    with pytest.raises(ArchiveCorrupt, match="sha256"):
        archive_month(conn, archive, MONTH, now=LATER, on_step=flip_a_byte)
    assert snapshot(conn) == before and archived_months(conn) == []


def test_the_current_month_and_the_hot_window_are_refused(conn, archive):
    with pytest.raises(MonthNotDue, match="current month"):
        archive_month(conn, archive, MONTH, now=datetime.now(UTC))
    with pytest.raises(MonthNotDue, match="hot window"):
        archive_month(conn, archive, MONTH, now=LATER, hot_months=15)
    assert partition_exists(conn)


def test_a_month_with_events_not_below_the_read_horizon_is_refused(fresh_store, fresh_database_url, archive):
    with psycopg.connect(fresh_database_url) as older:  # a transaction that started before the appends
        older.execute("SELECT pg_current_xact_id()")
        history(fresh_store)
        with psycopg.connect(fresh_database_url, autocommit=True) as conn:
            with pytest.raises(EventsNotFinal):
                archive_month(conn, archive, MONTH, now=LATER)
            assert partition_exists(conn) and archived_months(conn) == []
        older.rollback()


def test_a_partition_that_no_longer_matches_its_export_is_named_and_kept(fresh_store, conn, archive):
    exported = export_month(conn, archive, MONTH)
    write_manifest(archive, exported)
    verified = read_archive(archive, MONTH, expected=exported.manifest)
    compare_with_partition(conn, verified)  # PostgreSQL's key digests equal the archive's
    [position] = fresh_store.append([NewEvent("acct-a", "Credited", {"amount": 1})]).global_positions
    archived = exported.manifest.event_count
    with pytest.raises(ArchiveMismatch, match=f"the partition holds more events than the {archived} archived") as e:
        compare_with_partition(conn, verified)
    assert e.value.global_position == position  # the first event the archive lacks, fetched to be named


@pytest.mark.parametrize("from_the_end", [11, 3], ids=["while-the-copy-runs", "after-the-copy-ended"])
def test_a_failure_during_the_export_leaves_the_connection_usable_and_the_partition_intact(
    conn, archive, monkeypatch, from_the_end
):
    """A slow consumer that fails lets the reader thread run ahead: either the COPY is still running (it is
    cancelled) or the reader waits to hand over the last batch (the COPY's result was read before it)."""
    from bank_pipeline.archive import export

    monkeypatch.setattr(export, "ROW_GROUP_EVENTS", 16)
    before = snapshot(conn)
    batches = -(-before[0] // 16)
    written, compact_chain = [], export.compact_chain

    def slow_failing_compact(batch):
        written.append(batch.num_rows)
        if len(written) == batches - from_the_end:
            time.sleep(0.3)  # the reader fills the queue and waits on it
            raise Fault("disk full")
        return compact_chain(batch)

    monkeypatch.setattr(export, "compact_chain", slow_failing_compact)
    with pytest.raises(Fault, match="disk full"):
        export_month(conn, archive, MONTH)
    assert conn.execute("SELECT count(*) FROM event_store.events").fetchone()[0] == before[0]  # usable, intact
    assert snapshot(conn) == before
    assert archive_month(conn, archive, MONTH, now=LATER).status == "archived"  # and a re-run finishes
