"""Catch the read model up with every event committed so far: what a reader calls before answering from it
(replay, statements), so the answer includes the caller's own and everyone's newest events."""

from __future__ import annotations

import time
from dataclasses import dataclass

from psycopg_pool import ConnectionPool

from bank_pipeline.projections.projector import CheckpointMoved, Projector
from bank_pipeline.store import EventStore
from bank_pipeline.store.records import Checkpoint

#: Seconds a catch-up waits for older transactions on the server to finish before it answers as it stands.
CATCH_UP_TIMEOUT = 10.0


@dataclass(frozen=True)
class CaughtUp:
    events: int  # projected by this catch-up
    reached: Checkpoint  # where the read model stands now
    wanted: Checkpoint  # the newest event committed when the catch-up began

    @property
    def complete(self) -> bool:
        return self.reached >= self.wanted

    def describe(self) -> str:
        if self.complete:
            return f"read model caught up: {self.events:,} new event(s) projected, at {_show(self.reached)}"
        return (
            f"read model at {_show(self.reached)}, short of the newest committed event {_show(self.wanted)}: a "
            "transaction older than it was still running on the server (events become final, and are projected, "
            "once every older transaction has finished), so the answer may miss the newest events"
        )


def catch_up_with_committed_events(pool: ConnectionPool, *, timeout: float = CATCH_UP_TIMEOUT) -> CaughtUp:
    """Project until the read model has passed every event committed when called. An event is projected once
    final (docs/design.md §3), so while an older transaction anywhere on the server runs, this waits for it,
    up to `timeout` seconds; check `complete` afterwards."""
    wanted = EventStore(pool).newest_checkpoint()
    projector = Projector(pool)
    deadline = time.monotonic() + timeout
    events = 0
    while True:
        try:
            events += projector.catch_up().events
        except CheckpointMoved:  # a rebuild swapped the read model in meanwhile: project again, within the time
            if time.monotonic() < deadline:
                continue
        reached = projector.checkpoint()
        if reached >= wanted or time.monotonic() >= deadline:
            return CaughtUp(events, reached, wanted)
        time.sleep(0.05)


def _show(checkpoint: Checkpoint) -> str:
    return f"{checkpoint.transaction_id}:{checkpoint.global_position}"
