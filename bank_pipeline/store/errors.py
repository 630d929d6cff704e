"""Typed errors of the event store. Each message says what happened and what to do."""

import json

import psycopg


class EventStoreError(RuntimeError):
    pass


class ConcurrencyError(EventStoreError):
    """A stream moved on since the caller read it. Nothing was written; reload and decide again."""

    def __init__(self, stream_id: str, expected: int, actual: int):
        super().__init__(f"stream {stream_id} is at version {actual}, expected {expected}: reload and retry")
        self.stream_id, self.expected, self.actual = stream_id, expected, actual


class IdempotencyConflict(EventStoreError):
    """An idempotency key was reused for a different request."""

    def __init__(self, key: str):
        super().__init__(f"idempotency key {key!r} was already used for a different request; use a new key")
        self.key = key


class KeyTakenMeanwhile(EventStoreError):
    """One of a group's idempotency keys was already stored (by a concurrent or an earlier request).
    Nothing was written: look the keys up and decide again (that command then replays the stored result)."""

    def __init__(self, key: str | None):
        super().__init__(f"idempotency key {key!r} is already stored: look it up and replay its result")
        self.key = key


class HistoryIsImmutable(EventStoreError):
    """UPDATE, DELETE or TRUNCATE of events was refused by the database."""


class AppendNotFirstWrite(EventStoreError):
    """append was called in a transaction that had already written something."""


class TransactionIdsWentBackwards(EventStoreError):
    """The cluster's transaction counter is behind the stored events (e.g. after a logical restore)."""


def translate(error: psycopg.Error, idempotency_key: str | None = None) -> Exception:
    """Map the store's SQLSTATEs (BP00x, raised in sql/) to typed errors; pass others through."""
    state = getattr(error, "sqlstate", None)
    if state == "BP001":
        detail = json.loads(error.diag.message_detail or "{}")
        return ConcurrencyError(detail.get("stream_id", "?"), detail.get("expected", -1), detail.get("actual", -1))
    if state == "BP002":
        return IdempotencyConflict(idempotency_key or "?")
    if state == "BP003":
        return HistoryIsImmutable(error.diag.message_primary or str(error))
    if state == "BP004":
        return AppendNotFirstWrite(error.diag.message_primary or str(error))
    if state == "BP008":
        return KeyTakenMeanwhile(json.loads(error.diag.message_detail or "{}").get("idempotency_key"))
    if state == "BP006":
        return TransactionIdsWentBackwards(f"{error.diag.message_primary}. {error.diag.message_hint}")
    return error
