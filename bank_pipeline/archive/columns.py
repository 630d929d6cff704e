"""The archive's Parquet schema: every column of event_store.events, in table order.

jsonb payload and metadata are kept as the text PostgreSQL prints for them (`payload::text`, exactly the bytes
the event hash covers), hashes as 32 raw bytes, event ids as their 16 bytes, timestamps as UTC microseconds.
"""

import select
from array import array
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bank_pipeline.store.records import EVENT_COLUMNS

COLUMNS = tuple(name.strip() for name in EVENT_COLUMNS.split(","))
TIMESTAMP = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema(
    [
        pa.field("global_position", pa.int64(), nullable=False),
        pa.field("transaction_id", pa.int64(), nullable=False),
        pa.field("stream_id", pa.string(), nullable=False),
        pa.field("stream_version", pa.int64(), nullable=False),
        pa.field("event_type", pa.string(), nullable=False),
        pa.field("schema_version", pa.int32(), nullable=False),
        pa.field("event_id", pa.binary(16), nullable=False),
        pa.field("payload", pa.string(), nullable=False),
        pa.field("metadata", pa.string(), nullable=False),
        pa.field("occurred_at", TIMESTAMP, nullable=False),
        pa.field("recorded_at", TIMESTAMP, nullable=False),
        pa.field("previous_hash", pa.binary(32), nullable=False),
        pa.field("hash", pa.binary(32), nullable=False),
    ]
)
assert tuple(SCHEMA.names) == COLUMNS, "the archive keeps every column of event_store.events, in order"

_HEX = np.full(256, 255, dtype=np.uint8)
for _digit, _char in enumerate(b"0123456789abcdef"):
    _HEX[_char] = _digit
_UUID_HEX_COLUMNS = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])


def fixed_width_text(array: pa.StringArray, width: int, what: str) -> np.ndarray:
    """The characters of a string array whose values all have `width` bytes, as an (n, width) uint8 matrix."""
    array = array.cast(pa.string()) if array.type != pa.string() else array
    if array.null_count:
        raise ValueError(f"{what}: unexpected NULL")
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[array.offset : array.offset + len(array) + 1]
    if len(array) and not (np.diff(offsets) == width).all():
        raise ValueError(f"{what}: every value should have {width} characters")
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8) if len(array) else np.empty(0, np.uint8)
    return data[offsets[0] : offsets[-1]].reshape(len(array), width)


def decode_hex(characters: np.ndarray, what: str) -> np.ndarray:
    """(n, 2k) lowercase hex characters -> (n, k) bytes."""
    nibbles = _HEX[characters]
    if nibbles.size and nibbles.max() > 15:
        raise ValueError(f"{what}: not lowercase hexadecimal")
    return (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]


def bytea_column(array: pa.StringArray, size: int, what: str) -> pa.FixedSizeBinaryArray:
    r"""PostgreSQL's hex text of bytea values of `size` bytes ('\x0a1b...') as fixed-size binary."""
    characters = fixed_width_text(array, 2 + 2 * size, what)
    if len(array) and not ((characters[:, 0] == ord("\\")) & (characters[:, 1] == ord("x"))).all():
        raise ValueError(rf"{what}: expected bytea in hex output ('\x...')")
    raw = decode_hex(characters[:, 2:], what)
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(size), len(array), [None, pa.py_buffer(raw.tobytes())])


def uuid_column(array: pa.StringArray) -> pa.FixedSizeBinaryArray:
    """uuid text ('8-4-4-4-12' hex digits) as 16 bytes each."""
    characters = fixed_width_text(array, 36, "event_id")
    raw = decode_hex(np.ascontiguousarray(characters[:, _UUID_HEX_COLUMNS]), "event_id")
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), len(array), [None, pa.py_buffer(raw.tobytes())])


def hash_matrix(array: pa.Array) -> np.ndarray:
    """A fixed_size_binary(32) column (or chunked column) as an (n, 32) uint8 matrix."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    data = np.frombuffer(array.buffers()[1], dtype=np.uint8) if len(array) else np.empty(0, np.uint8)
    width = array.type.byte_width
    return data[array.offset * width : (array.offset + len(array)) * width].reshape(len(array), width)


# -- formats 2 and 3: the file sorted by (stream_id, stream_version), what is derivable left out --------------------

FORMAT_KEY = b"bank_pipeline.event_archive"
FORMAT_V1 = "bank_pipeline.event_archive/1"  # delivery order, every column as stored (SCHEMA)
FORMAT_V2 = "bank_pipeline.event_archive/2"
FORMAT_V3 = "bank_pipeline.event_archive/3"
STREAM_ORDER = "stream_id, stream_version"
ROW_ORDER = {FORMAT_V1: "transaction_id, global_position", FORMAT_V2: STREAM_ORDER, FORMAT_V3: STREAM_ORDER}
# In formats 2 and 3 a row's previous_hash is NULL when it is the hash of the row just before it in the same row
# group (the same stream's previous version); readers restore it. A row group's first row always carries it, so
# each row group reads on its own. Format 3 also leaves out every whole event's hash: readers recompute it from the
# row's fields and previous hash (chain.restore_chain); format 2 stores it.
FILE_SCHEMA_V2 = pa.schema(
    [f.with_nullable(True) if f.name == "previous_hash" else f for f in SCHEMA],
    metadata={FORMAT_KEY: FORMAT_V2.encode()},
)
FILE_SCHEMA = pa.schema(
    [f.with_nullable(True) if f.name in ("previous_hash", "hash") else f for f in SCHEMA],
    metadata={FORMAT_KEY: FORMAT_V3.encode()},
)
POSTGRES_EPOCH_US = 946_684_800_000_000  # 2000-01-01 UTC in microseconds since 1970


# A month rewritten by the retention purge (archive/purge.py): format 3 (or 2) with tombstones, rows that keep only
# TOMBSTONE_COLUMNS (every other column NULL), after the whole events, in delivery order. A tombstone's hash is
# always stored: there is nothing left to recompute it from.
FORMAT_V2_PURGED = "bank_pipeline.event_archive/2+tombstones"
FORMAT_V3_PURGED = "bank_pipeline.event_archive/3+tombstones"
TOMBSTONE_COLUMNS = ("global_position", "transaction_id", "recorded_at", "hash")
PURGED_SCHEMA = pa.schema([f.with_nullable(f.name not in TOMBSTONE_COLUMNS) for f in SCHEMA])
PURGED_FILE_SCHEMA_V2 = PURGED_SCHEMA.with_metadata({FORMAT_KEY: FORMAT_V2_PURGED.encode()})
PURGED_FILE_SCHEMA = pa.schema([f.with_nullable(True) for f in SCHEMA]).with_metadata(
    {FORMAT_KEY: FORMAT_V3_PURGED.encode()}
)
_DECLARED_FORMATS = {
    FORMAT_V2: FILE_SCHEMA_V2,
    FORMAT_V2_PURGED: PURGED_FILE_SCHEMA_V2,
    FORMAT_V3: FILE_SCHEMA,
    FORMAT_V3_PURGED: PURGED_FILE_SCHEMA,
}
STREAM_SORTED = (FORMAT_V2, FORMAT_V2_PURGED, FORMAT_V3, FORMAT_V3_PURGED)  # a stream's rows are adjacent
HASHES_RECOMPUTED = (FORMAT_V3, FORMAT_V3_PURGED)  # read back, every whole event's hash is its recomputation
# Schema metadata of a table read from such a file (verify.table_of), so that no one recomputes them twice.
HASHES_KEY, RECOMPUTED = b"bank_pipeline.hashes", b"recomputed"


def file_format(schema: pa.Schema) -> str | None:
    """The archive format a Parquet file's schema says it is written in; None when it is not an event archive."""
    declared = (schema.metadata or {}).get(FORMAT_KEY)
    if declared is not None:
        expected = _DECLARED_FORMATS.get(declared.decode())
        return declared.decode() if expected and schema.remove_metadata().equals(expected.remove_metadata()) else None
    return FORMAT_V1 if schema.equals(SCHEMA) else None


def compact_previous_hashes(batch: pa.RecordBatch, schema: pa.Schema = FILE_SCHEMA_V2) -> pa.RecordBatch:
    """`batch` (one row group, sorted by stream and version, SCHEMA) in format 2 (FILE_SCHEMA_V2): previous_hash
    NULL where it equals the hash of the row before, the same stream's previous version. Anything else (a broken
    chain) is kept."""
    n = batch.num_rows
    derivable = np.zeros(n, dtype=bool)
    if n > 1:
        streams = batch.column("stream_id")
        versions = batch.column("stream_version").to_numpy()
        previous, hashes = hash_matrix(batch.column("previous_hash")), hash_matrix(batch.column("hash"))
        derivable[1:] = (
            pc.equal(streams.slice(1), streams.slice(0, n - 1)).to_numpy(zero_copy_only=False)
            & (versions[1:] == versions[:-1] + 1)
            & (previous[1:] == hashes[:-1]).all(axis=1)
        )
    validity = pa.py_buffer(np.packbits(~derivable, bitorder="little").tobytes())
    values = pa.py_buffer(hash_matrix(batch.column("previous_hash")).tobytes())
    compacted = pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), n, [validity, values], int(derivable.sum()))
    columns = [compacted if name == "previous_hash" else batch.column(name) for name in SCHEMA.names]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def compact_chain(batch: pa.RecordBatch, schema: pa.Schema = FILE_SCHEMA) -> pa.RecordBatch:
    """`batch` (one row group of whole events, sorted by stream and version, SCHEMA) in format 3: previous_hash
    compacted as in format 2, and no hash (readers recompute it: chain.restore_chain)."""
    compacted = compact_previous_hashes(batch, schema)
    no_hashes = pa.nulls(batch.num_rows, pa.binary(32))
    columns = [no_hashes if name == "hash" else compacted.column(name) for name in SCHEMA.names]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def restore_previous_hashes(table: pa.Table, schema: pa.Schema = SCHEMA) -> pa.Table:
    """Whole row groups of a format-2 file in file order (or one stream's rows of them, which are adjacent), back in
    `schema`: each NULL previous_hash of an event is the hash of the row before it (a tombstone's stays NULL)."""
    n = table.num_rows
    previous = table.column("previous_hash").combine_chunks() if n else pa.array([], pa.binary(32))
    if previous.null_count:
        tombstone = table.column("stream_id").is_null().to_numpy(zero_copy_only=False)
        missing = previous.is_null().to_numpy(zero_copy_only=False) & ~tombstone
        if missing[0]:
            raise ValueError("a row group's first row has no previous_hash")
        restored = hash_matrix(previous).copy()
        rows = np.flatnonzero(missing)
        restored[rows] = hash_matrix(table.column("hash"))[rows - 1]
        validity = pa.py_buffer(np.packbits(~tombstone, bitorder="little").tobytes()) if tombstone.any() else None
        previous = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(32), n, [validity, pa.py_buffer(restored.tobytes())], int(tombstone.sum())
        )
    columns = [previous if name == "previous_hash" else table.column(name) for name in SCHEMA.names]
    return pa.Table.from_arrays(columns, schema=schema)


# -- PostgreSQL's binary COPY, parsed with numpy ------------------------------------------------------------------

COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
COPY_HEADER_BYTES = 19  # signature, flags, header extension length (0)
COPY_TRAILER = b"\xff\xff"
# The export's SELECT list: the fixed-width columns first, then the text ones (jsonb as text: the hashed bytes).
BINARY_FIXED = (
    ("global_position", 8), ("transaction_id", 8), ("stream_version", 8), ("schema_version", 4), ("event_id", 16),
    ("occurred_at", 8), ("recorded_at", 8), ("previous_hash", 32), ("hash", 32),
)  # fmt: skip
BINARY_TEXT = ("stream_id", "event_type", "payload", "metadata")
BINARY_FIXED_BYTES = 2 + sum(4 + width for _, width in BINARY_FIXED)
BINARY_SELECT = ", ".join(
    [name for name, _ in BINARY_FIXED] + ["stream_id", "event_type", "payload::text", "metadata::text"]
)


def _gather(data: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """(n, width) bytes of `data` from each start."""
    return data[starts[:, None] + np.arange(width)]


def _big_endian(matrix: np.ndarray, dtype: str) -> np.ndarray:
    return np.ascontiguousarray(matrix).view(dtype)[:, 0].astype(dtype.replace(">", "<"))


def _text_column(data: np.ndarray, buffer: pa.Buffer, starts: np.ndarray, lengths: np.ndarray) -> pa.Array:
    """UTF-8 values at `starts` of `buffer` as a string array, through Arrow's string_view (no copy per row)."""
    n = len(starts)
    views = np.zeros((n, 16), dtype=np.uint8)
    views[:, :4] = lengths.astype("<i4").view(np.uint8).reshape(n, 4)
    short = lengths <= 12
    if short.any():
        index = np.minimum(starts[short][:, None] + np.arange(12), len(data) - 1)
        inline = data[index]
        inline[np.arange(12) >= lengths[short][:, None]] = 0
        views[short, 4:16] = inline
    long = ~short
    if long.any():
        views[long, 4:8] = _gather(data, starts[long], 4)
        views[long, 12:16] = starts[long].astype("<i4").view(np.uint8).reshape(-1, 4)  # buffer 0, this offset
    array = pa.Array.from_buffers(pa.string_view(), n, [None, pa.py_buffer(views.tobytes()), buffer])
    return array.cast(pa.string())


def _next_result(pgconn: Any) -> Any:
    pgconn.consume_input()
    while pgconn.is_busy():
        select.select([pgconn.socket], [], [])
        pgconn.consume_input()
    return pgconn.get_result()


def _drain(pgconn: Any) -> None:
    while _next_result(pgconn) is not None:
        pass


def copy_out_buffers(conn: Any, statement: bytes, rows_per_batch: int) -> Iterator[tuple[bytearray, np.ndarray]]:
    """The rows of `COPY ... TO STDOUT (FORMAT binary)` as (rows back to back, each row's length), up to
    `rows_per_batch` rows a batch; the 19-byte header and the trailer are left out. Read with libpq's
    PQgetCopyData in a loop of our own: psycopg's Copy iteration runs five Python frames a row, which costs more
    than PostgreSQL takes to send the row, and no Python object is kept per row (a list of libpq buffers costs
    ~2 µs a row more). Must run inside a transaction block of `conn` (no autocommit toggling); the connection is
    left idle in it, or the error raised; closed early (the consumer stopped or failed), the COPY is cancelled and
    drained so that the transaction can roll back."""
    from psycopg import errors, pq

    pgconn = conn.pgconn
    conn.execute("SELECT 1")  # the transaction is open on the server (psycopg starts it lazily)
    pgconn.send_query(statement)
    while pgconn.flush():
        select.select([], [pgconn.socket], [])
    result = _next_result(pgconn)
    if result.status != pq.ExecStatus.COPY_OUT:
        _drain(pgconn)
        raise errors.error_from_result(result, encoding=conn.info.encoding)
    get, consume, sock, wait = pgconn.get_copy_data, pgconn.consume_input, pgconn.socket, select.select
    finished = False
    try:
        while (first := get(1))[0] == 0:  # libpq hands over the header with the first row (or the trailer)
            wait([sock], [], [])
            consume()
        buf, sizes = bytearray(), array("q")
        if first[0] > 0:
            if bytes(first[1][: len(COPY_SIGNATURE)]) != COPY_SIGNATURE:
                raise ValueError("binary COPY: no signature")
            buf += memoryview(first[1])[COPY_HEADER_BYTES:]
            sizes.append(first[0] - COPY_HEADER_BYTES)
            push, left = sizes.append, rows_per_batch - 1
            while True:  # the only per-row Python: keep it to a call, two appends and a countdown
                nbytes, data = get(1)
                if nbytes > 0:
                    buf += data
                    push(nbytes)
                    left -= 1
                    if not left:
                        yield _without_trailer(buf, sizes)
                        buf, sizes = bytearray(), array("q")
                        push, left = sizes.append, rows_per_batch
                elif nbytes == 0:
                    wait([sock], [], [])
                    consume()
                else:
                    break
        finished = True
    finally:
        if not finished:  # stopped early or failed: end the COPY so that the connection can roll back
            conn.cancel_safe()
            while get(0)[0] >= 0:
                pass
            _drain(pgconn)
    # The COPY's result is read before the last batch is handed over: a consumer that stops there leaves the
    # connection idle in its transaction, not in the middle of a COPY.
    result = _next_result(pgconn)
    _drain(pgconn)
    if result.status != pq.ExecStatus.COMMAND_OK:
        raise errors.error_from_result(result, encoding=conn.info.encoding)
    buf, sizes = _without_trailer(buf, sizes)
    if len(sizes):
        yield buf, sizes


def _without_trailer(buf: bytearray, sizes: array) -> tuple[bytearray, np.ndarray]:
    """The trailer (2 bytes, 0xffff) is the COPY's last message; no row is that short."""
    if len(sizes) and sizes[-1] == len(COPY_TRAILER):
        if buf[-2:] != COPY_TRAILER:
            raise ValueError("binary COPY: a 2-byte row that is not the trailer")
        del buf[-2:]
        sizes.pop()
    return buf, np.frombuffer(sizes, dtype=np.int64) if len(sizes) else np.zeros(0, np.int64)


_FIELDS: dict[str, tuple[str, int]] = {"field_count": (">i2", 0)}
_at = 2
for _name, _width in BINARY_FIXED:
    _FIELDS[f"{_name}_length"] = (">i4", _at)
    if _width in (4, 8):
        _FIELDS[_name] = (f">i{_width}", _at + 4)
    _at += 4 + _width
FIXED_ROW = np.dtype(
    {
        "names": list(_FIELDS),
        "formats": [f for f, _ in _FIELDS.values()],
        "offsets": [o for _, o in _FIELDS.values()],
        "itemsize": BINARY_FIXED_BYTES,
    }
)
_FIXED_AT = {}
_at = 2
for _name, _width in BINARY_FIXED:
    _FIXED_AT[_name] = _at + 4
    _at += 4 + _width


def _int32_at(data: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The big-endian int32 at each position of `at`, as int64."""
    return (
        (data[at].astype(np.int64) << 24)
        | (data[at + 1].astype(np.int64) << 16)
        | (data[at + 2].astype(np.int64) << 8)
        | data[at + 3]
    ) - ((data[at] >= 128).astype(np.int64) << 32)


def _strings(data: np.ndarray, buffer: pa.Buffer, starts: np.ndarray, lengths: np.ndarray) -> pa.Array:
    """The UTF-8 values at `starts` of `buffer` as a string array (through string_view: one copy, in C++)."""
    n = len(starts)
    views = np.zeros((n, 4), dtype="<u4")
    views[:, 0] = lengths
    short = lengths <= 12
    views8 = views.view(np.uint8)
    if short.any():
        index = np.minimum(starts[short][:, None] + np.arange(12), len(data) - 1)
        inline = data[index]
        inline[np.arange(12) >= lengths[short][:, None]] = 0
        views8[short, 4:16] = inline
    if not short.all():
        long = np.flatnonzero(~short)
        at = starts[long]
        views[long, 1] = (
            data[at].astype("<u4") | (data[at + 1].astype("<u4") << 8) | (data[at + 2].astype("<u4") << 16)
            | (data[at + 3].astype("<u4") << 24)
        )  # fmt: skip
        views[long, 3] = at  # buffer 0, this offset
    array_ = pa.Array.from_buffers(pa.string_view(), n, [None, pa.py_buffer(views), buffer])
    return array_.cast(pa.string())


def decode_rows(buf: bytes | bytearray, sizes: np.ndarray) -> pa.RecordBatch:
    """Rows of `COPY (SELECT BINARY_SELECT ...) TO STDOUT (FORMAT binary)`, back to back in `buf` with their lengths
    in `sizes`, in SCHEMA. libpq hands over one row a chunk, so the lengths are the row boundaries; every length
    the rows carry is checked against them."""
    n = len(sizes)
    if len(buf) >= 2**31:
        raise ValueError("binary COPY batch too large")
    if n and sizes.min() < BINARY_FIXED_BYTES:
        raise ValueError("binary COPY: a row is shorter than its fixed-width fields")
    buffer = pa.py_buffer(buf)
    data = np.frombuffer(buf, dtype=np.uint8)
    starts = np.zeros(n, dtype=np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    # Every row's fixed-width part as one (n, BINARY_FIXED_BYTES) matrix, cut out by Arrow, seen as records.
    offsets = pa.py_buffer(np.r_[starts, len(buf)].astype(np.int32))
    rows = pa.Array.from_buffers(pa.binary(), n, [None, offsets, buffer])
    prefix = pc.binary_slice(rows, 0, BINARY_FIXED_BYTES).cast(pa.binary(BINARY_FIXED_BYTES))
    fixed = np.frombuffer(prefix.buffers()[1], dtype=np.uint8)[: n * BINARY_FIXED_BYTES] if n else np.zeros(0, np.uint8)
    records = fixed.view(FIXED_ROW)
    if n and not (records["field_count"] == len(SCHEMA)).all():
        raise ValueError("binary COPY: unexpected field count")
    matrix = fixed.reshape(n, BINARY_FIXED_BYTES)
    columns: dict[str, pa.Array] = {}
    for name, width in BINARY_FIXED:
        if n and not (records[f"{name}_length"] == width).all():
            raise ValueError(f"binary COPY: {name} is not {width} bytes")
        if width == 8:
            values = records[name].astype(np.int64)
            if name in ("occurred_at", "recorded_at"):
                columns[name] = pa.array(values + POSTGRES_EPOCH_US, TIMESTAMP)
            else:
                columns[name] = pa.array(values, pa.int64())
        elif width == 4:
            columns[name] = pa.array(records[name].astype(np.int32), pa.int32())
        else:
            at = _FIXED_AT[name]
            raw = np.ascontiguousarray(matrix[:, at : at + width])
            columns[name] = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), n, [None, pa.py_buffer(raw)])
    offset = starts + BINARY_FIXED_BYTES
    for name in BINARY_TEXT:
        lengths = _int32_at(data, offset) if n else np.zeros(0, np.int64)
        if (lengths < 0).any():
            raise ValueError(f"binary COPY: {name} is NULL")
        if n and (offset + 4 + lengths > starts + sizes).any():
            raise ValueError("binary COPY: a field runs past its row")
        columns[name] = _strings(data, buffer, offset + 4, lengths)
        offset = offset + 4 + lengths
    if n and not (offset == starts + sizes).all():
        raise ValueError("binary COPY: a row's fields do not add up to its length")
    return pa.RecordBatch.from_arrays([columns[name] for name in SCHEMA.names], schema=SCHEMA)
