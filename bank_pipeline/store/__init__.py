"""The event store: the only code that writes events. Its SQL lives in sql/."""

from bank_pipeline.store.errors import (
    AppendNotFirstWrite,
    ConcurrencyError,
    EventStoreError,
    HistoryIsImmutable,
    IdempotencyConflict,
    KeyTakenMeanwhile,
    TransactionIdsWentBackwards,
)
from bank_pipeline.store.event_store import EventStore
from bank_pipeline.store.records import AppendResult, Checkpoint, NewEvent, RecordedEvent, StreamHead

__all__ = [
    "AppendNotFirstWrite",
    "AppendResult",
    "Checkpoint",
    "ConcurrencyError",
    "EventStore",
    "EventStoreError",
    "HistoryIsImmutable",
    "IdempotencyConflict",
    "KeyTakenMeanwhile",
    "NewEvent",
    "RecordedEvent",
    "StreamHead",
    "TransactionIdsWentBackwards",
]
