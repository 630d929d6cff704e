"""Read-your-writes: wait until the read model has projected a command's checkpoint, for a bounded time.

    result = handler.execute(command, idempotency_key=...)
    wait_until_projected(pool, result.checkpoint)  # then read `projections` and see the command's effect

Woken by the projector's NOTIFY on `projections_advanced` (its payload is the checkpoint reached), with a
poll of the checkpoint row as the fallback, since a notification can be missed.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import psycopg
from psycopg_pool import ConnectionPool

from bank_pipeline.projections.projector import ADVANCED_CHANNEL, read_checkpoint
from bank_pipeline.store.records import Checkpoint

DEFAULT_TIMEOUT = 2.0
POLL_INTERVAL = 0.25
MAX_COUNTED = 1_000_000  # counting how far behind stops here: the message stays cheap however far it is


class ProjectionBehind(RuntimeError):
    """The read model had not reached a checkpoint within the timeout."""

    def __init__(self, wanted: Checkpoint, reached: Checkpoint, events_behind: int, idle_seconds: float, waited: float):
        self.wanted, self.reached, self.waited = wanted, reached, waited
        self.events_behind, self.idle_seconds = events_behind, idle_seconds
        behind = f"{events_behind:,}" if events_behind < MAX_COUNTED else f"over {MAX_COUNTED:,}"
        if idle_seconds >= waited:
            advice = (
                f"it has not advanced for {idle_seconds:,.1f} s. Is the projection worker running? Start it with "
                "`bank-pipeline worker`, or look at its log; if it runs, a long transaction on the server may be "
                "holding the read horizon back (pg_stat_activity, oldest xact_start)"
            )
        else:
            advice = (
                f"it is advancing (last {idle_seconds:.2f} s ago) but behind: retry the read shortly, or wait with "
                "a longer timeout"
            )
        super().__init__(
            f"the read model is {behind} event(s) behind checkpoint {_show(wanted)} (it stands at {_show(reached)}) "
            f"after waiting {waited:.1f} s; {advice}"
        )


def wait_until_projected(
    conn_or_pool: psycopg.Connection | ConnectionPool,
    checkpoint: Checkpoint | tuple[int, int],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    poll_interval: float = POLL_INTERVAL,
) -> Checkpoint:
    """Return the read model's checkpoint once it is at or past `checkpoint`; raise ProjectionBehind when it
    is not within `timeout` seconds. A connection must be in autocommit mode (a LISTEN starts at commit)."""
    if timeout is None or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    if isinstance(conn_or_pool, ConnectionPool):
        with conn_or_pool.connection() as conn:
            return wait_until_projected(conn, checkpoint, timeout=timeout, poll_interval=poll_interval)
    conn = conn_or_pool
    if not conn.autocommit:
        raise ValueError("wait_until_projected needs an autocommit connection: a LISTEN only starts at commit")
    wanted = Checkpoint(*checkpoint)
    started = time.monotonic()
    conn.execute(f"LISTEN {ADVANCED_CHANNEL}")  # before reading, so no advance goes unnoticed
    try:
        reached = read_checkpoint(conn)
        while reached < wanted:
            remaining = started + timeout - time.monotonic()
            if remaining <= 0:
                raise _behind(conn, wanted, reached, time.monotonic() - started)
            notified = _notified(conn.notifies(timeout=min(remaining, poll_interval), stop_after=1))
            reached = max(reached, notified) if notified is not None else read_checkpoint(conn)
        return reached
    finally:
        conn.execute(f"UNLISTEN {ADVANCED_CHANNEL}")
        for _ in conn.notifies(timeout=0):  # the connection goes back without notifications queued on it
            pass


def _notified(notifications: Iterable[psycopg.Notify]) -> Checkpoint | None:
    """The furthest checkpoint the notifications report; None when there were none."""
    reached = None
    for notification in notifications:
        transaction_id, _, position = notification.payload.partition(":")
        reached = max(reached or Checkpoint(), Checkpoint(int(transaction_id), int(position)))
    return reached


def _behind(conn: psycopg.Connection, wanted: Checkpoint, reached: Checkpoint, waited: float) -> ProjectionBehind:
    events_behind, idle_seconds = conn.execute(
        """
        SELECT (SELECT count(*) FROM (SELECT FROM event_store.events
                                       WHERE (transaction_id, global_position) > (%(reached_tx)s, %(reached_pos)s)
                                         AND (transaction_id, global_position) <= (%(wanted_tx)s, %(wanted_pos)s)
                                       LIMIT %(cap)s) AS behind),
               extract(epoch FROM now() - updated_at)::float8
          FROM projections.checkpoints WHERE projection = 'read_model'
        """,
        {
            "reached_tx": reached.transaction_id, "reached_pos": reached.global_position,
            "wanted_tx": wanted.transaction_id, "wanted_pos": wanted.global_position, "cap": MAX_COUNTED,
        },
    ).fetchone()  # fmt: skip
    return ProjectionBehind(wanted, reached, events_behind, idle_seconds, waited)


def _show(checkpoint: Checkpoint) -> str:
    return f"{checkpoint.transaction_id}:{checkpoint.global_position}"
