"""Export one month's partition to Parquet (zstd), with its manifest.

Format 3 (columns.py): the rows leave PostgreSQL as one `COPY ... TO STDOUT (FORMAT binary)` ordered by
(stream_id, stream_version) (the partition's index on them: no sort, memory bounded by a few row groups), and are
decoded with numpy (columns.decode_rows), so no Python object is made per event. Sorted so, a stream's
events are adjacent: its previous_hash is the hash of the row before and is stored only where it is not (each
stream's first event in a row group), stream_id, stream_version and the times compress to almost nothing, and a
one-stream read skips every row group whose stream_id statistics exclude it. No event's hash is stored: it is
32 random bytes an event, and a reader recomputes it from the fields it covers (chain.restore_chain); the
verification after the export compares every recomputed hash with the partition's before the partition goes.
Readers that need delivery order sort by (transaction_id, global_position). Files of format 1 (delivery order,
everything stored) and 2 (format 3 with every hash stored) still read.

The manifest's chain digest lets an auditor check the file against the database and the published digests
without trusting this code:

    chain_digest = sha256(hash_1 || hash_2 || ... || hash_n)

over the 32-byte `hash` of every event of the month in delivery order (transaction_id, then global_position);
for a month without events it is sha256 of nothing. The same bytes, in the same order, that
`SELECT sha256(string_agg(hash, ''::bytea ORDER BY transaction_id, global_position)) FROM event_store.events_YYYY_MM`
hashes while the partition exists.
"""

import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg import sql

from bank_pipeline.archive.columns import (
    BINARY_SELECT,
    COLUMNS,
    FILE_SCHEMA,
    FORMAT_V1,
    FORMAT_V2,
    FORMAT_V3,
    ROW_ORDER,
    compact_chain,
    copy_out_buffers,
    decode_rows,
    hash_matrix,
)
from bank_pipeline.archive.errors import ArchiveError, EventsNotFinal
from bank_pipeline.archive.months import partition_name
from bank_pipeline.archive.store import ArchiveStore
from bank_pipeline.read_ahead import read_ahead

MANIFEST_FORMAT = FORMAT_V3
READABLE_FORMATS = (FORMAT_V1, FORMAT_V2, FORMAT_V3)
CHAIN_DIGEST_PROCEDURE = (
    "sha256 over the 32-byte hash of every event of the month concatenated in delivery order "
    "(transaction_id, then global_position); sha256 of nothing for a month without events"
)
ROW_GROUP_EVENTS = 64 * 1024  # a one-stream read decodes one or two of these
ZSTD_LEVEL = 1  # measured: levels 3, 6 and 9 were 1.5-5x slower and no smaller (payloads are mostly random ids)

PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": ZSTD_LEVEL,
    "use_dictionary": ["stream_id", "event_type", "schema_version", "metadata"],
    "column_encoding": {
        "global_position": "DELTA_BINARY_PACKED",
        "transaction_id": "DELTA_BINARY_PACKED",
        "stream_version": "DELTA_BINARY_PACKED",
        "occurred_at": "DELTA_BINARY_PACKED",
        "recorded_at": "DELTA_BINARY_PACKED",
        "event_id": "BYTE_STREAM_SPLIT",
    },
    "write_statistics": ["stream_id", "stream_version", "global_position", "transaction_id", "recorded_at"],
}


@dataclass(frozen=True)
class ChainHead:
    version: int
    hash: str  # hex


@dataclass
class Manifest:
    month: str  # YYYY-MM
    partition: str
    parquet: str  # the file's name, beside the manifest
    parquet_sha256: str
    parquet_bytes: int
    event_count: int
    first_global_position: int | None  # the smallest and largest position and transaction id in the month
    last_global_position: int | None
    first_transaction_id: int | None
    last_transaction_id: int | None
    chain_digest: str  # hex; see CHAIN_DIGEST_PROCEDURE
    chain_heads: dict[str, ChainHead]  # per stream: its last version in the month and that event's hash
    format: str = MANIFEST_FORMAT
    chain_digest_procedure: str = CHAIN_DIGEST_PROCEDURE
    columns: list[str] = field(default_factory=lambda: list(COLUMNS))
    row_order: str = ROW_ORDER[MANIFEST_FORMAT]  # how the file's rows are sorted

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "Manifest":
        try:
            document = json.loads(data)
            document["chain_heads"] = {k: ChainHead(**v) for k, v in document["chain_heads"].items()}
            if document.get("format") in ROW_ORDER:
                document.setdefault("row_order", ROW_ORDER[document["format"]])
            manifest = cls(**document)
        except (ValueError, TypeError, KeyError) as error:
            raise ArchiveError(f"not an event archive manifest: {error}") from error
        if manifest.format not in READABLE_FORMATS:
            raise ArchiveError(f"manifest format {manifest.format!r} is none of {', '.join(READABLE_FORMATS)}")
        return manifest


@dataclass(frozen=True)
class ExportReport:
    month: date
    manifest: Manifest
    parquet_uri: str
    manifest_uri: str
    seconds: float

    @property
    def events(self) -> int:
        return self.manifest.event_count

    @property
    def bytes(self) -> int:
        return self.manifest.parquet_bytes

    @property
    def bytes_per_event(self) -> float:
        return self.bytes / self.events if self.events else 0.0

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def partition_exists(conn: psycopg.Connection, month: date) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"event_store.{partition_name(month)}",)).fetchone()[0]


def ensure_final(conn: psycopg.Connection, month: date) -> None:
    """EventsNotFinal unless every event of the month's partition is below the read horizon."""
    newest = conn.execute(
        sql.SQL("SELECT max(transaction_id) >= event_store.read_horizon() FROM event_store.{}").format(
            sql.Identifier(partition_name(month))
        )
    ).fetchone()[0]
    if newest:
        raise EventsNotFinal(month)


class MonthSummary:
    """What the manifest says about the events, gathered batch by batch in any order (the chain digest sorts
    them into delivery order: 48 bytes an event are kept until then)."""

    def __init__(self) -> None:
        self.count = 0
        self.position_range: tuple[int, int] | None = None
        self.transaction_range: tuple[int, int] | None = None
        self.heads: dict[str, tuple[int, bytes]] = {}
        self._keys: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (transaction ids, positions, hashes)

    @property
    def chain_digest(self) -> str:
        """sha256 of the hashes in delivery order (hex): see CHAIN_DIGEST_PROCEDURE."""
        if not self._keys:
            return hashlib.sha256().hexdigest()
        transactions, positions, hashes = (np.concatenate(part) for part in zip(*self._keys, strict=True))
        order = np.lexsort((positions, transactions))
        return hashlib.sha256(hashes[order].tobytes()).hexdigest()

    def add(self, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            return
        hashes = hash_matrix(batch.column("hash"))
        self.count += batch.num_rows
        positions = batch.column("global_position").to_numpy()
        transactions = batch.column("transaction_id").to_numpy()
        self.position_range = _widen(self.position_range, int(positions.min()), int(positions.max()))
        self.transaction_range = _widen(self.transaction_range, int(transactions.min()), int(transactions.max()))
        self._keys.append((transactions, positions, hashes))
        self._add_heads(batch.column("stream_id"), batch.column("stream_version").to_numpy(), hashes)

    def _add_heads(self, stream_ids: pa.Array, versions: np.ndarray, hashes: np.ndarray) -> None:
        encoded = stream_ids.dictionary_encode()
        codes = encoded.indices.to_numpy()
        order = np.lexsort((versions, codes))  # by stream, then version: each stream's last row is its head
        last = order[np.r_[codes[order][1:] != codes[order][:-1], True]]
        names = encoded.dictionary.take(pa.array(codes[last])).to_pylist()
        for name, row in zip(names, last.tolist(), strict=True):
            version = int(versions[row])
            known = self.heads.get(name)
            if known is None or known[0] < version:
                self.heads[name] = (version, hashes[row].tobytes())


def _widen(current: tuple[int, int] | None, low: int, high: int) -> tuple[int, int]:
    return (low, high) if current is None else (min(current[0], low), max(current[1], high))


def stream_ordered_batches(conn: psycopg.Connection, month: date) -> Iterator[pa.RecordBatch]:
    """The month's events sorted by (stream_id, stream_version), in batches of ROW_GROUP_EVENTS, in the archive's
    schema, in the caller's transaction."""
    encoding = conn.execute("SHOW server_encoding").fetchone()[0]
    if encoding != "UTF8":
        raise ArchiveError(f"the server encoding is {encoding}: the archive reads text as UTF-8 (binary COPY)")
    query = "COPY (SELECT {} FROM event_store.{} ORDER BY stream_id, stream_version) TO STDOUT (FORMAT binary)"
    statement = sql.SQL(query).format(sql.SQL(BINARY_SELECT), sql.Identifier(partition_name(month)))
    # A thread reads the COPY (its loop is the only Python left per row, and it waits for the server GIL-free)
    # while this one decodes, summarises and writes: the server no longer waits for the Parquet writer.
    with closing(read_ahead(copy_out_buffers(conn, statement.as_bytes(conn), ROW_GROUP_EVENTS), depth=2)) as buffers:
        for buf, sizes in buffers:
            yield decode_rows(buf, sizes)


def export_month(conn: psycopg.Connection, store: ArchiveStore, month: date) -> ExportReport:
    """Write the month's Parquet file and then its manifest to `store`; the partition stays untouched.

    Reads in one REPEATABLE READ snapshot; refuses (EventsNotFinal) a partition holding events not below the
    read horizon. Overwrites what an earlier, unfinished attempt left for the month."""
    started = time.perf_counter()
    summary = MonthSummary()
    parquet_key = store.parquet_key(month)
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        if not partition_exists(conn, month):
            raise ArchiveError(f"{month:%Y-%m} has no partition {partition_name(month)} to export")
        ensure_final(conn, month)
        with store.writing(parquet_key) as file, pq.ParquetWriter(file, FILE_SCHEMA, **PARQUET_OPTIONS) as writer:
            for batch in stream_ordered_batches(conn, month):
                summary.add(batch)
                writer.write_batch(compact_chain(batch), row_group_size=ROW_GROUP_EVENTS)
            if not summary.count:
                writer.write_table(FILE_SCHEMA.empty_table())
    manifest = Manifest(
        month=f"{month:%Y-%m}",
        partition=partition_name(month),
        parquet=parquet_key.rsplit("/", 1)[1],
        parquet_sha256=file.sha256,
        parquet_bytes=file.size,
        event_count=summary.count,
        first_global_position=summary.position_range[0] if summary.position_range else None,
        last_global_position=summary.position_range[1] if summary.position_range else None,
        first_transaction_id=summary.transaction_range[0] if summary.transaction_range else None,
        last_transaction_id=summary.transaction_range[1] if summary.transaction_range else None,
        chain_digest=summary.chain_digest,
        chain_heads={name: ChainHead(v, hashed.hex()) for name, (v, hashed) in sorted(summary.heads.items())},
    )
    seconds = time.perf_counter() - started
    return ExportReport(month, manifest, store.url(parquet_key), store.url(store.manifest_key(month)), seconds)


def write_manifest(store: ArchiveStore, report: ExportReport) -> str:
    """Writes the export's manifest beside its Parquet file; returns the manifest's sha256."""
    return store.write_bytes(store.manifest_key(report.month), report.manifest.to_json())
