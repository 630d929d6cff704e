"""The hash chain link of an event, computed in Python exactly as event_store.event_hash (sql/004) does.

The batch append (sql/007) chains events on the client; `audit verify` recomputes every hash in SQL, so
the two must agree byte for byte. The input, after the previous hash: position, stream version and
schema version as big-endian integers, the event id's 16 bytes, occurred_at and recorded_at as
microseconds since 2000-01-01 UTC (PostgreSQL's binary timestamp), then stream id, event type, payload
and metadata, each as its UTF-8 byte length (4 bytes) and bytes. JSON enters as PostgreSQL prints a
jsonb value (`payload::text`): jsonb_text() reproduces that.
"""

import hashlib
import json
import struct
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

GENESIS = bytes(32)  # the "previous hash" of a stream's first event
_POSTGRES_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_FIXED_FIELDS = struct.Struct(">qqi16sqq")
_LENGTH = struct.Struct(">i")
_encode_jsonb_layout = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": "), allow_nan=False).encode


class NotCanonicalJson(ValueError):
    """A value whose jsonb text Python cannot predict (a float, a non-string key): append it through
    the SQL path, which lets PostgreSQL hash what it stores."""


def _jsonb_key_order(key: str) -> tuple[int, bytes]:
    encoded = key.encode()
    return len(encoded), encoded


_SCALARS = frozenset({str, int, bool, type(None)})
_key_orders: dict[tuple[str, ...], tuple[str, ...]] = {}  # events of one type share their keys


def _sorted_keys(keys: tuple[str, ...]) -> tuple[str, ...]:
    order = _key_orders.get(keys)
    if order is None:
        if not all(type(key) is str for key in keys):
            raise NotCanonicalJson("JSON object keys must be strings")
        order = tuple(sorted(keys, key=_jsonb_key_order))
        if len(_key_orders) < 10_000:
            _key_orders[keys] = order
    return order


def _in_jsonb_order(value: Any, separators: list[int]) -> Any:
    """`value` with every object's keys in jsonb's order (shorter keys first, then by their bytes);
    counts the separators its JSON text has outside strings into separators[0] (":") and [1] (",")."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        if value:
            separators[0] += len(value)
            separators[1] += len(value) - 1
        return {key: _in_jsonb_order(value[key], separators) for key in _sorted_keys(tuple(value))}
    if kind is list or kind is tuple:
        if value:
            separators[1] += len(value) - 1
        return [_in_jsonb_order(item, separators) for item in value]
    if isinstance(value, float):
        # PostgreSQL prints numbers as numeric (1e16 -> 10000000000000000); Python as repr. Money is integers.
        raise NotCanonicalJson(f"floats are not hashed on the client: {value!r}")
    if isinstance(value, dict):
        return _in_jsonb_order(dict(value), separators)
    if isinstance(value, list | tuple):
        return _in_jsonb_order(list(value), separators)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    return value  # not JSON: the encoders below refuse it, as the SQL path does


def jsonb_text(value: Any) -> bytes:
    """The text PostgreSQL prints for `value` stored as jsonb, UTF-8 encoded: {"a": 1, "bb": [true, null]}.

    Strings are escaped as PostgreSQL, orjson and Python's json all do (quote, backslash, \\b \\f \\n \\r
    \\t, other control characters as \\u00xx, everything else verbatim as UTF-8)."""
    separators = [0, 0]
    ordered = _in_jsonb_order(value, separators)
    try:
        compact = orjson.dumps(ordered)
    except TypeError:  # an integer beyond 64 bits, or something that is not JSON
        return _encode_jsonb_layout(ordered).encode()  # raises TypeError when not JSON
    colons, commas = separators
    # jsonb puts a space after every separator. When no string contains ":" or ",", every one in the
    # compact text is a separator and a plain replace adds the spaces (the common case: ~10x faster).
    if compact.count(b":") == colons and compact.count(b",") == commas:
        return compact.replace(b",", b", ").replace(b":", b": ")
    return _encode_jsonb_layout(ordered).encode()


def timestamp_microseconds(moment: datetime) -> int:
    """PostgreSQL's binary timestamptz: microseconds since 2000-01-01 00:00 UTC."""
    if moment.tzinfo is None:
        raise ValueError("timestamps in events must carry a time zone")
    return (moment - _POSTGRES_EPOCH) // _MICROSECOND


def event_hash(
    previous_hash: bytes,
    global_position: int,
    stream_id: str,
    stream_version: int,
    event_type: str,
    schema_version: int,
    event_id: uuid.UUID,
    occurred_at: datetime,
    recorded_at: datetime,
    payload_text: bytes,
    metadata_text: bytes,
) -> bytes:
    """The event's hash; payload_text and metadata_text are jsonb_text(...) encoded as UTF-8."""
    return chain_link(
        previous_hash, global_position, stream_version, schema_version, event_id.bytes,
        timestamp_microseconds(occurred_at), timestamp_microseconds(recorded_at), stream_id.encode(),
        event_type.encode(), payload_text, metadata_text,
    )  # fmt: skip


def chain_link(
    previous_hash: bytes,
    global_position: int,
    stream_version: int,
    schema_version: int,
    event_id: bytes,
    occurred_at: int,
    recorded_at: int,
    stream_id: bytes,
    event_type: bytes,
    payload_text: bytes,
    metadata_text: bytes,
) -> bytes:
    """event_hash() from fields already in their binary form (timestamps from timestamp_microseconds,
    text as UTF-8): the COPY path encodes them once for the hash and the row."""
    pack_length = _LENGTH.pack
    return hashlib.sha256(
        b"".join(
            (
                previous_hash,
                _FIXED_FIELDS.pack(global_position, stream_version, schema_version, event_id, occurred_at, recorded_at),
                pack_length(len(stream_id)), stream_id,
                pack_length(len(event_type)), event_type,
                pack_length(len(payload_text)), payload_text,
                pack_length(len(metadata_text)), metadata_text,
            )
        )
    ).digest()  # fmt: skip
