"""Event hashes of archive rows: store/hashing.py's layout (byte for byte SQL's event_store.event_hash) laid out for
many rows at once with numpy, so only the sha256 calls remain one per event.

Format 3 (columns.py) stores no hash for a whole event: a reader recomputes it from the row's fields and its
previous hash, which is itself stored only where it is not the hash of the row before (restore_chain). Nothing is
lost: the manifest's chain digest and the published month root are over these hashes, so a changed field changes
them.
"""

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bank_pipeline.archive.columns import POSTGRES_EPOCH_US, hash_matrix

HASH_CHUNK_EVENTS = 32 * 1024
PREVIOUS_HASH_BYTES = 32  # every message starts with the previous hash
TEXT_FIELDS = ("stream_id", "event_type", "payload", "metadata")


def _int_bytes(column: pa.Array | np.ndarray, dtype: str) -> np.ndarray:
    values = column if isinstance(column, np.ndarray) else column.to_numpy()
    return values.astype(dtype).view(np.uint8).reshape(len(values), -1)


def _microseconds(column: pa.Array) -> np.ndarray:
    return column.cast(pa.int64()).to_numpy() - POSTGRES_EPOCH_US


def hash_inputs(batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(message bytes, starts, ends): row i's hash is sha256(message[starts[i]:ends[i]]). The first 32 bytes of a
    row's message are its previous_hash (whatever the column holds where it is NULL). Whole events only.

    The fixed-width fields are laid out as one numpy matrix; Arrow's binary_join_element_wise then joins each row's
    pieces (fixed part, then each text field's 4-byte length and bytes) in one pass."""
    n = batch.num_rows
    fixed = np.concatenate(
        [
            hash_matrix(batch.column("previous_hash")),
            _int_bytes(batch.column("global_position"), ">i8"),
            _int_bytes(batch.column("stream_version"), ">i8"),
            _int_bytes(batch.column("schema_version"), ">i4"),
            hash_matrix(batch.column("event_id")),
            _int_bytes(_microseconds(batch.column("occurred_at")), ">i8"),
            _int_bytes(_microseconds(batch.column("recorded_at")), ">i8"),
        ],
        axis=1,
    )
    pieces = [_binary(fixed)]
    for name in TEXT_FIELDS:
        text = batch.column(name).cast(pa.binary())
        pieces += [_binary(_int_bytes(pc.binary_length(text).to_numpy(zero_copy_only=False), ">i4")), text]
    joined = pc.binary_join_element_wise(*pieces, pa.scalar(b"", pa.binary()))
    if joined.null_count:
        raise ValueError("a whole event has a NULL field")
    offsets = np.frombuffer(joined.buffers()[1], np.int32)[joined.offset : joined.offset + n + 1].astype(np.int64)
    message = np.frombuffer(bytearray(joined.buffers()[2]) if n else bytearray(), np.uint8)
    return message, offsets[:-1], offsets[1:]


def _binary(matrix: np.ndarray) -> pa.Array:
    """An (n, k) uint8 matrix as n binary values of k bytes."""
    n, width = matrix.shape
    values = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), n, [None, pa.py_buffer(matrix.tobytes())])
    return values.cast(pa.binary())


def recomputed_hashes(table: pa.Table) -> np.ndarray:
    """Every row's hash recomputed from its fields and stored previous_hash, (n, 32). Whole events only."""
    digests = []
    for batch in table.to_batches(max_chunksize=HASH_CHUNK_EVENTS):
        message, starts, ends = hash_inputs(batch)
        view, sha256 = memoryview(message), hashlib.sha256
        joined = b"".join([sha256(view[a:b]).digest() for a, b in zip(starts.tolist(), ends.tolist(), strict=True)])
        digests.append(np.frombuffer(joined, np.uint8).reshape(batch.num_rows, 32))
    return np.concatenate(digests) if digests else np.empty((0, 32), np.uint8)


def restore_chain(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Rows of a format-3 file (whole row groups in file order, or one stream's rows of them) in `schema`, every
    whole event's previous_hash and hash filled in, in one pass in file order: a NULL previous_hash is the hash of
    the row before; a NULL hash is sha256 of the row's hash input. A hash that is stored for a whole event must be
    that recomputation (ValueError naming its position). Tombstones (no stream) keep their hash and no previous."""
    n = table.num_rows
    whole = table.column("stream_id").is_valid().to_numpy(zero_copy_only=False) if n else np.zeros(0, bool)
    previous = np.zeros((n, 32), np.uint8)
    hashes = hash_matrix(table.column("hash")).copy() if n else np.zeros((0, 32), np.uint8)
    rows = np.flatnonzero(whole)
    if len(rows) < n and pc.any(pc.is_null(table.column("hash").filter(pc.invert(pa.array(whole))))).as_py():
        raise ValueError("a tombstone has no hash")
    events = table if len(rows) == n else table.take(rows)
    at, last = 0, None
    for batch in events.to_batches(max_chunksize=HASH_CHUNK_EVENTS):
        message, starts, ends = hash_inputs(batch)
        view, sha256 = memoryview(message), hashlib.sha256
        previous_known = batch.column("previous_hash").is_valid().to_numpy(zero_copy_only=False).tolist()
        hash_known = batch.column("hash").is_valid().to_numpy(zero_copy_only=False).tolist()
        digests = []
        for start, end, has_previous in zip(starts.tolist(), ends.tolist(), previous_known, strict=True):
            if not has_previous:
                if last is None:
                    raise ValueError("the first row read has no previous_hash")
                view[start : start + PREVIOUS_HASH_BYTES] = last
            last = sha256(view[start:end]).digest()
            digests.append(last)
        computed = np.frombuffer(b"".join(digests), np.uint8).reshape(batch.num_rows, 32)
        place = rows[at : at + batch.num_rows]
        previous[place] = message[starts[:, None] + np.arange(PREVIOUS_HASH_BYTES)]  # as stored or restored
        stored = hashes[place]
        wrong = np.asarray(hash_known, bool) & (stored != computed).any(axis=1)
        if wrong.any():
            position = batch.column("global_position")[int(np.argmax(wrong))].as_py()
            raise ValueError(f"the event at position {position}: its stored hash is not the hash of its fields")
        hashes[place] = computed
        at += batch.num_rows
    tombstones = int(n - len(rows))
    validity = pa.py_buffer(np.packbits(whole, bitorder="little").tobytes()) if tombstones else None
    restored = {
        "previous_hash": pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(32), n, [validity, pa.py_buffer(previous.tobytes())], tombstones
        ),
        "hash": pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), n, [None, pa.py_buffer(hashes.tobytes())]),
    }
    columns = [restored.get(name, table.column(name)) for name in schema.names]
    return pa.Table.from_arrays(columns, schema=schema)
