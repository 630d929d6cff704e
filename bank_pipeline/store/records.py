"""The shapes that go into and come out of the event store."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

#: The columns of event_store.events, in table order: what reads select and what the COPY path writes.
EVENT_COLUMNS = (
    "global_position, transaction_id, stream_id, stream_version, event_type, schema_version, event_id, "
    "payload, metadata, occurred_at, recorded_at, previous_hash, hash"
)


class Checkpoint(NamedTuple):
    """A place in the delivery order. Subscribers store the checkpoint of the last event they handled.

    Events are delivered in (transaction_id, global_position) order, which is commit-safe: see
    sql/004_event_store_read_horizon.sql.
    """

    transaction_id: int = 0
    global_position: int = 0


START = Checkpoint(0, 0)


@dataclass(frozen=True)
class NewEvent:
    stream_id: str
    event_type: str
    payload: dict[str, Any]
    schema_version: int = 1
    metadata: dict[str, Any] = field(default_factory=dict)
    occurred_at: datetime | None = None  # business time; defaults to the append time
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass(frozen=True)
class RecordedEvent:
    global_position: int
    transaction_id: int
    stream_id: str
    stream_version: int
    event_type: str
    schema_version: int
    event_id: uuid.UUID
    payload: dict[str, Any]
    metadata: dict[str, Any]
    occurred_at: datetime
    recorded_at: datetime
    previous_hash: bytes
    hash: bytes

    @property
    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self.transaction_id, self.global_position)


@dataclass(frozen=True)
class AppendResult:
    global_positions: tuple[int, ...]
    stream_versions: dict[str, int]  # the version each appended stream reached
    transaction_id: int
    replayed: bool  # True when an idempotency key returned an earlier append's result

    @classmethod
    def of_rows(cls, rows: Sequence[Sequence[Any]], *, replayed: bool = False) -> "AppendResult":
        """From one (global_position, stream_id, stream_version, transaction_id, ...) per appended event."""
        reached: dict[str, int] = {}
        for row in rows:
            reached[row[1]] = max(row[2], reached.get(row[1], 0))
        return cls(tuple(row[0] for row in rows), reached, rows[0][3], replayed)

    @property
    def checkpoint(self) -> Checkpoint:
        """The checkpoint a reader has passed once it has seen this append."""
        return Checkpoint(self.transaction_id, max(self.global_positions))


@dataclass(frozen=True)
class StreamHead:
    stream_id: str
    version: int
    snapshot: dict[str, Any] | None
    snapshot_version: int | None
