"""Where the read model stands, for operators: its checkpoint, how far behind the events it is, its size,
and whether a rebuild is running or left something behind."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from bank_pipeline.projections.projector import LIVE_SCHEMA, read_checkpoint
from bank_pipeline.projections.rebuild import REBUILD_LOCK_KEY, RETIRED_SCHEMA, SHADOW_SCHEMA, TABLES
from bank_pipeline.store.records import Checkpoint


@dataclass(frozen=True)
class ReadModelStatus:
    checkpoint: Checkpoint
    events_projected: int
    updated_at: datetime
    events_behind: int  # final events after the checkpoint: what the projector has yet to fold
    events_not_final: int  # appended by transactions still below the read horizon's reach
    rows: dict[str, int]  # per table; estimates from the planner's statistics unless exact
    exact: bool
    rebuild_running: bool
    leftover_schemas: tuple[str, ...]  # a died rebuild's shadow or retired schema (the next rebuild drops them)


def read_model_status(conn: psycopg.Connection, *, exact: bool = False) -> ReadModelStatus:
    checkpoint = read_checkpoint(conn)
    events_projected, updated_at = conn.execute(
        sql.SQL("SELECT events_projected, updated_at FROM {} WHERE projection = 'read_model'").format(
            sql.Identifier(LIVE_SCHEMA, "checkpoints")
        )
    ).fetchone()
    behind, not_final = conn.execute(
        "SELECT count(*) FILTER (WHERE transaction_id < event_store.read_horizon()), "
        "count(*) FILTER (WHERE transaction_id >= event_store.read_horizon()) "
        "FROM event_store.events WHERE (transaction_id, global_position) > (%s, %s)",
        checkpoint,
    ).fetchone()
    (locked,) = conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (REBUILD_LOCK_KEY,)).fetchone()
    if locked:
        conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (REBUILD_LOCK_KEY,))
    leftovers = conn.execute(
        "SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s) ORDER BY 1", ([SHADOW_SCHEMA, RETIRED_SCHEMA],)
    ).fetchall()
    return ReadModelStatus(
        checkpoint=checkpoint,
        events_projected=events_projected,
        updated_at=updated_at,
        events_behind=behind,
        events_not_final=not_final,
        rows={table: _rows(conn, table, exact=exact) for table in TABLES},
        exact=exact,
        rebuild_running=not locked,
        leftover_schemas=tuple(row[0] for row in leftovers),
    )


def _rows(conn: psycopg.Connection, table: str, *, exact: bool) -> int:
    name = sql.Identifier(LIVE_SCHEMA, table)
    if exact:
        return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(name)).fetchone()[0]
    # The planner's estimate: instant at any size, as fresh as the last (auto)ANALYZE; -1 before the first.
    (estimate,) = conn.execute(
        "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", (name.as_string(conn),)
    ).fetchone()
    return max(estimate, 0)
