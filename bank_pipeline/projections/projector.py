"""The projector: folds the next batch of final events into the read model, and moves the read model's
checkpoint in the same transaction (exactly-once effect).

One code path for every caller: the worker (`bank-pipeline worker`), the Dagster assets, and a rebuild's
catch-up of its shadow schema. Two projectors never interleave: each batch locks the checkpoint row first.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg_pool import ConnectionPool

from bank_pipeline.projections import statements as s
from bank_pipeline.store.records import Checkpoint

LIVE_SCHEMA = "projections"
#: Channel notified (on commit) whenever the live read model advances; payload "transaction_id:position".
ADVANCED_CHANNEL = "projections_advanced"
DEFAULT_BATCH_SIZE = 5_000


class CheckpointMoved(RuntimeError):
    """The checkpoint changed under a batch (a rebuild swapped the read model in meanwhile). Nothing of the
    batch was kept; project again."""


@dataclass(frozen=True)
class ProjectedBatch:
    events: int
    after: Checkpoint
    upto: Checkpoint
    recorded_at: tuple[datetime, ...]  # of each projected event: the lag is commit time minus these


_connections_with_batch_table: weakref.WeakSet[psycopg.Connection] = weakref.WeakSet()


def ensure_batch_table(conn: psycopg.Connection) -> None:
    if conn not in _connections_with_batch_table:
        conn.execute(s.CREATE_BATCH_TABLE)
        _connections_with_batch_table.add(conn)


def plan_for_a_batch(conn: psycopg.Connection) -> None:
    """Settings for the rest of the transaction. A batch touches a few rows per account of tables that grow
    without end, and the session's batch table has no statistics: without this the planner may scan whole
    tables to join them. JIT compiling the statements cost ~75 ms each, ten times their execution."""
    conn.execute("SET LOCAL enable_seqscan = off")
    conn.execute("SET LOCAL jit = off")


def read_checkpoint(conn: psycopg.Connection, schema: str = LIVE_SCHEMA) -> Checkpoint:
    row = conn.execute(
        s.in_schema(
            "SELECT transaction_id, global_position FROM {p}.checkpoints WHERE projection = 'read_model'", schema
        )
    ).fetchone()
    return Checkpoint(*row)


def project_next_batch(
    conn: psycopg.Connection, *, schema: str = LIVE_SCHEMA, limit: int = DEFAULT_BATCH_SIZE
) -> ProjectedBatch | None:
    """Project the next `limit` final events into `schema`, in one transaction (a savepoint when the caller
    has one open). None when there was nothing new."""
    ensure_batch_table(conn)
    with conn.transaction():
        after = Checkpoint(*conn.execute(s.in_schema(s.LOCK_CHECKPOINT, schema)).fetchone())
        plan_for_a_batch(conn)
        conn.execute("DELETE FROM projector_batch")  # rows of an earlier batch in the caller's transaction
        rows = conn.execute(
            s.FILL_BATCH,
            {"after_transaction_id": after.transaction_id, "after_position": after.global_position, "limit": limit},
        ).fetchall()
        if not rows:
            return None
        upto = max(Checkpoint(row[0], row[1]) for row in rows)
        for statement in s.PROJECTION_STATEMENTS:
            conn.execute(s.in_schema(statement, schema))
        moved = conn.execute(
            s.in_schema(s.ADVANCE_CHECKPOINT, schema),
            {
                "upto_transaction_id": upto.transaction_id,
                "upto_position": upto.global_position,
                "events": len(rows),
                "after_transaction_id": after.transaction_id,
                "after_position": after.global_position,
            },
        ).rowcount
        if moved != 1:
            raise CheckpointMoved(f"the read model's checkpoint in {schema} moved from {after} while projecting")
        if schema == LIVE_SCHEMA:
            conn.execute(
                "SELECT pg_notify(%s, %s)", (ADVANCED_CHANNEL, f"{upto.transaction_id}:{upto.global_position}")
            )
    return ProjectedBatch(len(rows), after, upto, tuple(row[2] for row in rows))


@dataclass(frozen=True)
class CatchUp:
    batches: int
    events: int
    checkpoint: Checkpoint | None  # where the read model stands after the catch-up (None: it did nothing)


class Projector:
    """Projects from a pool: `catch_up()` until nothing final is left, or `project_batch()` one at a time."""

    def __init__(self, pool: ConnectionPool, *, schema: str = LIVE_SCHEMA, batch_size: int = DEFAULT_BATCH_SIZE):
        self.pool = pool
        self.schema = schema
        self.batch_size = batch_size

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        with self.pool.connection() as conn:
            yield conn

    def project_batch(self) -> ProjectedBatch | None:
        with self._connection() as conn:
            return project_next_batch(conn, schema=self.schema, limit=self.batch_size)

    def catch_up(
        self, *, max_batches: int | None = None, on_batch: Callable[[ProjectedBatch], None] | None = None
    ) -> CatchUp:
        """Project batches until no final event is left (or `max_batches` ran)."""
        batches = events = 0
        last: Checkpoint | None = None
        with self._connection() as conn:
            while max_batches is None or batches < max_batches:
                batch = project_next_batch(conn, schema=self.schema, limit=self.batch_size)
                if batch is None:
                    break
                batches += 1
                events += batch.events
                last = batch.upto
                if on_batch is not None:
                    on_batch(batch)
        return CatchUp(batches, events, last)

    def checkpoint(self) -> Checkpoint:
        with self._connection() as conn:
            return read_checkpoint(conn, self.schema)
