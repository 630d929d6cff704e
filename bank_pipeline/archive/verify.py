"""Read a month's archive back and compare it with the partition still in the database.

Checks, in order, each failure a typed error naming the first thing that differs: the Parquet file hashes to the
sha256 its manifest records (ArchiveCorrupt); the file has the archive's schema; its count, position range, chain
digest and per-stream chain heads are what the manifest says; every event's stored hash equals its recomputation
from its archived fields (store/hashing.py, byte for byte SQL's event_store.event_hash); and the sequence of
(transaction_id, global_position, hash) in delivery order is the partition's, event for event.
"""

from dataclasses import dataclass
from datetime import date

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg import sql

from bank_pipeline.archive.columns import SCHEMA, bytea_column, hash_matrix
from bank_pipeline.archive.errors import ArchiveCorrupt, ArchiveMismatch
from bank_pipeline.archive.export import Manifest, MonthSummary, csv_copy_batches
from bank_pipeline.archive.months import partition_name
from bank_pipeline.archive.store import ArchiveStore
from bank_pipeline.store.hashing import chain_link

_POSTGRES_EPOCH_US = 946_684_800_000_000  # 2000-01-01 UTC in microseconds since 1970


@dataclass(frozen=True)
class VerifiedArchive:
    month: date
    manifest: Manifest
    table: pa.Table


def read_archive(store: ArchiveStore, month: date, expected: Manifest | None = None) -> VerifiedArchive:
    """The month's manifest and Parquet table from `store`, checked against each other (not the database).

    With `expected` (the manifest the export made), the stored manifest must equal it."""
    manifest = Manifest.from_json(store.read_bytes(store.manifest_key(month)))
    if expected is not None and manifest != expected:
        raise ArchiveCorrupt(f"{store.url(store.manifest_key(month))} is not the manifest that was written")
    data = store.read_bytes(store.parquet_key(month), sha256=manifest.parquet_sha256)
    table = table_of(data, month)
    summary = MonthSummary()
    for batch in table.to_batches():
        summary.add(batch)
    ranges = (
        summary.position_range or (None, None),
        summary.transaction_range or (None, None),
    )
    found = {
        "event_count": summary.count,
        "first_global_position": ranges[0][0],
        "last_global_position": ranges[0][1],
        "first_transaction_id": ranges[1][0],
        "last_transaction_id": ranges[1][1],
        "chain_digest": summary.digest.hexdigest(),
    }
    for key, value in found.items():
        if getattr(manifest, key) != value:
            raise ArchiveMismatch(month, f"the file's {key} is {value}, its manifest says {getattr(manifest, key)}")
    heads = {name: (version, digest.hex()) for name, (version, digest) in summary.heads.items()}
    if heads != {name: (head.version, head.hash) for name, head in manifest.chain_heads.items()}:
        raise ArchiveMismatch(month, "the file's per-stream chain heads differ from its manifest's")
    return VerifiedArchive(month, manifest, table)


def table_of(data: bytes, month: date) -> pa.Table:
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as error:
        raise ArchiveCorrupt(f"{month:%Y-%m}: the archived Parquet file cannot be read: {error}") from error
    if not table.schema.equals(SCHEMA):
        raise ArchiveCorrupt(f"{month:%Y-%m}: the archived file's schema is not the event archive's")
    return table


def check_hashes(archive: VerifiedArchive) -> None:
    """ArchiveMismatch naming the first event (in delivery order) whose stored hash is not its recomputation."""
    for batch in archive.table.to_batches(max_chunksize=64 * 1024):
        stored = hash_matrix(batch.column("hash"))
        fields = zip(
            batch.column("previous_hash").to_pylist(),
            batch.column("global_position").to_pylist(),
            batch.column("stream_version").to_pylist(),
            batch.column("schema_version").to_pylist(),
            batch.column("event_id").to_pylist(),
            (_us_since_2000(batch.column("occurred_at"))).tolist(),
            (_us_since_2000(batch.column("recorded_at"))).tolist(),
            batch.column("stream_id").cast(pa.binary()).to_pylist(),
            batch.column("event_type").cast(pa.binary()).to_pylist(),
            batch.column("payload").cast(pa.binary()).to_pylist(),
            batch.column("metadata").cast(pa.binary()).to_pylist(),
            strict=True,
        )
        for row, event in enumerate(fields):
            if chain_link(*event) != stored[row].tobytes():
                raise ArchiveMismatch(
                    archive.month, "the archived hash is not the hash of the archived event's fields", event[1]
                )


def _us_since_2000(column: pa.Array) -> np.ndarray:
    return column.cast(pa.int64()).to_numpy() - _POSTGRES_EPOCH_US


def compare_with_partition(conn: psycopg.Connection, archive: VerifiedArchive) -> None:
    """ArchiveMismatch naming the first event where the partition's delivery order, positions, transaction ids or
    hashes differ from the archive's; the partition is read in one snapshot."""
    month, table = archive.month, archive.table
    archived = {
        "transaction_id": table.column("transaction_id").to_numpy(),
        "global_position": table.column("global_position").to_numpy(),
        "hash": hash_matrix(table.column("hash")),
    }
    offset = 0
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        conn.execute("SET LOCAL bytea_output = 'hex'")
        statement = sql.SQL(
            "COPY (SELECT transaction_id, global_position, hash FROM event_store.{} "
            "ORDER BY transaction_id, global_position) TO STDOUT (FORMAT csv)"
        ).format(sql.Identifier(partition_name(month)))
        columns = {"transaction_id": pa.int64(), "global_position": pa.int64(), "hash": pa.string()}
        for batch in csv_copy_batches(conn, statement, columns):
            stored = {
                "transaction_id": batch.column("transaction_id").to_numpy(),
                "global_position": batch.column("global_position").to_numpy(),
                "hash": hash_matrix(bytea_column(batch.column("hash"), 32, "hash")),
            }
            end = offset + batch.num_rows
            if end > len(table):
                raise ArchiveMismatch(
                    month,
                    f"the partition holds more events than the {len(table)} archived",
                    int(stored["global_position"][len(table) - offset]),
                )
            _first_difference(month, archived, stored, offset, end)
            offset = end
    if offset != len(table):
        raise ArchiveMismatch(
            month,
            f"the archive holds {len(table)} events, the partition {offset}",
            int(archived["global_position"][offset]),
        )


def _first_difference(month: date, archived: dict, stored: dict, offset: int, end: int) -> None:
    differs = np.zeros(end - offset, dtype=bool)
    for name in ("transaction_id", "global_position"):
        differs |= archived[name][offset:end] != stored[name]
    differs |= (archived["hash"][offset:end] != stored["hash"]).any(axis=1)
    if differs.any():
        row = int(np.argmax(differs))
        position = int(min(archived["global_position"][offset + row], stored["global_position"][row]))
        raise ArchiveMismatch(
            month,
            f"event {offset + row + 1} in delivery order differs: the archive has (transaction "
            f"{archived['transaction_id'][offset + row]}, position {archived['global_position'][offset + row]}, "
            f"hash {archived['hash'][offset + row].tobytes().hex()[:16]}…), the partition (transaction "
            f"{stored['transaction_id'][row]}, position {stored['global_position'][row]}, "
            f"hash {stored['hash'][row].tobytes().hex()[:16]}…)",
            position,
        )


def verify_month(
    conn: psycopg.Connection, store: ArchiveStore, month: date, expected: Manifest | None = None
) -> VerifiedArchive:
    """Every check above; returns the verified archive."""
    archive = read_archive(store, month, expected)
    check_hashes(archive)
    compare_with_partition(conn, archive)
    return archive
