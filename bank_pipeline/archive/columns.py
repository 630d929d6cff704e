"""The archive's Parquet schema: every column of event_store.events, in table order.

jsonb payload and metadata are kept as the text PostgreSQL prints for them (`payload::text`, exactly the bytes
the event hash covers), hashes as 32 raw bytes, event ids as their 16 bytes, timestamps as UTC microseconds.
"""

import numpy as np
import pyarrow as pa

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
