"""Read a month's archive back and compare it with the partition still in the database.

Checks, in order, each failure a typed error naming the first thing that differs: the Parquet file hashes to the
sha256 its manifest records (ArchiveCorrupt); the file has the archive's schema (format 1, 2 or 3, columns.py); its
count, position range, chain digest and per-stream chain heads are what the manifest says; every event's hash is
its recomputation from its archived fields (store/hashing.py, byte for byte SQL's event_store.event_hash): format 3
stores none and recomputes them all on reading, formats 1 and 2 store them and check_hashes names the first that
differs in delivery order; and the sequence of (transaction_id, global_position, hash) in delivery order is the
partition's, event for event.
"""

import hashlib
from dataclasses import dataclass
from datetime import date

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from psycopg import sql

from bank_pipeline.archive.chain import recomputed_hashes, restore_chain
from bank_pipeline.archive.columns import (
    FORMAT_V2,
    FORMAT_V2_PURGED,
    FORMAT_V3,
    FORMAT_V3_PURGED,
    HASHES_KEY,
    HASHES_RECOMPUTED,
    PURGED_SCHEMA,
    RECOMPUTED,
    SCHEMA,
    copy_out_buffers,
    file_format,
    hash_matrix,
    restore_previous_hashes,
)
from bank_pipeline.archive.errors import ArchiveCorrupt, ArchiveMismatch
from bank_pipeline.archive.export import Manifest, MonthSummary
from bank_pipeline.archive.months import partition_name
from bank_pipeline.archive.parts import FileParts, file_parts
from bank_pipeline.archive.store import ArchiveStore


@dataclass(frozen=True)
class VerifiedArchive:
    month: date
    manifest: Manifest
    table: pa.Table
    parts: FileParts | None = None  # the file's parts and their checksums, to record with it


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
        "chain_digest": summary.chain_digest,
    }
    for key, value in found.items():
        if getattr(manifest, key) != value:
            raise ArchiveMismatch(month, f"the file's {key} is {value}, its manifest says {getattr(manifest, key)}")
    heads = {name: (version, digest.hex()) for name, (version, digest) in summary.heads.items()}
    if heads != {name: (head.version, head.hash) for name, head in manifest.chain_heads.items()}:
        raise ArchiveMismatch(month, "the file's per-stream chain heads differ from its manifest's")
    return VerifiedArchive(month, manifest, table, file_parts(data, bytes.fromhex(manifest.parquet_sha256)))


def parquet_file(data: bytes, month: date) -> tuple[pq.ParquetFile, str]:
    """The archived file and its format (columns.py); ArchiveCorrupt when it is not an event archive."""
    try:
        file = pq.ParquetFile(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as error:
        raise ArchiveCorrupt(f"{month:%Y-%m}: the archived Parquet file cannot be read: {error}") from error
    return file, archive_format(file.schema_arrow, month)


def archive_format(schema: pa.Schema, month: date) -> str:
    found = file_format(schema)
    if found is None:
        raise ArchiveCorrupt(f"{month:%Y-%m}: the archived file's schema is not the event archive's")
    return found


def table_of(data: bytes, month: date, row_groups: list[int] | None = None, stream_id: str | None = None) -> pa.Table:
    """The archived events (all, or whole row groups; only `stream_id`'s rows if given) in the archive's SCHEMA with
    every hash in place, in the file's order: delivery order in format 1, (stream_id, stream_version) in formats 2
    and 3 (use in_delivery_order where order matters). When the format stores no hashes, the table's schema
    metadata says they were recomputed (HASHES_KEY)."""
    file, found = parquet_file(data, month)
    return rows_of(file, found, month, row_groups, stream_id)


def rows_of(
    file: pq.ParquetFile, found: str, month: date, row_groups: list[int] | None = None, stream_id: str | None = None
) -> pa.Table:
    """table_of for a file already opened and its format checked."""
    try:
        table = file.read() if row_groups is None else file.read_row_groups(row_groups)
        if stream_id is not None:
            table = table.filter(pc.equal(table.column("stream_id"), stream_id))
        table = restored(table, found)
        return table.replace_schema_metadata({HASHES_KEY: RECOMPUTED} if found in HASHES_RECOMPUTED else None)
    except (pa.ArrowException, OSError, ValueError) as error:
        raise ArchiveCorrupt(f"{month:%Y-%m}: the archived Parquet file cannot be read: {error}") from error


def restored(table: pa.Table, found: str) -> pa.Table:
    """Rows as read from a file of format `found` (whole row groups in file order, or one stream's rows of them),
    back in the archive's schema: what the format leaves out restored."""
    if found == FORMAT_V3:
        return restore_chain(table, SCHEMA)
    if found == FORMAT_V3_PURGED:
        return restore_chain(table, PURGED_SCHEMA)
    if found == FORMAT_V2:
        return restore_previous_hashes(table)
    if found == FORMAT_V2_PURGED:
        return restore_previous_hashes(table, PURGED_SCHEMA)
    return table


def in_delivery_order(table: pa.Table) -> pa.Table:
    """`table` sorted by (transaction_id, global_position), the order events are delivered in."""
    order = np.lexsort((table.column("global_position").to_numpy(), table.column("transaction_id").to_numpy()))
    if (order == np.arange(len(order))).all():
        return table
    return table.take(order)


def check_hashes(archive: VerifiedArchive) -> None:
    """ArchiveMismatch naming the first event (in delivery order) whose stored hash is not its recomputation.
    Nothing to do for a table read from a format that recomputes the hashes (table_of did it)."""
    table = archive.table
    if (table.schema.metadata or {}).get(HASHES_KEY) == RECOMPUTED:
        return
    wrong = (recomputed_hashes(table) != hash_matrix(table.column("hash"))).any(axis=1)
    if wrong.any():
        transactions = table.column("transaction_id").to_numpy()[wrong]
        positions = table.column("global_position").to_numpy()[wrong]
        first = np.lexsort((positions, transactions))[0]
        raise ArchiveMismatch(
            archive.month, "the archived hash is not the hash of the archived event's fields", int(positions[first])
        )


_KEY_ROW = np.dtype([("fields", ">i2"), ("l1", ">i4"), ("transaction_id", ">i8"), ("l2", ">i4"),
                     ("global_position", ">i8"), ("l3", ">i4"), ("hash", "V32")])  # fmt: skip


def partition_keys(conn: psycopg.Connection, month: date) -> np.ndarray:
    """(transaction_id, global_position, hash) of every event of the partition in delivery order, as one binary
    COPY read into a structured array (each row has the same 62 bytes)."""
    statement = sql.SQL(
        "COPY (SELECT transaction_id, global_position, hash FROM event_store.{} "
        "ORDER BY transaction_id, global_position) TO STDOUT (FORMAT binary)"
    ).format(sql.Identifier(partition_name(month)))
    batches = list(copy_out_buffers(conn, statement.as_bytes(conn), 1 << 20))
    if any((sizes != _KEY_ROW.itemsize).any() for _, sizes in batches):
        raise ArchiveMismatch(month, "the partition's binary COPY is not in the expected format")
    rows = np.frombuffer(b"".join(buffer for buffer, _ in batches), dtype=_KEY_ROW)
    if len(rows) and not ((rows["fields"] == 3) & (rows["l1"] == 8) & (rows["l2"] == 8) & (rows["l3"] == 32)).all():
        raise ArchiveMismatch(month, "the partition's binary COPY is not in the expected format")
    return rows


KEY_DIGEST_EVENTS = 1 << 20  # events a key digest covers: its bytea stays far below PostgreSQL's 1 GB


def key_digests(transaction_ids: np.ndarray, positions: np.ndarray, hashes: np.ndarray) -> list[tuple[int, bytes]]:
    """(events, sha256 over int8 transaction_id || int8 global_position || hash of each) for every
    KEY_DIGEST_EVENTS events of keys already in delivery order; what _PARTITION_KEY_DIGESTS computes in SQL."""
    keys = np.concatenate([_int8(transaction_ids), _int8(positions), hashes], axis=1)
    return [
        (len(part), hashlib.sha256(part.tobytes()).digest())
        for part in (keys[at : at + KEY_DIGEST_EVENTS] for at in range(0, len(keys), KEY_DIGEST_EVENTS))
    ]


def _int8(values: np.ndarray) -> np.ndarray:
    return values.astype(">i8").view(np.uint8).reshape(len(values), 8)


_PARTITION_KEY_DIGESTS = """
SELECT count(*), sha256(string_agg(int8send(transaction_id) || int8send(global_position) || hash, ''::bytea
                                   ORDER BY transaction_id, global_position))
  FROM (SELECT transaction_id, global_position, hash,
               (row_number() OVER (ORDER BY transaction_id, global_position) - 1) / {chunk} AS chunk
          FROM event_store.{partition}) AS keyed
 GROUP BY chunk ORDER BY chunk"""


def compare_with_partition(conn: psycopg.Connection, archive: VerifiedArchive) -> None:
    """ArchiveMismatch naming the first event where the partition's delivery order, positions, transaction ids or
    hashes differ from the archive's; the partition is read in one snapshot. PostgreSQL digests the partition's
    keys itself (a few rows cross the wire); only when a digest differs are the keys fetched to name the event."""
    month, table = archive.month, in_delivery_order(archive.table)
    archived_digests = key_digests(
        table.column("transaction_id").to_numpy(),
        table.column("global_position").to_numpy(),
        hash_matrix(table.column("hash")),
    )
    statement = sql.SQL(_PARTITION_KEY_DIGESTS).format(
        chunk=sql.Literal(KEY_DIGEST_EVENTS), partition=sql.Identifier(partition_name(month))
    )
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        conn.execute("SET LOCAL work_mem = '256MB'")
        stored_digests = [(count, bytes(digest)) for count, digest in conn.execute(statement).fetchall()]
    if stored_digests == archived_digests:
        return
    _name_first_difference(conn, month, table)


def _name_first_difference(conn: psycopg.Connection, month: date, table: pa.Table) -> None:
    archived = {
        "transaction_id": table.column("transaction_id").to_numpy(),
        "global_position": table.column("global_position").to_numpy(),
        "hash": hash_matrix(table.column("hash")),
    }
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        rows = partition_keys(conn, month)
    stored = {
        "transaction_id": rows["transaction_id"].astype(np.int64),
        "global_position": rows["global_position"].astype(np.int64),
        "hash": np.frombuffer(rows["hash"].tobytes(), np.uint8).reshape(len(rows), 32),
    }
    common = min(len(rows), len(table))
    _first_difference(month, archived, {k: v[:common] for k, v in stored.items()}, 0, common)
    if len(rows) > len(table):
        raise ArchiveMismatch(
            month,
            f"the partition holds more events than the {len(table)} archived",
            int(stored["global_position"][common]),
        )
    if len(rows) < len(table):
        raise ArchiveMismatch(
            month,
            f"the archive holds {len(table)} events, the partition {len(rows)}",
            int(archived["global_position"][common]),
        )
    raise ArchiveMismatch(month, "the partition's keys digest differently from the archive's; read again, they agree")


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
