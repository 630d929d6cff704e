"""Tombstones: what a purged event leaves in the archive - its place in the delivery order and its hash.

global_position, transaction_id and recorded_at place it; its hash keeps the month's Merkle root, the range digests
and the month's chain digest recomputable. Every other column (the stream, the type, the payload, the metadata, the
previous hash) is null: the event can no longer be read, only counted and proved to have been there.
"""

from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bank_pipeline.archive.columns import (
    PURGED_FILE_SCHEMA,
    PURGED_SCHEMA,
    TOMBSTONE_COLUMNS,
    compact_chain,
)
from bank_pipeline.archive.export import PARQUET_OPTIONS, ROW_GROUP_EVENTS
from bank_pipeline.archive.store import ArchiveStore


@dataclass(frozen=True)
class WrittenFile:
    uri: str
    sha256: str  # hex
    bytes: int


def tombstone_mask(table: pa.Table, streams: set[str]) -> pa.ChunkedArray:
    """True for the rows of `streams` (tombstones belong to no stream, so they are never selected again)."""
    return pc.fill_null(pc.is_in(table.column("stream_id"), value_set=pa.array(sorted(streams), pa.string())), False)


def tombstoned(table: pa.Table, mask: pa.ChunkedArray) -> pa.Table:
    """`table` with the rows under `mask` reduced to tombstones, in PURGED_SCHEMA."""
    columns = []
    for field in table.schema:
        column = table.column(field.name)
        if field.name not in TOMBSTONE_COLUMNS:
            column = pc.if_else(mask, pa.nulls(table.num_rows, field.type), column)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=PURGED_SCHEMA)


def write_purged_month(
    store: ArchiveStore, month: date, table: pa.Table, mask: pa.ChunkedArray, purge_number: int
) -> WrittenFile:
    """The month's events with the rows under `mask` tombstoned, as a new file beside the month's others: the whole
    events sorted by stream as in format 3 (previous_hash compacted per row group, no hash), then the tombstones in
    delivery order, each with its hash."""
    purged = tombstoned(table, mask)
    alive = pc.is_valid(purged.column("stream_id"))
    events = purged.filter(alive).sort_by([("stream_id", "ascending"), ("stream_version", "ascending")])
    delivery_order = [("transaction_id", "ascending"), ("global_position", "ascending")]
    stones = purged.filter(pc.invert(alive)).sort_by(delivery_order)
    key = store.purged_parquet_key(month, purge_number)
    with store.writing(key) as file, pq.ParquetWriter(file, PURGED_FILE_SCHEMA, **PARQUET_OPTIONS) as writer:
        # One row group per batch: format 3 restores a previous_hash from the row before it in the same group.
        for batch in events.to_batches(max_chunksize=ROW_GROUP_EVENTS):
            writer.write_batch(compact_chain(batch, PURGED_FILE_SCHEMA), row_group_size=ROW_GROUP_EVENTS)
        for batch in stones.to_batches(max_chunksize=ROW_GROUP_EVENTS):
            writer.write_batch(pa.RecordBatch.from_arrays(batch.columns, schema=PURGED_FILE_SCHEMA),
                               row_group_size=ROW_GROUP_EVENTS)  # fmt: skip
        if not purged.num_rows:
            writer.write_table(PURGED_FILE_SCHEMA.empty_table())
    return WrittenFile(store.url(key), file.sha256, file.size)
