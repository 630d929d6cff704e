"""The naive answers the read model must equal: a fold of the stored events with the domain's own code."""

from collections import defaultdict
from datetime import datetime

from bank_pipeline.domain.aggregates import fold
from bank_pipeline.domain.events import event_from_stored
from bank_pipeline.store import EventStore, RecordedEvent


def all_events(store: EventStore) -> list[RecordedEvent]:
    return list(store.iter_all())


def by_stream(events: list[RecordedEvent]) -> dict[str, list[RecordedEvent]]:
    streams: dict[str, list[RecordedEvent]] = defaultdict(list)
    for event in events:
        streams[event.stream_id].append(event)
    for stream in streams.values():
        stream.sort(key=lambda e: e.stream_version)
    return streams


def fold_stream(events: list[RecordedEvent], *, known_by: str | None = None, as_of: datetime | None = None):
    """The domain state of a stream from its events; with `as_of`, from only the events whose `known_by`
    time ("occurred_at" or "recorded_at") is at or before it, in stream order."""
    chosen = [e for e in events if as_of is None or getattr(e, known_by) <= as_of]
    return fold(event_from_stored(e.event_type, e.schema_version, e.payload) for e in chosen)
